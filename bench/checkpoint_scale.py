"""How fast are checkpoints on big workspaces, next to plain git on the same tree?

For each size: a synthetic workspace (source files in nested directories; the largest also
gets an ignored ``node_modules`` of 50k files), then

- the first checkpoint (``CheckpointStore.snapshot``) and, as a baseline on the same tree,
  plain ``git add -A && git write-tree`` with a fresh ``GIT_INDEX_FILE`` (own throwaway git
  dir, the same excludes: the workspace's .gitignore plus the shadow's info/exclude);
- incremental checkpoints after changing 10 files, against a second ``git add -A && git
  write-tree`` on that same baseline index after the same change. Several rounds, the two
  sides alternating who goes first; medians are reported (``ratio``), and the ratio of the
  fastest rounds (``ratio_min``), which is steadier on a busy machine.

The background ``git gc --auto`` a first checkpoint starts is waited for (and its time
printed) before the incremental rounds, so they measure the steady state.

Prints a row per size and, last, ``incremental_ratio_100k=<planloop/git>
incremental_s_100k=<seconds>``. Goal: ratio ≤ 1.3 and under 1 s at 100k files.

    .venv/bin/python bench/checkpoint_scale.py                 # 1k, 10k, 100k
    .venv/bin/python bench/checkpoint_scale.py --sizes 1000,5000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from planloop.checkpoints.store import CheckpointStore

FILES_PER_DIR = 50
DIRS_PER_PARENT = 20


def make_workspace(root: Path, n: int, node_modules: int) -> list[Path]:
    """Write ``n`` small source files (plus an ignored node_modules); return the files."""
    files: list[Path] = []
    for i in range(n):
        d = (
            root
            / "src"
            / f"pkg{i // (FILES_PER_DIR * DIRS_PER_PARENT):04d}"
            / (f"mod{(i // FILES_PER_DIR) % DIRS_PER_PARENT:02d}")
        )
        if i % FILES_PER_DIR == 0:
            d.mkdir(parents=True, exist_ok=True)
        f = d / f"file{i}.py"
        f.write_text(f"def f{i}():\n    return {i}\n" * 8)
        files.append(f)
    for i in range(node_modules):
        d = root / "node_modules" / f"dep{i // 100}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"index{i}.js").write_text("module.exports = 1;\n")
    (root / ".gitignore").write_text("node_modules/\n*.log\n")
    return files


def git_env(gitdir: Path, root: Path, index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_DIR=str(gitdir),
        GIT_WORK_TREE=str(root),
        GIT_INDEX_FILE=str(index),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    return env


def timed_git(env: dict[str, str], root: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        ["sh", "-c", "git add -A && git write-tree"],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def timed_snapshot(store: CheckpointStore, message: str) -> float:
    t = time.perf_counter()
    store.snapshot(message, ref=f"refs/planloop/bench/{message}")
    return time.perf_counter() - t


def change(files: list[Path], round_no: int, count: int = 10) -> None:
    step = max(1, len(files) // count)
    for k in range(count):
        f = files[(k * step + round_no) % len(files)]
        with f.open("a") as fh:
            fh.write(f"# round {round_no}\n")


def run_size(base: Path, n: int, node_modules: int, rounds: int) -> dict[str, float]:
    root = base / f"ws{n}"
    root.mkdir()
    t = time.perf_counter()
    files = make_workspace(root, n, node_modules)
    gen_s = time.perf_counter() - t

    store = CheckpointStore(root)
    first = timed_snapshot(store, "first")
    t = time.perf_counter()
    store.wait_for_gc()
    gc_s = time.perf_counter() - t

    gitdir = base / f"baseline{n}.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", str(gitdir)],
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )
    shutil.copyfile(store.shadow_dir / "info" / "exclude", gitdir / "info" / "exclude")
    env = git_env(gitdir, root, base / f"baseline{n}.index")
    git_first = timed_git(env, root)

    ours: list[float] = []
    theirs: list[float] = []
    for r in range(rounds):
        change(files, r)
        if r % 2 == 0:
            ours.append(timed_snapshot(store, f"incr{r}"))
            theirs.append(timed_git(env, root))
        else:
            theirs.append(timed_git(env, root))
            ours.append(timed_snapshot(store, f"incr{r}"))
    store.close()
    return {
        "files": n,
        "ignored": node_modules,
        "gen_s": gen_s,
        "first_s": first,
        "gc_s": gc_s,
        "git_first_s": git_first,
        "incr_s": statistics.median(ours),
        "git_incr_s": statistics.median(theirs),
        "ratio_min": min(ours) / min(theirs),
        "disk_mb": store.disk_usage() / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="comma-separated file counts (default 1000,10000,100000)",
    )
    ap.add_argument(
        "--node-modules",
        type=int,
        default=50_000,
        help="ignored node_modules files added to the largest size (default 50000)",
    )
    ap.add_argument("--rounds", type=int, default=9, help="incremental rounds per size")
    ap.add_argument("--workdir", type=Path, default=None, help="where to build workspaces")
    ap.add_argument("--keep", action="store_true", help="keep the workspaces afterwards")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    base = Path(tempfile.mkdtemp(prefix="planloop-bench-", dir=args.workdir))
    print(
        f"git: {subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}"
        f"; cpus: {os.cpu_count()}; workdir: {base}"
    )
    header = (
        f"{'files':>7} {'ignored':>7} {'first_s':>8} {'git_first_s':>11} {'gc_bg_s':>7} "
        f"{'incr_s':>7} {'git_incr_s':>10} {'ratio':>6} {'ratio_min':>9} {'shadow_MB':>9}"
    )
    print(header)
    results = {}
    try:
        for n in sizes:
            nm = args.node_modules if n == sizes[-1] else 0
            r = run_size(base, n, nm, args.rounds)
            results[n] = r
            ratio = r["incr_s"] / r["git_incr_s"]
            print(
                f"{n:>7} {nm:>7} {r['first_s']:>8.3f} {r['git_first_s']:>11.3f} "
                f"{r['gc_s']:>7.2f} {r['incr_s']:>7.3f} {r['git_incr_s']:>10.3f} "
                f"{ratio:>6.2f} {r['ratio_min']:>9.2f} {r['disk_mb']:>9.1f}",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    big = results.get(100_000)
    if big:
        print(
            f"incremental_ratio_100k={big['incr_s'] / big['git_incr_s']:.2f} "
            f"incremental_s_100k={big['incr_s']:.3f}"
        )
    else:
        print("incremental_ratio_100k=n/a incremental_s_100k=n/a")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

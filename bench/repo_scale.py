"""Is planloop ready for a 100,000-file repository? Each figure beside its baseline, one run.

Builds (once, cached under ``--cache``) a git repository of ``--files`` small source files
(Python, TypeScript and Go, each defining functions and calling others, in nested
directories), committed and packed like a real clone, plus a few untracked files. Then:

- ``search_s``: the ``search`` tool (``ToolBox.call``) for a rare regex plus one with no
  match, against ``rg_s``: plain ``rg`` with the same binary and patterns;
- ``list_s``: the ``list_files`` tool (limit 500) against ``gitls_s``: ``git ls-files``;
- ``map_first_s`` / ``map_cached_s``: the planner's repo map with an empty cache, then
  again with the cache a first build left; ``map_tokens`` is its estimated size (budget
  ``--map-tokens``);
- ``checkpoint_first_s``: the first checkpoint (fresh ``.planloop/``) against
  ``git_status_s`` (``git status --porcelain``, optional locks off); medians of
  ``--rounds`` alternating rounds;
- ``disk_mb``: ``.planloop/`` right after that first checkpoint, against ``repo_mb``, the
  repository's ``.git``.

- ``first_plan_s``: the first ``planloop plan`` (fresh ``.planloop/``, the scripted planner
  making 12 searches and 2 listings, then a one-step plan) against ``answers_s``: the same
  12 questions answered by ``rg`` and the 2 listings by ``git ls-files``, in this run;
  ``map_s`` (median of the rounds; ``map_max_s`` the slowest) is how long the repo map
  holds the first request back (the planner's map on an empty cache, timed in this
  process), and ``map_budget_ok=1`` when that was within ``repo_map_budget_s`` (2 s);
- ``first_run_s``: the first ``planloop run`` of that one-file step against
  ``git_status_s``, handed to the warm planloop the plan started (as a user's run after a
  plan is); ``first_run_cold_s``/``cold_run_ratio``: the same run with
  ``PLANLOOP_WARM=off`` (from a copy of the same ``.planloop/``, the order alternating
  by round); ``run_breakdown`` (a third, cold, profiled run) says where a cold run's time
  went: imports (loading planloop), checkpoints, checks, model calls, plan and state
  writes, the rest (the interpreter's start, the plan's loading, the step itself). The
  planloop children get a runtime directory of their own, so their warm process is this
  run's alone (stopped at the end);
- ``planloop_mb``: ``.planloop/`` after that first plan and one step, against
  ``repo_mb``: the repository on disk (work tree and ``.git``); ``map_cache_mb``: the map's
  cache once every file is parsed.

Prints one line (its last):
``search_s=… rg_s=… search_ratio=… list_s=… gitls_s=… map_first_s=… map_cached_s=…
map_tokens=… checkpoint_first_s=… git_status_s=… checkpoint_ratio=… disk_mb=… git_mb=…
disk_ratio=… first_plan_s=… answers_s=… first_plan_ratio=… map_s=… map_max_s=… map_budget_ok=…
first_run_s=… run_ratio=… first_run_cold_s=… cold_run_ratio=… run_breakdown=… planloop_mb=…
repo_mb=… planloop_ratio=… map_cache_mb=… load=…``
Targets (issue 13): search_ratio ≤ 1.5, list_s ≤ 0.5, map_cached_s ≤ 1.0, map_tokens ≤
budget, checkpoint_first_s ≤ 2, checkpoint_ratio ≤ 3, disk_ratio ≤ 0.1; (issue 24):
first_plan_ratio ≤ 2, run_ratio ≤ 3, map_budget_ok = 1, planloop_ratio ≤ 0.1.

    .venv/bin/python bench/repo_scale.py                    # 100k files (first build: minutes)
    .venv/bin/python bench/repo_scale.py --files 5000       # a quick look
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import pstats
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

FILES_PER_DIR = 50
DIRS_PER_PARENT = 20
RARE = r"def handle_4242\b"
NONE = r"zz_no_such_symbol_zz"
GOAL = "Make the order handler retry when the payment gateway times out"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_OPTIONAL_LOCKS="0")
    env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="gc.auto", GIT_CONFIG_VALUE_0="0")
    return env


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=_env(), check=True, stdout=subprocess.DEVNULL)


WORDS = [
    "order",
    "payment",
    "gateway",
    "retry",
    "timeout",
    "customer",
    "invoice",
    "ledger",
    "account",
    "balance",
    "refund",
    "shipment",
    "warehouse",
    "inventory",
    "price",
    "discount",
    "tax",
    "currency",
    "session",
    "token",
    "cache",
    "queue",
    "worker",
    "schedule",
    "report",
    "export",
    "import",
    "validate",
    "parse",
    "render",
    "notify",
    "audit",
    "policy",
]


def _prose(i: int, words: int) -> str:
    """Comment text that compresses like real code comments (not like repeated lines)."""
    rnd = random.Random(i)
    lines, line = [], []
    for _ in range(words):
        line.append(rnd.choice(WORDS) + (str(rnd.randrange(1000)) if rnd.random() < 0.2 else ""))
        if len(line) == 12:
            lines.append(" ".join(line))
            line = []
    return "\n".join([*lines, " ".join(line)])


def _source(i: int, n: int) -> tuple[str, str]:
    """(suffix, text) of file ``i``: definitions plus calls into other files, and enough
    comment text (~3 KB a file) that the repository weighs what a real one does."""
    a, b = (i * 7919) % n, (i * 104729 + 13) % n
    kind = i % 10
    suffix, text = _code(i, a, b, kind)
    mark = "#" if suffix == ".py" else "//"
    prose = "\n".join(f"{mark} {ln}" for ln in _prose(i, 400).splitlines())
    return suffix, prose + "\n\n" + text


def _code(i: int, a: int, b: int, kind: int) -> tuple[str, str]:
    if kind < 7:
        text = (
            f'"""Module {i}."""\n\nfrom pkg import handle_{a}, Service{b}\n\n\n'
            f"class Service{i}:\n    def run(self, order):\n        return handle_{a}(order)\n\n\n"
            f"def handle_{i}(order):\n    return Service{b}().run(order) + {i}\n"
        )
        return ".py", text
    if kind < 9:
        text = (
            f"import {{ handle{a} }} from './x';\n\n"
            f"export class Gateway{i} {{\n  pay(order: number): number {{\n"
            f"    return handle{a}(order) + {i};\n  }}\n}}\n\n"
            f"export function handle{i}(order: number): number {{\n  return order * {b};\n}}\n"
        )
        return ".ts", text
    text = (
        f"package pkg\n\ntype Worker{i} struct{{}}\n\n"
        f"func (w Worker{i}) Do(x int) int {{ return Handle{a}(x) }}\n\n"
        f"func Handle{i}(x int) int {{ return x + {b} }}\n"
    )
    return ".go", text


def _path(repo: Path, i: int) -> Path:
    pkg = f"pkg{i // (FILES_PER_DIR * DIRS_PER_PARENT):04d}"
    mod = f"mod{(i // FILES_PER_DIR) % DIRS_PER_PARENT:02d}"
    suffix = ".py" if i % 10 < 7 else ".ts" if i % 10 < 9 else ".go"
    return repo / "src" / pkg / mod / f"file{i}{suffix}"


def build(repo: Path, n: int) -> None:
    """The cached repository: built once per size, committed and packed."""
    if (repo / ".git" / "planloop-bench-ready").exists():
        return
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    t = time.perf_counter()
    for i in range(n):
        path = _path(repo, i)
        if i % FILES_PER_DIR == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_source(i, n)[1])
    (repo / ".gitignore").write_text("node_modules/\n*.log\nbuild/\n")
    (repo / "README.md").write_text("# synthetic monorepo\n\nOrders, payments, gateways.\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "initial")
    for k in range(3):  # some history, as a real clone has: 2% of the files per commit
        for i in range(k, n, 50):
            path = _path(repo, i)
            path.write_text(path.read_text() + f"# change {k}\n")
        _git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-am", f"c{k}")
    _git(repo, "gc", "-q")
    (repo / ".git" / "planloop-bench-ready").write_text("ok\n")
    print(f"built {n} files in {time.perf_counter() - t:.0f} s: {repo}", file=sys.stderr)


def du_mb(path: Path, skip: str = "") -> float:
    """Disk use under ``path`` in MB, leaving out every folder named ``skip``."""
    total = 0
    for dirpath, dirnames, files in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != skip]
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total / 1e6


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def run_cmd(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, check=False)


PATTERNS = [
    RARE,
    NONE,
    r"class Service777\b",
    r"def handle_31337\b",
    r"export class Gateway98\b",
    r"func Handle4249\b",
    r"handle_12345\(",
    r"Service(4|5)2424\b",
    r"Gateway7778\b",
    r"type Worker99\b",
    r"def handle_7\b",
    r"class Service55555:",
]
LISTINGS = [".", "src/pkg0042"]
MAP_BUDGET_S = 2.0  # repo_map_budget_s's default
STEP_FILE = "src/pkg0000/mod00/file0.py"


def script(path: Path) -> None:
    """The scripted planner's 12 searches, 2 listings and one-step plan; the executor's
    one edit."""
    planner = [
        {"content": [{"type": "tool_use", "name": "search", "input": {"pattern": p}}]}
        for p in PATTERNS
    ]
    planner += [
        {"content": [{"type": "tool_use", "name": "list_files", "input": {"path": d}}]}
        for d in LISTINGS
    ]
    step = {
        "id": "retry",
        "title": "Retry the order handler",
        "kind": "edit",
        "instructions": f"Add a retry marker to {STEP_FILE}",
        "files": [STEP_FILE],
        "acceptance": [{"kind": "file_contains", "path": STEP_FILE, "pattern": "RETRIES"}],
    }
    planner.append(
        {
            "content": [
                {
                    "type": "tool_use",
                    "name": "submit_plan",
                    "input": {"goal": GOAL, "steps": [step]},
                }
            ]
        }
    )
    executor = [
        {
            "content": [
                {
                    "type": "tool_use",
                    "name": "edit_file",
                    "input": {
                        "path": STEP_FILE,
                        "old": '"""Module 0."""',
                        "new": '"""Module 0."""\n\nRETRIES = 3',
                    },
                }
            ]
        },
        {
            "content": [
                {
                    "type": "tool_use",
                    "name": "report_outcome",
                    "input": {"ok": True, "summary": "added RETRIES"},
                }
            ]
        },
    ]
    path.write_text(json.dumps({"planner": planner, "executor": executor}))


#: the planloop children's runtime directory: their warm process (planloop.cli.warm) is
#: this run's own, started by its first command and stopped at the end
WARM_DIR = Path(tempfile.mkdtemp(prefix="planloop-bench-run-"))


def stop_warm() -> None:
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"planloop.cli" in line and str(WARM_DIR).encode() in line:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(WARM_DIR, ignore_errors=True)


def cli(
    repo: Path, spec: str, *args: str, profile: Path | None = None, warm: bool = True
) -> tuple[float, list[tuple[float, str]]]:
    """Run ``planloop ARGS`` in ``repo``: its wall time and its output lines, each with
    the second it appeared. ``warm=False``: with no warm planloop."""
    env = _env()
    env.update(PLANLOOP_PLANNER=spec, PLANLOOP_EXECUTOR=spec, PLANLOOP_MODE="split")
    env["PYTHONPATH"] = str(ROOT / "server")
    env["XDG_RUNTIME_DIR"] = str(WARM_DIR)
    env["PLANLOOP_WARM"] = "on" if warm and profile is None else "off"
    pre = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    cmd = [sys.executable, *pre, "-m", "planloop.cli", *args, "--color", "never"]
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((time.perf_counter() - t, line.rstrip("\n")))
    rc = proc.wait()
    took = time.perf_counter() - t
    if rc != 0:
        print("\n".join(ln for _, ln in lines), file=sys.stderr)
        raise SystemExit(f"planloop {' '.join(args)} exited {rc}")
    return took, lines


def map_wait(repo: Path, tmp: Path) -> tuple[float, str]:
    """How long the planner's first request waits for the repo map on a first plan: the
    map the planner builds (same budget, same goal), on an empty cache, timed here; and
    its closing line (how much was parsed by then)."""
    from planloop.workspace.files import Workspace
    from planloop.workspace.repomap import RepoMap

    shutil.rmtree(tmp, ignore_errors=True)
    m = RepoMap(Workspace(repo), tmp, budget_s=MAP_BUDGET_S)
    t = time.perf_counter()
    text = m.render(GOAL, 3000)
    took = time.perf_counter() - t
    m.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return took, text.splitlines()[-1] if text else ""


def breakdown(prof: Path, total: float) -> str:
    """Where a profiled run's time went, by the functions that own each part."""
    st = pstats.Stats(str(prof))
    parts = {
        # loading planloop: the CLI module, then the command's (imported when it runs)
        "imports": [("cli/__init__.py", ("<module>",)), ("cli/plan_commands.py", ("<module>",))],
        "checkpoints": [("checkpoints/store.py", ("snapshot", "wait_for_background"))],
        "checks": [("workspace/checks.py", ("run_checks", "run_acceptance", "check"))],
        "model": [("models/scripted.py", ("complete",))],
        "writes": [("fsutil.py", ("atomic_write",))],
    }
    got: dict[str, float] = {}
    stats = st.stats  # type: ignore[attr-defined]
    profiled = max((v[3] for v in stats.values()), default=total) or total
    for name, owners in parts.items():
        spent = 0.0
        for file, funcs in owners:
            best = 0.0
            for (fn_file, _line, fn), v in stats.items():
                if fn_file.endswith(file) and fn in funcs:
                    best = max(best, v[3])
            spent += best
        got[name] = spent / profiled * total
    got["rest"] = max(0.0, total - sum(got.values()))
    return ",".join(f"{k}:{v:.2f}" for k, v in got.items())


def first_plan_and_run(repo: Path, cache: Path, rg: str, rounds: int) -> str:
    """The issue-24 figures: the first plan and the first one-step run, each against the
    same work done by rg/git in this run."""
    spec_file = cache / "repo-scale-script.json"
    script(spec_file)
    spec = f"scripted:{spec_file}"
    subprocess.run(["git", "checkout", "-q", "--", STEP_FILE], cwd=repo, env=_env(), check=True)
    plans, runs, colds, answers, statuses = [], [], [], [], []
    waits: list[float] = []
    planloop_mb = 0.0
    for r in range(rounds):
        shutil.rmtree(repo / ".planloop", ignore_errors=True)
        subprocess.run(["git", "checkout", "-q", "--", STEP_FILE], cwd=repo, env=_env(), check=True)
        a = sum(timed(run_cmd, [rg, "-n", p], repo) for p in PATTERNS)
        a += sum(
            timed(run_cmd, ["git", "ls-files", "-co", "--exclude-standard", "--", d], repo)
            for d in LISTINGS
        )
        answers.append(a)
        wait, closing = map_wait(repo, cache / "repo-scale-map")
        waits.append(wait)
        print(f"first map: {wait:.2f} s, {closing}", file=sys.stderr)
        took, lines = cli(repo, spec, "plan", GOAL, "--yes")
        plans.append(took)
        statuses.append(timed(run_cmd, ["git", "status", "--porcelain"], repo))
        planned = cache / "repo-scale-planned"
        shutil.rmtree(planned, ignore_errors=True)
        shutil.copytree(repo / ".planloop", planned, symlinks=True)
        for warm in (True, False) if r % 2 == 0 else (False, True):
            if warm != (r % 2 == 0):  # the second run of the round: the same state again
                shutil.rmtree(repo / ".planloop")
                shutil.copytree(planned, repo / ".planloop", symlinks=True)
                subprocess.run(
                    ["git", "checkout", "-q", "--", STEP_FILE], cwd=repo, env=_env(), check=True
                )
            took, lines = cli(repo, spec, "run", warm=warm)
            (runs if warm else colds).append(took)
            assert "RETRIES" in (repo / STEP_FILE).read_text(), lines
            if r == 0 and warm:
                planloop_mb = du_mb(repo / ".planloop")
        shutil.rmtree(planned, ignore_errors=True)
    # where the first run's time goes: the same again, profiled
    shutil.rmtree(repo / ".planloop", ignore_errors=True)
    subprocess.run(["git", "checkout", "-q", "--", STEP_FILE], cwd=repo, env=_env(), check=True)
    cli(repo, spec, "plan", GOAL, "--yes")
    prof = cache / "repo-scale-run.prof"
    took, _ = cli(repo, spec, "run", profile=prof)
    parts = breakdown(prof, statistics.median(colds))
    subprocess.run(["git", "checkout", "-q", "--", STEP_FILE], cwd=repo, env=_env(), check=True)
    repo_mb = du_mb(repo, skip=".planloop")
    first_plan_s, answers_s = statistics.median(plans), statistics.median(answers)
    first_run_s, status_s = statistics.median(runs), statistics.median(statuses)
    cold_s = statistics.median(colds)
    map_s, map_max_s = statistics.median(waits), max(waits)
    return (
        f"first_plan_s={first_plan_s:.2f} answers_s={answers_s:.2f} "
        f"first_plan_ratio={first_plan_s / answers_s:.2f} map_s={map_s:.2f} map_max_s={map_max_s:.2f} "
        f"map_budget_ok={int(map_s <= MAP_BUDGET_S)} first_run_s={first_run_s:.2f} "
        f"run_ratio={first_run_s / status_s:.2f} first_run_cold_s={cold_s:.2f} "
        f"cold_run_ratio={cold_s / status_s:.2f} run_breakdown={parts} "
        f"planloop_mb={planloop_mb:.1f} repo_mb={repo_mb:.1f} "
        f"planloop_ratio={planloop_mb / repo_mb:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/planloop-repo-scale"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--map-tokens", type=int, default=3000)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--only-first", action="store_true", help="only the issue-24 figures")
    args = ap.parse_args(argv)
    # this process times some parts itself (the first map): same git environment as the
    # planloop children, or those figures would come from a different git setup
    os.environ.update({k: v for k, v in _env().items() if k.startswith("GIT_")})
    # an installed planloop has its bytecode; a checkout run where PYTHONDONTWRITEBYTECODE
    # is set would compile every changed module again in each timed child
    compileall.compile_dir(str(ROOT / "server" / "planloop"), quiet=1)
    repo = args.cache / f"repo{args.files}"
    build(repo, args.files)
    if args.build_only:
        return 0
    # imported after the build, so building the cached tree needs no planloop at all
    from planloop.checkpoints.store import CheckpointStore
    from planloop.roles.tools import ToolBox
    from planloop.workspace.files import Workspace
    from planloop.workspace.repomap import RepoMap, estimate_tokens
    from planloop.workspace.search_tools import find_ripgrep

    shutil.rmtree(repo / ".planloop", ignore_errors=True)
    (repo / "scratch").mkdir(exist_ok=True)
    for i in range(20):  # a working tree is rarely clean
        (repo / "scratch" / f"wip{i}.py").write_text(f"def wip_{i}():\n    return {i}\n")
    rg, _ = find_ripgrep()
    assert rg is not None, "no ripgrep (pip install ripgrep)"
    print(
        f"git {subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.split()[-1]}; "
        f"rg {rg}; cpus {os.cpu_count()}; repo {repo}",
        file=sys.stderr,
    )

    # warm the page cache for both sides alike
    run_cmd(["git", "status", "--porcelain"], repo)
    run_cmd([rg, "-c", NONE], repo)
    load = os.getloadavg()[0]
    try:
        first = first_plan_and_run(repo, args.cache, rg, args.rounds)
    finally:
        stop_warm()
    if args.only_first:
        print(f"{first} load={load:.1f}")
        return 0

    box = ToolBox(Workspace(repo), writable=False)
    ours, theirs = [], []
    for r in range(args.rounds):
        pair = [
            lambda: sum(timed(box.call, "search", {"pattern": p}) for p in (RARE, NONE)),
            lambda: sum(timed(run_cmd, [rg, "-n", p], repo) for p in (RARE, NONE)),
        ]
        order = pair if r % 2 == 0 else pair[::-1]
        a, b = order[0](), order[1]()
        ours.append(a if r % 2 == 0 else b)
        theirs.append(b if r % 2 == 0 else a)
    search_s, rg_s = statistics.median(ours), statistics.median(theirs)
    hit = box.call("search", {"pattern": RARE})
    assert "handle_4242" in hit.content or args.files <= 4242, hit.content

    lists, gitls = [], []
    for _ in range(args.rounds):
        lists.append(timed(box.call, "list_files", {}))
        gitls.append(timed(run_cmd, ["git", "ls-files", "-co", "--exclude-standard"], repo))
    list_s, gitls_s = statistics.median(lists), statistics.median(gitls)

    firsts, statuses = [], []
    disk_mb = 0.0
    for r in range(args.rounds):
        shutil.rmtree(repo / ".planloop", ignore_errors=True)
        store = CheckpointStore(repo, gc_detach=False)
        status_s = timed(run_cmd, ["git", "status", "--porcelain"], repo)
        first_s = timed(store.snapshot, "first", "refs/planloop/bench/first")
        if r == 0:
            store.wait_for_background()  # the first checkpoint's trees, copied after it
            store.wait_for_gc()
            disk_mb = du_mb(repo / ".planloop")
        store.close()
        firsts.append(first_s)
        statuses.append(status_s)
    checkpoint_first_s, git_status_s = statistics.median(firsts), statistics.median(statuses)
    repo_mb = du_mb(repo / ".git")

    ws = Workspace(repo)
    rmap = RepoMap(ws, repo / ".planloop" / "repomap")
    rmap.clear_cache()
    t = time.perf_counter()
    rmap.render(GOAL, args.map_tokens)
    map_first_s = time.perf_counter() - t
    rmap.close()
    map_cache_mb = du_mb(repo / ".planloop" / "repomap")
    rmap2 = RepoMap(Workspace(repo), repo / ".planloop" / "repomap")
    t = time.perf_counter()
    text = rmap2.render(GOAL, args.map_tokens)
    map_cached_s = time.perf_counter() - t
    print(
        f"search_s={search_s:.3f} rg_s={rg_s:.3f} search_ratio={search_s / rg_s:.2f} "
        f"list_s={list_s:.3f} gitls_s={gitls_s:.3f} "
        f"map_first_s={map_first_s:.2f} map_cached_s={map_cached_s:.3f} "
        f"map_tokens={estimate_tokens(text)} "
        f"checkpoint_first_s={checkpoint_first_s:.3f} git_status_s={git_status_s:.3f} "
        f"checkpoint_ratio={checkpoint_first_s / git_status_s:.2f} "
        f"disk_mb={disk_mb:.1f} git_mb={repo_mb:.1f} disk_ratio={disk_mb / repo_mb:.3f} "
        f"{first} map_cache_mb={map_cache_mb:.1f} load={load:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

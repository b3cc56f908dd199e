"""What the command sandbox costs: a trivial command and a small test suite, with and without.

Every command the executor runs and every acceptance check goes through the sandbox, so
its start-up cost is paid many times per step. Two measurements, sandboxed (bubblewrap
via ``planloop.workspace.sandbox.sandboxed``, the temp dir made and removed each time, as a real
command would) against bare (``subprocess`` with the same ``bash -c``):

- ``true``: the fixed overhead per command, median of ``--runs`` (default 30), after a
  few warm-up runs;
- the bundled calculator example's tests (``python -m pytest -q`` in a temp copy, the
  check its planloop.toml declares), median of ``--suite-runs`` (default 5), the two
  sides alternating.

Prints each measurement, and last:
    sandbox_ms=<true, sandboxed> bare_ms=<true, bare> overhead_ms=<difference>
    suite_ratio=<suite sandboxed / bare>
Goals: overhead ≤ 30 ms, suite_ratio ≤ 1.2.

Run: .venv/bin/python bench/sandbox_overhead.py [--runs 30] [--suite-runs 5]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from planloop.workspace.sandbox import probe, sandboxed  # noqa: E402
from planloop.workspace.sandbox_rules import SandboxSpec  # noqa: E402

EXAMPLE = ROOT / "examples" / "calculator"


def bare(command: str, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bare {command!r} failed:\n{done.stdout.decode()}{done.stderr.decode()}")
    return took


def boxed(command: str, cwd: Path, env: dict[str, str], spec: SandboxSpec) -> float:
    start = time.perf_counter()
    with sandboxed(["bash", "-c", command], spec, env) as (argv, sb_env):
        done = subprocess.run(
            argv, cwd=cwd, env=sb_env, stdin=subprocess.DEVNULL, capture_output=True
        )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"sandboxed {command!r} failed:\n{done.stdout.decode()}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--suite-runs", type=int, default=5)
    args = parser.parse_args()

    status = probe()
    if not status.available:
        raise SystemExit(f"sandbox unavailable: {status.reason}; {status.fix}")
    with tempfile.TemporaryDirectory(prefix="planloop-bench-sbx-") as tmp:
        ws = Path(tmp) / "calc"
        shutil.copytree(
            EXAMPLE, ws, ignore=shutil.ignore_patterns("demo.json", "__pycache__", ".planloop")
        )
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        # the interpreter may live under /tmp, which the sandbox replaces
        spec = SandboxSpec(root=ws, readable=(Path(sys.prefix),))

        for _ in range(3):
            bare("true", ws, env)
            boxed("true", ws, env, spec)
        bare_t = [bare("true", ws, env) for _ in range(args.runs)]
        box_t = [boxed("true", ws, env, spec) for _ in range(args.runs)]
        sandbox_ms = statistics.median(box_t) * 1000
        bare_ms = statistics.median(bare_t) * 1000
        print(
            f"true: sandboxed median {sandbox_ms:.1f} ms (min {min(box_t) * 1000:.1f}), "
            f"bare median {bare_ms:.1f} ms (min {min(bare_t) * 1000:.1f}); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )

        suite = "python -m pytest -q -p no:cacheprovider"
        bare(suite, ws, env)  # warm the page cache and the bytecode
        boxed(suite, ws, env, spec)
        suite_bare: list[float] = []
        suite_box: list[float] = []
        for i in range(args.suite_runs):
            pair = [("bare", suite_bare), ("box", suite_box)]
            for kind, sink in pair if i % 2 == 0 else reversed(pair):
                sink.append(bare(suite, ws, env) if kind == "bare" else boxed(suite, ws, env, spec))
        sb, sr = statistics.median(suite_box), statistics.median(suite_bare)
        print(
            f"calculator suite: sandboxed median {sb * 1000:.0f} ms (min "
            f"{min(suite_box) * 1000:.0f}), bare {sr * 1000:.0f} ms (min {min(suite_bare) * 1000:.0f})"
        )
    print(
        f"sandbox_ms={sandbox_ms:.1f} bare_ms={bare_ms:.1f} "
        f"overhead_ms={sandbox_ms - bare_ms:.1f} suite_ratio={sb / sr:.2f}"
    )


if __name__ == "__main__":
    main()

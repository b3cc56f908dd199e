"""Wall time of joint vs split on a 2-step and an 8-step task, with a fixed delay per model call.

Seed 001: the split "costs latency: two model calls per step, three when the planner
needs to revise", so keep the joint loop for short tasks. This measures that cost in
planloop itself: the real orchestrator, roles, tools, checks and checkpoints on a
temporary workspace, with scripted models wrapped so every call waits a fixed delay
(``--delay``, default 0.25 s: a stand-in for a model's time to first token and output).

The scripts do the same edits in both modes. Split: one planner call, then per step an
edit turn and a report turn. Joint: one loop that makes one edit turn per step (as a
single-loop agent does) and one report turn, with no planner call. The split wall time
of the same run is the baseline.

What the figure does not say: a real model's latency grows with its context, which a
joint loop lets grow and the split keeps flat; the fixed delay ignores that.

Prints each measurement, and last:
    short_ratio=<joint/split wall, 2 steps> long_ratio=<joint/split wall, 8 steps>

Run: .venv/bin/python bench/split_vs_joint.py [--delay 0.25] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from planloop.approvals import AutoApprover  # noqa: E402
from planloop.cancel import CancelToken  # noqa: E402
from planloop.config import load_config  # noqa: E402
from planloop.models.base import Model, ModelReply, ToolSpec  # noqa: E402
from planloop.wiring import build_orchestrator  # noqa: E402


class Delayed:
    """A model that waits ``delay`` seconds before each call (the stand-in's latency)."""

    def __init__(self, inner: Model, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.label = inner.label + f" (+{delay:g}s per call)"
        self.scripted = True
        self.calls = 0

    def complete(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int = 8192,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.complete(
            system=system, messages=messages, tools=tools, max_tokens=max_tokens, cancel=cancel
        )


def tool(name: str, **inp: Any) -> dict[str, Any]:
    return {"type": "tool_use", "name": name, "input": inp}


def scripts(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    steps = [
        {
            "id": f"s{i}",
            "title": f"Add f{i}",
            "instructions": f"Add f{i}() to mod{i}.py",
            "files": [f"mod{i}.py"],
            "acceptance": [{"kind": "file_contains", "path": f"mod{i}.py", "pattern": f"def f{i}"}],
        }
        for i in range(n)
    ]
    edit = [
        [tool("write_file", path=f"mod{i}.py", content=f"def f{i}():\n    return {i}\n")]
        for i in range(n)
    ]
    done = [tool("report_outcome", ok=True, summary="done")]
    split = {
        "planner": [[tool("submit_plan", goal="add the functions", steps=steps)]],
        "executor": [turn for e in edit for turn in (e, done)],
    }
    joint = {"planner": [], "executor": [*edit, done]}
    return split, joint


def run_once(mode: str, script: dict[str, Any], delay: float) -> tuple[float, int]:
    tmp = Path(tempfile.mkdtemp(prefix="planloop-bench-"))
    try:
        ws = tmp / "ws"
        ws.mkdir()
        (ws / "README.md").write_text("bench\n")
        path = tmp / "script.json"
        path.write_text(json.dumps(script))
        spec = f"scripted:{path}"
        cfg = load_config(
            ws, {"planner": spec, "executor": spec, "mode": mode, "review_plan_first": False}
        )
        wrapped: list[Delayed] = []

        def wrap(model: Model, role: str) -> Model:
            d = Delayed(model, delay)
            wrapped.append(d)
            return d

        orch = build_orchestrator(ws, config=cfg, approver=AutoApprover(), wrap_model=wrap)
        t0 = time.perf_counter()
        orch.create_plan("add the functions")
        res = orch.run(all_steps=True)
        wall = time.perf_counter() - t0
        if res.state != "done":
            raise SystemExit(f"{mode} run did not finish: {res.state} {res.reason}")
        return wall, sum(d.calls for d in wrapped)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.25)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ratios = {}
    for label, n in (("short", 2), ("long", 8)):
        split_s, joint_s = scripts(n)
        walls: dict[str, list[float]] = {"split": [], "joint": []}
        calls: dict[str, int] = {}
        for _ in range(args.repeat):
            for mode, script in (("split", split_s), ("joint", joint_s)):
                wall, c = run_once(mode, script, args.delay)
                walls[mode].append(wall)
                calls[mode] = c
        med = {m: statistics.median(w) for m, w in walls.items()}
        ratios[label] = med["joint"] / med["split"]
        print(
            f"{n}-step task: split {med['split']:.2f}s ({calls['split']} calls, baseline) · "
            f"joint {med['joint']:.2f}s ({calls['joint']} calls) · "
            f"joint/split {ratios[label]:.2f} (median of {args.repeat}, delay {args.delay:g}s/call)"
        )
    print(f"short_ratio={ratios['short']:.2f} long_ratio={ratios['long']:.2f}")


if __name__ == "__main__":
    main()

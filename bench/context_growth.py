"""How big is the executor's request at step 1…20, against one loop that keeps everything?

A 20-step scripted plan runs through the real orchestrator, executor, tools, checks and
checkpoints on a temporary workspace. A recording wrapper around the executor's model
measures every request it receives (system prompt + tools + messages, as JSON
characters; tokens estimated at 4 characters each). The baseline, in the same run, is
what a single plan-and-act loop would send at the same point: the whole plan, every
earlier step's full transcript and the current step's turns, in one context.

Prints both series and, last:
    executor_growth=<step20/step1> single_loop_growth=<step20/step1>
Goal: executor growth ≤ 1.2 while the single loop grows without bound.

Run: .venv/bin/python bench/context_growth.py [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from planloop.approvals import AutoApprover  # noqa: E402
from planloop.cancel import CancelToken  # noqa: E402
from planloop.checkpoints import CheckpointStore  # noqa: E402
from planloop.config import Config  # noqa: E402
from planloop.models.base import Model, ModelReply, ToolSpec  # noqa: E402
from planloop.models.scripted import ScriptedModel  # noqa: E402
from planloop.orchestrator import Orchestrator  # noqa: E402
from planloop.plan import render_markdown  # noqa: E402
from planloop.store import PlanStore  # noqa: E402
from planloop.workspace import Workspace  # noqa: E402


def request_chars(system: str, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> int:
    return len(system) + len(json.dumps(messages)) + len(json.dumps([asdict(t) for t in tools]))


class Recording:
    """Wraps a model; remembers each request's size and the messages of each step."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.label = inner.label
        self.scripted = inner.scripted
        self.sizes: list[int] = []
        self.transcripts: list[list[dict[str, Any]]] = []
        self.fixed = 0

    def complete(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int = 8192,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        if len(messages) == 1:  # a new step starts with one user message
            self.transcripts.append([])
            self.fixed = len(system) + len(json.dumps([asdict(t) for t in tools]))
        self.sizes.append(request_chars(system, messages, tools))
        reply = self.inner.complete(
            system=system, messages=messages, tools=tools, max_tokens=max_tokens, cancel=cancel
        )
        self.transcripts[-1] = [*messages, {"role": "assistant", "content": reply.content}]
        return reply


def build_script(n: int, path: Path) -> None:
    steps = []
    executor: list[Any] = []
    for i in range(1, n + 1):
        f = f"pkg/mod{i:02d}.py"
        steps.append(
            {
                "id": f"step-{i:02d}",
                "title": f"Add feature {i} to mod{i:02d}",
                "kind": "edit",
                "instructions": f"Add a function feature_{i}() returning {i} to {f}, with a docstring.",
                "files": [f],
                "expected_output": f"feature_{i}() == {i}",
                "acceptance": [{"kind": "file_contains", "path": f, "pattern": f"def feature_{i}"}],
                "depends_on": [f"step-{i - 1:02d}"] if i > 1 else [],
            }
        )
        body = (
            f'"""Module {i}."""\n\n\ndef feature_{i}() -> int:\n'
            f'    """Feature {i}: returns its number."""\n    return {i}\n'
        )
        executor += [
            [{"type": "tool_use", "name": "read_file", "input": {"path": f}}],
            [{"type": "tool_use", "name": "write_file", "input": {"path": f, "content": body}}],
            [
                {
                    "type": "tool_use",
                    "name": "report_outcome",
                    "input": {"ok": True, "summary": f"Added feature_{i}() to {f}."},
                }
            ],
        ]
    planner = [
        [
            {
                "type": "tool_use",
                "name": "submit_plan",
                "input": {"goal": f"Add {n} features, one per module", "steps": steps},
            }
        ]
    ]
    path.write_text(json.dumps({"planner": planner, "executor": executor}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    n = ap.parse_args().steps
    with tempfile.TemporaryDirectory() as tmp:
        ws_root = Path(tmp) / "ws"
        (ws_root / "pkg").mkdir(parents=True)
        for i in range(1, n + 1):
            (ws_root / "pkg" / f"mod{i:02d}.py").write_text(
                f'"""Module {i}."""\n' + "# filler line\n" * 40
            )
        script = Path(tmp) / "script.json"
        build_script(n, script)
        executor = Recording(ScriptedModel(str(script), "executor"))
        config = Config(review_plan_first=False)
        orch = Orchestrator(
            root=ws_root,
            config=config,
            store=PlanStore(ws_root),
            workspace=Workspace(ws_root),
            checkpoints=CheckpointStore(ws_root),
            planner_model=lambda: ScriptedModel(str(script), "planner"),
            executor_model=lambda: executor,
            approver=AutoApprover(),
        )
        plan = orch.create_plan(f"Add {n} features, one per module")
        res = orch.run(all_steps=True)
        if res.state != "done":
            raise SystemExit(f"benchmark run did not finish: {res.state}: {res.reason}")

        # executor: the largest request of each step (its last turn)
        per_step: list[int] = []
        calls = iter(executor.sizes)
        for t in executor.transcripts:
            turns = sum(1 for m in t if m["role"] == "assistant")
            per_step.append(max(next(calls) for _ in range(turns)))
        # single loop: whole plan + every earlier transcript + this step's, in one context
        plan_text = len(render_markdown(plan))
        single: list[int] = []
        history = 0
        for t in executor.transcripts:
            this = len(json.dumps(t[:-1]))
            single.append(executor.fixed + plan_text + history + this)
            history += len(json.dumps(t))

    print(
        f"{'step':>4} {'executor_chars':>15} {'~tokens':>8} {'single_loop_chars':>18} {'~tokens':>8}"
    )
    for i, (a, b) in enumerate(zip(per_step, single, strict=True), 1):
        print(f"{i:>4} {a:>15} {a // 4:>8} {b:>18} {b // 4:>8}")
    print(
        f"executor_growth={per_step[-1] / per_step[0]:.3f} single_loop_growth={single[-1] / single[0]:.3f}"
    )


if __name__ == "__main__":
    main()

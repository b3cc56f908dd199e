"""How big is the executor's request at step 1…20, against one loop that keeps everything?

A 20-step scripted plan runs through the real orchestrator, executor, tools, checks and
checkpoints on a temporary workspace. A recording wrapper around the executor's model
measures every request it receives (system prompt + tools + messages, as JSON
characters; tokens estimated at 4 characters each). The baseline, in the same run, is
what a single plan-and-act loop would send at the same point: the whole plan, every
earlier step's full transcript and the current step's turns, in one context.

Prints both series and, last:
    executor_growth=<step20/step1> single_loop_growth=<step20/step1>
    openai_executor_growth=… openai_single_loop_growth=… openai_wire_growth=…
The openai run serves the same turns through the real openai SDK from the Chat
Completions stand-in (tests/standin_openai.py) and also measures the request bodies on
the wire. Goal: executor growth ≤ 1.2 for both adapters while the single loop grows
without bound.

Run: .venv/bin/python bench/context_growth.py [--steps 20] [--adapter scripted|openai|both]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))  # the Chat Completions stand-in (--adapter openai)

from planloop.approvals import AutoApprover  # noqa: E402
from planloop.cancel import CancelToken  # noqa: E402
from planloop.checkpoints.store import CheckpointStore  # noqa: E402
from planloop.config import Config  # noqa: E402
from planloop.document.markdown import render_markdown  # noqa: E402
from planloop.loop.orchestrator import Orchestrator  # noqa: E402
from planloop.models.base import Model, ModelReply, ToolSpec  # noqa: E402
from planloop.models.scripted import ScriptedModel  # noqa: E402
from planloop.state.store import PlanStore  # noqa: E402
from planloop.workspace.files import Workspace  # noqa: E402


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


def as_chat(turn: list[dict[str, Any]]) -> dict[str, Any]:
    """A scripted executor turn as the Chat Completions reply the stand-in serves."""
    from standin_openai import chat

    return chat(calls=[(b["name"], b["input"]) for b in turn if b["type"] == "tool_use"])


def measure(n: int, adapter: str) -> tuple[list[int], list[int], list[int]]:
    """(executor request chars per step, single-loop chars per step, wire bytes per step).

    ``adapter``: "scripted" replays the turns in process; "openai" serves the same turns
    from the Chat Completions stand-in through the real openai SDK, and the wire series
    is the largest request body the stand-in received in each step (what the provider
    bills), so the adapter's own translation of the history is measured too.
    """
    with tempfile.TemporaryDirectory() as tmp:
        ws_root = Path(tmp) / "ws"
        (ws_root / "pkg").mkdir(parents=True)
        for i in range(1, n + 1):
            (ws_root / "pkg" / f"mod{i:02d}.py").write_text(
                f'"""Module {i}."""\n' + "# filler line\n" * 40
            )
        script = Path(tmp) / "script.json"
        build_script(n, script)
        server = None
        if adapter == "openai":
            from planloop.models.base import ModelConfig
            from planloop.models.registry import make_model
            from standin_openai import OpenAIStandIn

            server = OpenAIStandIn().start()
            turns = json.loads(script.read_text())["executor"]
            server.enqueue(*(as_chat(t) for t in turns))
            os.environ["OPENAI_BASE_URL"] = server.base_url
            os.environ["OPENAI_API_KEY"] = "sk-bench-not-a-key"
            inner: Model = make_model(
                "openai:bench-model", "executor", config=ModelConfig(max_retries=0)
            )
        else:
            inner = ScriptedModel(str(script), "executor")
        executor = Recording(inner)
        config = Config(review_plan_first=False)
        orch = Orchestrator(
            root=ws_root,
            config=config,
            store=PlanStore(ws_root),
            workspace=Workspace(ws_root),
            checkpoints=CheckpointStore(ws_root),
            planner_model=lambda _spec: ScriptedModel(str(script), "planner"),
            executor_model=lambda _spec: executor,
            approver=AutoApprover(),
        )
        try:
            plan = orch.create_plan(f"Add {n} features, one per module")
            res = orch.run(all_steps=True)
        finally:
            if server is not None:
                server.stop()
        if res.state != "done":
            raise SystemExit(f"benchmark run did not finish: {res.state}: {res.reason}")
        if server is not None and server.rejected:
            raise SystemExit(f"the stand-in refused requests: {server.rejected[:1]}")

        # executor: the largest request of each step (its last turn)
        per_step: list[int] = []
        wire: list[int] = []
        raw = [len(r.raw) for r in server.requests] if server is not None else []
        calls = iter(range(len(executor.sizes)))
        for t in executor.transcripts:
            turns = sum(1 for m in t if m["role"] == "assistant")
            idx = [next(calls) for _ in range(turns)]
            per_step.append(max(executor.sizes[i] for i in idx))
            if raw:
                wire.append(max(raw[i] for i in idx))
        # single loop: whole plan + every earlier transcript + this step's, in one context
        plan_text = len(render_markdown(plan))
        single: list[int] = []
        history = 0
        for t in executor.transcripts:
            this = len(json.dumps(t[:-1]))
            single.append(executor.fixed + plan_text + history + this)
            history += len(json.dumps(t))
    return per_step, single, wire


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument(
        "--adapter",
        choices=["scripted", "openai", "both"],
        default="both",
        help="which executor model to measure (both: each, in the same run)",
    )
    args = ap.parse_args()
    n = args.steps
    adapters = ["scripted", "openai"] if args.adapter == "both" else [args.adapter]
    summary: list[str] = []
    for adapter in adapters:
        per_step, single, wire = measure(n, adapter)
        print(f"-- executor model: {adapter}")
        head = f"{'step':>4} {'executor_chars':>15} {'~tokens':>8} {'single_loop_chars':>18} {'~tokens':>8}"
        print(head + (f" {'wire_bytes':>11}" if wire else ""))
        for i, (a, b) in enumerate(zip(per_step, single, strict=True), 1):
            extra = f" {wire[i - 1]:>11}" if wire else ""
            print(f"{i:>4} {a:>15} {a // 4:>8} {b:>18} {b // 4:>8}{extra}")
        prefix = "" if adapter == "scripted" else f"{adapter}_"
        line = (
            f"{prefix}executor_growth={per_step[-1] / per_step[0]:.3f} "
            f"{prefix}single_loop_growth={single[-1] / single[0]:.3f}"
        )
        if wire:
            line += f" {prefix}wire_growth={wire[-1] / wire[0]:.3f}"
        summary.append(line)
    print("\n".join(summary))


if __name__ == "__main__":
    main()

"""Builders for scripted model turns, so each test states its scenario compactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planloop.approvals import Approver, AutoApprover
from planloop.config import load_config
from planloop.events import Event, EventSink, to_dict
from planloop.loop.orchestrator import Orchestrator
from planloop.trust import TrustStore
from planloop.wiring import build_orchestrator


def trust(folder: Path) -> None:
    """The user trusts ``folder`` (``planloop trust``): its planloop.toml may then set the
    keys that send credentials or widen what runs (the tests' own settings files do)."""
    TrustStore().answer(folder, True)


PYTEST_ALL = {"kind": "command", "command": "python -m pytest -q", "description": "suite passes"}


def tool(name: str, **inp: Any) -> dict[str, Any]:
    return {"type": "tool_use", "name": name, "input": inp}


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def step(
    sid: str,
    title: str = "",
    *,
    kind: str = "edit",
    checks: list[dict] | None = None,
    deps: list[str] | None = None,
    instructions: str = "do it",
    files: list[str] | None = None,
) -> dict:
    return {
        "id": sid,
        "title": title or sid,
        "kind": kind,
        "instructions": instructions,
        "files": files or [],
        "expected_output": "",
        "depends_on": deps or [],
        "acceptance": checks if checks is not None else ([PYTEST_ALL] if kind == "edit" else []),
    }


def submit(goal: str, steps: list[dict], **extra: Any) -> list[dict[str, Any]]:
    return [tool("submit_plan", goal=goal, steps=steps, **extra)]


def report(ok: bool = True, summary: str = "done", **extra: Any) -> list[dict[str, Any]]:
    return [tool("report_outcome", ok=ok, summary=summary, **extra)]


def write(path: str, content: str) -> list[dict[str, Any]]:
    return [tool("write_file", path=path, content=content)]


def script(tmp: Path, planner: list[Any], executor: list[Any], name: str = "script.json") -> Path:
    p = tmp / name
    p.write_text(json.dumps({"planner": planner, "executor": executor}), encoding="utf-8")
    return p


def session(
    ws: Path,
    script_path: Path,
    approver: Approver | None = None,
    events: list | None = None,
    **config: Any,
) -> Orchestrator:
    spec = f"scripted:{script_path}"
    cfg = load_config(ws, {"planner": spec, "executor": spec, **config})
    return build_orchestrator(
        ws,
        config=cfg,
        approver=approver or AutoApprover(),
        sink=(dict_sink(events.append) if events is not None else None),
    )


def dict_sink(fn: Callable[[dict[str, Any]], None]) -> EventSink:
    """A sink that sees each event as its log line's dict (what tests assert on)."""

    def sink(ev: Event) -> None:
        fn(to_dict(ev))

    return sink

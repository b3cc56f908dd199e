"""A real ACP client (the SDK's own) driving ``planloop acp`` in a child process.

``spawn_agent_process`` starts the child with a trimmed environment, so it gets what it
needs explicitly: this interpreter first on PATH, the worktree's source, the tests'
config directory, split mode. Each test opens its own session on its own folder; the
folder's planloop.toml names the scripted models, so one agent serves every test.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AllowedOutcome,
    DeniedOutcome,
    PermissionOption,
    RequestPermissionResponse,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
)

from acp import RequestError, spawn_agent_process, text_block

SERVER = Path(__file__).resolve().parents[2] / "server"

Answer = Callable[[ToolCallUpdate, list[PermissionOption]], str | None]


def agent_env() -> dict[str, str]:
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(SERVER),
        "HOME": os.environ.get("HOME", "/tmp"),
        "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        "PLANLOOP_MODE": "split",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    return env


class Recorder:
    """The client side: records every update and answers permissions with ``answer``."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, Any]] = []
        self.permissions: list[tuple[str, ToolCallUpdate, list[PermissionOption]]] = []
        self.answer: Answer = lambda call, options: "approve"

    async def request_permission(
        self, options: list[PermissionOption], session_id: str, tool_call: ToolCallUpdate, **kw: Any
    ) -> RequestPermissionResponse:
        self.permissions.append((session_id, tool_call, options))
        chosen = self.answer(tool_call, options)
        if chosen is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=chosen)
        )

    async def session_update(self, session_id: str, update: Any, **kw: Any) -> None:
        self.updates.append((session_id, update))

    def of(self, session_id: str, kind: type | None = None) -> list[Any]:
        return [
            u for s, u in self.updates if s == session_id and (kind is None or isinstance(u, kind))
        ]

    def text(self, session_id: str) -> str:
        return "".join(u.content.text for u in self.of(session_id, AgentMessageChunk))

    def plans(self, session_id: str) -> list[list[tuple[str, str]]]:
        return [
            [(e.content, e.status) for e in u.entries] for u in self.of(session_id, AgentPlanUpdate)
        ]

    def tool_calls(self, session_id: str) -> list[ToolCallStart]:
        """Each tool call as the client shows it at the end: its start with every later
        ``tool_call_update`` of the same id applied (the fields each one set)."""
        calls: dict[str, ToolCallStart] = {}
        for u in self.of(session_id):
            if isinstance(u, ToolCallStart):
                calls[u.tool_call_id] = u
            elif isinstance(u, ToolCallProgress):
                set_ = {k: getattr(u, k) for k in u.model_fields_set if k != "session_update"}
                calls[u.tool_call_id] = calls[u.tool_call_id].model_copy(update=set_)
        return list(calls.values())

    def statuses(self, session_id: str) -> list[tuple[str, str | None]]:
        """(toolCallId, status) of every tool call notification, in the order sent."""
        return [
            (u.tool_call_id, u.status)
            for u in self.of(session_id)
            if isinstance(u, (ToolCallStart, ToolCallProgress))
        ]

    def asked(self, session_id: str) -> list[ToolCallUpdate]:
        return [c for s, c, _ in self.permissions if s == session_id]

    def on_connect(self, conn: Any) -> None:
        pass

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(method)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None


def workspace(
    root: Path,
    script: dict[str, Any],
    files: dict[str, str] | None = None,
    allow: list[str] | None = None,
    git: bool = True,
) -> Path:
    """A folder (a git repository unless ``git`` is False) whose planloop.toml names
    ``script`` as both models and reviews the plan first."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {"notes.txt": "hello\n"}).items():
        (root / rel).write_text(text, encoding="utf-8")
    path = root / "script.json"
    path.write_text(json.dumps(script), encoding="utf-8")
    toml = f'planner = "scripted:{path}"\nexecutor = "scripted:{path}"\n'
    if allow:
        toml += "[command_policy]\nallow = " + json.dumps(allow) + "\n"
    (root / "planloop.toml").write_text(toml, encoding="utf-8")
    if git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def fixture(name: str) -> dict[str, Any]:
    lsp = Path(__file__).resolve().parents[1] / "lsp" / "fixtures" / name
    return json.loads(lsp.read_text(encoding="utf-8"))


async def prompt(conn: Any, sid: str, text: str) -> str:
    res = await asyncio.wait_for(conn.prompt(session_id=sid, prompt=[text_block(text)]), 60)
    return str(res.stop_reason)


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def processes_running(needle: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if needle in line and "ps -eo" not in line]


__all__ = [
    "Recorder",
    "agent_env",
    "fixture",
    "prompt",
    "spawn_agent_process",
    "wait_for",
    "workspace",
]

"""The port to the user's own tools (MCP servers), as the domain core sees it.

The core (roles, loop, checks) must not know the MCP SDK, its transports or its threads:
it asks this interface for tool schemas and hands it calls, and ``wiring`` injects the
concrete client (:mod:`planloop.mcp_tools`). Gating decisions that need a person stay in
the core (the approval desk); the port only says what is read-only and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from planloop.cancel import CancelToken
from planloop.events import Event
from planloop.models.base import ToolSpec

#: every MCP tool's name starts with this (``mcp__SERVER__TOOL``)
PREFIX = "mcp__"


@dataclass(frozen=True)
class ToolResult:
    """A call's result, already condensed, capped and marked untrusted for the model."""

    text: str
    is_error: bool
    #: one line for events and the log
    line: str


@dataclass
class ServerStatus:
    """One server as ``planloop doctor`` shows it."""

    name: str
    transport: str
    #: where it is defined: .vscode/mcp.json, .mcp.json, settings or client
    source: str
    started: bool = False
    tools: int = 0
    #: seconds from launch to its tool list
    start_s: float | None = None
    error: str | None = None


class McpTools(Protocol):
    def open(
        self,
        ask: Callable[[str], bool | None] | None = None,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        """Start the servers (nested calls share them); ``ask(question)`` asks a person
        for consent where a project's file would start a process (None: nobody there)."""
        ...

    def close(self) -> None:
        """Stop every server started by :meth:`open`."""
        ...

    def planner_specs(self) -> list[ToolSpec]:
        """The tools the planner may call: read-only by the user's word or a trusted hint."""
        ...

    def executor_specs(self, wanted: list[str]) -> list[ToolSpec]:
        """The executor's tools for a step; ``wanted`` (globs from the step's ``tools:``)
        narrows them, empty means every running server's tools."""
        ...

    def read_only(self, name: str) -> bool:
        """Whether the planner (and a check) may call ``name``."""
        ...

    def allowed(self, name: str) -> bool:
        """Whether the executor may call ``name`` without asking a person."""
        ...

    def flush(self) -> None:
        """Tell what the servers' own thread saw since (a server that died), now, from the
        caller's thread: a step's end says it in that step's events."""
        ...

    def statuses(self) -> list[ServerStatus]:
        """Every server of the last :meth:`open`: started or why not."""
        ...

    def call(self, name: str, arguments: dict[str, Any], cancel: CancelToken | None) -> ToolResult:
        """Call a tool; never raises (a dead server or a timeout is an error result)."""
        ...


def is_mcp(name: str) -> bool:
    return name.startswith(PREFIX)

"""``planloop doctor``: does each role's model answer, and call tools, before a run needs it?

A misconfigured model otherwise shows up minutes into a run, after the planner has
been paid for. One tiny live request per role — a single tool the model must call —
proves the endpoint, the key and tool calling together, and times it. The key's
*presence* is reported, never its value. Front ends (CLI, LSP) only render the
result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from planloop.errors import PlanloopError
from planloop.mcp_port import McpTools
from planloop.models.anthropic_adapter import AnthropicModel
from planloop.models.anthropic_clouds import CloudModel
from planloop.models.base import Model, ModelError, ToolSpec
from planloop.models.openai_adapter import OpenAIModel
from planloop.workspace.sandbox import CommandSandbox

Role = Literal["planner", "executor"]

PING = ToolSpec(
    name="report_ping",
    description="Report that you can call tools. Call this once with ok=true.",
    input_schema={
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    },
)
PROMPT = "This is a connectivity check. Call the report_ping tool once with ok=true; no text."


@dataclass
class ModelCheck:
    role: Role
    spec: str
    label: str
    endpoint: str
    #: the variable the key is read from (None: the endpoint takes none or finds its own)
    key_env: str | None
    key_present: bool | None
    ok: bool
    #: the live request's duration; None when none was made
    seconds: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _where(model: Model) -> tuple[str, str | None, bool | None]:
    """(endpoint shown, key variable, key present) — without the key's value."""
    if isinstance(model, OpenAIModel):
        ep = model.endpoint
        var = ep.key_env
        present = bool(os.environ.get(var, "").strip()) if var else None
        return ep.shown_url, var, present
    if isinstance(model, CloudModel):
        return f"{model.scheme} (the cloud SDK's own credentials)", None, None
    if isinstance(model, AnthropicModel):
        url = os.environ.get("ANTHROPIC_BASE_URL", "").strip() or "https://api.anthropic.com"
        for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
            if os.environ.get(var, "").strip():
                return url, var, True
        return url, "ANTHROPIC_API_KEY", False
    return "none (replays a script)", None, None


def check_role(role: Role, spec: str, build: Callable[[], Model]) -> ModelCheck:
    try:
        model = build()
    except PlanloopError as e:
        return ModelCheck(role, spec, spec, "-", None, None, False, None, e.message)
    endpoint, key_env, present = _where(model)

    def result(ok: bool, seconds: float | None, detail: str) -> ModelCheck:
        return ModelCheck(role, spec, model.label, endpoint, key_env, present, ok, seconds, detail)

    if model.scripted:
        return result(True, None, "scripted: no endpoint to check")
    started = time.monotonic()
    try:
        reply = model.complete(
            system="You check connectivity for planloop.",
            messages=[{"role": "user", "content": PROMPT}],
            tools=[PING],
            max_tokens=1024,
        )
    except ModelError as e:
        return result(False, round(time.monotonic() - started, 3), e.message)
    seconds = round(time.monotonic() - started, 3)
    if not any(c.name == PING.name for c in reply.tool_calls):
        said = " ".join(reply.text.split())[:120]
        return result(
            False,
            seconds,
            "the model answered but did not call the tool"
            + (f" (it said: {said!r})" if said else "")
            + "; planloop's roles work only through tools — pick a model with tool support",
        )
    tokens = reply.usage.input_tokens + reply.usage.output_tokens + reply.usage.cache_read_tokens
    return result(True, seconds, f"answered and called a tool ({tokens} tokens)")


def check_models(
    specs: dict[Role, str], builders: dict[Role, Callable[[], Model]]
) -> list[ModelCheck]:
    """One check per role, in order; each independent, so one failure hides no other."""
    return [check_role(role, specs[role], builders[role]) for role in ("planner", "executor")]


@dataclass
class SandboxCheck:
    """Whether model commands can run sandboxed here, and the fix when they cannot."""

    mode: str  # the setting: "auto" | "off"
    available: bool
    backend: str  # "bwrap" | "sandbox-exec" | "off" | "none"
    summary: str
    reason: str
    fix: str

    @property
    def ok(self) -> bool:
        """Commands will run: sandboxed, or unsandboxed by the user's explicit choice."""
        return self.available or self.mode == "off"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class McpServerCheck:
    """One MCP server: did it start, how many tools, how long it took (or why not)."""

    name: str
    transport: str
    source: str
    started: bool
    tools: int
    seconds: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_mcp(
    mcp: McpTools | None, ask: Callable[[str], bool | None] | None
) -> list[McpServerCheck]:
    """Start every MCP server as a run would (``ask``: the consent question for a
    project's file, or None when nobody is there), report each, stop them."""
    if mcp is None:
        return []
    warnings: list[str] = []
    mcp.open(ask, lambda e: warnings.append(getattr(e, "message", "")))
    try:
        return [
            McpServerCheck(
                s.name,
                s.transport,
                s.source,
                s.started,
                s.tools,
                s.start_s,
                s.error or f"{s.tools} tools in {s.start_s or 0:.2f}s",
            )
            for s in mcp.statuses()
        ]
    finally:
        mcp.close()


def check_sandbox(sandbox: CommandSandbox) -> SandboxCheck:
    found = sandbox.status()
    return SandboxCheck(
        mode=sandbox.mode,
        available=found.available,
        backend=found.backend,
        summary=sandbox.summary(),
        reason=found.reason,
        fix=found.fix,
    )

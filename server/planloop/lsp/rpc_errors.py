"""Failures as JSON-RPC errors: one mapping, so every command fails the same way.

Each error carries ``data.kind`` (a stable string) as well as its code, because clients
branch on "no plan yet" or "busy" to offer the right next action, and codes in the
server-defined range are easy to mix up across tools.
"""

from __future__ import annotations

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from planloop.errors import ConfigError, PlanloopError
from planloop.redaction import redact

#: JSON-RPC server-defined codes (-32099..-32000) by error kind (``errors.PlanloopError``);
#: ``data.kind`` says the same in words. A kind not listed falls back to its family's
#: entry (a model error of kind ``auth`` → ``model``), then to ``error``.
CODES: dict[str, int] = {
    "no_plan": -32010,
    "busy": -32011,
    "invalid_request": -32012,
    "store": -32013,
    "config": -32014,
    "workspace": -32015,
    "path": -32015,
    "unsaved_buffer": -32015,
    "checkpoint": -32015,
    "model": -32016,
    # the planner asked a question nobody answered yet (planloop.answer goes on)
    "waiting": -32017,
    "usage": -32602,
    "unknown_step": -32602,
    "bad_arguments": -32602,
    "error": -32000,
}
#: what ``data.kind`` says for a family whose members keep the family's name on the wire
_WIRE_KIND = {"path": "workspace", "unsaved_buffer": "workspace", "checkpoint": "workspace"}


class BadArguments(PlanloopError):
    """Arguments that do not fit the command; the message lists every problem."""

    default_kind = "bad_arguments"


class ConfigProblem(ConfigError):
    """Settings (initializationOptions, workspace/configuration, planloop.toml) are invalid."""


class NoFolderError(PlanloopError):
    """A command that needs a workspace folder when none is open or the one named is not."""

    default_kind = "workspace"


def to_rpc_error(exc: BaseException) -> JsonRpcException:
    """The JSON-RPC error a client sees for ``exc``."""
    message = redact(str(exc)) or type(exc).__name__
    if not isinstance(exc, PlanloopError):
        return JsonRpcException(
            message=f"internal error: {type(exc).__name__}: {message}",
            code=-32603,
            data={"kind": "internal"},
        )
    kind = exc.kind if exc.kind in CODES else exc.family if exc.family in CODES else "error"
    code = CODES[kind]
    wire = _WIRE_KIND.get(kind, kind)
    if code == JsonRpcInvalidParams.CODE:
        return JsonRpcInvalidParams(message=message, data={"kind": wire})
    return JsonRpcException(message=message, code=code, data={"kind": wire})

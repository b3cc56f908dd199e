"""Failures as JSON-RPC errors: one mapping, so every command fails the same way.

Each error carries ``data.kind`` (a stable string) as well as its code, because clients
branch on "no plan yet" or "busy" to offer the right next action, and codes in the
server-defined range are easy to mix up across tools.
"""

from __future__ import annotations

import os

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from ..errors import (
    BusyError,
    InvalidRequestError,
    NoPlanError,
    PlanloopError,
    StoreError,
    UnknownStepError,
)

#: JSON-RPC server-defined codes (-32099..-32000); ``data.kind`` says the same in words.
CODES: dict[str, int] = {
    "no_plan": -32010,
    "busy": -32011,
    "invalid_request": -32012,
    "store": -32013,
    "config": -32014,
    "workspace": -32015,
    "error": -32000,
}


class BadArguments(ValueError):
    """Arguments that do not fit the command; the message lists every problem."""


class ConfigProblem(PlanloopError):
    """Settings (initializationOptions, workspace/configuration, planloop.toml) are invalid."""


class NoFolderError(PlanloopError):
    """A command that needs a workspace folder when none is open or the one named is not."""


def redact(text: str) -> str:
    """Belt and braces: no message leaves the server with the API key in it."""
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        secret = os.environ.get(var)
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def to_rpc_error(exc: BaseException) -> JsonRpcException:
    """The JSON-RPC error a client sees for ``exc``."""
    message = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, BadArguments):
        return JsonRpcInvalidParams(message=message, data={"kind": "bad_arguments"})
    if isinstance(exc, UnknownStepError):
        return JsonRpcInvalidParams(message=message, data={"kind": "unknown_step"})
    kind = _kind(exc)
    if kind is None:
        return JsonRpcException(
            message=f"internal error: {type(exc).__name__}: {message}",
            code=-32603,
            data={"kind": "internal"},
        )
    return JsonRpcException(message=message, code=CODES[kind], data={"kind": kind})


def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, NoPlanError):
        return "no_plan"
    if isinstance(exc, BusyError):
        return "busy"
    if isinstance(exc, InvalidRequestError):
        return "invalid_request"
    if isinstance(exc, StoreError):
        return "store"
    if isinstance(exc, ConfigProblem):
        return "config"
    if isinstance(exc, NoFolderError):
        return "workspace"
    if isinstance(exc, PlanloopError):
        return "error"
    name = type(exc).__name__
    # Workspace and checkpoint errors come from modules owned elsewhere; match by base
    # name so this module does not import git-backed code at server start.
    if name in ("WorkspaceError", "PathError", "UnsavedBufferError", "CheckpointError") or any(
        c.__name__ in ("WorkspaceError", "CheckpointError") for c in type(exc).__mro__
    ):
        return "workspace"
    return None

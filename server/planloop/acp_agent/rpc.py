"""The JSON-RPC errors the agent answers with: the request was understood and its values
are wrong (invalid params), or it cannot run now (busy). Each message says why."""

from __future__ import annotations

from typing import Any

from acp import RequestError

#: JSON-RPC's "invalid params": the request was understood, its values are wrong
INVALID_PARAMS = -32602
#: a JSON-RPC server error: the request is valid but cannot run now
BUSY = -32000


def bad_params(message: str, **data: Any) -> RequestError:
    return RequestError(INVALID_PARAMS, message, data or None)


def busy(message: str, **data: Any) -> RequestError:
    return RequestError(BUSY, message, {**data, "kind": "busy"})

"""The port's turn as a Messages API request, and the API's message back as a reply.

Kept apart from the adapter (as ``openai_wire`` is from its adapter): what planloop
sends (the prompt-caching marks) and what it keeps of a reply (request-side block
fields only, thinking signatures intact, usage and cost) are pure functions over dicts
and SDK objects, with no client, no network and no error handling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planloop.models.base import ModelReply, ToolSpec, Usage
from planloop.models.pricing import cost_usd

_EPHEMERAL = {"type": "ephemeral"}


def request_param(
    model_id: str,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[ToolSpec],
    max_tokens: int,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": model_id,
        "max_tokens": max_tokens,
        "messages": messages,
        "cache_control": dict(_EPHEMERAL),
    }
    if system:  # the API rejects an empty text block
        request["system"] = [{"type": "text", "text": system, "cache_control": dict(_EPHEMERAL)}]
    if tools:
        specs: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools
        ]
        specs[-1]["cache_control"] = dict(_EPHEMERAL)
        request["tools"] = specs
    return request


def reply_of(
    message: Any,
    model_id: str,
    price_table: Mapping[str, Mapping[str, float]] | None,
    *,
    priced: bool,
) -> ModelReply:
    u = message.usage
    usage = Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=u.cache_read_input_tokens or 0,
        cache_write_tokens=u.cache_creation_input_tokens or 0,
    )
    return ModelReply(
        content=[_block(b) for b in message.content],
        stop_reason=message.stop_reason or "end_turn",
        usage=usage,
        cost_usd=cost_usd(model_id, usage, price_table),
        model=message.model or model_id,
        priced=priced,
    )


def _block(block: Any) -> dict[str, Any]:
    """A reply block as the plain dict the API accepts back (and JSON can store).

    Only request-side fields are kept: the reply's extras (citations, parsed output)
    are not valid in a request. Thinking blocks are kept with their signatures
    because the API requires them back, unchanged, in a tool-use loop.
    """
    kind = block.type
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input or {}}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    dumped: dict[str, Any] = block.model_dump(mode="json", exclude_none=True)
    return dumped

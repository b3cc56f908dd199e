"""The port's Messages-API history as a Chat Completions request, and a stream back as a turn.

The roles keep one history shape (role + content blocks, see ``base.py``); this module
is the only place that knows Chat Completions spells a tool call as an assistant
``tool_calls`` entry and its result as a ``tool`` message, so the roles never learn
a second dialect. Pure functions over dicts and SDK chunks: no client, no network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from planloop.models.base import ToolSpec, Usage

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

#: Chat Completions finish_reason → the port's stop_reason (``base.stop_reason_error``
#: turns max_tokens/refusal into the error the user reads)
FINISH = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


def tools_param(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tools as functions; a name the API would refuse is planloop's bug, caught here."""
    out = []
    for t in tools:
        if not TOOL_NAME.match(t.name):
            raise ValueError(f"tool name {t.name!r} does not match {TOOL_NAME.pattern}")
        out.append(
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
        )
    return out


def messages_param(
    system: str, messages: list[dict[str, Any]], *, system_role: str
) -> list[dict[str, Any]]:
    """The history as Chat Completions messages: every call answered by a ``tool`` message."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": system_role, "content": system})
    for m in messages:
        content = m["content"]
        if m["role"] == "assistant":
            out.append(_assistant(content))
            continue
        if isinstance(content, str):
            out.append({"role": "user", "content": content})
            continue
        texts: list[str] = []
        for block in content:
            kind = block.get("type")
            if kind == "tool_result":
                text = _result_text(block.get("content"))
                if block.get("is_error"):
                    text = f"ERROR: {text}"
                out.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
            elif kind == "text":
                texts.append(str(block.get("text", "")))
        if texts:
            out.append({"role": "user", "content": "\n\n".join(texts)})
    return out


def _assistant(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {
                "name": b["name"],
                # the model's own text when it was not JSON: it must see what it sent
                "arguments": b["raw_input"]
                if b.get("input_error") and "raw_input" in b
                else json.dumps(b.get("input") or {}),
            },
        }
        for b in content
        if b.get("type") == "tool_use"
    ]
    msg: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


# -- the stream --------------------------------------------------------------------------


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class Assembled:
    """One streamed turn, put back together."""

    text: str
    refusal: str
    calls: list[dict[str, Any]]
    finish_reason: str | None
    usage: Usage
    model: str
    usage_seen: bool

    @property
    def content(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.text:
            blocks.append({"type": "text", "text": self.text})
        blocks.extend(self.calls)
        return blocks


class StreamAssembler:
    """Feeds on chunks; tool-call argument fragments are joined by their ``index``."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._calls: dict[int, _Call] = {}
        self._finish: str | None = None
        self._usage = Usage()
        self._usage_seen = False
        self._model = ""

    def feed(self, chunk: Any) -> None:
        self._model = self._model or (getattr(chunk, "model", "") or "")
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = usage_of(usage)
            self._usage_seen = True
        for choice in chunk.choices or []:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    self._text.append(delta.content)
                if getattr(delta, "refusal", None):
                    self._refusal.append(delta.refusal)
                for tc in delta.tool_calls or []:
                    call = self._calls.setdefault(tc.index, _Call())
                    if tc.id:
                        call.id = tc.id
                    fn = tc.function
                    if fn is not None:
                        if fn.name:
                            call.name += fn.name
                        if fn.arguments:
                            call.arguments.append(fn.arguments)
            if choice.finish_reason:
                self._finish = choice.finish_reason

    def result(self) -> Assembled:
        calls = []
        for n, (_, call) in enumerate(sorted(self._calls.items())):
            calls.append(tool_block(call.id or f"call_{n}", call.name, "".join(call.arguments)))
        return Assembled(
            text="".join(self._text),
            refusal="".join(self._refusal),
            calls=calls,
            finish_reason=self._finish,
            usage=self._usage,
            model=self._model,
            usage_seen=self._usage_seen,
        )


def tool_block(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A tool_use block; arguments that are not a JSON object carry ``input_error``.

    The tool loop answers such a call with that error instead of running the tool,
    so the model reads what was wrong and tries again; nothing crashes.
    """
    raw = arguments.strip() or "{}"
    block: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        block["input_error"] = (
            f"the arguments of {name} were not valid JSON ({exc}); send the call again "
            "with a JSON object matching the tool's schema"
        )
        block["raw_input"] = arguments
        return block
    if not isinstance(value, dict):
        block["input_error"] = (
            f"the arguments of {name} must be a JSON object, not {type(value).__name__}"
        )
        block["raw_input"] = arguments
        return block
    block["input"] = value
    return block


def usage_of(u: Any) -> Usage:
    """Prompt tokens split like the port's: fresh input vs. read from the prompt cache."""
    prompt = int(getattr(u, "prompt_tokens", 0) or 0)
    details = getattr(u, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    cached = min(cached, prompt)
    return Usage(
        input_tokens=prompt - cached,
        output_tokens=int(getattr(u, "completion_tokens", 0) or 0),
        cache_read_tokens=cached,
    )

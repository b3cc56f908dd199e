"""A Chat Completions stand-in: a real HTTP server on 127.0.0.1 that tests script.

The openai adapter (and every preset on it: ollama:, lmstudio:, vllm:, openrouter:) is
tested through the real ``openai`` SDK over real HTTP against this::

    with OpenAIStandIn() as api:
        api.enqueue(chat_tool_calls(("read_file", {"path": "a.py"})), chat_text("done"))
        env = {**os.environ, **api.env()}        # OPENAI_BASE_URL + OPENAI_API_KEY

Replies are ``chat(...)`` bodies (a ChatCompletion) or ``OpenAIReply`` faults (an HTTP
error, an ``error`` inside the stream, a delay before any byte, a stall mid-stream).
Streaming requests get the reply as SSE chunks — text and each tool call's arguments
split into fragments, the usage chunk last when ``stream_options.include_usage`` asks.

Every request is validated the way the real API validates it, and one it would refuse
gets the 400 it would send — and is recorded in ``rejected``, which the fixture
asserts empty at teardown, so a test fails when planloop sends what OpenAI refuses:
unknown keys (top level, message, tool), a ``tool`` message without its call, a call
without its answer, a bad tool name, ``max_tokens`` to a reasoning model, or tools to
a model listed in ``no_tools`` (Ollama's answer for a model without tool support).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from standin import QueuedServer, Recorded

_ids = itertools.count(1)
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

TOP_KEYS = {
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "user",
    "response_format",
    "reasoning_effort",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
}
MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}


# -- building replies ------------------------------------------------------------------


def usage(prompt: int = 10, completion: int = 5, *, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def chat(
    *,
    text: str | None = None,
    calls: list[tuple[str, dict[str, Any] | str]] | None = None,
    finish_reason: str | None = None,
    refusal: str | None = None,
    use: dict[str, Any] | None = None,
    model: str = "standin-model",
) -> dict[str, Any]:
    """A ChatCompletion body; a call's arguments may be a raw string (e.g. broken JSON)."""
    tool_calls = [
        {
            "id": f"call_standin_{next(_ids):04d}",
            "type": "function",
            "function": {"name": name, "arguments": a if isinstance(a, str) else json.dumps(a)},
        }
        for name, a in (calls or [])
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-standin-{next(_ids):04d}",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": use or usage(),
    }


def chat_text(text: str, **kw: Any) -> dict[str, Any]:
    return chat(text=text, **kw)


def chat_tool_calls(*calls: tuple[str, dict[str, Any] | str], **kw: Any) -> dict[str, Any]:
    return chat(calls=list(calls), **kw)


@dataclass
class OpenAIReply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    stall_s: float = 0.0
    #: streaming only: after the first chunk, send ``data: {"error": ...}`` instead
    stream_error: dict[str, Any] | None = None


def error_reply(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> OpenAIReply:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return OpenAIReply(status=status, body=body, headers=headers or {})


def stream_error_reply(message: str) -> OpenAIReply:
    return OpenAIReply(
        body=chat_text("(never sent)"),
        stream_error={"error": {"message": message, "type": "server_error"}},
    )


# -- validation ---------------------------------------------------------------------------


def problems(body: Any, *, reasoning: tuple[str, ...], no_tools: set[str]) -> list[str]:
    """What the real API would answer 400 to (first problems first); [] when valid."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    out: list[str] = []
    unknown = sorted(set(body) - TOP_KEYS)
    if unknown:
        out.append(f"Unrecognized request argument supplied: {', '.join(unknown)}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        out.append("you must provide a model parameter")
        model = ""
    if model.startswith(reasoning) and "max_tokens" in body:
        out.append(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
    if "max_tokens" in body and "max_completion_tokens" in body:
        out.append("max_tokens and max_completion_tokens cannot both be set")
    if body.get("stream_options") is not None and body.get("stream") is not True:
        out.append("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
    tools = body.get("tools")
    if tools is not None:
        if model in no_tools:
            out.append(f"registry.ollama.ai/library/{model} does not support tools")
        if not isinstance(tools, list) or not tools:
            out.append("'tools' must be a non-empty array")
        else:
            for i, t in enumerate(tools):
                fn = t.get("function") if isinstance(t, dict) else None
                if (
                    not isinstance(t, dict)
                    or t.get("type") != "function"
                    or not isinstance(fn, dict)
                ):
                    out.append(f"tools[{i}] must be {{type: function, function: {{...}}}}")
                    continue
                extra = sorted(set(t) - {"type", "function"}) + sorted(
                    set(fn) - {"name", "description", "parameters", "strict"}
                )
                if extra:
                    out.append(f"tools[{i}]: Unrecognized key(s): {', '.join(extra)}")
                if not TOOL_NAME.match(str(fn.get("name", ""))):
                    out.append(
                        f"Invalid 'tools[{i}].function.name': string does not match "
                        f"pattern. Expected a string that matches the pattern "
                        f"'{TOOL_NAME.pattern}'."
                    )
    out.extend(_message_problems(body.get("messages")))
    return out


def _message_problems(messages: Any) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return ["'messages' must be a non-empty array"]
    out: list[str] = []
    open_calls: list[str] = []  # ids the last assistant turn asked for, not yet answered
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in MESSAGE_KEYS:
            out.append(f"messages[{i}]: invalid role {role!r}")
            continue
        extra = sorted(set(m) - MESSAGE_KEYS[role])
        if extra:
            out.append(f"messages[{i}]: Unrecognized key(s): {', '.join(extra)}")
        if role == "tool":
            cid = m.get("tool_call_id")
            if cid not in open_calls:
                out.append(
                    f"Invalid parameter: messages[{i}] with role 'tool' must be a response to "
                    "a preceeding message with 'tool_calls'."
                )
            else:
                open_calls.remove(cid)
            if not isinstance(m.get("content"), str):
                out.append(f"messages[{i}]: tool content must be a string")
            continue
        if open_calls:
            out.append(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(open_calls)}"
            )
            open_calls = []
        if role == "assistant":
            calls = m.get("tool_calls") or []
            if m.get("content") is None and not calls:
                out.append(f"messages[{i}]: assistant content is required without tool_calls")
            for c in calls:
                fn = c.get("function") or {}
                if (
                    c.get("type") != "function"
                    or not c.get("id")
                    or not isinstance(fn.get("arguments"), str)
                ):
                    out.append(f"messages[{i}]: a tool call needs id, type and string arguments")
                if not TOOL_NAME.match(str(fn.get("name", ""))):
                    out.append(f"messages[{i}]: invalid tool call name {fn.get('name')!r}")
                open_calls.append(c.get("id"))
        elif not isinstance(m.get("content"), (str, list)):
            out.append(f"messages[{i}]: {role} content must be a string or an array")
    if open_calls:
        out.append(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            f"responding to each 'tool_call_id': {', '.join(open_calls)}"
        )
    return out


# -- the server ------------------------------------------------------------------------------


class OpenAIStandIn(QueuedServer[OpenAIReply]):
    """A threaded Chat Completions stand-in on a free port of 127.0.0.1."""

    url_suffix = "/v1"

    def __init__(
        self,
        *,
        require_key: str | None = None,
        reasoning: tuple[str, ...] = ("o1", "o3", "o4", "gpt-5"),
        no_tools: set[str] | None = None,
    ) -> None:
        super().__init__(require_key=require_key)
        self.reasoning = reasoning
        self.no_tools = set(no_tools or ())
        #: (request number, problems) for every request the real API would refuse
        self.rejected: list[tuple[int, list[str]]] = []

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def env(self, api_key: str = "sk-proj-standin-test-key") -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": api_key}

    def enqueue(self, *replies: OpenAIReply | dict[str, Any]) -> None:
        with self._lock:
            for r in replies:
                self._queue.append(r if isinstance(r, OpenAIReply) else OpenAIReply(body=r))

    def _record_and_pop(self, rec: Recorded) -> OpenAIReply:
        with self._lock:
            self._requests.append(rec)
            n = len(self._requests)
            if self.require_key is not None and rec.headers.get("authorization") != (
                f"Bearer {self.require_key}"
            ):
                got = rec.headers.get("authorization", "")[7:]
                return error_reply(
                    401,
                    f"Incorrect API key provided: {got}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
            if rec.path.split("?")[0] != "/v1/chat/completions":
                return error_reply(404, f"stand-in serves no {rec.path}")
            found = problems(rec.body, reasoning=self.reasoning, no_tools=self.no_tools)
            if found:
                model = rec.body.get("model", "") if isinstance(rec.body, dict) else ""
                if not (model in self.no_tools and len(found) == 1):
                    self.rejected.append((n, found))  # a planloop bug, not a scripted fault
                return error_reply(400, found[0])
            if not self._queue:
                return error_reply(
                    500, f"stand-in: no reply queued for request {n}", type="server_error"
                )
            return self._queue.popleft()


def _make_handler(standin: OpenAIStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            rec = Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
            )
            reply = standin._record_and_pop(rec)
            if reply.delay_s and standin._stop.wait(reply.delay_s):
                self.close_connection = True
                return
            try:
                streaming = isinstance(body, dict) and body.get("stream") is True
                if reply.status == 200 and streaming:
                    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    self._send_stream(reply, with_usage)
                else:
                    self._send_json(reply)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _send_json(self, reply: OpenAIReply) -> None:
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _send_stream(self, reply: OpenAIReply, with_usage: bool) -> None:
            assert reply.body is not None
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.close_connection = True
            chunks = _chunks(reply.body, with_usage)
            self._data(chunks[0])
            if reply.stall_s and standin._stop.wait(reply.stall_s):
                return
            if reply.stream_error is not None:
                self._data(reply.stream_error)
                return
            for c in chunks[1:]:
                self._data(c)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _data(self, data: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    return Handler


def _chunks(body: dict[str, Any], with_usage: bool) -> list[dict[str, Any]]:
    """A ChatCompletion as the API streams it: role, text and argument fragments, finish."""
    head = {k: body[k] for k in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"
    choice = body["choices"][0]
    msg = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    text = msg.get("content") or ""
    half = len(text) // 2
    out += [chunk({"content": t}) for t in (text[:half], text[half:]) if t]
    if msg.get("refusal"):
        out.append(chunk({"refusal": msg["refusal"]}))
    for i, call in enumerate(msg.get("tool_calls") or []):
        args = call["function"]["arguments"]
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        third = max(1, len(args) // 3)
        for piece in (args[:third], args[third : 2 * third], args[2 * third :]):
            if piece:
                out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    out.append(chunk({}, choice["finish_reason"]))
    if with_usage:
        out.append({**head, "choices": [], "usage": body.get("usage")})
    return out


@pytest.fixture
def openai_standin() -> Iterator[OpenAIStandIn]:
    """A started stand-in; fails the test if planloop sent a request the API would refuse."""
    with OpenAIStandIn() as server:
        yield server
        assert server.rejected == [], f"requests the real API would refuse: {server.rejected}"

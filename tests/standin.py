"""A Messages API stand-in: a real HTTP server on 127.0.0.1 that tests script.

The anthropic adapter is tested through the real SDK over real HTTP, and so are the
orchestrator, CLI and LSP tests that need a "real" model: point the SDK at this with
``ANTHROPIC_BASE_URL`` and queue the replies the test needs::

    with StandIn() as api:
        api.enqueue(tool_use_message("read_file", {"path": "a.py"}), text_message("done"))
        env = {**os.environ, **api.env()}          # for a subprocess, or monkeypatch
        ...
        assert api.requests[0].body["tools"][-1]["cache_control"] == {"type": "ephemeral"}

A queued reply is a Messages JSON body (``text_message`` / ``tool_use_message`` /
``message``) or a ``Reply`` (an HTTP error via ``error_reply``, an error event inside
the stream via ``stream_error_reply``, a ``delay_s`` before any byte to provoke a
timeout, a ``stall_s`` mid-stream), or a fault of the transport itself (``reset_reply``:
the connection reset before any byte; ``raw_reply``: these exact bytes as the body;
``cut_stream_reply``: the stream cut in the middle of an event). Streaming requests (``"stream": true``, which
the adapter sends) get the reply as server-sent events, others as JSON. Every
request is recorded with its headers and JSON body. With no reply queued the server
answers 500 ``api_error`` saying so, so a test that under-queues fails loudly.

The fixture ``standin`` below yields a started server; to use it from any test
module, tests/conftest.py can re-export it (``from standin import standin``).
"""

from __future__ import annotations

import itertools
import json
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

import pytest

DEFAULT_MODEL = "claude-standin-1"
_ids = itertools.count(1)


# -- building replies -----------------------------------------------------------------


def tokens(
    input_tokens: int = 10,
    output_tokens: int = 5,
    *,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }


def message(
    content: list[dict[str, Any]],
    *,
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
    model: str = DEFAULT_MODEL,
) -> dict[str, Any]:
    """A complete Messages API response body."""
    return {
        "id": f"msg_standin_{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or tokens(),
    }


def text_message(
    text: str,
    *,
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
    model: str = DEFAULT_MODEL,
) -> dict[str, Any]:
    return message(
        [{"type": "text", "text": text}], stop_reason=stop_reason, usage=usage, model=model
    )


def tool_use_message(
    name: str,
    input: dict[str, Any],
    *,
    id: str | None = None,
    text: str | None = None,
    usage: dict[str, Any] | None = None,
    model: str = DEFAULT_MODEL,
) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks.append(
        {
            "type": "tool_use",
            "id": id or f"toolu_standin_{next(_ids):04d}",
            "name": name,
            "input": input,
        }
    )
    return message(blocks, stop_reason="tool_use", usage=usage, model=model)


@dataclass
class Reply:
    """One scripted answer. ``body`` is a Message (status 200) or an error body."""

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before sending anything (a client timeout shorter than this fires).
    delay_s: float = 0.0
    #: streaming only: seconds to stall after the first event.
    stall_s: float = 0.0
    #: streaming only: send this error event after message_start instead of the message.
    stream_error: dict[str, Any] | None = None
    #: reset the connection (TCP RST) instead of answering
    reset: bool = False
    #: send these bytes as the body, as they are (content-type from ``headers``)
    raw: bytes | None = None
    #: streaming only: send this many events, then half of the next one, then close
    cut_after: int | None = None


def error_body(error_type: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": text}}


def error_reply(
    status: int,
    error_type: str,
    text: str,
    *,
    headers: dict[str, str] | None = None,
    delay_s: float = 0.0,
) -> Reply:
    """An HTTP error as the API sends it, e.g. ``error_reply(429, "rate_limit_error", ...)``."""
    return Reply(
        status=status, body=error_body(error_type, text), headers=headers or {}, delay_s=delay_s
    )


def stream_error_reply(error_type: str, text: str) -> Reply:
    """A 200 stream that breaks off with an ``error`` event (e.g. overloaded mid-reply)."""
    return Reply(body=text_message("(never sent)"), stream_error=error_body(error_type, text))


def reset_reply() -> Reply:
    """The connection is reset (RST) before any byte of a response."""
    return Reply(reset=True)


def raw_reply(
    status: int,
    raw: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Reply:
    """A body that is not what the API sends (malformed JSON, an HTML proxy page, …)."""
    return Reply(status=status, raw=raw, headers={"content-type": content_type, **(headers or {})})


def cut_stream_reply(body: dict[str, Any], after_events: int = 3) -> Reply:
    """A 200 stream that stops mid-event after ``after_events`` whole events (no message_stop)."""
    return Reply(body=body, cut_after=after_events)


# -- the server ----------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    #: header names lower-cased
    headers: dict[str, str]
    body: Any
    raw: bytes


R = TypeVar("R")
S = TypeVar("S", bound="QueuedServer[Any]")


class QueuedServer(Generic[R]):
    """What every API stand-in shares: a threaded HTTP server on a free port of 127.0.0.1
    that records each request and answers from a queue of replies the test set up."""

    #: the path after host:port that the SDK's base URL must carry
    url_suffix = ""

    def __init__(self, *, require_key: str | None = None) -> None:
        #: when set, any request whose Authorization is not ``Bearer <key>`` gets a 401
        #: (without using up a queued reply), like the real API with a wrong key.
        self.require_key = require_key
        self._queue: deque[R] = deque()
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    # lifecycle
    def start(self: S) -> S:
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes delayed and stalled replies
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # for tests
    @property
    def base_url(self) -> str:
        assert self._server is not None, f"{type(self).__name__} is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.url_suffix}"

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)


class StandIn(QueuedServer[Reply]):
    """A threaded Messages API stand-in on a free port of 127.0.0.1."""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def env(self, api_key: str = "sk-ant-standin-test-key") -> dict[str, str]:
        """Environment for a process (or monkeypatch) that should talk to this server."""
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": api_key}

    def enqueue(self, *replies: Reply | dict[str, Any]) -> None:
        """Queue replies in order; a dict is a Message body sent with status 200."""
        with self._lock:
            for r in replies:
                self._queue.append(r if isinstance(r, Reply) else Reply(body=r))

    # used by the handler
    def _record_and_pop(self, rec: Recorded) -> Reply:
        with self._lock:
            self._requests.append(rec)
            wanted = f"Bearer {self.require_key}"
            if self.require_key is not None and rec.headers.get("authorization") != wanted:
                return error_reply(401, "authentication_error", "invalid x-api-key")
            if rec.path.split("?")[0] != "/v1/messages":
                return error_reply(404, "not_found_error", f"stand-in serves no {rec.path}")
            if not self._queue:
                return error_reply(
                    500,
                    "api_error",
                    f"stand-in: no reply queued for request {len(self._requests)}",
                )
            return self._queue.popleft()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout, a cancel, a reset) is not the stand-in's error;
        printing a traceback for it would show up in the output tests read."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            rec = Recorded(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
            )
            reply = standin._record_and_pop(rec)
            if reply.delay_s and standin._stop.wait(reply.delay_s):
                self.close_connection = True
                return
            if reply.reset:
                # SO_LINGER 0: close() sends RST instead of an orderly FIN
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                return
            try:
                streaming = isinstance(body, dict) and body.get("stream") is True
                if reply.raw is not None:
                    self._send_raw(reply)
                elif reply.status == 200 and streaming:
                    self._send_stream(reply)
                else:
                    self._send_json(reply)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout or cancel)

        def _send_json(self, reply: Reply) -> None:
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_standin_{next(_ids):04d}")
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _send_raw(self, reply: Reply) -> None:
            assert reply.raw is not None
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(reply.raw)))
            self.end_headers()
            self.wfile.write(reply.raw)
            self.wfile.flush()

        def _send_stream(self, reply: Reply) -> None:
            assert reply.body is not None
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")  # body ends when the connection does
            self.send_header("request-id", f"req_standin_{next(_ids):04d}")
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.close_connection = True
            events = _sse_events(reply.body)
            if reply.cut_after is not None:
                for name, data in events[: reply.cut_after]:
                    self._event(name, data)
                name, data = events[reply.cut_after]
                whole = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                self.wfile.write(whole[: len(whole) // 2])
                self.wfile.flush()
                return
            self._event(*events[0])
            if reply.stall_s and standin._stop.wait(reply.stall_s):
                return
            if reply.stream_error is not None:
                self._event("error", reply.stream_error)
                return
            for name, data in events[1:]:
                self._event(name, data)

        def _event(self, name: str, data: dict[str, Any]) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    return Handler


def _sse_events(msg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A Message as the API streams it: start, blocks in pieces, delta, stop."""
    u = dict(msg.get("usage") or {})
    start_usage = {**u, "output_tokens": 1}
    head = {**msg, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": head}),
        ("ping", {"type": "ping"}),
    ]
    for i, block in enumerate(msg.get("content") or []):
        kind = block.get("type")
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            text = block.get("text", "")
            half = len(text) // 2
            deltas = [{"type": "text_delta", "text": t} for t in (text[:half], text[half:]) if t]
        elif kind == "tool_use":
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            js = json.dumps(block.get("input") or {})
            half = len(js) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": p} for p in (js[:half], js[half:])
            ]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block.get("thinking", "")},
                {"type": "signature_delta", "signature": block.get("signature", "")},
            ]
        else:
            start, deltas = block, []
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": start},
            )
        )
        for d in deltas:
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg.get("stop_reason"), "stop_sequence": None},
                "usage": {"output_tokens": u.get("output_tokens", 0)},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A started stand-in; stopped (and any slow reply woken) after the test."""
    with StandIn() as server:
        yield server

"""One MCP server's life: started, its tools listed, calls forwarded, stopped.

The SDK is async (anyio) and the core is threads, so every server lives as one task on
the hub's event loop, inside ``async with Client(...)`` until it is told to stop: the
transport (a child process or an HTTP session) is opened and closed by the same task, as
anyio requires. Nothing here raises to the caller: a server that cannot start, or stops
answering, becomes a status with a message that names it.
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from planloop.mcp_port import ServerStatus as Status
from planloop.mcp_tools.sources import ServerSpec


@dataclass
class ToolInfo:
    """A tool as the server listed it (the SDK's model reduced to what planloop uses)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only_hint: bool


def message_of(exc: BaseException) -> str:
    """The first real error inside an exception group, as one line."""
    inner = getattr(exc, "exceptions", None)  # an ExceptionGroup (3.11+, or its backport)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        text = f"command not found ({exc.filename or text})"
    elif isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        text = "timed out"
    return " ".join(text.split())[:300]


@dataclass
class Connection:
    spec: ServerSpec
    log_dir: Path | None = None
    status: Status = field(init=False)
    tools: list[ToolInfo] = field(default_factory=list)
    _client: Any = None
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    _scope: Any = None
    _errlog: IO[str] | None = None
    #: transport faults (lines on stdout that are not JSON-RPC), told once as a warning
    faults: list[str] = field(default_factory=list)
    #: the first HTTP error status the server answered with
    http_status: str | None = None
    #: the connection was lost during the run (not stopped by the hub)
    _died: bool = False
    on_fault: Any = None

    def __post_init__(self) -> None:
        self.status = Status(self.spec.name, self.spec.transport, self.spec.source)

    @property
    def alive(self) -> bool:
        return self._client is not None and self._task is not None and not self._task.done()

    async def _transport(self, stack: AsyncExitStack) -> Any:
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        spec = self.spec
        if spec.transport == "http":
            assert spec.url is not None
            http = create_mcp_http_client(headers=dict(spec.headers) or None)
            http.event_hooks = {"response": [self._http_answer]}
            await stack.enter_async_context(http)
            return streamable_http_client(spec.url, http_client=http)
        assert spec.command is not None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._errlog = (self.log_dir / f"{spec.name}.log").open("w", encoding="utf-8")
        else:
            self._errlog = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        env = {**os.environ, **spec.env} if spec.env else None
        params = StdioServerParameters(
            command=spec.command,
            args=list(spec.args),
            env=env,
            cwd=spec.cwd,
            encoding_error_handler="replace",
        )
        return stdio_client(params, errlog=self._errlog)

    async def run(self, ready: asyncio.Future[None], start_timeout_s: float) -> None:
        """Connect, list the tools, tell ``ready``, then hold the connection until stopped."""
        import anyio

        self._stop = asyncio.Event()
        t0 = time.monotonic()
        try:
            # cancelled through anyio (abort), not Task.cancel: the SDK's transports are
            # anyio task groups, and a raw cancel there was seen to leave a child running
            with anyio.CancelScope() as self._scope:
                await self._serve(ready, start_timeout_s, t0)
            if self._scope.cancel_called and not ready.done():
                raise TimeoutError("aborted")
        except BaseException as e:
            self.status.error = self.status.error or message_of(e)
            if not ready.done():
                ready.set_exception(RuntimeError(self.status.error))
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            self._client = None
            if self._errlog is not None:
                self._errlog.close()

    async def _serve(self, ready: asyncio.Future[None], start_timeout_s: float, t0: float) -> None:
        from mcp import Client

        async with AsyncExitStack() as stack:
            client = Client(
                await self._transport(stack),
                mode="legacy",
                message_handler=self._incoming,
                # the handshake's and the listing's limit; each call passes its own
                read_timeout_seconds=start_timeout_s,
            )
            async with client:
                self.tools = await _list_tools(client)
                self._client = client
                self.status.started = True
                self.status.tools = len(self.tools)
                self.status.start_s = round(time.monotonic() - t0, 3)
                if not ready.done():
                    ready.set_result(None)
                assert self._stop is not None
                await self._stop.wait()

    def abort(self) -> None:
        """Give up on it (a start that timed out): on the hub's loop thread only."""
        if self._scope is not None:
            self._scope.cancel()

    async def _http_answer(self, response: Any) -> None:
        """An HTTP error status, kept: the SDK reports it only as "an error response"."""
        if response.status_code >= 400 and self.http_status is None:
            self.http_status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
            if response.status_code in (401, 403):
                self.http_status += (
                    " (the server wants credentials: give it headers, e.g. "
                    '"Authorization": "Bearer ${TOKEN}")'
                )

    async def _incoming(self, message: Any) -> None:
        if isinstance(message, Exception):
            first = not self.faults
            self.faults.append(message_of(message))
            if first and self.on_fault is not None:
                self.on_fault(
                    f"wrote something that is not JSON-RPC to stdout ({self.faults[0][:120]}); "
                    "a server must keep stdout for the protocol (log to stderr)"
                )

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def call(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> Any:
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        client = self._client
        if client is None:
            raise RuntimeError(self.status.error or "the server is not running")
        try:
            return await client.call_tool(tool, arguments, read_timeout_seconds=timeout_s)
        except MCPError as e:
            if e.code == CONNECTION_CLOSED and self.status.error is None:
                # the process died or the HTTP session ended: the SDK keeps the session
                # open, so end it here; its task's end tells the hub
                self.status.error = f"connection closed ({message_of(e)})"
                self._died = True
                self.stop()
            raise


async def _list_tools(client: Any) -> list[ToolInfo]:
    out: list[ToolInfo] = []
    cursor: str | None = None
    for _ in range(100):  # a paginator that never ends cannot hang the start
        page = await client.list_tools(cursor=cursor)
        for t in page.tools:
            hint = bool(t.annotations and t.annotations.read_only_hint)
            out.append(
                ToolInfo(
                    name=t.name,
                    description=t.description or t.title or "",
                    input_schema=dict(t.input_schema or {"type": "object"}),
                    read_only_hint=hint,
                )
            )
        cursor = page.next_cursor
        if not cursor:
            break
    return out

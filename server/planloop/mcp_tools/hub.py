"""Every MCP server of a run, as the core's port (:class:`planloop.mcp_port.McpTools`).

Servers start together when a plan or a run starts (each within its start timeout, in
parallel, so ten slow servers cost one timeout, not ten) and stop when it ends. A server
that does not start, or dies later, is a :class:`McpWarning` naming it, and its tools are
gone: the run goes on. Calls come from the core's threads and are forwarded to the hub's
event loop with a timeout; the caller's cancel token is honoured while it waits.

Who may call what is decided here from the user's settings, never from the server's
word alone: the planner gets tools on ``planner_tools``, or those a *trusted* server
annotates ``readOnlyHint``; the executor calls ``allow``-listed tools freely and asks a
person (the approval desk) for the rest.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planloop.cancel import CancelToken
from planloop.config import McpSettings
from planloop.events import Event, McpServerStarted, McpWarning
from planloop.mcp_port import ServerStatus as Status
from planloop.mcp_port import ToolResult
from planloop.mcp_tools.condense import fence, result_text
from planloop.mcp_tools.consent import Ask, Consent
from planloop.mcp_tools.names import NameTable
from planloop.mcp_tools.sources import Loaded, ServerSpec
from planloop.models.base import ToolSpec

if TYPE_CHECKING:  # asyncio and the connections load when a server starts, not before
    import asyncio

    from planloop.mcp_tools.server import Connection, ToolInfo

#: how often a waiting call looks at the cancel token
_POLL_S = 0.05


def _matches(patterns: tuple[str, ...] | list[str], name: str, tool: str) -> bool:
    """A pattern names the model-facing name (``mcp__db__*``) or the server's own tool."""
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(tool, p) for p in patterns)


class McpHub:
    """The concrete MCP client: the port the roles and checks call."""

    def __init__(
        self,
        load: Callable[[], Loaded] | list[ServerSpec],
        settings: McpSettings,
        *,
        emit: Callable[[Event], None] | None = None,
        log_dir: Path | None = None,
        consent: Consent | None = None,
    ) -> None:
        #: read on every open: a long-lived language server sees an edited .mcp.json
        if isinstance(load, list):
            fixed = Loaded(list(load), [])
            self.load: Callable[[], Loaded] = lambda: fixed
        else:
            self.load = load
        self.settings = settings
        self.emit = emit
        self.log_dir = log_dir
        #: keeps the project files' servers out until a person said yes
        self.consent = consent
        self.connections: dict[str, Connection] = {}
        #: the project's servers consent kept out, with why
        self.refused: list[Status] = []
        self.table = NameTable()
        self._tools: dict[str, ToolInfo] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._opened = 0
        self._lock = threading.Lock()
        self._later: list[tuple[str, str]] = []
        self._later_lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------

    def _warn(self, server: str, message: str) -> None:
        if self.emit is not None:
            self.emit(McpWarning(server=server, message=message))

    def _warn_later(self, server: str, message: str) -> None:
        """From the hub's loop thread: kept until a caller's thread tells it (the event
        sink writes the log, which the run's thread writes too)."""
        with self._later_lock:  # not self._lock: open() holds that while servers start
            self._later.append((server, message))

    def flush(self) -> None:
        self._flush()

    def _flush(self) -> None:
        with self._later_lock:
            later, self._later = self._later, []
        for server, message in later:
            self._warn(server, message)

    def open(self, ask: Ask | None = None, emit: Callable[[Event], None] | None = None) -> None:
        with self._lock:
            if emit is not None:
                self.emit = emit
            self._opened += 1
            if self._opened > 1:
                return
            self._start(ask)

    def _start(self, ask: Ask | None) -> None:
        loaded = self.load()
        for p in loaded.problems:
            self._warn("(config)", p)
        specs = loaded.servers
        self.refused = []
        if self.consent is not None:
            kept, refused = self.consent.filter(specs, ask)
            if refused:
                self._warn("(consent)", refused)
                self.refused = [
                    Status(s.name, s.transport, s.source, error=refused)
                    for s in specs
                    if s not in kept
                ]
            specs = kept
        self.table = NameTable()
        self._tools = {}
        self.connections = {}
        if not specs:
            return
        import asyncio  # with the connections, only where a server starts

        from planloop.mcp_tools.server import Connection, message_of

        self.connections = {s.name: Connection(s, self.log_dir) for s in specs}
        for c in self.connections.values():
            c.on_fault = lambda message, name=c.spec.name: self._warn_later(name, message)
        import mcp.client.stdio  # imported here (~1 s), not inside the first start timeout

        # the SDK's grace period before it terminates a stdio server (read when it stops
        # one; the SDK has no parameter for it)
        mcp.client.stdio.PROCESS_TERMINATION_TIMEOUT = self.settings.stop_timeout_s

        # the SDK logs a server's protocol faults with tracebacks; they reach the user as
        # one McpWarning naming the server instead
        logging.getLogger("mcp").setLevel(logging.CRITICAL)

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="planloop-mcp", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        waits: list[tuple[Connection, Future[None], float]] = []
        for conn in self.connections.values():
            ready: Future[None] = Future()
            start_s = conn.spec.start_timeout_s or self.settings.start_timeout_s

            async def begin(
                c: Connection = conn, r: Future[None] = ready, t: float = start_s
            ) -> None:
                inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                inner.add_done_callback(functools.partial(_copy, dst=r))
                c._task = asyncio.get_running_loop().create_task(c.run(inner, t))
                c._task.add_done_callback(functools.partial(self._ended_task, conn=c))

            asyncio.run_coroutine_threadsafe(begin(), loop).result()
            waits.append((conn, ready, start_s))
        t0 = time.monotonic()
        for conn, ready, start_s in waits:
            left = max(0.0, start_s - (time.monotonic() - t0))
            try:
                ready.result(timeout=left)
            except FutureTimeout:
                conn.status.error = (
                    f"did not answer initialize within {start_s:g} s (start_timeout_s)"
                )
                self._cancel(conn)
            except Exception as e:
                conn.status.error = conn.status.error or message_of(e)
            if conn.http_status is not None and not conn.status.started:
                conn.status.error = conn.http_status  # the SDK says only "an error response"
            if conn.status.started and conn.status.error is None:
                self._register(conn)
            else:
                self._warn(
                    conn.spec.name,
                    f"not started: {self._why(conn)}; the run goes on without its tools",
                )
        self._flush()
        for w in self.table.warnings:
            self._warn("(names)", w)

    def _why(self, conn: Connection) -> str:
        why = conn.status.error or "unknown error"
        tail = self._stderr_tail(conn.spec.name)
        return f"{why} (stderr: {tail})" if tail else why

    def _stderr_tail(self, name: str) -> str:
        if self.log_dir is None:
            return ""
        try:
            lines = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        lines = [ln.strip() for ln in lines if ln.strip()]
        return lines[-1][:200] if lines else ""

    def _register(self, conn: Connection) -> None:
        for tool in conn.tools:
            self._tools[self.table.add(conn.spec.name, tool.name)] = tool
        if self.emit is not None and conn.status.start_s is not None:
            self.emit(
                McpServerStarted(
                    server=conn.spec.name, tools=len(conn.tools), seconds=conn.status.start_s
                )
            )

    def _ended_task(self, _task: object, conn: Connection) -> None:
        self._ended(conn)

    def _ended(self, conn: Connection) -> None:
        """A server's task ended: expected after stop, a warning when it died."""
        stopped = conn._stop is not None and conn._stop.is_set() and not conn._died
        if self._opened and conn.status.started and not stopped:
            conn.status.error = conn.status.error or "the server stopped"
            self._warn_later(
                conn.spec.name, f"stopped during the run: {conn.status.error}; its tools are gone"
            )

    def _cancel(self, conn: Connection) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(conn.abort)

    def close(self) -> None:
        self._flush()  # a server that died late in the run: told before its run ends
        with self._lock:
            if self._opened == 0:
                return
            self._opened -= 1
            if self._opened:
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            if loop is None:
                return
            import asyncio  # a loop ran, so it is loaded already

            for conn in self.connections.values():
                if conn._stop is not None:
                    loop.call_soon_threadsafe(conn._stop.set)

            grace = self.settings.stop_timeout_s + 1.0  # the SDK's wait, then its SIGTERM

            async def drain() -> None:
                # each server's graceful stop (stdin closed, then terminated), within the
                # grace period; one that overstays is aborted, then left to the daemon thread
                tasks = {c._task: c for c in self.connections.values() if c._task is not None}
                if not tasks:
                    return
                _, pending = await asyncio.wait(list(tasks), timeout=grace)
                for t in pending:
                    tasks[t].abort()
                if pending:
                    await asyncio.wait(pending, timeout=grace)

            try:
                asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout=2 * grace + 1)
            except Exception:
                pass
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=2.0)
            self._tools = {}

    def statuses(self) -> list[Status]:
        return [*(c.status for c in self.connections.values()), *self.refused]

    # --- what each role sees -------------------------------------------------------------

    def _spec_of(self, name: str) -> ToolSpec:
        tool = self._tools[name]
        server, _ = self.table.resolve(name) or ("", "")
        desc = tool.description.strip() or tool.name
        return ToolSpec(
            name=name,
            description=f"[MCP server {server}] {desc}"[:1024],
            input_schema=tool.input_schema,
        )

    def _live(self) -> list[str]:
        self._flush()  # a server that died since is told before its tools go
        out = []
        for name in self._tools:
            server, _ = self.table.resolve(name) or ("", "")
            conn = self.connections.get(server)
            if conn is not None and conn.alive:
                out.append(name)
        return out

    def read_only(self, name: str) -> bool:
        where = self.table.resolve(name)
        if where is None or name not in self._tools:
            return False
        server, tool = where
        spec = self.connections[server].spec
        if _matches((*spec.planner_tools, *self.settings.planner_tools), name, tool):
            return True
        return spec.trust and self._tools[name].read_only_hint

    def allowed(self, name: str) -> bool:
        where = self.table.resolve(name)
        if where is None:
            return False
        server, tool = where
        spec = self.connections[server].spec
        return _matches((*spec.allow, *self.settings.allow), name, tool)

    def planner_specs(self) -> list[ToolSpec]:
        return [self._spec_of(n) for n in self._live() if self.read_only(n)]

    def executor_specs(self, wanted: list[str]) -> list[ToolSpec]:
        names = self._live()
        if wanted:
            names = [n for n in names if _matches(wanted, n, self.table.resolve(n)[1])]  # type: ignore[index]
        return [self._spec_of(n) for n in names]

    # --- calls ---------------------------------------------------------------------------

    def call(self, name: str, arguments: dict[str, Any], cancel: CancelToken | None) -> ToolResult:
        import asyncio

        from planloop.mcp_tools.server import message_of

        where = self.table.resolve(name)
        if where is None:
            return ToolResult(f"Unknown MCP tool {name!r}.", True, f"{name} ✗ unknown tool")
        server, tool = where
        conn = self.connections[server]
        limit = self.settings.max_output_chars
        if not conn.alive or self._loop is None:
            why = conn.status.error or "it is not running"
            return ToolResult(
                f"MCP server {server} is not available: {why}.", True, f"{name} ✗ server down"
            )
        timeout = conn.spec.call_timeout_s or self.settings.call_timeout_s
        fut = asyncio.run_coroutine_threadsafe(conn.call(tool, arguments, timeout), self._loop)
        deadline = time.monotonic() + timeout + 0.5
        while True:
            if cancel is not None and cancel.cancelled:
                fut.cancel()
                return ToolResult("Cancelled by the user.", True, f"{name} ✗ cancelled")
            try:
                result = fut.result(timeout=min(_POLL_S, max(0.0, deadline - time.monotonic())))
                break
            except FutureTimeout:
                if time.monotonic() >= deadline:
                    fut.cancel()
                    return self._failed(
                        name, server, f"no answer within {timeout:g} s (call_timeout_s)", limit
                    )
            except Exception as e:
                return self._failed(name, server, message_of(e), limit)
        text = result_text(list(result.content or []), result.structured_content)
        is_error = bool(result.is_error)
        shown = fence(name, server, text, is_error=is_error, limit=limit)
        mark = "✗ error" if is_error else f"({len(text):,} chars)"
        return ToolResult(shown, is_error, f"{name} {mark}")

    def _failed(self, name: str, server: str, why: str, limit: int) -> ToolResult:
        text = fence(name, server, f"the call failed: {why}", is_error=True, limit=limit)
        return ToolResult(text, True, f"{name} ✗ {why[:80]}")


def _copy(src: asyncio.Future[None], dst: Future[None]) -> None:
    if dst.done():
        return
    if src.cancelled():
        dst.set_exception(RuntimeError("cancelled"))
    elif src.exception() is not None:
        dst.set_exception(src.exception())
    else:
        dst.set_result(None)

"""The planloop language server: wiring only (pygls 2.x over stdio).

What lives where: argument models in ``args``, the commands in ``commands``, payload
shapes in ``payloads`` (cached reads in ``plan_cache``), JSON-RPC errors in
``rpc_errors``, folder/orchestrator bookkeeping in ``folders``, the event sink in
``events``, approvals in ``approvals``, progress in ``progress``, open buffers in
``documents``, settings in ``config``, logging in ``logs``.

Start-up cost matters (an editor waits for ``initialize``): this module imports only
pygls, lsprotocol and the standard library. The core (pydantic models, git, the
orchestrator) is imported when the first command arrives, warmed up in a background
thread right after ``initialized``; the anthropic SDK only when a model is first called.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sys
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from .documents import OpenBuffers
from .logs import WindowLogHandler, configure_stderr_logging

if TYPE_CHECKING:
    from .folders import Folders

log = logging.getLogger("planloop.lsp")

NAME = "planloop"
#: every command of the wire contract (commands.COMMANDS + cancel; a test keeps them equal)
COMMAND_NAMES = (
    "planloop.createPlan",
    "planloop.getPlan",
    "planloop.runStep",
    "planloop.runAll",
    "planloop.stepDiff",
    "planloop.fileAtCheckpoint",
    "planloop.revertStep",
    "planloop.replan",
    "planloop.decideRevision",
    "planloop.approvePause",
    "planloop.decidePending",
    "planloop.log",
    "planloop.clean",
    "planloop.cancel",
)
#: how long a disconnect waits for a running step to stop and save before exiting
_EXIT_GRACE_S = 20.0


def _version() -> str:
    """planloop.__version__ when the package defines it: importlib.metadata costs ~10 % of
    the start-up an editor waits for."""
    import planloop

    found = getattr(planloop, "__version__", None)
    if isinstance(found, str):
        return found
    try:
        from importlib.metadata import version

        return version("planloop")
    except Exception:
        return "0.0.0"


class _Malformed:
    """A request whose envelope pygls could not structure (e.g. ``arguments: 5``)."""

    def __init__(self, msg_id: Any, method: str, error: BaseException) -> None:
        self.id = msg_id
        self.method = method
        self.error = error


class PlanloopProtocol(LanguageServerProtocol):
    """Answers malformed requests with InvalidParams instead of dropping them.

    pygls logs and drops a request whose params do not fit the LSP type, so the client
    waits forever. json.loads calls this hook bottom-up, so a failing dict may also be
    nested inside arguments; it becomes an opaque value the argument check then rejects.
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as e:
            if "id" in data and isinstance(data.get("method"), str):
                return _Malformed(data["id"], data["method"], e.__cause__ or e)
            return data

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        """pygls's own version cancels pending requests while iterating the dict their
        callbacks remove themselves from, and so fails when anything is in flight."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Malformed):
            err = JsonRpcInvalidParams(
                message=f"invalid params for {message.method}: {message.error}"
            )
            self._send_response(message.id, None, err.to_response_error())
            return
        super().handle_message(message)


class PlanloopServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(NAME, _version(), protocol_cls=PlanloopProtocol)
        self.buffers = OpenBuffers()
        #: orchestrator work; separate from pygls's pool, which also reads stdin
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="planloop"
        )
        self.init_options: Any = None
        self.client_name = "lsp-client"
        self.custom_approvals = False
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set at initialize
        self.log_handler = WindowLogHandler(self)
        self._folders: Folders | None = None
        self._work: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()

    @property
    def folders(self) -> Folders:
        if self._folders is None:
            from .folders import Folders

            self._folders = Folders(self)
        return self._folders

    def track(self, fut: concurrent.futures.Future[Any]) -> None:
        """Remember running work, so a disconnect can wait for it to save its state."""
        with self._lock:
            self._work.add(fut)
        fut.add_done_callback(self._untrack)

    def _untrack(self, fut: Any) -> None:
        with self._lock:
            self._work.discard(fut)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log only: request errors already reach the client as JSON-RPC errors (and the
        command layer logs them); anything else is logged as an error."""
        name = getattr(source, "__name__", str(source))
        level = logging.DEBUG if name == "FeatureRequestError" else logging.ERROR
        log.log(level, "server error (%s): %s", name, error)

    def cancel_all(self) -> None:
        if self._folders is None:
            return
        for s in self._folders.all():
            if s.call is not None:
                s.call.cancel.cancel()

    def shutdown(self) -> None:
        """Stop without waiting on the stdin reader thread; runs are cancelled first."""
        self.cancel_all()
        if self._stop_event is not None:
            self._stop_event.set()
        if self._thread_pool:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)

    def wait_for_work(self, timeout: float) -> bool:
        """After the loop ended: let cancelled steps roll back and save. True if all did."""
        with self._lock:
            pending = list(self._work)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if not pending:
            return True
        _done, not_done = concurrent.futures.wait(pending, timeout=timeout)
        return not not_done


def build_server() -> PlanloopServer:
    server = PlanloopServer()

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: PlanloopServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.log_handler.attach(ls.loop)
        ls.init_options = params.initialization_options
        if params.client_info is not None and params.client_info.name:
            ls.client_name = params.client_info.name
        experimental = params.capabilities.experimental
        ls.custom_approvals = (
            isinstance(experimental, dict) and experimental.get("planloopApprovals") is True
        )

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: PlanloopServer, params: types.InitializedParams) -> None:
        # Warm the core up off the loop, so the first command does not pay for imports.
        threading.Thread(target=_warm_up, name="planloop-warmup", daemon=True).start()
        log.info(
            "planloop ready for %s (approvals via %s)",
            ls.client_name,
            "planloop/requestApproval" if ls.custom_approvals else "window/showMessageRequest",
        )

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PlanloopServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.buffers.opened(params.text_document.uri, params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PlanloopServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.workspace.text_documents.get(params.text_document.uri)
        if doc is not None:
            ls.buffers.changed(params.text_document.uri, doc.source)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PlanloopServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.buffers.closed(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: PlanloopServer, params: types.DidChangeConfigurationParams
    ) -> None:
        for s in ls.folders.all():
            s.settings_changed()

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(
        ls: PlanloopServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        log.info("workspace folders changed; the first folder is now the default")

    for name in COMMAND_NAMES:
        server.command(name)(_handler(name))
    return server


def _handler(name: str) -> Any:
    # ``*args``: pygls would otherwise structure and count the arguments itself.
    async def handler(ls: PlanloopServer, *args: Any) -> Any:
        from .commands import dispatch

        return await dispatch(ls, name, args)

    handler.__name__ = "cmd_" + name.split(".", 1)[1]
    return handler


def _warm_up() -> None:
    try:
        from . import commands  # noqa: F401 - the import is the point
    except Exception:  # a broken install shows up on the first command, with its message
        log.exception("warm-up import failed")


def main(argv: list[str] | None = None) -> int:
    """``python -m planloop.lsp`` / ``planloop serve``: stdio until the client leaves."""
    configure_stderr_logging()
    server = build_server()
    logging.getLogger("planloop").addHandler(server.log_handler)
    server.start_io()
    # The loop has ended (exit notification or stdin closed). Cancelled runs roll back
    # and save on their worker threads; give them a moment, then leave without waiting
    # on pygls's stdin reader thread, which may block forever on an open pipe.
    clean = server.wait_for_work(_EXIT_GRACE_S)
    if not clean:
        log.error("a run did not stop within %s s; exiting anyway", _EXIT_GRACE_S)
    code = 0 if server.protocol._shutdown else 1
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)

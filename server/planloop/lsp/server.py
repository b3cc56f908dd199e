"""The planloop language server: wiring only (pygls 2.x over stdio).

Each feature registers its own handlers against a small ``Context`` (``context.py``):
``lifecycle`` (initialize, warm-up), ``documents`` (open buffers), ``plan_document``
(``.planloop/plan.md`` as an editable document), ``settings`` (didChangeConfiguration)
and the commands, whose names are advertised from ``names`` and whose modules (``commands`` → ``plan_commands``, ``step_commands``,
``decision_commands``, ``maintenance``) load with the first command. Below them:
``folders`` (one core session per folder), ``events`` (notifications), ``approvals``,
``progress``, ``payloads`` and ``plan_cache``, ``config``, ``contract`` (the wire
contract; docs/protocol.md is generated from it), ``rpc_errors``, ``logs``.

Start-up cost matters (an editor waits for ``initialize``): this module imports only
pygls, lsprotocol, the standard library and those lean feature modules. The core
(pydantic models, git, the orchestrator) is imported when the first command arrives,
warmed up in a background thread right after ``initialized``; the anthropic SDK only
when a model is first called.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from planloop.lsp import documents, lifecycle, plan_document, settings
from planloop.lsp.context import Context
from planloop.lsp.documents import OpenBuffers
from planloop.lsp.launch import LaunchOptions
from planloop.lsp.launch import parse as parse_launch
from planloop.lsp.logs import WindowLogHandler, configure_stderr_logging
from planloop.lsp.names import COMMAND_NAMES

log = logging.getLogger("planloop.lsp")

NAME = "planloop"
__all__ = ["COMMAND_NAMES", "PlanloopServer", "build_server", "main"]
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


def _bare_arguments_as_list(data: dict[str, Any]) -> dict[str, Any]:
    """``arguments: {...}`` (a bare object, as some hand-written clients send) means
    ``arguments: [{...}]``. Left alone, the converter would turn the object into the
    tuple of its keys and the command would see strings."""
    if data.get("method") != types.WORKSPACE_EXECUTE_COMMAND:
        return data
    params = data.get("params")
    if isinstance(params, dict) and isinstance(params.get("arguments"), dict):
        return {**data, "params": {**params, "arguments": [params["arguments"]]}}
    return data


class PlanloopProtocol(LanguageServerProtocol):
    """Answers malformed requests with InvalidParams instead of dropping them.

    pygls logs and drops a request whose params do not fit the LSP type, so the client
    waits forever. json.loads calls this hook bottom-up, so a failing dict may also be
    nested inside arguments; it becomes an opaque value the argument check then rejects.
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        data = _bare_arguments_as_list(data)
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
    def __init__(self, launch: LaunchOptions | None = None) -> None:
        super().__init__(NAME, _version(), protocol_cls=PlanloopProtocol)
        self.ctx = Context(server=self, buffers=OpenBuffers(), launch=launch or LaunchOptions())
        base = self.ctx.launch.base_log_level()
        self.log_handler = WindowLogHandler(self, base)
        self.log_handler.use_level(base)
        self.ctx.when_attached(self.log_handler.attach)
        self.ctx.on_trace = lambda value: self.log_handler.use_level(base, value)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log only: request errors already reach the client as JSON-RPC errors (and the
        command layer logs them); anything else is logged as an error."""
        name = getattr(source, "__name__", str(source))
        level = logging.DEBUG if name == "FeatureRequestError" else logging.ERROR
        log.log(level, "server error (%s): %s", name, error)

    def shutdown(self) -> None:
        """Stop without waiting on the stdin reader thread; runs are cancelled first."""
        self.ctx.cancel_all()
        if self._stop_event is not None:
            self._stop_event.set()
        if self._thread_pool:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)


def build_server(launch: LaunchOptions | None = None) -> PlanloopServer:
    server = PlanloopServer(launch)
    ctx = server.ctx
    lifecycle.register(server, ctx)
    plan_docs = plan_document.register(server, ctx)
    documents.register(server, ctx, [plan_docs])
    settings.register(server, ctx)
    for name in COMMAND_NAMES:
        server.command(name)(_handler(name, ctx))
    return server


def _handler(name: str, ctx: Context) -> Any:
    # ``*args``: pygls would otherwise structure and count the arguments itself. The
    # command modules import the core, so they load on the first command.
    async def handler(ls: LanguageServer, *args: Any) -> Any:
        from planloop.lsp.commands import dispatch

        return await dispatch(ctx, name, args)

    handler.__name__ = "cmd_" + name.split(".", 1)[1]
    return handler


def main(argv: list[str] | None = None, *, launch: LaunchOptions | None = None) -> int:
    """``python -m planloop.lsp [flags]`` / ``planloop serve [flags]``: stdio until the
    client leaves. ``planloop serve`` parses its flags itself and passes ``launch``."""
    if launch is None:
        launch = parse_launch(argv if argv is not None else [])
    configure_stderr_logging()
    server = build_server(launch)
    logging.getLogger("planloop").addHandler(server.log_handler)
    server.start_io()
    # The loop has ended (exit notification or stdin closed). Cancelled runs roll back
    # and save on their worker threads; give them a moment, then leave without waiting
    # on pygls's stdin reader thread, which may block forever on an open pipe.
    clean = server.ctx.wait_for_work(_EXIT_GRACE_S)
    if not clean:
        log.error("a run did not stop within %s s; exiting anyway", _EXIT_GRACE_S)
    code = 0 if server.protocol._shutdown else 1
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)

"""Logging: planloop's records to the editor (window/logMessage) and to stderr.

stdout carries JSON-RPC and nothing else, so the root handler writes to stderr. Only
the ``planloop`` logger is forwarded to the client: pygls logs every message it sends
at INFO, and forwarding those would send a logMessage about each logMessage.
Records may come from the orchestrator's worker thread; sending is scheduled on the
event loop, which owns the transport.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..redaction import redact

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class WindowLogHandler(logging.Handler):
    """Forwards records to the client once the server is connected."""

    def __init__(self, server: LanguageServer, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        self._local = threading.local()
        self.setFormatter(RedactingFormatter("%(message)s"))

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        loop = self.loop
        if loop is None or loop.is_closed() or getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            params = types.LogMessageParams(
                type=_LEVELS.get(record.levelno, types.MessageType.Log),
                message=self.format(record),
            )
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self.server.window_log_message(params)
            else:
                loop.call_soon_threadsafe(self._send, params)
        except RuntimeError:  # loop closed between the check and the call
            pass
        finally:
            self._local.busy = False

    def _send(self, params: types.LogMessageParams) -> None:
        try:
            self.server.window_log_message(params)
        except Exception:  # a vanished client must not turn logging into a crash
            pass


class _DropAnsweredErrors(logging.Filter):
    """pygls logs a traceback for every error response; ours are answers the client
    already has (and internal errors are logged by the command layer), so skip them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "pygls.protocol.json_rpc" and record.exc_info:
            return not isinstance(record.exc_info[1], JsonRpcException)
        return True


def configure_stderr_logging() -> None:
    """planloop at INFO (or PLANLOOP_LOG_LEVEL), libraries at WARNING, all to stderr."""
    level = os.environ.get("PLANLOOP_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_DropAnsweredErrors())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("planloop").setLevel(getattr(logging, level, logging.INFO))

"""Logging: planloop's records to the editor (window/logMessage) and to stderr.

stdout carries JSON-RPC and nothing else. stderr carries warnings and errors only:
Neovim writes every stderr line into lsp.log as ``[ERROR]``, so an INFO line there is a
false alarm. The editor gets planloop's records as window/logMessage at the level the
user chose: ``--log-level`` (or ``--debug``, or $PLANLOOP_LOG_LEVEL; default info),
raised by the client's trace value (``initialize``'s ``trace`` or ``$/setTrace``:
``messages`` → info, ``verbose`` → debug, ``off`` → back to the launch level). Only the
``planloop`` logger is forwarded to the client: pygls logs every message it sends at
INFO, and forwarding those would send a logMessage about each logMessage.
Records may come from the orchestrator's worker thread; sending is scheduled on the
event loop, which owns the transport.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from planloop.redaction import redact

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}
#: the client's trace value → the most verbose level it asks for (None: the launch level)
TRACE_LEVELS: dict[str, int | None] = {
    "off": None,
    "messages": logging.INFO,
    "verbose": logging.DEBUG,
}
STDERR_LEVEL = logging.WARNING


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

    def use_level(self, base: int, trace: str | None = None) -> None:
        """Send records at ``base`` or above, or more if the trace value asks for more;
        the ``planloop`` logger follows, so nothing quieter is even formatted."""
        asked = TRACE_LEVELS.get(trace or "off")
        level = base if asked is None else min(base, asked)
        self.setLevel(level)
        logging.getLogger("planloop").setLevel(min(level, STDERR_LEVEL))

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
    """Warnings and errors, planloop's and the libraries', to stderr (and nothing else)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(STDERR_LEVEL)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_DropAnsweredErrors())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(STDERR_LEVEL)

"""Work-done progress ($/progress) for planning and for each step, cancellable.

Server-initiated: ``window/workDoneProgress/create``, then begin/report/end. The
client's cancel button (``window/workDoneProgress/cancel``) resolves pygls's token
future as cancelled; that is wired to the run's CancelToken, which stops the model call
and kills the running command's process group. Everything here runs on the event loop
thread. Clients that did not declare ``window.workDoneProgress`` get no progress (the
spec forbids creating tokens for them) but still get planloop/stepEvent.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger("planloop.lsp")

_CREATE_TIMEOUT_S = 5.0


class WorkProgress:
    def __init__(self, server: LanguageServer) -> None:
        self.server = server

    @property
    def enabled(self) -> bool:
        caps = self.server.client_capabilities
        return bool(caps and caps.window and caps.window.work_done_progress)

    async def begin(
        self, title: str, message: str, on_cancel: Callable[[], None], percentage: int | None = None
    ) -> str | None:
        """A new cancellable progress; None when the client cannot show one."""
        if not self.enabled:
            return None
        token = f"planloop-{uuid.uuid4()}"
        progress = self.server.work_done_progress
        try:
            await asyncio.wait_for(progress.create_async(token), _CREATE_TIMEOUT_S)
        except Exception as e:  # refused or unanswered: go on without a progress bar
            log.info("no progress bar (%s)", e or type(e).__name__)
            return None
        progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title=title, message=message, cancellable=True, percentage=percentage
            ),
        )
        future = progress.tokens.get(token)
        if future is not None:
            future.add_done_callback(lambda f: on_cancel() if f.cancelled() else None)
        return token

    def report(self, token: str | None, message: str, percentage: int | None = None) -> None:
        if token is None:
            return
        self.server.work_done_progress.report(
            token, types.WorkDoneProgressReport(message=message, percentage=percentage)
        )

    def end(self, token: str | None, message: str) -> None:
        if token is None:
            return
        progress = self.server.work_done_progress
        progress.end(token, types.WorkDoneProgressEnd(message=message))
        future = progress.tokens.pop(token, None)
        if future is not None and not future.done():
            future.set_result(None)  # marks it finished, so a late cancel is a no-op

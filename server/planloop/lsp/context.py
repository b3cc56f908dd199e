"""What every feature module is given: the connection and the client's declarations.

Features depend on this small object instead of on the server class, so ``server.py``
can import them to wire them up without anything importing ``server.py`` back (a test
walks every import, TYPE_CHECKING-guarded and function-local ones included, and fails
on a cycle). Only pygls and the standard library here: the server imports it at
start-up, and an editor waits for ``initialize``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from planloop.lsp.launch import LaunchOptions

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from planloop.lsp.documents import OpenBuffers


class Runs(Protocol):
    """The command runtime as the lean features see it (``folders.Folders``)."""

    def settings_changed(self) -> None: ...

    def cancel_all(self) -> None: ...


@dataclass
class ClientInfo:
    """What the client declared at ``initialize``."""

    name: str = "lsp-client"
    #: ``capabilities.experimental.planloopApprovals``: answers planloop/requestApproval
    custom_approvals: bool = False
    #: ``capabilities.experimental.planloopQuestions``: answers planloop/requestAnswer
    custom_questions: bool = False
    #: ``capabilities.experimental.planloopNotifications`` (or the initialization option
    #: of that name): wants planloop/planChanged and planloop/stepEvent
    notifications: bool = False
    init_options: Any = None


@dataclass
class Context:
    server: LanguageServer
    buffers: OpenBuffers
    client: ClientInfo = field(default_factory=ClientInfo)
    #: the ``planloop serve`` flags
    launch: LaunchOptions = field(default_factory=LaunchOptions)
    #: core work; separate from pygls's pool, which also reads stdin
    executor: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="planloop"
        )
    )
    #: created by the first command (it imports the core); None until then
    runs: Runs | None = None
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _work: set[concurrent.futures.Future[Any]] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _on_attach: list[Callable[[asyncio.AbstractEventLoop], None]] = field(
        default_factory=list, init=False
    )
    #: told the client's trace value (``initialize``'s ``trace``, then ``$/setTrace``)
    on_trace: Callable[[str | None], None] = field(default=lambda _value: None)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop that owns the transport (set at ``initialize``)."""
        if self._loop is None:
            raise RuntimeError("the server is not initialized yet")
        return self._loop

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for fn in self._on_attach:
            fn(loop)

    def when_attached(self, fn: Callable[[asyncio.AbstractEventLoop], None]) -> None:
        """Call ``fn(loop)`` at ``initialize`` (e.g. logging, which sends from any thread)."""
        self._on_attach.append(fn)

    def track(self, fut: concurrent.futures.Future[Any]) -> None:
        """Remember running work, so a disconnect can wait for it to save its state."""
        with self._lock:
            self._work.add(fut)
        fut.add_done_callback(self._untrack)

    def _untrack(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._work.discard(fut)

    def cancel_all(self) -> None:
        if self.runs is not None:
            self.runs.cancel_all()

    def settings_changed(self) -> None:
        if self.runs is not None:
            self.runs.settings_changed()

    def wait_for_work(self, timeout: float) -> bool:
        """After the loop ended: let cancelled steps roll back and save. True if all did."""
        with self._lock:
            pending = list(self._work)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if not pending:
            return True
        _done, not_done = concurrent.futures.wait(pending, timeout=timeout)
        return not not_done

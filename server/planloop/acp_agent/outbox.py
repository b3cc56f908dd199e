"""From the core's worker thread to the client: updates in order, questions answered.

The core is synchronous and runs in a worker thread; the ACP connection lives on the
event loop. Every update goes through one queue and one sender task, so the client sees
them in the order the core produced them, and a permission request is sent only after
every update before it (a re-plan's question after the failed check that caused it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from planloop.cancel import CancelToken

T = TypeVar("T")

#: the ``update`` of a ``session/update`` notification (one of the SDK's schema models)
Update = Any


class Outbox:
    def __init__(
        self, send: Callable[[Update], Awaitable[None]], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._send = send
        self._loop = loop
        self._queue: asyncio.Queue[Update] = asyncio.Queue()
        self._pump = loop.create_task(self._run())
        #: the connection is gone: updates are dropped, questions answer None
        self.closed = False

    def put(self, update: Update) -> None:
        """Queue an update; callable from any thread."""
        if self.closed:
            return
        if _on_loop(self._loop):
            self._queue.put_nowait(update)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._queue.put_nowait, update)

    async def flush(self) -> None:
        """Wait until every queued update was sent (a prompt's answer comes after them)."""
        await self._queue.join()

    def ask(self, request: Callable[[], Awaitable[T]], cancel: CancelToken | None) -> T | None:
        """From the worker thread: send ``request`` after the queued updates and wait for
        its answer. None when the turn is cancelled meanwhile or the client went away."""
        if self.closed:
            return None

        async def after_updates() -> T:
            await self.flush()
            return await request()

        future = asyncio.run_coroutine_threadsafe(after_updates(), self._loop)

        def stop() -> None:
            future.cancel()

        remove = cancel.on_cancel(stop) if cancel is not None else None
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            return None
        except Exception:  # the client answered with an error or went away: nobody answered
            return None
        finally:
            if remove is not None:
                remove()

    async def _run(self) -> None:
        while True:
            update = await self._queue.get()
            try:
                if not self.closed:
                    await self._send(update)
            except (ConnectionError, RuntimeError):
                self.closed = True  # the client went away; keep draining so flush() returns
            finally:
                self._queue.task_done()

    def close(self) -> None:
        self.closed = True
        self._pump.cancel()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False

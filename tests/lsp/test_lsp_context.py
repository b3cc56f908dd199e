"""The context the feature modules share, without a server process."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import pytest

from planloop.lsp.context import Context
from planloop.lsp.documents import OpenBuffers


class _Runs:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def settings_changed(self) -> None:
        self.calls.append("settings")

    def cancel_all(self) -> None:
        self.calls.append("cancel")


def _ctx() -> Context:
    server: Any = object()  # the features under test never touch the connection
    return Context(server=server, buffers=OpenBuffers())


def test_settings_and_cancel_reach_the_runs_once_they_exist() -> None:
    ctx = _ctx()
    ctx.settings_changed()  # before the first command: nothing to tell, no error
    ctx.cancel_all()
    runs = _Runs()
    ctx.runs = runs
    ctx.settings_changed()
    ctx.cancel_all()
    assert runs.calls == ["settings", "cancel"]


def test_loop_is_set_at_initialize_and_announced() -> None:
    ctx = _ctx()
    with pytest.raises(RuntimeError, match="not initialized"):
        _ = ctx.loop
    seen: list[asyncio.AbstractEventLoop] = []
    ctx.when_attached(seen.append)
    loop = asyncio.new_event_loop()
    try:
        ctx.attach(loop)
        assert ctx.loop is loop and seen == [loop]
    finally:
        loop.close()


def test_wait_for_work_waits_for_tracked_futures_only() -> None:
    ctx = _ctx()
    done: concurrent.futures.Future[None] = concurrent.futures.Future()
    stuck: concurrent.futures.Future[None] = concurrent.futures.Future()
    ctx.track(done)
    done.set_result(None)  # finished work forgets itself
    assert ctx.wait_for_work(0.01) is True
    ctx2 = _ctx()
    ctx2.track(stuck)
    assert ctx2.wait_for_work(0.01) is False

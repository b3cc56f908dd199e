"""The orchestrator's event sink → planChanged, stepEvent and $/progress, in order.

The sink is called on the orchestrator's worker thread, synchronously, right after the
core logged the event (and, for ``saved``, wrote run.json). The plan payload is built
there, from the record just written, so the notification shows exactly that state and
the event loop never reads files or a plan another thread is mutating. Delivery is
handed to the loop (``call_soon_threadsafe``) and done by one consumer task, because
progress needs a ``window/workDoneProgress/create`` round trip before ``begin`` and the
notifications must not overtake each other. A command's handler drains the queue
before it answers, so a client sees every notification of a run before its result.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..cancel import CancelToken
from ..plan import Plan
from .payloads import step_event
from .plan_cache import PlanPayloads
from .progress import WorkProgress

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger("planloop.lsp")

PLAN_CHANGED = "planloop/planChanged"
STEP_EVENT = "planloop/stepEvent"

_STEP_END = ("step_finished", "step_cancelled", "step_error")


@dataclass
class Call:
    """What one long command learns from the events of its run."""

    command: str
    cancel: CancelToken = field(default_factory=CancelToken)
    last_step: str | None = None
    proposal: Plan | None = None
    plan_id: str | None = None


class EventPump:
    def __init__(
        self, server: LanguageServer, loop: asyncio.AbstractEventLoop, payloads: PlanPayloads
    ) -> None:
        self.server = server
        self.loop = loop
        self.payloads = payloads
        self.progress = WorkProgress(server)
        self.call: Call | None = None
        self._queue: asyncio.Queue[tuple[dict[str, Any], list[tuple[str, Any]]]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._step_token: str | None = None
        self._plan_token: str | None = None
        self._plan_id: str | None = None
        self._counts: tuple[int, int] = (0, 0)

    # --- worker thread -----------------------------------------------------------------

    def sink(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        out: list[tuple[str, Any]] = []
        call = self.call
        if kind == "saved":
            rec, payload = self.payloads.get(event["plan_id"])
            self._plan_id = rec.plan.plan_id
            self._counts = rec.plan.progress
            if call is not None:
                call.plan_id = rec.plan.plan_id
                if rec.pending is not None and rec.pending.proposal is not None:
                    call.proposal = rec.pending.proposal.model_copy(deep=True)
            out.append((PLAN_CHANGED, payload))
        elif kind == "plan_created":
            self._plan_id = event.get("plan_id")
        else:
            step = step_event(event, self._plan_id)
            if step is not None:
                out.append((STEP_EVENT, step))
        if call is not None and kind == "step_started":
            call.last_step = event.get("step_id")
        if self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self._queue.put_nowait, (event, out))
        except RuntimeError:  # the loop closed under us (client gone); disk has the truth
            pass

    # --- event loop ----------------------------------------------------------------------

    def start(self) -> None:
        if self._consumer is None or self._consumer.done():
            self._consumer = self.loop.create_task(self._consume())

    async def drain(self) -> None:
        """Wait until every event queued so far has been sent."""
        self.start()
        await self._queue.join()

    async def finish(self, message: str) -> None:
        """End any progress the run left open (an error or cancel skips the closing event)."""
        await self.drain()
        for token in (self._step_token, self._plan_token):
            self.progress.end(token, message)
        self._step_token = self._plan_token = None

    async def _consume(self) -> None:
        while True:
            event, out = await self._queue.get()
            try:
                for method, params in out:
                    self.server.protocol.notify(method, params)
                await self._progress(event)
            except Exception:
                log.exception("could not deliver a %s event", event.get("type"))
            finally:
                self._queue.task_done()

    def _cancel_current(self) -> None:
        call = self.call
        if call is not None:
            log.info("cancel requested from the progress bar (%s)", call.command)
            call.cancel.cancel()

    async def _progress(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        p = self.progress
        if kind in ("planning", "replan_started"):
            self.progress.end(self._plan_token, "")
            title = "planloop: planning" if kind == "planning" else "planloop: re-planning"
            message = str(event.get("goal") or event.get("reason") or "")
            self._plan_token = await p.begin(title, message[:200], self._cancel_current)
        elif kind in ("plan_created", "revision_proposed"):
            p.end(self._plan_token, "plan ready" if kind == "plan_created" else "revision proposed")
            self._plan_token = None
        elif kind == "step_started":
            p.end(self._step_token, "")
            done, total = self._counts
            title = f"planloop: {event.get('title') or event.get('step_id')}"
            self._step_token = await p.begin(
                title, f"attempt {event.get('attempt', 1)}", self._cancel_current, _pct(done, total)
            )
        elif kind == "tool_call":
            token = self._step_token if event.get("step_id") else self._plan_token
            p.report(token, str(event.get("line", ""))[:200])
        elif kind == "check":
            mark = "✓" if event.get("passed") else "✗"
            p.report(self._step_token, f"{mark} {event.get('check', '')}"[:200])
        elif kind in _STEP_END:
            status = event.get("status") or ("cancelled" if kind == "step_cancelled" else "error")
            p.end(self._step_token, f"{event.get('step_id')} {status}")
            self._step_token = None
        elif kind == "state" and event.get("state") in ("cancelled", "error", "stopped"):
            # a re-plan that was cancelled or failed has no revision_proposed
            p.end(self._plan_token, str(event.get("reason", "")))
            self._plan_token = None


def _pct(done: int, total: int) -> int | None:
    return int(100 * done / total) if total else None

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planloop.cancel import CancelToken
from planloop.events import (
    CheckRan,
    Event,
    ExecutorToolCall,
    PlanCreated,
    PlannerToolCall,
    Planning,
    Progress,
    QuestionAsked,
    QuestionWaiting,
    ReplanStarted,
    RevisionProposed,
    Saved,
    StateChanged,
    StepCancelled,
    StepError,
    StepFinished,
    StepStarted,
    ToolStarted,
)
from planloop.lsp.payloads import step_event
from planloop.lsp.plan_cache import PlanPayloads
from planloop.lsp.progress import WorkProgress

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger("planloop.lsp")

PLAN_CHANGED = "planloop/planChanged"
STEP_EVENT = "planloop/stepEvent"


@dataclass
class Call:
    """One long command in flight: what cancels it."""

    command: str
    cancel: CancelToken = field(default_factory=CancelToken)


class EventPump:
    def __init__(
        self,
        server: LanguageServer,
        loop: asyncio.AbstractEventLoop,
        payloads: PlanPayloads,
        *,
        notify: bool = True,
    ) -> None:
        self.server = server
        #: send planChanged / stepEvent (the client declared planloopNotifications);
        #: without it only $/progress goes out — ~135 KiB a run a plain client ignores
        self.notify = notify
        self.loop = loop
        self.payloads = payloads
        self.progress = WorkProgress(server)
        self.call: Call | None = None
        self._queue: asyncio.Queue[tuple[Event, list[tuple[str, Any]]]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._step_token: str | None = None
        self._plan_token: str | None = None
        self._plan_id: str | None = None
        self._counts: tuple[int, int] = (0, 0)
        #: called on the loop after each save's notification went out (an open plan
        #: document is checked again against what was saved)
        self.after_saved: list[Callable[[], None]] = []

    # --- worker thread -----------------------------------------------------------------

    def sink(self, event: Event) -> None:
        out: list[tuple[str, Any]] = []
        if isinstance(event, Saved):
            rec, payload = self.payloads.get(event.plan_id)
            self._plan_id = rec.plan.plan_id
            self._counts = rec.plan.progress
            if self.notify:
                out.append((PLAN_CHANGED, payload))
        elif isinstance(event, PlanCreated):
            self._plan_id = event.plan_id
        elif self.notify:
            step = step_event(event, self._plan_id)
            if step is not None:
                out.append((STEP_EVENT, step))
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
                if isinstance(event, Saved):
                    for fn in self.after_saved:
                        fn()
                await self._progress(event)
            except Exception:
                log.exception("could not deliver a %s event", event.type)
            finally:
                self._queue.task_done()

    def _cancel_current(self) -> None:
        call = self.call
        if call is not None:
            log.info("cancel requested from the progress bar (%s)", call.command)
            call.cancel.cancel()

    async def _progress(self, event: Event) -> None:
        p = self.progress
        if isinstance(event, (Planning, ReplanStarted)):
            self.progress.end(self._plan_token, "")
            if isinstance(event, Planning):
                title, message = "planloop: planning", event.goal
            else:
                title, message = "planloop: re-planning", event.reason
            self._plan_token = await p.begin(title, message[:200], self._cancel_current)
        elif isinstance(event, (PlanCreated, RevisionProposed)):
            p.end(
                self._plan_token,
                "plan ready" if isinstance(event, PlanCreated) else "revision proposed",
            )
            self._plan_token = None
        elif isinstance(event, StepStarted):
            p.end(self._step_token, "")
            done, total = self._counts
            title = f"planloop: {event.title or event.step_id}"
            self._step_token = await p.begin(
                title, f"attempt {event.attempt}", self._cancel_current, _pct(done, total)
            )
        elif isinstance(event, ToolStarted) and event.command is not None and event.step_id:
            # a command may run for minutes: say what runs while it does
            p.report(self._step_token, f"running {event.command}"[:200])
        elif isinstance(event, ExecutorToolCall):
            p.report(self._step_token, event.line[:200])
        elif isinstance(event, PlannerToolCall):
            p.report(self._plan_token, event.line[:200])
        elif isinstance(event, QuestionAsked):
            p.report(self._plan_token, f"the planner asks: {event.question}"[:200])
        elif isinstance(event, QuestionWaiting):
            # planning stopped for an answer (planloop.answer goes on with a new progress)
            p.end(self._plan_token, "waiting for your answer")
            self._plan_token = None
        elif isinstance(event, Progress):
            # long work inside planning (the repo map) or a step (its first checkpoint)
            token = self._step_token or self._plan_token
            p.report(token, event.message[:200], _pct(event.done, event.total))
        elif isinstance(event, CheckRan):
            mark = "✓" if event.passed else "✗"
            p.report(self._step_token, f"{mark} {event.check}"[:200])
        elif isinstance(event, (StepFinished, StepCancelled, StepError)):
            if isinstance(event, StepFinished):
                status: str = event.status
            else:
                status = "cancelled" if isinstance(event, StepCancelled) else "error"
            p.end(self._step_token, f"{event.step_id} {status}")
            self._step_token = None
        elif isinstance(event, StateChanged) and event.state in ("cancelled", "error", "stopped"):
            # a re-plan that was cancelled or failed has no revision_proposed
            p.end(self._plan_token, event.reason)
            self._plan_token = None


def _pct(done: int, total: int) -> int | None:
    return int(100 * done / total) if total else None

"""How every part of the loop records what it does: log, then tell, then save.

The crash-safety rule of the orchestrator is one order — an event is in
``log.jsonl`` before its transition is acted on, and run.json is saved after — and
every collaborator (step runner, approval desk, revisions, recovery) follows it by
going through one :class:`Journal` rather than each talking to the store and the
front end. A front end's sink failing never breaks a run.

:class:`RunEnded` is how a collaborator deep in a step ends the whole run: the state
is already set and saved when it is raised, and the orchestrator returns its result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import NoReturn

from planloop.document.plan import RunState
from planloop.events import (
    Event,
    EventSink,
    ExecutorToolCall,
    McpServerStarted,
    McpToolCalled,
    McpWarning,
    PlannerToolCall,
    QuestionAnswered,
    QuestionAsked,
    Saved,
    StateChanged,
    ToolStarted,
)
from planloop.state.record import RunRecord
from planloop.state.store import PlanStore

log = logging.getLogger("planloop.orchestrator")


@dataclass
class RunResult:
    """``step_id``: the step a question waits on, else the last step this call ran."""

    state: RunState
    reason: str
    step_id: str | None = None


class RunEnded(Exception):
    """End the current run with this result (already persisted)."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.reason)
        self.result = result


class Journal:
    def __init__(self, store: PlanStore, sink: EventSink | None) -> None:
        self.store = store
        self.sink = sink
        #: the plan events are logged to; None while a first plan is being drafted
        self.plan_id: str | None = None
        #: the planner's tool calls and questions while a first plan is drafted (no log
        #: yet), in order: logged once the plan exists, so log.jsonl shows what shaped it
        #: (a rejected submit_plan and its reason among them)
        self.drafting: list[Event] = []

    def event(self, event: Event) -> None:
        """Log first (durable), then tell the front end. A tool's start is only told:
        its finished call, logged, is the record."""
        if isinstance(event, ToolStarted):
            pass
        elif self.plan_id is not None:
            self.store.log(self.plan_id, _for_the_log(event))
        elif isinstance(
            event,
            (
                PlannerToolCall,
                QuestionAsked,
                QuestionAnswered,
                McpServerStarted,
                McpWarning,
                McpToolCalled,
            ),
        ):
            self.drafting.append(event)
        self.tell(event)

    def drafted(self) -> list[Event]:
        """The first draft's buffered events, handed over once (and forgotten)."""
        out, self.drafting = [_for_the_log(e) for e in self.drafting], []
        return out

    def tell(self, event: Event) -> None:
        if self.sink is not None:
            try:
                self.sink(event)
            except Exception:  # a front end's failure must not break the run
                log.exception("event sink failed")

    def save(self, rec: RunRecord) -> None:
        self.store.save(rec)
        self.tell(Saved(plan_id=rec.plan.plan_id))

    def set_state(self, rec: RunRecord, state: RunState, reason: str = "") -> RunResult:
        self.event(StateChanged(state=state, reason=reason))
        rec.state = state
        rec.reason = reason
        self.save(rec)
        return RunResult(state, reason)

    def end(self, rec: RunRecord, state: RunState, reason: str) -> NoReturn:
        """Set and save the final state, then unwind to the orchestrator."""
        raise RunEnded(self.set_state(rec, state, reason))


def _for_the_log(event: Event) -> Event:
    """A command's output tail is for the editor watching the step, not for log.jsonl: its
    redaction knows only the secrets planloop was given, and a command can print others
    (``env``, a config file). The log keeps the call's one line, as it always did."""
    if isinstance(event, (ExecutorToolCall, PlannerToolCall)) and event.output:
        return replace(event, output="")
    return event

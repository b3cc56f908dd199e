"""What the orchestrator's calls come to, as the front ends receive them.

Why a module of its own: these are the loop's answers, not its workings — ``api``
re-exports them, and the CLI and the language server render them — so a front end's
view of a run does not hang on the module that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planloop.document.plan import Plan, RoleUsage, RunState
from planloop.loop.journal import RunResult
from planloop.state.record import Pending, RunRecord

ReplanDecision = Literal["pending", "approved", "rejected"]


@dataclass
class ReplanResult(RunResult):
    """What a requested re-plan came to.

    ``proposal``: the newest revision the call saw (the one it proposed, or one that
    already waited when the planner could not propose); None when none was proposed.
    ``decision``: whether that proposal still awaits an answer, became the plan, or
    was turned down (None with no proposal).
    """

    proposal: Plan | None = None
    decision: ReplanDecision | None = None


@dataclass
class Status:
    plan: Plan
    state: RunState
    reason: str
    pending: Pending | None
    cost_usd: float
    replans_used: int
    planner_usage: RoleUsage
    #: every billed turn (tokens, unpriced calls) and the cost as it must be shown
    usage: RoleUsage
    cost_text: str
    #: the record says ``running`` but no live process holds the run lock: a crash or
    #: ``kill -9`` ended the run, and the next ``planloop run`` resumes it
    interrupted: bool = False
    #: what the last run's commands executed in (None: no run yet)
    sandbox: str | None = None
    #: the models the plan runs with: remembered from its planning and runs, unless this
    #: command's flags or changed settings choose others (``config.choose_model``)
    planner_spec: str | None = None
    executor_spec: str | None = None

    @classmethod
    def of(cls, rec: RunRecord, *, interrupted: bool = False) -> Status:
        return cls(
            sandbox=rec.sandbox,
            planner_spec=rec.planner_spec,
            executor_spec=rec.executor_spec,
            plan=rec.plan,
            state=rec.state,
            reason=rec.reason,
            pending=rec.pending,
            cost_usd=rec.cost_usd,
            replans_used=rec.replans_used,
            planner_usage=rec.planner_usage,
            interrupted=interrupted,
            usage=rec.usage,
            cost_text=rec.cost_text,
        )


def replan_decision(rec: RunRecord, proposal: Plan | None) -> ReplanDecision | None:
    """What became of ``proposal`` by the time the run record is ``rec``."""
    if proposal is None:
        return None
    if rec.pending is not None and rec.pending.kind == "revision":
        return "pending"
    if (
        rec.plan.version == proposal.version
        and rec.plan.revision is not None
        and rec.plan.revision.decided == "approved"
    ):
        return "approved"
    return "rejected"

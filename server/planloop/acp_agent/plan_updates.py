"""A plan as ACP shows one: a ``plan`` update (an entry per step) and the plan document.

ACP's entries know three statuses (pending, in_progress, completed). planloop's steps
know more, so the text carries what the status cannot: a failed step is not completed
(it may run again or be re-planned), a reverted one lost its change — each says so in
its entry rather than passing for pending work. The whole list goes every time: the
client replaces its plan with each update.
"""

from __future__ import annotations

from typing import Literal

from acp.helpers import plan_entry, update_plan
from acp.schema import AgentPlanUpdate, PlanEntry

from planloop.document.markdown import render_markdown
from planloop.document.plan import Plan, Step, StepStatus

EntryStatus = Literal["pending", "in_progress", "completed"]

#: planloop's step status → ACP's entry status, and the words the entry then adds
STATUS: dict[StepStatus, tuple[EntryStatus, str]] = {
    "pending": ("pending", ""),
    "running": ("in_progress", ""),
    "passed": ("completed", ""),
    "failed": ("pending", "failed"),
    "blocked": ("pending", "blocked"),
    "skipped": ("completed", "skipped"),
    "awaiting_approval": ("in_progress", "awaiting your approval"),
    "reverted": ("pending", "reverted"),
}


def entry(step: Step) -> PlanEntry:
    status, said = STATUS[step.status]
    text = f"{step.id}: {step.title}"
    if said:
        text += f" [{said}]"
    priority: Literal["high", "medium", "low"] = "low" if step.kind == "pause" else "medium"
    return plan_entry(text, priority=priority, status=status)


def plan_update(plan: Plan) -> AgentPlanUpdate:
    return update_plan(entry(s) for s in plan.steps)


def plan_document(plan: Plan, *, heading: str) -> str:
    """The plan's Markdown (what ``planloop show`` prints), under one line saying why."""
    return f"**{heading}**\n\n{render_markdown(plan)}"

"""The run record: what a run is at any moment — its plan with step results, its state,
the question it waits on, what it has spent — as ``run.json`` holds it.

Why apart from :mod:`planloop.state.store`: every layer above reads and changes this model
(the loop on every transition, the API and the front ends to show it), while only the
store knows where and how it is kept on disk. Depending on the record should not mean
depending on files, locks and the log.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from planloop.config import RememberedModels
from planloop.document.plan import (
    Plan,
    RoleUsage,
    RunState,
    Step,
    Trigger,
    cost_text,
    now_iso,
    total_usage,
)


class Pending(BaseModel):
    """A question the run is waiting on; persisted so another process can answer it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["plan", "revision", "pause", "budget"]
    reason: str
    evidence: list[str] = Field(default_factory=list)
    step_id: str | None = None
    version: int | None = None
    trigger: Trigger | None = None
    proposal: Plan | None = None
    asked_at: str = Field(default_factory=now_iso)


class RunRecord(RememberedModels):
    """``planner_spec``/``executor_spec`` (from RememberedModels): the models the plan was
    made and last run with, so ``planloop run`` without flags goes on with them."""

    model_config = ConfigDict(extra="forbid")

    plan: Plan
    state: RunState = "idle"
    reason: str = ""
    pending: Pending | None = None
    replans_used: int = 0
    usd_allowed: float | None = None
    plan_approved: bool = False
    workspace_baseline: dict[str, bool] = Field(default_factory=dict)
    planner_usage: RoleUsage = Field(default_factory=RoleUsage)
    #: cost of step attempts no longer in the plan (replaced by a revision)
    spent_outside_steps: float = 0.0
    #: steps a revision replaced, as they were, so their attempts stay diffable/revertable
    replaced_steps: list[Step] = Field(default_factory=list)
    #: tokens (and unpriced calls) of those replaced attempts, beside their dollars above
    usage_outside_steps: RoleUsage = Field(default_factory=RoleUsage)
    #: set when a token budget was approved past ``budgets.tokens``
    tokens_allowed: int | None = None
    #: what the last run's commands executed in (``CommandSandbox.summary``)
    sandbox: str | None = None
    updated_at: str = Field(default_factory=now_iso)

    @property
    def cost_usd(self) -> float:
        """Everything the run has spent: steps of the current plan, planner, replaced steps."""
        return round(self.plan.cost_usd + self.planner_usage.cost_usd + self.spent_outside_steps, 6)

    @property
    def usage(self) -> RoleUsage:
        """Every billed turn of the run, whatever model: its tokens and unpriced calls."""
        steps = [u for s in self.plan.steps if s.result for u in s.result.usage.values()]
        return total_usage([*steps, self.planner_usage, self.usage_outside_steps])

    @property
    def cost_known(self) -> bool:
        return self.usage.cost_known

    @property
    def cost_text(self) -> str:
        return cost_text(self.cost_usd, self.usage)

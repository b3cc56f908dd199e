"""What a step changed, and taking it back: its before/after checkpoints, diffed or reverted.

A revert restores the step's files file by file and never over a change made since
(that file is reported as a conflict and left alone). A step that lost its changes is
``reverted``, and the steps built on it must run again, so they return to ``pending``.
"""

from __future__ import annotations

from .checkpoints import CheckpointStore, RevertResult
from .errors import InvalidRequestError, UnknownStepError
from .events import Reverted, RevertStarted
from .journal import Journal
from .plan import Step
from .store import RunRecord


def step_with_checkpoints(rec: RunRecord, step_id: str) -> tuple[Step, str, str]:
    """The step and its last attempt's before/after checkpoints (it must have run)."""
    if not rec.plan.has_step(step_id):
        raise UnknownStepError(step_id, [s.id for s in rec.plan.steps])
    step = rec.plan.step(step_id)
    r = step.result
    if not r or not r.checkpoint_before or not r.checkpoint_after:
        raise InvalidRequestError(f"step {step_id!r} has not run yet, so it has no changes")
    return step, r.checkpoint_before, r.checkpoint_after


def revert_step(
    rec: RunRecord,
    step_id: str,
    paths: list[str] | None,
    cp: CheckpointStore,
    journal: Journal,
) -> RevertResult:
    _, before, after = step_with_checkpoints(rec, step_id)
    journal.event(RevertStarted(step_id=step_id, paths=paths))
    res = cp.revert(before, after, paths)
    journal.event(
        Reverted(
            step_id=step_id,
            restored=list(res.restored),
            conflicts=[{"path": c.path, "reason": c.reason} for c in res.conflicts],
        )
    )
    if res.restored:
        rec.plan.step(step_id).status = "reverted"
        for dep in rec.plan.dependents(step_id):
            s = rec.plan.step(dep)
            if s.status in ("passed", "failed", "blocked"):
                s.status = "pending"
        if rec.state == "done":
            rec.state, rec.reason = "idle", f"step {step_id!r} reverted"
        journal.save(rec)
    return res

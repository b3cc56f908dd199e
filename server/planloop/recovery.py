"""Crash recovery: a run record found ``running`` means a process died mid-step.

The run lock is held by whoever calls this, so nothing else is running: a step still
marked ``running`` was interrupted. Its partial changes are snapshotted (kept under the
step's ``recovered`` checkpoint, so nothing is lost) and reported, its files are put
back to the before-checkpoint (file by file, never over a later edit), and it returns
to ``pending`` to run again. The interrupted attempt does not count, but what earlier
attempts cost was paid and stays in the record.
"""

from __future__ import annotations

from .checkpoints import CheckpointStore
from .events import Recovered, RecoveredRestore
from .journal import Journal
from .plan import StepResult
from .store import RunRecord


def recover(rec: RunRecord, cp: CheckpointStore, journal: Journal) -> None:
    for step in rec.plan.steps:
        if step.status != "running":
            continue
        before = step.result.checkpoint_before if step.result else None
        if before:
            now = cp.step_snapshot(
                rec.plan.plan_id, step.id, "recovered", f"recovered partial {step.id}"
            )
            partial = cp.changes(before, now)
            journal.event(Recovered(step_id=step.id, partial_files=[f.path for f in partial]))
            undone = cp.revert(before, now)
            journal.event(
                RecoveredRestore(
                    step_id=step.id,
                    restored=list(undone.restored),
                    conflicts=[c.path for c in undone.conflicts],
                )
            )
        else:
            journal.event(Recovered(step_id=step.id, partial_files=[]))
        step.status = "pending"
        step.attempts = max(0, step.attempts - 1)
        # earlier attempts were paid for: keep their usage, drop the rest
        spent = step.result.usage if step.result else {}
        step.result = (
            StepResult(
                error="interrupted; runs again",
                usage=spent,
                cost_usd=round(sum(u.cost_usd for u in spent.values()), 6),
            )
            if spent
            else None
        )
    rec.state, rec.reason = "idle", "recovered from an interrupted run"
    journal.save(rec)

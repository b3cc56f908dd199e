"""Crash recovery: a run record found ``running`` means a process died mid-step.

The run lock is held by whoever calls this, so nothing else is running: a step still
marked ``running`` was interrupted, and its last attempt (if its before-checkpoint was
recorded) is still open. :func:`close_interrupted` closes it: what it half-did is
snapshotted (its ``partial`` checkpoint), bounded by its write-ahead record of touched
paths, and the attempt is recorded as ``interrupted`` — so ``diff``/``revert`` of the
step show and undo exactly that.

:func:`recover` (the next ``planloop run``) then puts those files back to the
before-checkpoint (file by file, never over a later edit) and the step runs again from
the state it was planned against; the attempt's after-checkpoint is the workspace after
that rollback. A ``revert`` of the interrupted step closes it without the rollback and
reverts it like any other step. The interrupted attempt does not count, but what earlier
attempts cost was paid and stays in the record.
"""

from __future__ import annotations

from planloop.checkpoints.store import CheckpointStore
from planloop.document.plan import Attempt, Step, StepResult
from planloop.events import Recovered, RecoveredRestore
from planloop.loop.journal import Journal
from planloop.loop.step_changes import ANY, attempt_paths
from planloop.state.record import RunRecord


def open_attempt(step: Step) -> Attempt | None:
    last = step.attempt_log[-1] if step.attempt_log else None
    return last if last is not None and last.ended == "running" else None


def close_interrupted(
    rec: RunRecord, cp: CheckpointStore, journal: Journal, *, rollback: bool
) -> None:
    """Record every interrupted step's open attempt as ``interrupted`` and the step
    ``pending``; with ``rollback`` its partial changes are also put back."""
    plan_id = rec.plan.plan_id
    for step in rec.plan.steps:
        if step.status != "running":
            continue
        a = open_attempt(step)
        if a is not None:
            paths = attempt_paths(journal.store, plan_id, step.id, a)
            partial = cp.step_snapshot(
                plan_id, step.id, f"{a.n}/partial", f"interrupted {step.id} attempt {a.n}"
            )
            bound = None if ANY in paths else paths
            changed = cp.changes(a.before, partial)
            if bound is not None:
                changed = [c for c in changed if c.path in bound or c.old_path in bound]
            journal.event(Recovered(step_id=step.id, partial_files=[f.path for f in changed]))
            after = partial
            if rollback:
                undone = cp.revert(a.before, partial, [c.path for c in changed])
                journal.event(
                    RecoveredRestore(
                        step_id=step.id,
                        restored=list(undone.restored),
                        conflicts=[c.path for c in undone.conflicts],
                    )
                )
                after = cp.step_snapshot(
                    plan_id, step.id, f"{a.n}/after", f"after {step.id} attempt {a.n} (recovered)"
                )
                changed = [
                    c for c in cp.changes(a.before, after) if c.path in {x.path for x in changed}
                ]
            a.partial, a.after = partial, after
            a.files = sorted({p for c in changed for p in (c.path, c.old_path) if p})
            a.ended, a.counted, a.error = "interrupted", False, "the run was interrupted"
        elif step.result and step.result.checkpoint_before and not step.attempt_log:
            _legacy(rec, step, cp, journal, rollback=rollback)
        else:
            journal.event(Recovered(step_id=step.id, partial_files=[]))
        step.status = "pending"
        step.attempts = max(0, step.attempts - 1)
        # earlier attempts were paid for: keep their usage, drop the rest
        spent = step.result.usage if step.result else {}
        step.result = StepResult(
            checkpoint_before=a.before if a else None,
            checkpoint_after=a.after if a else None,
            error="interrupted; runs again",
            usage=spent,
            cost_usd=round(sum(u.cost_usd for u in spent.values()), 6),
        )
    journal.save(rec)
    journal.store.clear_touched(plan_id)


def recover(rec: RunRecord, cp: CheckpointStore, journal: Journal) -> None:
    close_interrupted(rec, cp, journal, rollback=True)
    rec.state, rec.reason = "idle", "recovered from an interrupted run"
    journal.save(rec)


def _legacy(
    rec: RunRecord, step: Step, cp: CheckpointStore, journal: Journal, *, rollback: bool
) -> None:
    """A record written before attempts were logged: the whole before → now span."""
    assert step.result is not None and step.result.checkpoint_before
    before = step.result.checkpoint_before
    now = cp.step_snapshot(rec.plan.plan_id, step.id, "recovered", f"recovered partial {step.id}")
    journal.event(
        Recovered(step_id=step.id, partial_files=[f.path for f in cp.changes(before, now)])
    )
    if rollback:
        undone = cp.revert(before, now)
        journal.event(
            RecoveredRestore(
                step_id=step.id,
                restored=list(undone.restored),
                conflicts=[c.path for c in undone.conflicts],
            )
        )

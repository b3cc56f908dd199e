"""What a step changed, and taking it back: the span of all its attempts, diffed or reverted.

A step's changes run from its *first* attempt's before-checkpoint to its last attempt's
after-checkpoint — every attempt, counted or not: one that ended in a model error, a
cancel or a crash changed the workspace as much as one that passed, and a later
attempt's before-checkpoint already contains those bytes. Restricting to the paths the
attempts changed keeps another step's edits made between two attempts out of the span.

An attempt with no after-checkpoint (the process was killed, or is still running) ends
at the workspace as it is now, limited to the paths its write-ahead record names
(``touched.jsonl``): exactly what it half-did, not whatever else changed since.

A revert restores the step's files file by file and never over a change made since
(that file is reported as a conflict and left alone). A step that lost its changes is
``reverted``, and the steps built on it must run again, so they return to ``pending``. A
revert that left any file in conflict does not mark the step: part of its change is still
in the workspace, so it keeps its status until a later revert finds every file back.
"""

from __future__ import annotations

from dataclasses import dataclass

from planloop.checkpoints.integrity import CheckpointError
from planloop.checkpoints.store import CheckpointStore, RevertResult
from planloop.document.plan import Attempt, Step
from planloop.errors import InvalidRequestError, PlanloopError, UnknownStepError
from planloop.events import Reverted, RevertStarted
from planloop.loop.journal import Journal
from planloop.state.record import RunRecord
from planloop.state.store import PlanStore

#: a command ran: it may have written anything, so no path list bounds the span
ANY = "*"


@dataclass(frozen=True)
class StepSpan:
    step: Step
    before: str
    after: str
    #: the paths the span is limited to; None: every path that differs
    paths: list[str] | None


def find_step(rec: RunRecord, step_id: str) -> Step:
    """The step of the current plan, or — when it never ran there — the newest step of
    that id a revision replaced, so a replaced step's changes stay reachable."""
    current = rec.plan.step(step_id) if rec.plan.has_step(step_id) else None
    if current is not None and (current.attempt_log or current.result):
        return current
    for old in reversed(rec.replaced_steps):
        if old.id == step_id and old.attempt_log:
            return old
    if current is not None:
        return current
    known = [s.id for s in rec.plan.steps]
    known += [s.id for s in rec.replaced_steps if s.id not in known]
    raise UnknownStepError(step_id, known)


def attempt_paths(store: PlanStore, plan_id: str, step_id: str, a: Attempt) -> list[str]:
    """What one attempt changed: its recorded files, plus its write-ahead record while it
    has no after-checkpoint."""
    if a.after is not None:
        return list(a.files)
    return list(dict.fromkeys([*a.files, *store.touched(plan_id, step_id, a.n)]))


def step_span(rec: RunRecord, step_id: str, cp: CheckpointStore, store: PlanStore) -> StepSpan:
    step = find_step(rec, step_id)
    log = step.attempt_log
    plan_id = rec.plan.plan_id
    if not log:
        r = step.result  # a record written before attempts were logged
        if r and r.checkpoint_before and r.checkpoint_after:
            require_checkpoints(cp, plan_id, step.id, r.checkpoint_before)
            return StepSpan(step, r.checkpoint_before, r.checkpoint_after, None)
        raise InvalidRequestError(f"step {step_id!r} has not run yet, so it has no changes")
    require_checkpoints(cp, plan_id, step.id, log[0].before)
    last = log[-1]
    if last.after is not None:
        after = last.after
    else:  # killed (or still running): the workspace now, bounded by what it noted
        after = cp.step_snapshot(
            plan_id, step.id, f"{last.n}/now", f"{step.id} attempt {last.n} as it stands"
        )
    paths: list[str] = []
    for a in log:
        paths += attempt_paths(store, plan_id, step.id, a)
    bounded = None if ANY in paths else list(dict.fromkeys(paths))
    return StepSpan(step, log[0].before, after, bounded)


def require_checkpoints(cp: CheckpointStore, plan_id: str, step_id: str, before: str) -> None:
    """Fail with what happened when ``planloop clean`` (or ``--reset-shadow``) dropped this
    plan's checkpoints: every ref of the plan is gone and its first checkpoint with them.
    Without this the user saw git's ``no such checkpoint: '<sha>' in …/shadow.git``, which
    names neither the cause nor a way on. Only refs-gone *and* commit-missing counts, so a
    damaged repository still gets its own message (and ``clean --reset-shadow``)."""
    if cp.refs(cp.plan_prefix(plan_id)):
        return
    try:
        cp.resolve(before)
    except CheckpointError:
        raise PlanloopError(
            f"step {step_id!r} has no checkpoints any more: `planloop clean` dropped those "
            f"of plan {plan_id} (a finished plan's, or all with --reset-shadow), so its "
            "changes can no longer be shown, read or reverted by planloop. Your files are "
            "as the steps left them; "
            "see or undo a change with your own version control (git diff, git checkout "
            "-- PATH). `planloop status`, `show` and `log` still answer; `planloop clean "
            "--keep-current` keeps the current plan's checkpoints next time.",
            kind="not_found",
        ) from None


def revert_step(
    rec: RunRecord,
    step_id: str,
    paths: list[str] | None,
    cp: CheckpointStore,
    journal: Journal,
) -> RevertResult:
    span = step_span(rec, step_id, cp, journal.store)
    journal.event(RevertStarted(step_id=step_id, paths=paths))
    wanted = paths
    outside: list[str] = []
    if span.paths is not None and paths is not None:
        asked = [cp.rel(p) for p in paths]
        wanted = [b for b in span.paths if any(_under(b, a) for a in asked)]
        outside = [
            p for p, a in zip(paths, asked, strict=True) if not any(_under(b, a) for b in wanted)
        ]
    elif span.paths is not None:
        wanted = span.paths
    res = cp.revert(span.before, span.after, wanted)
    res.not_in_step = list(dict.fromkeys([*res.not_in_step, *outside]))
    journal.event(
        Reverted(
            step_id=step_id,
            restored=list(res.restored),
            conflicts=[{"path": c.path, "reason": c.reason} for c in res.conflicts],
        )
    )
    in_plan = rec.plan.has_step(step_id) and rec.plan.step(step_id) is span.step
    # ``reverted`` promises the step's change is gone: a conflicted file still holds it,
    # so the step keeps its status until a revert finds every file back (restored now, or
    # already put back by the user after an earlier revert left it in conflict)
    undone = bool(res.restored or res.already_reverted) and not res.conflicts
    if undone and in_plan:
        rec.plan.step(step_id).status = "reverted"
        for dep in rec.plan.dependents(step_id):
            s = rec.plan.step(dep)
            if s.status in ("passed", "failed", "blocked"):
                s.status = "pending"
        if rec.state == "done":
            rec.state, rec.reason = "idle", f"step {step_id!r} reverted"
    if res.restored or undone:
        journal.save(rec)
    return res


def _under(path: str, asked: str) -> bool:
    """``path`` is ``asked`` or inside it (``asked`` ``.``/empty: everything)."""
    return asked in ("", ".") or path == asked or path.startswith(asked.rstrip("/") + "/")

"""A person's edit of the plan document, made the plan's next version.

Why apart from :mod:`planloop.loop.revisions`: an edit is not a proposal. The person
wrote it, so no approval is asked and no re-plan budget is spent; what it must guard is
different — not over a running step nor under a proposal built on the version it
replaces, and nothing written when it breaks a rule of the document or changes nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from planloop.document.edits import EDITABLE, check_edit
from planloop.document.markdown import render_markdown
from planloop.document.markdown_parse import EditProblem
from planloop.document.plan import Plan, total_usage
from planloop.errors import BusyError, InvalidRequestError, PlanEditError
from planloop.events import PlanEdited
from planloop.loop.journal import Journal
from planloop.loop.revisions import plan_shape
from planloop.state.record import RunRecord
from planloop.state.store import PlanStore


def apply_edit(
    rec: RunRecord, text: str, author: str, *, store: PlanStore, journal: Journal
) -> Plan:
    """A person's edit of the plan document becomes the next version, no approval
    asked (they made it). Refused while a step runs or a re-plan awaits a decision
    (its proposal was built on the version this edit replaces); nothing is written
    when the edit breaks a rule or changes nothing (the base plan is returned)."""
    if rec.state == "running":
        running = [s.id for s in rec.plan.steps if s.status == "running"]
        raise BusyError(
            f"step {running[0] if running else '?'} is still marked running (an "
            "interrupted run): the edit is refused, nothing written; `planloop run` "
            "recovers the step first"
        )
    if rec.pending is not None and rec.pending.kind == "revision":
        raise InvalidRequestError(
            f"a re-plan (v{rec.pending.version}) awaits a decision: approve or reject it "
            "before editing the plan (nothing written)"
        )
    base = rec.plan
    res = check_edit(text, base, author=author)
    if res.problems or res.plan is None:
        raise PlanEditError(res.problems)
    if not res.changed:
        return base
    new = res.plan
    before = {s.id: s for s in base.steps}
    after = {s.id for s in new.steps}
    journal.event(
        PlanEdited(
            version=new.version,
            parent_version=base.version,
            author=author,
            steps=[s.id for s in new.steps],
            added=[s.id for s in new.steps if s.id not in before],
            removed=[s.id for s in base.steps if s.id not in after],
            changed=[
                s.id
                for s in new.steps
                if s.id in before
                and any(getattr(s, f) != getattr(before[s.id], f) for f in EDITABLE)
            ],
            goal=new.goal,
            old_goal=base.goal if res.goal_changed else None,
        )
    )
    # removed steps keep their attempts and their cost on the record, as in RevisionDesk.accept()
    removed = [s for s in base.steps if s.id not in after]
    results = [s.result for s in removed if s.result]
    rec.spent_outside_steps = round(rec.spent_outside_steps + sum(r.cost_usd for r in results), 6)
    rec.usage_outside_steps = total_usage(
        [rec.usage_outside_steps, *(r.total_usage for r in results)]
    )
    rec.replaced_steps += [s.model_copy(deep=True) for s in removed if s.attempt_log]
    store.write_version(new)
    rec.plan = new
    pause = rec.pending if rec.pending is not None and rec.pending.kind == "pause" else None
    if pause is not None and not any(
        s.id == pause.step_id and s.kind == "pause" for s in new.steps
    ):
        rec.pending = None  # the pause it waited at is gone: nothing left to answer
    if rec.pending is not None and rec.pending.kind == "plan":
        rec.pending.reason = f"review plan v{new.version} ({plan_shape(new)}) before it runs"
        rec.reason = f"plan v{new.version} (edited by {author}) awaits review"
    elif rec.pending is None:
        rec.state, rec.reason = "idle", f"plan v{new.version} edited by {author}"
    journal.save(rec)
    return new


#: the document's first line, ``# Plan <id> v<N>``: which version the text was made from
_HEADER = re.compile(r"#\s*Plan\s+(\S+)\s+v(\d+)\s*")


def adopt_document(
    rec: RunRecord, text: str, author: str, *, store: PlanStore, journal: Journal
) -> Plan | None:
    """A hand edit of ``.planloop/plan.md`` made the next version, as :func:`apply_edit`
    (the same rules and refusals); None when it changes nothing. Either way the document
    is planloop's own again afterwards (its canonical rendering).

    The text must have been made from the version that is current now: one made from an
    older version (the plan moved on while planloop left the edited file alone) would
    silently undo what changed since, so it is refused naming both versions."""
    first = text.splitlines()[0] if text.splitlines() else ""
    m = _HEADER.fullmatch(first)
    plan = rec.plan
    if m and (m.group(1), int(m.group(2))) != (plan.plan_id, plan.version):
        raise PlanEditError(
            [
                EditProblem(
                    1,
                    f"this document was made from plan {m.group(1)} v{m.group(2)}, but the "
                    f"plan is now {plan.plan_id} v{plan.version}: applying it would undo "
                    "what changed since; compare it with `planloop show`",
                )
            ]
        )
    before = plan.version
    new = apply_edit(rec, text, author, store=store, journal=journal)
    store.write_document(render_markdown(new), force=True)
    return new if new.version != before else None


@contextlib.contextmanager
def edit_lock(store: PlanStore, refused: str) -> Iterator[None]:
    """The run lock for a person's edit; a run holding it refuses the edit (not queued):
    the user's text stays where they wrote it."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(store.run_lock())
        except BusyError as e:
            raise BusyError(f"a step is running, so {refused} when it ends ({e.message})") from None
        yield

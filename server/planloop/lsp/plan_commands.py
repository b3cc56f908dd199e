"""Plan commands: createPlan, getPlan, replan, answer (``planloop plan`` / ``show`` /
``replan`` / ``answer``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from planloop.errors import InvalidRequestError, NoPlanError, PlanloopError, StoreError
from planloop.lsp import args as A
from planloop.lsp.payloads import proposal_payload, question_payload, question_pending, status_of
from planloop.lsp.registry import CommandTable, Spec, current, current_payload

if TYPE_CHECKING:
    from planloop.api import Session
    from planloop.lsp.events import Call
    from planloop.lsp.folders import FolderSession


log = logging.getLogger("planloop.lsp")


def register(table: CommandTable) -> None:
    table["planloop.createPlan"] = Spec(A.CreatePlanArgs, create_plan, long=True)
    table["planloop.getPlan"] = Spec(A.GetPlanArgs, get_plan, long=False, needs_session=False)
    table["planloop.replan"] = Spec(A.ReplanArgs, replan, long=True)
    table["planloop.answer"] = Spec(A.AnswerArgs, answer, long=True)


def create_plan(core: Session, a: A.CreatePlanArgs, s: FolderSession, c: Call) -> Any:
    """The planner asks the editor (s.approver answers questions too); a question left
    unanswered fails with kind ``waiting`` and stays in ``getPlan``'s ``pending``."""
    core.create_plan(a.goal, cancel=c.cancel, answerer=s.approver)
    return current_payload(s)


def answer(core: Session, a: A.AnswerArgs, s: FolderSession, c: Call) -> Any:
    core.answer(a.text, by=s.ctx.client.name, cancel=c.cancel, answerer=s.approver)
    return current_payload(s)


def get_plan(core: None, a: A.GetPlanArgs, s: FolderSession, c: None) -> Any:
    waiting = None
    if a.plan_id is None and a.version is None:
        try:
            waiting = s.query.pending_question()
        except StoreError as e:  # a damaged question must not hide the plan; answer says why
            log.warning("%s", e)
    if a.plan_id is None:
        plan_id = s.payloads.current_id()
        if plan_id is None:
            if a.version is not None:
                raise NoPlanError()
            return question_payload(waiting) if waiting is not None else None
        if waiting is not None:
            _, payload = s.payloads.get(plan_id)
            return {**payload, "pending": question_pending(waiting, payload["markdown"])}
    else:
        plan_id = a.plan_id
        known = s.payloads.plan_ids()
        if plan_id not in known:
            raise InvalidRequestError(
                f"no plan {plan_id!r} in {s.root}; plans there: {', '.join(known) or 'none'}"
            )
    rec, payload = s.payloads.get(plan_id)
    if a.version is None:
        return payload
    try:
        plan = s.query.plan_version(plan_id, a.version)
    except StoreError as e:  # no such version: the caller asked for it, not a broken store
        raise InvalidRequestError(str(e)) from None
    # a recorded version in the PlanPayload envelope; the run's state is today's
    return proposal_payload(plan, status_of(rec))


def replan(core: Session, a: A.ReplanArgs, s: FolderSession, c: Call) -> Any:
    res = core.replan(reason=a.reason, goal=a.goal, cancel=c.cancel)
    rec, plan = current(s)
    if res.proposal is None:
        raise PlanloopError(f"no revision was proposed: {res.reason}")
    return {
        "proposal": proposal_payload(res.proposal, status_of(rec)),
        "decision": res.decision,
        "plan": plan,
        "state": res.state,
        "reason": res.reason,
    }

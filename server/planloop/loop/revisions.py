"""Versions of the plan: the first draft, re-plans, and making an approved one current.

A proposal is never acted on by itself: :meth:`RevisionDesk.propose` leaves it pending
in the run record (``Pending(kind="revision")``) for the approval desk to ask about, and
only :meth:`RevisionDesk.accept` turns it into the plan. Each proposal counts against
the re-plan budget; when that is spent the run stops with a reason instead of asking
the planner again, so a plan that keeps failing cannot spend without bound. (A
person's own edit of the plan document is no proposal: :mod:`planloop.loop.user_edits`.)

The desk remembers the newest proposal it saw (:attr:`proposed`) so a requested re-plan
can say what came of it (:func:`planloop.loop.results.replan_decision`) without anyone
reading events.
"""

from __future__ import annotations

from collections.abc import Callable

from planloop.cancel import Cancelled, CancelToken
from planloop.config import Config, ModelChoice, Role, run_mode
from planloop.document.plan import (
    ModeChoice,
    Plan,
    Revision,
    RoleUsage,
    RunMode,
    Step,
    Trigger,
    cost_text,
    now_iso,
    total_usage,
)
from planloop.errors import InvalidRequestError, PlanloopError
from planloop.events import (
    Event,
    ModeChosen,
    PlanCreated,
    Planning,
    PlanVersionRecorded,
    QuestionAnswered,
    QuestionAsked,
    QuestionWaiting,
    ReplanStarted,
    RevisionProposed,
)
from planloop.loop.journal import Journal
from planloop.models.base import ModelError
from planloop.roles import questions
from planloop.roles.joint_plan import as_mode, choose, joint_without_planner, needs_planner
from planloop.roles.ledger import Ledger
from planloop.roles.planner import Planner, PlannerError
from planloop.roles.questions import Answerer, NoAnswerer
from planloop.roles.rules import ProjectRules
from planloop.state.record import Pending, RunRecord
from planloop.state.store import PlanStore


class RevisionDesk:
    def __init__(
        self,
        *,
        config: Config,
        store: PlanStore,
        journal: Journal,
        ledger: Ledger,
        planner: Callable[[], Planner],
        rules: Callable[[], ProjectRules] | None = None,
        models: Callable[[], dict[Role, ModelChoice]] | None = None,
        priced: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        #: False when a role's model has no price: the planner's dollar estimate is dropped
        self._priced = priced or (lambda: True)
        #: the models in use, remembered by a new plan's record (and a waiting question)
        self._models = models or (lambda: {})
        self.store = store
        self.journal = journal
        self.ledger = ledger
        self._planner = planner  # built on first use: reading a plan needs no model
        #: the project's instruction files, for a joint plan made without the planner
        self._rules = rules
        #: the newest proposal seen since the last :meth:`watch`
        self.proposed: Plan | None = None

    def draft(
        self, goal: str, cancel: CancelToken | None, answerer: Answerer | None = None
    ) -> Plan:
        """Version 1: the planner's first plan for ``goal``, recorded and made current.

        Nothing is written unless a plan comes of it, and "current" is set last, so it
        never names a plan without a run record. A question nobody can answer now is
        saved (``.planloop/question.json``) and raises :class:`WaitingForAnswer`.
        """
        # a damaged `current` raises here, before anything is spent or written: a new
        # plan would otherwise replace it and hide which plan it named
        self.store.current_id()
        requested = run_mode(self.config)
        self.journal.plan_id = None
        self.journal.drafted()  # a failed earlier draft's calls are not this plan's
        self.journal.event(Planning(goal=goal))
        usage = RoleUsage()
        if requested == "joint":
            # the joint model plans in its own context: no planner call at all
            if not goal.strip():
                raise PlannerError("the goal is empty: say what you want done")
            plan = joint_without_planner(goal.strip())
            if self._rules is not None:
                plan.rules_followed = self._rules().followed(plan)
        else:
            drafted, usage = self._planning(
                lambda: self._planner().plan(goal, cancel, answerer), RoleUsage()
            )
            plan = as_mode(drafted, choose(drafted, requested, self.config.joint_max_steps))
        return self._record_first(plan, usage)

    def answer(
        self, text: str, *, by: str, cancel: CancelToken | None, answerer: Answerer | None
    ) -> Plan:
        """Answer the waiting question: the planner goes on in its saved conversation."""
        pending = questions.load(self.store.dir)
        if pending is None:
            raise questions.nothing_pending()
        answer = questions.check_answer(text)
        self.store.current_id()  # as in draft: a damaged `current` stops it before any spend
        self.journal.plan_id = None
        self.journal.drafted()
        drafted, usage = self._planning(
            lambda: self._planner().resume(
                pending, answer, by=by, cancel=cancel, answerer=answerer or NoAnswerer()
            ),
            pending.usage,
        )
        requested = run_mode(self.config)
        plan = as_mode(drafted, choose(drafted, requested, self.config.joint_max_steps))
        return self._record_first(plan, usage)

    def _planning(self, call: Callable[[], Plan], spent: RoleUsage) -> tuple[Plan, RoleUsage]:
        """The planner's call, its cost on top of ``spent``; a question saved on the way."""
        with self.ledger.tab("planner") as tab:
            try:
                return call(), spent.add(tab.usage)
            except questions.WaitingForAnswer as e:
                waiting = e.pending
            except ModelError as e:
                raise PlanloopError(f"planning failed: {e.message}") from e
            except Cancelled as e:
                raise PlanloopError("planning cancelled; no plan was written") from e
        waiting.usage = spent.add(tab.usage)
        waiting.remember(self._models())  # `planloop answer` goes on with the same models
        self.store.dir.mkdir(parents=True, exist_ok=True)
        questions.save(self.store.dir, waiting)
        q = waiting.question
        self.journal.event(QuestionWaiting(question=q.question, options=q.options))
        raise questions.WaitingForAnswer(waiting)

    def _unpriced_estimate(self, plan: Plan) -> None:
        """No dollar estimate beside "cost unknown": with an unpriced model in either role
        the planner's guess in dollars is dropped (its duration is kept)."""
        if plan.estimate.cost_usd is not None and not self._priced():
            plan.estimate.cost_usd = None

    def _record_first(self, plan: Plan, usage: RoleUsage) -> Plan:
        self._unpriced_estimate(plan)
        self.store.ensure()
        self.journal.plan_id = plan.plan_id
        rec = RunRecord(plan=plan, planner_usage=usage, usd_allowed=self.config.budgets.usd)
        rec.remember(self._models())  # later commands without model flags use the same
        self.journal.event(
            PlanCreated(
                plan_id=plan.plan_id,
                version=1,
                goal=plan.goal,
                steps=[s.id for s in plan.steps],
                cost_usd=usage.cost_usd,
            )
        )
        # the questions and the planner's tool calls were told as they happened, before
        # the plan had a log: log them now, so `planloop log` shows what shaped the plan (a
        # rejected submit_plan's reason too). This process's are in the journal, in order;
        # questions asked or answered by an earlier process (before `planloop answer`) come
        # from the plan, first, at their own times (that process's tool calls are not kept).
        here = self.journal.drafted()
        asked_here = sum(isinstance(e, QuestionAsked) for e in here)
        answered_here = sum(isinstance(e, QuestionAnswered) for e in here)
        answered_before = sum(q.answer is not None for q in plan.questions) - answered_here
        earlier: list[Event] = []
        for i, q in enumerate(plan.questions):
            if i < len(plan.questions) - asked_here:
                earlier.append(QuestionAsked(at=q.asked_at, question=q.question, options=q.options))
            if q.answer is not None and answered_before > 0:
                answered_before -= 1
                earlier.append(
                    QuestionAnswered(
                        at=q.answered_at or q.asked_at,
                        question=q.question,
                        answer=q.answer,
                        by=q.answered_by or "user",
                    )
                )
        for ev in [*earlier, *here]:
            self.store.log(plan.plan_id, ev)
        self.mode_chosen(plan)  # after plan_created (the log's first line), before any act
        self.store.write_version(plan)
        if self.config.review_plan_first:
            rec.pending = Pending(
                kind="plan", reason=f"review plan v1 ({plan_shape(plan)}) before it runs"
            )
            rec.state = "awaiting_approval"
            rec.reason = "plan v1 awaits review"
        else:
            rec.plan_approved = True
        self.journal.save(rec)
        # only now: "current" must never name a plan without a run record
        self.store.set_current(plan.plan_id)
        # a new plan answers (or supersedes) any question that was waiting
        questions.clear(self.store.dir)
        return plan

    def mode_chosen(self, plan: Plan) -> None:
        """Log the plan's mode and why, before anything acts on it."""
        mc = plan.mode_choice
        if mc is not None:
            self.journal.event(
                ModeChosen(
                    mode=mc.mode,
                    requested=mc.requested,
                    reason=mc.reason,
                    horizon=mc.horizon,
                    by=mc.decided_by,
                )
            )

    def switch_mode(
        self, rec: RunRecord, mode: RunMode, by: str, cancel: CancelToken | None
    ) -> Plan:
        """A person overrides the mode at review: the plan becomes the next version in it.

        Only before any step has run (a started run is changed by a re-plan). Back to
        split uses the planner's kept outline; a joint plan made without a planner
        (mode = joint) asks the planner for one.
        """
        started = [s.id for s in rec.plan.steps if s.attempts or s.status != "pending"]
        if started:
            raise InvalidRequestError(
                f"the mode can change only before a step runs ({started[0]} already ran); "
                "ask for a re-plan instead"
            )
        if rec.plan.mode == mode:
            raise InvalidRequestError(f"plan v{rec.plan.version} already runs {mode}")
        current = rec.plan
        if needs_planner(current, mode):
            with self.ledger.tab("planner") as tab:
                try:
                    drafted = self._planner().plan(current.goal, cancel)
                except (ModelError, Cancelled) as e:
                    rec.planner_usage = rec.planner_usage.add(tab.usage)
                    self.journal.save(rec)
                    msg = e.message if isinstance(e, ModelError) else "cancelled"
                    raise PlanloopError(f"planning failed: {msg}") from e
            rec.planner_usage = rec.planner_usage.add(tab.usage)
            current = current.model_copy(
                update={
                    "mode_choice": ModeChoice(
                        **{
                            **(current.mode_choice.model_dump() if current.mode_choice else {}),
                            "mode": "joint",
                            "requested": "joint",
                            "reason": "mode = joint",
                            "outline": [s.model_dump() for s in drafted.steps],
                        }
                    )
                }
            )
        before = rec.plan.mode_choice
        if before is not None and before.decided_by != "planloop":
            # an earlier override's reason already says what it replaced: name who chose
            # the mode it replaces, so switching back and forth does not nest the reasons
            # (each version's own reason stays in the history)
            was = f"{rec.plan.mode}, chosen by {before.decided_by} at review"
        else:
            was = f"{rec.plan.mode}: {before.reason if before else 'split'}"
        choice = ModeChoice(
            mode=mode,
            requested=mode,
            reason=f"{by} chose {mode} at review (was {was})",
            horizon=len(current.mode_choice.outline)
            if current.mode_choice and current.mode_choice.outline
            else len(current.steps),
            decided_by=by,
        )
        shaped = as_mode(current, choice)
        # with a review, choosing the mode is not approving the plan: the new version is
        # still reviewed before it runs, so its revision claims no decision (the document
        # would otherwise say "approved by" someone who approved nothing)
        reviewed = self.config.review_plan_first
        new = shaped.model_copy(
            update={
                "version": current.version + 1,
                "parent_version": current.version,
                "created_at": now_iso(),
                "revision": Revision(
                    trigger="user_requested",
                    reason=choice.reason,
                    proposed_by=by,
                    decided=None if reviewed else "approved",
                    decided_by=None if reviewed else by,
                    decided_at=None if reviewed else now_iso(),
                ),
            }
        )
        new = Plan.model_validate(new.model_dump())
        self.mode_chosen(new)
        self.journal.event(
            PlanVersionRecorded(version=new.version, steps=[s.id for s in new.steps])
        )
        self.store.write_version(new)
        rec.plan = new
        if reviewed:
            rec.plan_approved = False
            rec.pending = Pending(
                kind="plan", reason=f"review plan v{new.version} ({plan_shape(new)}) before it runs"
            )
            rec.state, rec.reason = "awaiting_approval", f"plan v{new.version} awaits review"
        else:
            rec.state, rec.reason = "idle", f"plan v{new.version} runs {mode}"
        self.journal.save(rec)
        return new

    def watch(self, rec: RunRecord) -> None:
        """Start remembering proposals, from the one already waiting (if any)."""
        waiting = rec.pending.proposal if rec.pending is not None else None
        self.proposed = waiting.model_copy(deep=True) if waiting is not None else None

    def propose(
        self,
        rec: RunRecord,
        trigger: Trigger,
        reason: str,
        evidence: list[str],
        *,
        failing: Step | None,
        cancel: CancelToken,
        feedback: str | None = None,
        new_goal: str | None = None,
    ) -> None:
        """Ask the planner for the next version and leave it pending; or end the run."""
        budget = self.config.budgets.replans
        if rec.replans_used >= budget:
            self.journal.end(
                rec,
                "stopped",
                f"re-plan budget ({budget}) exhausted; last trigger: {reason}. "
                f"{rec.plan.progress[0]}/{rec.plan.progress[1]} steps passed",
            )
        self.journal.event(ReplanStarted(trigger=trigger, reason=reason, evidence=list(evidence)))
        rec.state = "running"
        rec.reason = f"re-planning ({trigger})"
        self.journal.save(rec)
        try:
            with self.ledger.tab("planner") as tab:
                proposal = self._planner().replan(
                    rec.plan,
                    trigger=trigger,
                    reason=reason,
                    evidence=evidence,
                    failing_step=failing,
                    feedback=feedback,
                    new_goal=new_goal,
                    cancel=cancel,
                )
        except (Cancelled, ModelError, PlannerError) as e:
            # a failed re-plan's turns were paid for too
            rec.planner_usage = rec.planner_usage.add(tab.usage)
            if isinstance(e, Cancelled):
                self.journal.end(rec, "cancelled", "re-planning cancelled")
            if isinstance(e, ModelError) and e.retryable:
                # a rate limit or an outage: nothing is wrong with the run, so it waits
                # (exit 3) instead of ending in error; resuming retries the step, then re-plans
                self.journal.end(
                    rec,
                    "paused",
                    f"re-planning paused: {e.message} Then `planloop run` resumes "
                    "(it retries the step, then re-plans) or `planloop replan --reason ...`",
                )
            msg = e.message if isinstance(e, ModelError) else str(e)
            self.journal.end(rec, "error", f"re-planning failed: {msg}")
        usage = tab.usage
        rec.planner_usage = rec.planner_usage.add(usage)
        rec.replans_used += 1
        self._unpriced_estimate(proposal)
        if rec.plan.mode == "joint":
            proposal.mode_choice = ModeChoice(
                mode="split",
                requested=rec.plan.mode_choice.requested if rec.plan.mode_choice else "joint",
                reason=f"escalated from joint: {reason}",
                horizon=len(proposal.steps),
            )
        elif rec.plan.mode_choice is not None:
            # a split plan's revision stays split, for the same recorded reason
            proposal.mode_choice = rec.plan.mode_choice.model_copy(deep=True)
        self.proposed = proposal.model_copy(deep=True)
        why = proposal.revision.reason if proposal.revision else reason
        self.journal.event(
            RevisionProposed(
                version=proposal.version,
                trigger=trigger,
                reason=why,
                evidence=list(evidence),
                cost_usd=usage.cost_usd,
                cost_text=cost_text(usage.cost_usd, usage),
            )
        )
        rec.pending = Pending(
            kind="revision",
            reason=why,
            evidence=evidence,
            version=proposal.version,
            trigger=trigger,
            proposal=proposal,
            step_id=failing.id if failing else None,
        )
        rec.state = "awaiting_approval"
        rec.reason = f"re-plan v{proposal.version} awaits approval"
        self.journal.save(rec)

    def accept(self, rec: RunRecord, proposal: Plan, by: str, feedback: str | None) -> None:
        """Make an approved proposal the current plan, recorded as its vN.json."""
        new = proposal.model_copy(deep=True)
        assert new.revision is not None
        new.revision.decided = "approved"
        new.revision.decided_by = by
        new.revision.decided_at = now_iso()
        new.revision.feedback = feedback or new.revision.feedback
        kept = {s.id for s in new.steps if s.status in ("passed", "skipped")}
        # what replaced steps cost stays in the run's total
        replaced_results = [s.result for s in rec.plan.steps if s.result and s.id not in kept]
        rec.spent_outside_steps = round(
            rec.spent_outside_steps + sum(r.cost_usd for r in replaced_results), 6
        )
        rec.usage_outside_steps = total_usage(
            [rec.usage_outside_steps, *(r.total_usage for r in replaced_results)]
        )
        self.journal.event(
            PlanVersionRecorded(version=new.version, steps=[s.id for s in new.steps])
        )
        new = self._record_version(new)
        # Replaced steps keep their attempts, so what they changed stays diffable and
        # revertable: a new step of the same id continues its attempt log (and its
        # checkpoint names, which are per step id), one that is gone stays on the record.
        replaced = {s.id: s for s in rec.plan.steps if s.id not in kept and s.attempt_log}
        for s in new.steps:
            if s.id in replaced and s.id not in kept:
                s.attempt_log = [a.model_copy() for a in replaced.pop(s.id).attempt_log]
        rec.replaced_steps += [s.model_copy(deep=True) for s in replaced.values()]
        rec.plan = new
        rec.plan_approved = True
        rec.state, rec.reason = "idle", f"plan v{new.version} approved by {by}"
        self.journal.save(rec)

    def _record_version(self, new: Plan) -> Plan:
        """Write vN.json; if an approval of this very proposal was interrupted after
        writing it (run.json still pending), that recorded version stands."""
        if new.version in self.store.versions(new.plan_id):
            existing = self.store.read_version(new.plan_id, new.version)
            undecided = {"revision": {"decided", "decided_by", "decided_at", "feedback"}}
            if existing.model_dump(exclude=undecided) == new.model_dump(exclude=undecided):
                return existing
        self.store.write_version(new)
        return new


def plan_shape(plan: Plan) -> str:
    """How a review names the plan's shape: its step count, or what joint means."""
    if plan.mode == "joint":
        return "joint: one step, one model plans and acts"
    return f"{len(plan.steps)} steps"

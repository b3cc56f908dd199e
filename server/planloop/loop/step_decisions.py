"""What an attempt's verdict leads to: pass on, retry once, re-plan, or a decision point.

Why apart from the orchestrator: the step runner reports what happened (``Passed``,
``Failed``, ``Blocked``) and never what to do about it; the orchestrator's loop picks
what runs next. Between the two sits this one policy — a failure gets one retry with
the condensed evidence, then a re-plan; a joint run escalates to a split re-plan at
once; a surprise or a block re-plans; a passed step meets its plan's decision points —
and it reads best, and changes, in one place.
"""

from __future__ import annotations

from planloop.cancel import CancelToken
from planloop.document.plan import Step, StepResult, Trigger
from planloop.events import DecisionPointReached, Retry
from planloop.loop.journal import Journal
from planloop.loop.revisions import RevisionDesk
from planloop.loop.step_runner import Blocked, Failed, Passed, StepRunner
from planloop.state.record import Pending, RunRecord

MAX_ATTEMPTS = 2  # the first try and one retry with the observation; then re-plan


def evidence_of(result: StepResult | None) -> list[str]:
    """The condensed observations a re-plan (and a retry) is given about a step's attempt."""
    if result is None:
        return []
    out = [f"{c.check.label()}: {c.observation}".strip() for c in result.checks if not c.passed]
    if result.outcome:
        if not result.outcome.ok and result.outcome.summary:
            out.append(f"executor: {result.outcome.summary}")
        out += [o for o in result.outcome.observations[:5]]
    if result.error:
        out.append(result.error)
    return out


class StepDecider:
    """Runs a step's attempts and acts on each verdict (may leave a question pending)."""

    def __init__(self, *, runner: StepRunner, journal: Journal, revisions: RevisionDesk) -> None:
        self.runner = runner
        self.journal = journal
        self.revisions = revisions

    def run(self, rec: RunRecord, step: Step, cancel: CancelToken) -> None:
        """Attempts (first + one retry), then decides; may leave a question pending."""
        retry_obs: str | None = None
        while True:
            verdict = self.runner.attempt(rec, step, retry_obs, cancel)
            evidence = evidence_of(verdict.result)
            trigger: Trigger
            match verdict:
                case Blocked(why=why):
                    trigger, reason = "step_unreachable", f"step {step.id!r} is blocked: {why}"
                case Passed(surprising=True, why=why):
                    trigger = "unexpected_state"
                    reason = f"step {step.id!r} passed but found something unexpected: {why}"
                case Passed():
                    self._decision_points(rec, step, cancel)
                    return
                case Failed() if rec.plan.mode == "joint":
                    # never retried, never looped: one escalation to a split re-plan,
                    # which (like every re-plan) a person approves
                    trigger = "check_failed"
                    reason = (
                        f"the joint run of {step.id!r} did not pass its checks; "
                        "escalating to a split plan"
                    )
                case Failed() if step.attempts < MAX_ATTEMPTS:
                    outcome = verdict.result.outcome
                    retry_obs = "\n".join(evidence) or (outcome.summary if outcome else "")
                    self.journal.event(Retry(step_id=step.id, observation=retry_obs))
                    continue
                case Failed():
                    trigger = "repeated_failure"
                    reason = f"step {step.id!r} failed {step.attempts} times"
            self.revisions.propose(rec, trigger, reason, evidence, failing=step, cancel=cancel)
            return

    def _decision_points(self, rec: RunRecord, step: Step, cancel: CancelToken) -> None:
        for dp in rec.plan.decision_points:
            if dp.after_step != step.id:
                continue
            why = f"decision point after {step.id!r}: {dp.condition or 'reached'}"
            self.journal.event(DecisionPointReached(step_id=step.id, action=dp.action))
            if dp.action == "complete":
                for s in rec.plan.steps:
                    if s.status not in ("passed", "skipped"):
                        s.status = "skipped"
                self.journal.save(rec)
                self.journal.end(rec, "done", why)
            if dp.action == "pause":
                rec.pending = Pending(kind="pause", reason=why, step_id=step.id)
                self.journal.save(rec)
                return
            self.revisions.propose(rec, "user_requested", why, [], failing=None, cancel=cancel)
            return

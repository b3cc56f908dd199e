"""Questions for a person: asking the approver, and applying the answer.

A question is persisted first (``rec.pending``, run.json) and only then asked, so when
nobody can answer now (the approver returns None) the run stops ``awaiting_approval``
and the answer may come later from another process (CLI ``approve``, the editor).

What each answer does:
- plan review: approve → the plan may run; reject with feedback → the planner gets
  the feedback and proposes again; plain reject → the run stops.
- re-plan: approve → the proposal becomes the plan; reject with feedback → another
  proposal (against the re-plan budget); plain reject → the run stops.
- pause: approve → the pause step passes; reject → the run stops.
- budget: approve → one more budget's worth of dollars; reject → the run stops. The
  question is raised here too (:meth:`ask_budget`), before a step would spend more.

Commands the workspace policy asks about are asked here too (:meth:`command_gate`),
but are not persisted: the executor is waiting on the answer mid-step.
"""

from __future__ import annotations

import json
from typing import Any

from planloop.approvals import ApprovalRequest, Approver, Decision
from planloop.cancel import CancelToken
from planloop.config import Config
from planloop.document.markdown import render_markdown
from planloop.document.plan import Outcome, Step, StepResult
from planloop.errors import InvalidRequestError
from planloop.events import (
    ApprovalGiven,
    ApprovalRequested,
    ApprovalWaiting,
    BudgetReached,
    CommandApproval,
    CommandApprovalRequested,
    CommandRefused,
    PauseReached,
)
from planloop.loop.journal import Journal, RunResult
from planloop.loop.revisions import RevisionDesk
from planloop.state.record import Pending, RunRecord
from planloop.workspace.files import Workspace


class ApprovalDesk:
    def __init__(
        self,
        *,
        config: Config,
        ws: Workspace,
        journal: Journal,
        approver: Approver,
        revisions: RevisionDesk,
    ) -> None:
        self.config = config
        self.ws = ws
        self.journal = journal
        self.approver = approver
        self.revisions = revisions

    def ask_budget(self, rec: RunRecord) -> bool:
        """Leave a budget question pending when the run has spent what it was allowed:
        dollars (priced models), or tokens (``budgets.tokens``, any model)."""
        tokens_cap = self.config.budgets.tokens
        if tokens_cap is not None:
            allowed_t = rec.tokens_allowed if rec.tokens_allowed is not None else tokens_cap
            used = rec.usage.tokens
            if used >= allowed_t:
                self.journal.event(
                    BudgetReached(
                        spent_usd=rec.cost_usd,
                        allowed_usd=self.config.budgets.usd,
                        spent_tokens=used,
                        allowed_tokens=allowed_t,
                    )
                )
                rec.pending = Pending(
                    kind="budget",
                    reason=f"the run has used {used:,} of its {allowed_t:,} tokens; "
                    f"approve to allow another {tokens_cap:,}",
                )
                self.journal.save(rec)
                return True
        allowed = rec.usd_allowed if rec.usd_allowed is not None else self.config.budgets.usd
        spent = rec.cost_usd
        if spent < allowed:
            return False
        self.journal.event(BudgetReached(spent_usd=spent, allowed_usd=allowed))
        rec.pending = Pending(
            kind="budget",
            reason=f"the run has spent ${spent:.2f} of its ${allowed:.2f} budget; "
            f"approve to allow another ${self.config.budgets.usd:.2f}",
        )
        self.journal.save(rec)
        return True

    def ask_pause(self, rec: RunRecord, step: Step) -> None:
        """A pause step was reached: a person must act or decide before the run goes on."""
        self.journal.event(PauseReached(step_id=step.id))
        step.status = "awaiting_approval"
        rec.pending = Pending(kind="pause", reason=step.instructions or step.title, step_id=step.id)
        self.journal.save(rec)

    def answer_pending(self, rec: RunRecord, cancel: CancelToken) -> RunResult | None:
        """Ask the approver; None means the question was answered and the loop goes on."""
        assert rec.pending is not None
        req = _request(rec)
        self.journal.event(
            ApprovalRequested(
                kind=req.kind, reason=req.reason, version=req.version, step_id=req.step_id
            )
        )
        rec.state = "awaiting_approval"
        rec.reason = f"{req.kind} awaits approval: {req.reason}"
        self.journal.save(rec)
        decision = self.approver.ask(req, cancel)
        if decision is None:
            self.journal.event(ApprovalWaiting(kind=req.kind))
            return RunResult("awaiting_approval", rec.reason, rec.pending.step_id)
        self.apply(rec, decision, cancel)
        return None

    def apply(self, rec: RunRecord, d: Decision, cancel: CancelToken) -> None:
        """Act on the answer to what is pending; may leave a new question, or end the run."""
        p = rec.pending
        assert p is not None
        self.journal.event(
            ApprovalGiven(
                kind=p.kind,
                approve=d.approve,
                by=d.by,
                feedback=d.feedback,
                version=p.version,
                step_id=p.step_id,
            )
        )
        rec.pending = None
        if p.kind == "plan":
            self._plan_review(rec, d, cancel)
        elif p.kind == "revision":
            self._revision(rec, p, d, cancel)
        elif p.kind == "pause":
            self._pause(rec, p, d)
        elif p.kind == "budget":
            self._budget(rec, d)

    def _plan_review(self, rec: RunRecord, d: Decision, cancel: CancelToken) -> None:
        if d.approve:
            rec.plan_approved = True
            rec.state, rec.reason = "idle", f"plan v{rec.plan.version} approved by {d.by}"
            self.journal.save(rec)
            return
        if d.feedback:
            self.journal.save(rec)
            self.revisions.propose(
                rec,
                "user_requested",
                "the user rejected the plan",
                [],
                failing=None,
                cancel=cancel,
                feedback=d.feedback,
            )
            return
        self.journal.end(rec, "stopped", f"plan v{rec.plan.version} rejected by {d.by}")

    def _revision(self, rec: RunRecord, p: Pending, d: Decision, cancel: CancelToken) -> None:
        assert p.proposal is not None
        if d.approve:
            self.revisions.accept(rec, p.proposal, d.by, d.feedback)
            return
        if d.feedback:
            failing = (
                rec.plan.step(p.step_id) if p.step_id and rec.plan.has_step(p.step_id) else None
            )
            self.journal.save(rec)
            self.revisions.propose(
                rec,
                p.trigger or "user_requested",
                p.reason,
                p.evidence,
                failing=failing,
                cancel=cancel,
                feedback=d.feedback,
                new_goal=p.proposal.goal if p.trigger == "goal_changed" else None,
            )
            return
        self.journal.end(rec, "stopped", f"re-plan v{p.version} rejected by {d.by}")

    def _pause(self, rec: RunRecord, p: Pending, d: Decision) -> None:
        if d.approve:
            if p.step_id and rec.plan.has_step(p.step_id):
                s = rec.plan.step(p.step_id)
                if s.kind == "pause" and s.status == "awaiting_approval":
                    s.status = "passed"
                    s.result = StepResult(outcome=Outcome(ok=True, summary=f"approved by {d.by}"))
            rec.state, rec.reason = "idle", f"pause approved by {d.by}"
            self.journal.save(rec)
            return
        self.journal.end(
            rec,
            "stopped",
            f"pause not approved by {d.by}" + (f": {d.feedback}" if d.feedback else ""),
        )

    def _budget(self, rec: RunRecord, d: Decision) -> None:
        cap = self.config.budgets.tokens
        allowed_t = rec.tokens_allowed if rec.tokens_allowed is not None else cap
        over_tokens = allowed_t is not None and rec.usage.tokens >= allowed_t
        if d.approve:
            if over_tokens and cap is not None:
                rec.tokens_allowed = rec.usage.tokens + cap
                rec.state = "idle"
                rec.reason = f"token budget raised to {rec.tokens_allowed:,} by {d.by}"
            else:
                rec.usd_allowed = rec.cost_usd + self.config.budgets.usd
                rec.state = "idle"
                rec.reason = f"budget raised to ${rec.usd_allowed:.2f} by {d.by}"
            self.journal.save(rec)
            return
        what = (
            f"token budget reached ({rec.usage.tokens:,} tokens)"
            if over_tokens
            else f"dollar budget reached (${rec.cost_usd:.2f})"
        )
        self.journal.end(
            rec,
            "stopped",
            f"{what}; {rec.plan.progress[0]}/{rec.plan.progress[1]} steps passed",
        )

    def command_gate(self, command: str) -> str | None:
        """The policy of the workspace decides; "ask" goes to a person (None → refused)."""
        decision = self.ws.policy.decide(command)
        if decision.verdict == "allow":
            return None
        if decision.verdict == "deny":
            self.journal.event(CommandRefused(command=command))
            return f"refused by the command policy: {decision.reason}"
        req = ApprovalRequest(
            kind="command",
            plan_id=self.journal.plan_id or "",
            command=command,
            reason=f"the executor wants to run a command that needs your approval: {decision.reason}",
        )
        self.journal.event(CommandApprovalRequested(command=command))
        d = self.approver.ask(req, None)
        self.journal.event(
            CommandApproval(command=command, approve=bool(d and d.approve), by=d.by if d else None)
        )
        if d is not None and d.approve:
            return None
        return "the user did not allow this command" + (
            f": {d.feedback}" if d and d.feedback else ""
        )

    def tool_gate(self, tool: str, arguments: dict[str, Any]) -> str | None:
        """An executor's MCP call not on the allow list: a person decides, as for a
        command the policy asks about (the same request, events and front-end prompts)."""
        shown = f"{tool} {json.dumps(arguments, ensure_ascii=False, sort_keys=True)}"
        if len(shown) > 500:
            shown = shown[:499] + "…"
        req = ApprovalRequest(
            kind="command",
            plan_id=self.journal.plan_id or "",
            command=shown,
            reason=f"the executor wants to call the MCP tool {tool}, which is not on the "
            "allow list ([mcp] allow)",
        )
        self.journal.event(CommandApprovalRequested(command=shown))
        d = self.approver.ask(req, None)
        self.journal.event(
            CommandApproval(command=shown, approve=bool(d and d.approve), by=d.by if d else None)
        )
        if d is not None and d.approve:
            return None
        return "the user did not allow this call" + (f": {d.feedback}" if d and d.feedback else "")

    def mcp_consent(self, question: str) -> bool | None:
        """May the project's MCP config start its servers? Asked like a command; nobody
        there (None) is a no for now: the run goes on without those servers. ``--yes``'s
        automatic refusal is nobody there too, not a "no" the consent file would keep."""
        req = ApprovalRequest(
            kind="command",
            plan_id=self.journal.plan_id or "",
            command=question,
            reason="this workspace's MCP config (.mcp.json or .vscode/mcp.json) would start "
            "these servers; a repository could plant one, so planloop asks once",
        )
        d = self.approver.ask(req, None)
        return None if d is None or d.automatic else d.approve


def replans(p: Pending | None, approve: bool, feedback: str | None) -> bool:
    """Whether this answer sends the planner back to work: a plan or a re-plan rejected
    with feedback (what :meth:`ApprovalDesk.apply` does with it)."""
    return p is not None and p.kind in ("plan", "revision") and not approve and bool(feedback)


def check_answerable(
    p: Pending | None, kind: str | None, *, version: int | None, step_id: str | None
) -> None:
    """Refuse an answer to a question that is not the one waiting.

    ``kind``: "revision" (must be re-plan ``version``), "pause" (a pause of ``step_id``;
    also answers a plan review or a budget question), or None (whatever waits).
    """
    if p is None:
        raise InvalidRequestError("nothing awaits a decision")
    if kind == "revision" and (p.kind != "revision" or p.version != version):
        raise InvalidRequestError(
            f"no re-plan v{version} awaits a decision"
            + (f" (pending: {p.kind}" + (f" v{p.version})" if p.version else ")"))
        )
    if kind == "pause":
        if p.kind not in ("pause", "budget", "plan"):
            raise InvalidRequestError(f"no pause awaits approval (pending: {p.kind})")
        if p.kind == "pause" and p.step_id != step_id:
            raise InvalidRequestError(f"step {step_id!r} is not the one paused ({p.step_id!r})")


def _request(rec: RunRecord) -> ApprovalRequest:
    p = rec.pending
    assert p is not None
    return ApprovalRequest(
        kind=p.kind,
        plan_id=rec.plan.plan_id,
        reason=p.reason,
        evidence=list(p.evidence),
        current_markdown=render_markdown(rec.plan),
        proposed_markdown=render_markdown(p.proposal) if p.proposal else None,
        version=p.version,
        step_id=p.step_id,
    )

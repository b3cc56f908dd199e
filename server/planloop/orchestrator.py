"""The orchestrator: plain code that holds the plan and decides what happens next.

Loop (DESIGN §3): next runnable step → checkpoint before → executor → checkpoint after
→ acceptance + workspace checks → decide: pass, retry once with the condensed failure,
re-plan (repeated failure, surprise, blocked, decision point, user request), pause for
a person, or stop with a partial result and a reason.

Every transition is logged before it is acted on and the run record is saved after it,
so a crash anywhere resumes consistently: a step found ``running`` is reported with its
partial diff, its files are put back to the before-checkpoint, and it runs again.

Departures from DESIGN, on purpose:
- A rejected proposal *with feedback* goes back to the planner for another proposal
  (counting against the re-plan budget); a plain reject stops the run. Feedback is
  only useful if someone acts on it.
- Workspace checks fail a step only when they were green before ("a suite that was
  green and turns red"); a suite that was already red is reported, not blamed on the step.
- A cancelled step attempt is rolled back to its before-checkpoint (file by file, never
  over a user's later edit) and the step returns to ``pending``: resumable, and the
  next attempt starts from the state the step was planned against.

This module imports no SDK, pygls or CLI code: models, workspace, checkpoints, store,
approver and event sink are passed in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

from .approvals import ApprovalRequest, Approver, Decision
from .cancel import Cancelled, CancelToken
from .checkpoints import CheckpointStore, FileDiff, RevertResult
from .checks import run_checks
from .config import Config
from .errors import InvalidRequestError, PlanloopError, UnknownStepError
from .events import (
    ApprovalGiven,
    ApprovalRequested,
    ApprovalWaiting,
    BaselineStarted,
    BudgetReached,
    CheckRan,
    CommandApproval,
    CommandApprovalRequested,
    CommandRefused,
    DecisionPointReached,
    Event,
    EventSink,
    PauseReached,
    PlanCreated,
    Planning,
    PlanVersionRecorded,
    Recovered,
    RecoveredRestore,
    ReplanStarted,
    Retry,
    Reverted,
    RevertStarted,
    RevisionProposed,
    Saved,
    StateChanged,
    StepCancelled,
    StepError,
    StepFinished,
    StepStarted,
    UnsavedBuffer,
)
from .executor import Executor
from .ledger import Ledger
from .models.base import Model, ModelError
from .plan import (
    Check,
    CheckResult,
    Outcome,
    Plan,
    RoleUsage,
    Step,
    StepResult,
    Trigger,
    now_iso,
    render_markdown,
)
from .planner import Planner, PlannerError
from .store import Pending, PlanStore, RunRecord, RunState
from .workspace import UnsavedBufferError, Workspace

log = logging.getLogger(__name__)

ModelFactory = Callable[[], Model]

MAX_ATTEMPTS = 2  # the first try and one retry with the observation; then re-plan


@dataclass
class RunResult:
    """``step_id``: the step a question waits on, else the last step this call ran."""

    state: RunState
    reason: str
    step_id: str | None = None


ReplanDecision = Literal["pending", "approved", "rejected"]


@dataclass
class ReplanResult(RunResult):
    """What a requested re-plan came to.

    ``proposal``: the newest revision the call saw (the one it proposed, or one that
    already waited when the planner could not propose); None when none was proposed.
    ``decision``: whether that proposal still awaits an answer, became the plan, or
    was turned down (None with no proposal).
    """

    proposal: Plan | None = None
    decision: ReplanDecision | None = None


@dataclass
class Status:
    plan: Plan
    state: RunState
    reason: str
    pending: Pending | None
    cost_usd: float
    replans_used: int
    planner_usage: RoleUsage

    @classmethod
    def of(cls, rec: RunRecord) -> Status:
        return cls(
            plan=rec.plan,
            state=rec.state,
            reason=rec.reason,
            pending=rec.pending,
            cost_usd=rec.cost_usd,
            replans_used=rec.replans_used,
            planner_usage=rec.planner_usage,
        )


class _Stop(Exception):
    """Internal: end the current run with this result (already persisted)."""

    def __init__(self, result: RunResult) -> None:
        self.result = result


class Orchestrator:
    def __init__(
        self,
        *,
        root: Path,
        config: Config,
        store: PlanStore,
        workspace: Workspace,
        checkpoints: CheckpointStore,
        planner_model: ModelFactory,
        executor_model: ModelFactory,
        approver: Approver,
        sink: EventSink | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.store = store
        self.ws = workspace
        self.cp = checkpoints
        self._planner_model = planner_model
        self._executor_model = executor_model
        self.approver = approver
        self.sink = sink
        #: every model turn's cost, charged as billed; calls read theirs from a tab
        self.ledger = Ledger()
        self._planner: Planner | None = None
        self._executor: Executor | None = None
        self._plan_id: str | None = None
        #: the step whose attempt started last in this run() call, for RunResult.step_id
        self._last_started: str | None = None
        #: the newest revision proposal seen in this replan() call, for ReplanResult
        self._proposed: Plan | None = None

    # --- wiring ---------------------------------------------------------------------------

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            self._planner = Planner(
                self._planner_model(),
                self.ws,
                max_turns=self.config.budgets.planner_turns,
                max_invalid=self.config.budgets.plan_attempts,
                max_tokens=self.config.max_tokens,
                on_event=self._event,
                ledger=self.ledger,
            )
        return self._planner

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = Executor(
                self._executor_model(),
                self.ws,
                max_turns=self.config.budgets.executor_turns,
                command_gate=self._command_gate,
                command_timeout_s=self.config.command_timeout_s,
                max_tokens=self.config.max_tokens,
                on_event=self._event,
                ledger=self.ledger,
            )
        return self._executor

    def _event(self, event: Event) -> None:
        """Log first (durable), then tell the front end."""
        if self._plan_id is not None:
            self.store.log(self._plan_id, event)
        self._tell(event)

    def _tell(self, event: Event) -> None:
        if self.sink is not None:
            try:
                self.sink(event)
            except Exception:  # a front end's failure must not break the run
                log.exception("event sink failed")

    def _save(self, rec: RunRecord) -> None:
        self.store.save(rec)
        self._tell(Saved(plan_id=rec.plan.plan_id))

    def _set_state(self, rec: RunRecord, state: RunState, reason: str = "") -> RunResult:
        self._event(StateChanged(state=state, reason=reason))
        rec.state = state
        rec.reason = reason
        self._save(rec)
        return RunResult(state, reason)

    # --- queries --------------------------------------------------------------------------

    def current_plan(self) -> Plan | None:
        rec = self.store.load_or_none()
        return rec.plan if rec else None

    def _load(self) -> RunRecord:
        rec = self.store.load()
        self._plan_id = rec.plan.plan_id
        return rec

    def status(self) -> Status:
        return Status.of(self._load())

    # --- planning -------------------------------------------------------------------------

    def create_plan(self, goal: str, cancel: CancelToken | None = None) -> Plan:
        with self.store.run_lock():
            self._plan_id = None
            self._event(Planning(goal=goal))
            with self.ledger.tab("planner") as tab:
                try:
                    plan = self.planner.plan(goal, cancel)
                except ModelError as e:
                    raise PlanloopError(f"planning failed: {e.message}") from e
                except Cancelled as e:
                    raise PlanloopError("planning cancelled; no plan was written") from e
            usage = tab.usage
            self.store.ensure()
            self._plan_id = plan.plan_id
            rec = RunRecord(plan=plan, planner_usage=usage, usd_allowed=self.config.budgets.usd)
            self._event(
                PlanCreated(
                    plan_id=plan.plan_id,
                    version=1,
                    goal=plan.goal,
                    steps=[s.id for s in plan.steps],
                    cost_usd=usage.cost_usd,
                )
            )
            self.store.write_version(plan)
            if self.config.review_plan_first:
                rec.pending = Pending(
                    kind="plan", reason=f"review plan v1 ({len(plan.steps)} steps) before it runs"
                )
                rec.state = "awaiting_approval"
                rec.reason = "plan v1 awaits review"
            else:
                rec.plan_approved = True
            self._save(rec)
            # only now: "current" must never name a plan without a run record
            self.store.set_current(plan.plan_id)
            return plan

    # --- running --------------------------------------------------------------------------

    def run(
        self,
        *,
        step_id: str | None = None,
        all_steps: bool = False,
        cancel: CancelToken | None = None,
        plan_reviewed_by: str | None = None,
    ) -> RunResult:
        """Run one step (the next runnable, or ``step_id``) or, with ``all_steps``, to the end.

        ``plan_reviewed_by``: the front end showed the plan and the person chose to run
        it (the editor's Run buttons); that answers a pending plan review, recorded as
        an approval by that name, instead of asking a second time.
        """
        cancel = cancel or CancelToken()
        with self.store.run_lock():
            rec = self._load()
            if step_id is not None and not rec.plan.has_step(step_id):
                raise UnknownStepError(step_id, [s.id for s in rec.plan.steps])
            self._last_started = None
            if rec.state == "running":
                self._recover(rec)
            try:
                if plan_reviewed_by and rec.pending is not None and rec.pending.kind == "plan":
                    self._apply(rec, Decision(True, plan_reviewed_by), cancel)
                res = self._loop(rec, step_id, all_steps, cancel)
            except _Stop as s:
                res = s.result
            res.step_id = res.step_id or self._last_started or step_id
            return res

    def _loop(
        self, rec: RunRecord, step_id: str | None, all_steps: bool, cancel: CancelToken
    ) -> RunResult:
        ran_one = False
        while True:
            step: Step | None
            if rec.pending is not None:
                res = self._answer_pending(rec, cancel)
                if res is not None:
                    return res
                continue
            if ran_one and not all_steps:
                if rec.plan.complete:
                    return self._set_state(rec, "done", "every step passed")
                return self._set_state(rec, "idle", "step finished")
            if step_id is not None and not ran_one:
                step = rec.plan.step(step_id)
                missing = [
                    d
                    for d in step.depends_on
                    if rec.plan.step(d).status not in ("passed", "skipped")
                ]
                if missing:
                    raise InvalidRequestError(
                        f"step {step_id!r} cannot run yet: it depends on {', '.join(missing)}"
                    )
                if step.status in ("passed", "skipped"):
                    raise InvalidRequestError(f"step {step_id!r} already {step.status}")
            else:
                step = rec.plan.next_runnable()
            if step is None:
                if rec.plan.complete:
                    return self._set_state(rec, "done", "every step passed")
                stuck = [s.id for s in rec.plan.steps if s.status not in ("passed", "skipped")]
                return self._set_state(
                    rec,
                    "stopped",
                    f"no step can run: {', '.join(stuck)} wait on steps that did not pass",
                )
            if not rec.plan_approved:
                rec.pending = Pending(
                    kind="plan", reason=f"review plan v{rec.plan.version} before it runs"
                )
                self._save(rec)
                continue
            if self._over_budget(rec):
                continue
            if step.kind == "pause":
                self._event(PauseReached(step_id=step.id))
                step.status = "awaiting_approval"
                rec.pending = Pending(
                    kind="pause", reason=step.instructions or step.title, step_id=step.id
                )
                self._save(rec)
                ran_one = True
                continue
            self._run_step(rec, step, cancel)
            ran_one = True

    def _over_budget(self, rec: RunRecord) -> bool:
        allowed = rec.usd_allowed if rec.usd_allowed is not None else self.config.budgets.usd
        spent = rec.cost_usd
        if spent < allowed:
            return False
        self._event(BudgetReached(spent_usd=spent, allowed_usd=allowed))
        rec.pending = Pending(
            kind="budget",
            reason=f"the run has spent ${spent:.2f} of its ${allowed:.2f} budget; "
            f"approve to allow another ${self.config.budgets.usd:.2f}",
        )
        self._save(rec)
        return True

    def _run_step(self, rec: RunRecord, step: Step, cancel: CancelToken) -> None:
        """Attempts (first + one retry), then decides; may leave a question pending."""
        retry_obs: str | None = None
        while True:
            self._check_buffers(rec, step)
            result = self._attempt(rec, step, retry_obs, cancel)
            outcome = result.outcome
            assert outcome is not None
            failed_checks = [c for c in result.checks if not c.passed and self._counts(rec, c)]
            if outcome.blocked:
                step.status = "blocked"
                self._finish(rec, step)
                self._propose(
                    rec,
                    "step_unreachable",
                    f"step {step.id!r} is blocked: {outcome.blocked_why}",
                    _evidence(result),
                    failing=step,
                    cancel=cancel,
                )
                return
            if outcome.ok and not failed_checks:
                step.status = "passed"
                self._update_baseline(rec, result.checks)
                self._finish(rec, step)
                if outcome.surprising:
                    self._propose(
                        rec,
                        "unexpected_state",
                        f"step {step.id!r} passed but found something unexpected: {outcome.surprising_why}",
                        _evidence(result),
                        failing=step,
                        cancel=cancel,
                    )
                    return
                self._decision_points(rec, step, cancel)
                return
            step.status = "failed"
            self._finish(rec, step)
            if step.attempts < MAX_ATTEMPTS:
                retry_obs = "\n".join(_evidence(result)) or outcome.summary
                self._event(Retry(step_id=step.id, observation=retry_obs))
                continue
            self._propose(
                rec,
                "repeated_failure",
                f"step {step.id!r} failed {step.attempts} times",
                _evidence(result),
                failing=step,
                cancel=cancel,
            )
            return

    def _check_buffers(self, rec: RunRecord, step: Step) -> None:
        """Refuse before the executor starts if an editor holds unsaved changes to a step file."""
        for rel in step.files:
            try:
                path = self.ws.resolve(rel)
            except Exception:
                continue
            try:
                self.ws.check_buffer(path)
            except UnsavedBufferError as e:
                self._event(UnsavedBuffer(step_id=step.id, path=rel))
                raise _Stop(self._set_state(rec, "paused", str(e))) from e

    def _attempt(
        self, rec: RunRecord, step: Step, retry_obs: str | None, cancel: CancelToken
    ) -> StepResult:
        if step.kind == "edit":
            self._ensure_baseline(rec, cancel)
        attempt = step.attempts + 1
        prior = (step.result.usage.get("executor") if step.result else None) or RoleUsage()
        self._event(StepStarted(step_id=step.id, attempt=attempt, title=step.title))
        self._last_started = step.id
        step.status = "running"
        step.attempts = attempt
        rec.state = "running"
        rec.reason = f"running {step.id}"
        self._save(rec)
        pid = rec.plan.plan_id
        base = f"refs/planloop/{pid}/{step.id}/{attempt}"
        before = self.cp.snapshot(f"before {step.id} attempt {attempt}", ref=f"{base}/before")
        step.result = StepResult(
            checkpoint_before=before, usage={"executor": prior}, cost_usd=prior.cost_usd
        )
        self._save(rec)
        t0 = time.monotonic()
        with self.ledger.tab("executor") as tab:
            try:
                outcome = self.executor.run(
                    rec.plan, step, retry_observation=retry_obs, cancel=cancel
                )
            except Cancelled:
                self._cancelled(rec, step, before, base, tab.usage)
            except ModelError as e:
                self._model_failed(rec, step, e, before, base, prior.add(tab.usage), t0)
        usage = tab.usage  # this attempt's turns
        after = self.cp.snapshot(f"after {step.id} attempt {attempt}", ref=f"{base}/after")
        changes = self.cp.changes(before, after)
        checks: list[CheckResult] = []
        if not outcome.blocked:
            try:
                checks = run_checks(step, self.ws, self._workspace_checks(step), cancel)
            except Cancelled:
                self._cancelled(rec, step, before, base, usage)
            if cancel.cancelled:  # a cancelled check is not a failed step
                self._cancelled(rec, step, before, base, usage)
            for c in checks:
                self._event(
                    CheckRan(
                        step_id=step.id,
                        passed=c.passed,
                        check=c.check.label(),
                        observation=c.observation,
                        workspace_check=c.workspace_check,
                    )
                )
        step.result = StepResult(
            outcome=outcome,
            checks=checks,
            files_changed=changes,
            checkpoint_before=before,
            checkpoint_after=after,
            usage={"executor": prior.add(usage)},
            cost_usd=prior.add(usage).cost_usd,
            duration_s=round(time.monotonic() - t0, 3),
        )
        return step.result

    def _model_failed(
        self,
        rec: RunRecord,
        step: Step,
        e: ModelError,
        before: str,
        base: str,
        spent: RoleUsage,
        t0: float,
    ) -> NoReturn:
        """The model failed, not the step: the attempt does not count; the run pauses."""
        attempt = step.attempts
        after = self.cp.snapshot(
            f"after {step.id} attempt {attempt} (model error)", ref=f"{base}/after"
        )
        step.result = StepResult(
            checkpoint_before=before,
            checkpoint_after=after,
            error=e.message,
            files_changed=self.cp.changes(before, after),
            duration_s=round(time.monotonic() - t0, 3),
            usage={"executor": spent},
            cost_usd=spent.cost_usd,
        )
        step.status = "failed"
        step.attempts -= 1
        self._event(StepError(step_id=step.id, error=e.message, kind=e.kind))
        state: RunState = "paused" if e.retryable else "error"
        raise _Stop(
            self._set_state(rec, state, f"the executor's model call failed: {e.message}")
        ) from e

    def _cancelled(
        self,
        rec: RunRecord,
        step: Step,
        before: str,
        base: str,
        usage: RoleUsage | None = None,
    ) -> NoReturn:
        """``usage``: what this attempt's model calls cost before the cancel (still paid)."""
        after = self.cp.snapshot(f"after {step.id} (cancelled)", ref=f"{base}/after")
        undone = self.cp.revert(before, after)
        self._event(
            StepCancelled(
                step_id=step.id,
                restored=list(undone.restored),
                conflicts=[c.path for c in undone.conflicts],
            )
        )
        step.status = "pending"
        step.attempts -= 1
        spent = dict(step.result.usage) if step.result else {}
        if usage is not None:
            spent["executor"] = spent.get("executor", RoleUsage()).add(usage)
        step.result = StepResult(
            checkpoint_before=before,
            checkpoint_after=after,
            error="cancelled by the user",
            usage=spent,
            cost_usd=sum(u.cost_usd for u in spent.values()),
        )
        raise _Stop(
            self._set_state(
                rec, "cancelled", f"step {step.id!r} cancelled; its edits were rolled back"
            )
        )

    def _finish(self, rec: RunRecord, step: Step) -> None:
        r = step.result
        self._event(
            StepFinished(
                step_id=step.id,
                status=step.status,
                attempt=step.attempts,
                cost_usd=r.cost_usd if r else 0.0,
                files=[f.path for f in r.files_changed] if r else [],
            )
        )
        rec.state = "running"
        self._save(rec)

    # --- workspace checks -------------------------------------------------------------------

    def _workspace_checks(self, step: Step | None = None) -> list[Check]:
        """The configured suite, minus commands the step's own checks already ran."""
        own = {c.command for c in step.acceptance if c.command} if step else set()
        return [
            Check(
                kind="command",
                command=c,
                description=f"workspace check `{c}`",
                timeout_s=self.config.check_timeout_s,
            )
            for c in self.config.workspace_checks
            if c not in own
        ]

    def _ensure_baseline(self, rec: RunRecord, cancel: CancelToken) -> None:
        """Whether each workspace check was green before planloop touched anything."""
        if not self.config.workspace_checks or rec.workspace_baseline:
            return
        self._event(BaselineStarted(checks=list(self.config.workspace_checks)))
        baseline: dict[str, bool] = {}
        for check in self._workspace_checks():
            res = self.ws.run(check.command or "", timeout_s=check.timeout_s, cancel=cancel)
            if res.cancelled or cancel.cancelled:
                # an interrupted run says nothing about the suite; recording it as red
                # would let a step that breaks a green suite pass
                raise _Stop(self._set_state(rec, "cancelled", "cancelled before the step started"))
            baseline[check.command or ""] = res.ok
        rec.workspace_baseline.update(baseline)

    def _counts(self, rec: RunRecord, c: CheckResult) -> bool:
        if not c.workspace_check:
            return True
        return rec.workspace_baseline.get(c.check.command or "", True)

    def _update_baseline(self, rec: RunRecord, checks: list[CheckResult]) -> None:
        for c in checks:
            if c.workspace_check and c.passed:
                rec.workspace_baseline[c.check.command or ""] = True

    # --- decision points and re-plans --------------------------------------------------------

    def _decision_points(self, rec: RunRecord, step: Step, cancel: CancelToken) -> None:
        for dp in rec.plan.decision_points:
            if dp.after_step != step.id:
                continue
            why = f"decision point after {step.id!r}: {dp.condition or 'reached'}"
            self._event(DecisionPointReached(step_id=step.id, action=dp.action))
            if dp.action == "complete":
                for s in rec.plan.steps:
                    if s.status not in ("passed", "skipped"):
                        s.status = "skipped"
                self._save(rec)
                raise _Stop(self._set_state(rec, "done", why))
            if dp.action == "pause":
                rec.pending = Pending(kind="pause", reason=why, step_id=step.id)
                self._save(rec)
                return
            self._propose(rec, "user_requested", why, [], failing=None, cancel=cancel)
            return

    def _propose(
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
        budget = self.config.budgets.replans
        if rec.replans_used >= budget:
            raise _Stop(
                self._set_state(
                    rec,
                    "stopped",
                    f"re-plan budget ({budget}) exhausted; last trigger: {reason}. "
                    f"{rec.plan.progress[0]}/{rec.plan.progress[1]} steps passed",
                )
            )
        self._event(ReplanStarted(trigger=trigger, reason=reason, evidence=list(evidence)))
        rec.state = "running"
        rec.reason = f"re-planning ({trigger})"
        self._save(rec)
        try:
            with self.ledger.tab("planner") as tab:
                proposal = self.planner.replan(
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
                raise _Stop(self._set_state(rec, "cancelled", "re-planning cancelled")) from e
            msg = e.message if isinstance(e, ModelError) else str(e)
            raise _Stop(self._set_state(rec, "error", f"re-planning failed: {msg}")) from e
        usage = tab.usage
        rec.planner_usage = rec.planner_usage.add(usage)
        rec.replans_used += 1
        self._proposed = proposal.model_copy(deep=True)
        self._event(
            RevisionProposed(
                version=proposal.version,
                trigger=trigger,
                reason=proposal.revision.reason if proposal.revision else reason,
                evidence=list(evidence),
                cost_usd=usage.cost_usd,
            )
        )
        rec.pending = Pending(
            kind="revision",
            reason=proposal.revision.reason if proposal.revision else reason,
            evidence=evidence,
            version=proposal.version,
            trigger=trigger,
            proposal=proposal,
            step_id=failing.id if failing else None,
        )
        rec.state = "awaiting_approval"
        rec.reason = f"re-plan v{proposal.version} awaits approval"
        self._save(rec)

    # --- approvals ----------------------------------------------------------------------------

    def _request(self, rec: RunRecord) -> ApprovalRequest:
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

    def _answer_pending(self, rec: RunRecord, cancel: CancelToken) -> RunResult | None:
        """Ask the approver; None means the question was answered and the loop goes on."""
        assert rec.pending is not None
        req = self._request(rec)
        self._event(
            ApprovalRequested(
                kind=req.kind, reason=req.reason, version=req.version, step_id=req.step_id
            )
        )
        rec.state = "awaiting_approval"
        rec.reason = f"{req.kind} awaits approval: {req.reason}"
        self._save(rec)
        decision = self.approver.ask(req, cancel)
        if decision is None:
            self._event(ApprovalWaiting(kind=req.kind))
            return RunResult("awaiting_approval", rec.reason, rec.pending.step_id)
        self._apply(rec, decision, cancel)
        return None

    def _apply(self, rec: RunRecord, d: Decision, cancel: CancelToken) -> None:
        p = rec.pending
        assert p is not None
        self._event(
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
            if d.approve:
                rec.plan_approved = True
                rec.state, rec.reason = "idle", f"plan v{rec.plan.version} approved by {d.by}"
                self._save(rec)
                return
            if d.feedback:
                self._save(rec)
                self._propose(
                    rec,
                    "user_requested",
                    "the user rejected the plan",
                    [],
                    failing=None,
                    cancel=cancel,
                    feedback=d.feedback,
                )
                return
            raise _Stop(
                self._set_state(rec, "stopped", f"plan v{rec.plan.version} rejected by {d.by}")
            )
        if p.kind == "revision":
            assert p.proposal is not None
            if d.approve:
                new = p.proposal.model_copy(deep=True)
                assert new.revision is not None
                new.revision.decided = "approved"
                new.revision.decided_by = d.by
                new.revision.decided_at = now_iso()
                new.revision.feedback = d.feedback or new.revision.feedback
                kept = {s.id for s in new.steps if s.status in ("passed", "skipped")}
                rec.spent_outside_steps = round(
                    rec.spent_outside_steps
                    + sum(
                        s.result.cost_usd for s in rec.plan.steps if s.result and s.id not in kept
                    ),
                    6,
                )
                self._event(
                    PlanVersionRecorded(version=new.version, steps=[s.id for s in new.steps])
                )
                new = self._record_version(new)
                rec.plan = new
                rec.plan_approved = True
                rec.state, rec.reason = "idle", f"plan v{new.version} approved by {d.by}"
                self._save(rec)
                return
            if d.feedback:
                failing = (
                    rec.plan.step(p.step_id) if p.step_id and rec.plan.has_step(p.step_id) else None
                )
                self._save(rec)
                self._propose(
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
            raise _Stop(self._set_state(rec, "stopped", f"re-plan v{p.version} rejected by {d.by}"))
        if p.kind == "pause":
            if d.approve:
                if p.step_id and rec.plan.has_step(p.step_id):
                    s = rec.plan.step(p.step_id)
                    if s.kind == "pause" and s.status == "awaiting_approval":
                        s.status = "passed"
                        s.result = StepResult(
                            outcome=Outcome(ok=True, summary=f"approved by {d.by}")
                        )
                rec.state, rec.reason = "idle", f"pause approved by {d.by}"
                self._save(rec)
                return
            raise _Stop(
                self._set_state(
                    rec,
                    "stopped",
                    f"pause not approved by {d.by}" + (f": {d.feedback}" if d.feedback else ""),
                )
            )
        if p.kind == "budget":
            if d.approve:
                rec.usd_allowed = rec.cost_usd + self.config.budgets.usd
                rec.state, rec.reason = "idle", f"budget raised to ${rec.usd_allowed:.2f} by {d.by}"
                self._save(rec)
                return
            raise _Stop(
                self._set_state(
                    rec,
                    "stopped",
                    f"dollar budget reached (${rec.cost_usd:.2f}); "
                    f"{rec.plan.progress[0]}/{rec.plan.progress[1]} steps passed",
                )
            )

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

    def _command_gate(self, command: str) -> str | None:
        """The policy of the workspace decides; "ask" goes to a person (None → refused)."""
        decision = self.ws.policy.decide(command)
        if decision.verdict == "allow":
            return None
        if decision.verdict == "deny":
            self._event(CommandRefused(command=command))
            return f"refused by the command policy: {decision.reason}"
        req = ApprovalRequest(
            kind="command",
            plan_id=self._plan_id or "",
            command=command,
            reason=f"the executor wants to run a command that needs your approval: {decision.reason}",
        )
        self._event(CommandApprovalRequested(command=command))
        d = self.approver.ask(req, None)
        self._event(
            CommandApproval(command=command, approve=bool(d and d.approve), by=d.by if d else None)
        )
        if d is not None and d.approve:
            return None
        return "the user did not allow this command" + (
            f": {d.feedback}" if d and d.feedback else ""
        )

    # --- user decisions from another process or the editor --------------------------------------

    def replan(
        self,
        *,
        reason: str | None = None,
        goal: str | None = None,
        cancel: CancelToken | None = None,
    ) -> ReplanResult:
        cancel = cancel or CancelToken()
        with self.store.run_lock():
            rec = self._load()
            waiting = rec.pending.proposal if rec.pending is not None else None
            self._proposed = waiting.model_copy(deep=True) if waiting is not None else None
            new_goal = goal.strip() if goal and goal.strip() != rec.plan.goal else None
            trigger: Trigger = "goal_changed" if new_goal else "user_requested"
            why = reason or (
                "the user changed the goal" if new_goal else "the user asked for a re-plan"
            )
            failing = next((s for s in rec.plan.steps if s.status in ("failed", "blocked")), None)
            try:
                self._propose(
                    rec,
                    trigger,
                    why,
                    _evidence(failing.result) if failing and failing.result else [],
                    failing=failing,
                    cancel=cancel,
                    new_goal=new_goal,
                )
                res = self._answer_pending(rec, cancel) or RunResult(rec.state, rec.reason)
            except _Stop as s:
                res = s.result
            return self._replan_result(rec, res)

    def _replan_result(self, rec: RunRecord, res: RunResult) -> ReplanResult:
        proposal = self._proposed
        decision: ReplanDecision | None = None
        if proposal is not None:
            if rec.pending is not None and rec.pending.kind == "revision":
                decision = "pending"
            elif (
                rec.plan.version == proposal.version
                and rec.plan.revision is not None
                and rec.plan.revision.decided == "approved"
            ):
                decision = "approved"
            else:
                decision = "rejected"
        return ReplanResult(res.state, res.reason, res.step_id, proposal, decision)

    def decide_revision(
        self,
        version: int,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        return self._decide(
            "revision", approve, by=by, feedback=feedback, version=version, cancel=cancel
        )

    def approve_pause(self, step_id: str, *, by: str) -> RunResult:
        return self._decide("pause", True, by=by, step_id=step_id)

    def decide_pending(
        self,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        """Answer whatever is pending (CLI ``approve``/``reject``)."""
        return self._decide(None, approve, by=by, feedback=feedback, cancel=cancel)

    def _decide(
        self,
        kind: str | None,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        version: int | None = None,
        step_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        cancel = cancel or CancelToken()
        with self.store.run_lock():
            rec = self._load()
            p = rec.pending
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
                    raise InvalidRequestError(
                        f"step {step_id!r} is not the one paused ({p.step_id!r})"
                    )
            try:
                self._apply(rec, Decision(approve, by, feedback), cancel)
                if rec.pending is not None:
                    res = self._answer_pending(rec, cancel)
                    if res is not None:
                        return res
            except _Stop as s:
                return s.result
            return RunResult(rec.state, rec.reason)

    # --- diffs and reverts ----------------------------------------------------------------------

    def _step_with_checkpoints(self, rec: RunRecord, step_id: str) -> Step:
        if not rec.plan.has_step(step_id):
            raise UnknownStepError(step_id, [s.id for s in rec.plan.steps])
        step = rec.plan.step(step_id)
        if not step.result or not step.result.checkpoint_before or not step.result.checkpoint_after:
            raise InvalidRequestError(f"step {step_id!r} has not run yet, so it has no changes")
        return step

    def step_diff(self, step_id: str) -> tuple[Step, list[FileDiff]]:
        rec = self._load()
        step = self._step_with_checkpoints(rec, step_id)
        assert step.result is not None
        return step, self.cp.diff(
            step.result.checkpoint_before or "", step.result.checkpoint_after or ""
        )

    def file_at_checkpoint(self, checkpoint: str, path: str) -> bytes | None:
        return self.cp.file_at(checkpoint, path)

    def revert_step(self, step_id: str, paths: list[str] | None = None) -> RevertResult:
        with self.store.run_lock():
            rec = self._load()
            step = self._step_with_checkpoints(rec, step_id)
            assert step.result is not None
            before, after = step.result.checkpoint_before or "", step.result.checkpoint_after or ""
            self._event(RevertStarted(step_id=step_id, paths=paths))
            res = self.cp.revert(before, after, paths)
            self._event(
                Reverted(
                    step_id=step_id,
                    restored=list(res.restored),
                    conflicts=[{"path": c.path, "reason": c.reason} for c in res.conflicts],
                )
            )
            if res.restored:
                step.status = "reverted"
                for dep in rec.plan.dependents(step_id):
                    s = rec.plan.step(dep)
                    if s.status in ("passed", "failed", "blocked"):
                        s.status = "pending"
                if rec.state == "done":
                    rec.state, rec.reason = "idle", f"step {step_id!r} reverted"
                self._save(rec)
            return res

    # --- crash recovery --------------------------------------------------------------------------

    def _recover(self, rec: RunRecord) -> None:
        """A previous process died mid-run (the lock is ours now, so it is not running)."""
        for step in rec.plan.steps:
            if step.status != "running":
                continue
            before = step.result.checkpoint_before if step.result else None
            if before:
                now = self.cp.snapshot(
                    f"recovered partial {step.id}",
                    ref=f"refs/planloop/{rec.plan.plan_id}/{step.id}/recovered",
                )
                partial = self.cp.changes(before, now)
                self._event(Recovered(step_id=step.id, partial_files=[f.path for f in partial]))
                undone = self.cp.revert(before, now)
                self._event(
                    RecoveredRestore(
                        step_id=step.id,
                        restored=list(undone.restored),
                        conflicts=[c.path for c in undone.conflicts],
                    )
                )
            else:
                self._event(Recovered(step_id=step.id, partial_files=[]))
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
        self._save(rec)


def _evidence(result: StepResult | None) -> list[str]:
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

"""One attempt at one step: checkpoint before → executor → checkpoint after → checks.

The runner owns everything that must hold for a single attempt, whatever the loop
decides afterwards: the attempt is logged and saved as ``running`` before the executor
starts (so a crash is recovered), it gets its own before/after checkpoints, what its
model turns cost is booked from the ledger however the call ended, and a cancel puts
the step's files back (file by file, never over a later edit) and returns the step to
``pending``. It returns a :class:`Verdict` — what happened, not what to do about it;
retrying and re-planning are the orchestrator's decisions.

An attempt that cannot give a verdict ends the run instead (:class:`RunEnded`): an
editor holding unsaved changes to a step file (paused), a cancel (cancelled), a model
error (paused if retrying may help, else error). A model error is not the step's
failure, so that attempt does not count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from .baseline import WorkspaceBaseline
from .cancel import Cancelled, CancelToken
from .checkpoints import CheckpointStore
from .checks import run_checks
from .events import CheckRan, StepCancelled, StepError, StepFinished, StepStarted, UnsavedBuffer
from .executor import Executor
from .journal import Journal
from .ledger import Ledger
from .models.base import ModelError
from .plan import CheckResult, RoleUsage, RunState, Step, StepResult
from .store import RunRecord
from .workspace import UnsavedBufferError, Workspace


@dataclass(frozen=True)
class Passed:
    """The executor said ok and every check that counts passed.

    ``surprising``: it also found the workspace not as the step assumed (``why``).
    """

    result: StepResult
    surprising: bool
    why: str | None


@dataclass(frozen=True)
class Failed:
    result: StepResult


@dataclass(frozen=True)
class Blocked:
    """The executor says the step cannot be done as written."""

    result: StepResult
    why: str | None


Verdict = Passed | Failed | Blocked


class StepRunner:
    def __init__(
        self,
        *,
        ws: Workspace,
        checkpoints: CheckpointStore,
        journal: Journal,
        ledger: Ledger,
        baseline: WorkspaceBaseline,
        executor: Callable[[], Executor],
    ) -> None:
        self.ws = ws
        self.cp = checkpoints
        self.journal = journal
        self.ledger = ledger
        self.baseline = baseline
        self._executor = executor  # built on first use: reading a plan needs no model
        #: the step whose attempt started last (the orchestrator resets it per run)
        self.last_started: str | None = None

    def attempt(
        self, rec: RunRecord, step: Step, retry_obs: str | None, cancel: CancelToken
    ) -> Verdict:
        """Run one attempt and record its result on ``step``; the step's status says how it went."""
        self._check_buffers(rec, step)
        result = self._run(rec, step, retry_obs, cancel)
        outcome = result.outcome
        assert outcome is not None
        verdict: Verdict
        if outcome.blocked:
            step.status = "blocked"
            verdict = Blocked(result, outcome.blocked_why)
        elif outcome.ok and not any(
            not c.passed and self.baseline.counts(rec, c) for c in result.checks
        ):
            step.status = "passed"
            self.baseline.update(rec, result.checks)
            verdict = Passed(result, outcome.surprising, outcome.surprising_why)
        else:
            step.status = "failed"
            verdict = Failed(result)
        self._finish(rec, step)
        return verdict

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
                self.journal.event(UnsavedBuffer(step_id=step.id, path=rel))
                self.journal.end(rec, "paused", str(e))

    def _run(
        self, rec: RunRecord, step: Step, retry_obs: str | None, cancel: CancelToken
    ) -> StepResult:
        if step.kind == "edit":
            self.baseline.ensure(rec, cancel)
        attempt = step.attempts + 1
        prior = (step.result.usage.get("executor") if step.result else None) or RoleUsage()
        self.journal.event(StepStarted(step_id=step.id, attempt=attempt, title=step.title))
        self.last_started = step.id
        step.status = "running"
        step.attempts = attempt
        rec.state = "running"
        rec.reason = f"running {step.id}"
        self.journal.save(rec)
        before = self._snapshot(
            rec, step, f"{attempt}/before", f"before {step.id} attempt {attempt}"
        )
        step.result = StepResult(
            checkpoint_before=before, usage={"executor": prior}, cost_usd=prior.cost_usd
        )
        self.journal.save(rec)
        t0 = time.monotonic()
        with self.ledger.tab("executor") as tab:
            try:
                outcome = self._executor().run(
                    rec.plan, step, retry_observation=retry_obs, cancel=cancel
                )
            except Cancelled:
                self._cancelled(rec, step, before, tab.usage)
            except ModelError as e:
                self._model_failed(rec, step, e, before, prior.add(tab.usage), t0)
        usage = tab.usage  # this attempt's turns
        after = self._snapshot(rec, step, f"{attempt}/after", f"after {step.id} attempt {attempt}")
        changes = self.cp.changes(before, after)
        checks: list[CheckResult] = []
        if not outcome.blocked:
            try:
                checks = run_checks(step, self.ws, self.baseline.checks_for(step), cancel)
            except Cancelled:
                self._cancelled(rec, step, before, usage)
            if cancel.cancelled:  # a cancelled check is not a failed step
                self._cancelled(rec, step, before, usage)
            for c in checks:
                self.journal.event(
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

    def _snapshot(self, rec: RunRecord, step: Step, label: str, message: str) -> str:
        return self.cp.step_snapshot(rec.plan.plan_id, step.id, label, message)

    def _model_failed(
        self,
        rec: RunRecord,
        step: Step,
        e: ModelError,
        before: str,
        spent: RoleUsage,
        t0: float,
    ) -> NoReturn:
        attempt = step.attempts
        after = self._snapshot(
            rec, step, f"{attempt}/after", f"after {step.id} attempt {attempt} (model error)"
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
        step.attempts -= 1  # the model failed, not the step: the attempt does not count
        self.journal.event(StepError(step_id=step.id, error=e.message, kind=e.kind))
        state: RunState = "paused" if e.retryable else "error"
        self.journal.end(rec, state, f"the executor's model call failed: {e.message}")

    def _cancelled(self, rec: RunRecord, step: Step, before: str, usage: RoleUsage) -> NoReturn:
        """``usage``: what this attempt's model calls cost before the cancel (still paid)."""
        after = self._snapshot(rec, step, f"{step.attempts}/after", f"after {step.id} (cancelled)")
        undone = self.cp.revert(before, after)
        self.journal.event(
            StepCancelled(
                step_id=step.id,
                restored=list(undone.restored),
                conflicts=[c.path for c in undone.conflicts],
            )
        )
        step.status = "pending"
        step.attempts -= 1
        spent = dict(step.result.usage) if step.result else {}
        spent["executor"] = spent.get("executor", RoleUsage()).add(usage)
        step.result = StepResult(
            checkpoint_before=before,
            checkpoint_after=after,
            error="cancelled by the user",
            usage=spent,
            cost_usd=sum(u.cost_usd for u in spent.values()),
        )
        self.journal.end(
            rec, "cancelled", f"step {step.id!r} cancelled; its edits were rolled back"
        )

    def _finish(self, rec: RunRecord, step: Step) -> None:
        r = step.result
        self.journal.event(
            StepFinished(
                step_id=step.id,
                status=step.status,
                attempt=step.attempts,
                cost_usd=r.cost_usd if r else 0.0,
                files=[f.path for f in r.files_changed] if r else [],
                cost_text=r.cost_text if r else "",
            )
        )
        rec.state = "running"
        self.journal.save(rec)

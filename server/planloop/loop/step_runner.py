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

Whatever ends it, the attempt is on the step's ``attempt_log`` with its checkpoints: the
before-checkpoint is saved before the executor starts, every path is noted in the
write-ahead record (``touched.jsonl``) before a tool writes it, and the after-checkpoint
is saved (then the record dropped) before the checks run. A model error's partial edit
is kept in the workspace for inspection — the run stops, and ``diff``/``revert`` of the
step (which span all its attempts) show and undo it; a cancel rolls back at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from planloop.cancel import Cancelled, CancelToken
from planloop.checkpoints.store import CheckpointStore
from planloop.document.plan import (
    Attempt,
    CheckResult,
    FileChange,
    McpCall,
    RoleUsage,
    RunState,
    Step,
    StepResult,
)
from planloop.events import (
    CheckRan,
    McpToolCalled,
    StepCancelled,
    StepError,
    StepFinished,
    StepStarted,
    UnsavedBuffer,
)
from planloop.loop.baseline import WorkspaceBaseline
from planloop.loop.journal import Journal
from planloop.loop.step_changes import ANY
from planloop.mcp_port import McpTools
from planloop.models.base import ModelError
from planloop.roles.executor import Executor
from planloop.roles.joint import JointAgent
from planloop.roles.ledger import Ledger, Role
from planloop.state.record import RunRecord
from planloop.workspace.checks import run_checks
from planloop.workspace.files import UnsavedBufferError, Workspace


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
        joint: Callable[[], JointAgent] | None = None,
        mcp: McpTools | None = None,
    ) -> None:
        self.ws = ws
        #: the user's MCP servers, for ``mcp`` acceptance checks
        self.mcp = mcp
        self.cp = checkpoints
        self.journal = journal
        self.ledger = ledger
        self.baseline = baseline
        self._executor = executor  # built on first use: reading a plan needs no model
        self._joint = joint
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
        if step.attempt_log:
            step.attempt_log[-1].ended = step.status
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
        n = len(step.attempt_log) + 1  # every attempt's own checkpoints, counted or not
        role = _role(rec)
        prior = (step.result.usage.get(role) if step.result else None) or RoleUsage()
        self.journal.event(StepStarted(step_id=step.id, attempt=attempt, title=step.title))
        self.last_started = step.id
        step.status = "running"
        step.attempts = attempt
        rec.state = "running"
        rec.reason = f"running {step.id}"
        self.journal.save(rec)
        before = self._snapshot(
            rec,
            step,
            f"{n}/before",
            f"before {step.id} attempt {n}",
            untouched_since_start=self.ws.mutations == 0,
        )
        step.attempt_log.append(Attempt(n=n, before=before))
        step.result = StepResult(
            checkpoint_before=before, usage={role: prior}, cost_usd=prior.cost_usd
        )
        self.journal.save(rec)  # write-ahead: the before-checkpoint is on record first
        t0 = time.monotonic()
        noted: set[str] = set()

        def note(path: str) -> None:
            if path not in noted:
                noted.add(path)
                self.journal.store.note_touched(rec.plan.plan_id, step.id, n, path)

        agent: Executor | JointAgent
        agent = self._joint() if role == "joint" and self._joint is not None else self._executor()
        with self.ledger.tab(role) as tab:
            self.ws.write_ahead = note
            try:
                outcome = agent.run(rec.plan, step, retry_observation=retry_obs, cancel=cancel)
            except Cancelled:
                self._cancelled(rec, step, before, tab.usage)
            except ModelError as e:
                self._model_failed(rec, step, e, before, prior.add(tab.usage), t0)
            finally:
                self.ws.write_ahead = None
        usage = tab.usage  # this attempt's turns
        # a step that only wrote through the file tools changed exactly what it noted:
        # its after-checkpoint stages those paths, not a scan of the whole tree
        only = None if ANY in noted else sorted(noted)
        after, changes = self._close(rec, step, "after", f"after {step.id} attempt {n}", paths=only)
        checks: list[CheckResult] = []
        if not outcome.blocked:
            try:
                checks = run_checks(
                    step,
                    self.ws,
                    self.baseline.checks_for(step),
                    cancel,
                    mcp=self.mcp,
                    on_mcp=lambda c, r: self.journal.event(
                        McpToolCalled(
                            role="check",
                            step_id=step.id,
                            tool=c.tool or "",
                            arguments=c.arguments or {},
                            is_error=r.is_error,
                            result=McpCall(tool=c.tool or "", result=r.text).capped().result,
                        )
                    ),
                )
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
        if self.mcp is not None:
            self.mcp.flush()  # a server that died during the step: in this step's events
        step.result = StepResult(
            outcome=outcome,
            checks=checks,
            files_changed=changes,
            checkpoint_before=before,
            checkpoint_after=after,
            usage={role: prior.add(usage)},
            cost_usd=prior.add(usage).cost_usd,
            duration_s=round(time.monotonic() - t0, 3),
            mcp_calls=list(agent.mcp_calls),
        )
        return step.result

    def _snapshot(
        self,
        rec: RunRecord,
        step: Step,
        label: str,
        message: str,
        paths: list[str] | None = None,
        *,
        untouched_since_start: bool = False,
    ) -> str:
        return self.cp.step_snapshot(
            rec.plan.plan_id,
            step.id,
            label,
            message,
            paths=paths,
            untouched_since_start=untouched_since_start,
        )

    def _close(
        self,
        rec: RunRecord,
        step: Step,
        label: str,
        message: str,
        paths: list[str] | None = None,
    ) -> tuple[str, list[FileChange]]:
        """Record the open attempt's after-checkpoint and what it changed, save, and only
        then drop its write-ahead record of touched paths (the checkpoint supersedes it).
        ``paths``: every path the attempt wrote, when it wrote nothing else."""
        a = step.attempt_log[-1]
        after = self._snapshot(rec, step, f"{a.n}/{label}", message, paths)
        changes = self.cp.changes(a.before, after)
        a.after = after
        a.files = sorted({p for c in changes for p in (c.path, c.old_path) if p})
        self.journal.save(rec)
        self.journal.store.clear_touched(rec.plan.plan_id)
        return after, changes

    def _model_failed(
        self,
        rec: RunRecord,
        step: Step,
        e: ModelError,
        before: str,
        spent: RoleUsage,
        t0: float,
    ) -> NoReturn:
        after, changes = self._close(
            rec, step, "after", f"after {step.id} attempt {len(step.attempt_log)} (model error)"
        )
        a = step.attempt_log[-1]
        a.ended, a.counted, a.error = "model_error", False, e.message
        step.result = StepResult(
            checkpoint_before=before,
            checkpoint_after=after,
            error=e.message,
            files_changed=changes,
            duration_s=round(time.monotonic() - t0, 3),
            usage={_role(rec): spent},
            cost_usd=spent.cost_usd,
        )
        step.status = "failed"
        step.attempts -= 1  # the model failed, not the step: the attempt does not count
        self.journal.event(StepError(step_id=step.id, error=e.message, kind=e.kind))
        state: RunState = "paused" if e.retryable else "error"
        self.journal.end(rec, state, f"the executor's model call failed: {e.message}")

    def _cancelled(self, rec: RunRecord, step: Step, before: str, usage: RoleUsage) -> NoReturn:
        """``usage``: what this attempt's model calls cost before the cancel (still paid)."""
        a = step.attempt_log[-1]
        partial = self._snapshot(
            rec, step, f"{a.n}/partial", f"{step.id} attempt {a.n} when cancelled"
        )
        undone = self.cp.revert(before, partial)
        after, _ = self._close(rec, step, "after", f"after {step.id} attempt {a.n} (cancelled)")
        a.partial, a.ended, a.counted, a.error = (
            partial,
            "cancelled",
            False,
            "cancelled by the user",
        )
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
        role = _role(rec)
        spent[role] = spent.get(role, RoleUsage()).add(usage)
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


def _role(rec: RunRecord) -> Role:
    """Who acts on the plan's steps: the executor, or the joint agent on a joint plan."""
    return "joint" if rec.plan.mode == "joint" else "executor"

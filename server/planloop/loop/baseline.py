"""The workspace's own checks, and whether each was green before planloop touched anything.

A step fails on a workspace check only when that check was green before: "a suite that
was green and turns red" is the step's doing, a suite that was already red is reported
but not blamed on it. The baseline is taken once, before the first edit step, and kept
in the run record (``workspace_baseline``), so a resumed run judges by the same rule.
"""

from __future__ import annotations

from planloop.cancel import CancelToken
from planloop.config import Config
from planloop.document.plan import Check, CheckResult, Step
from planloop.events import BaselineStarted
from planloop.loop.journal import Journal
from planloop.state.record import RunRecord
from planloop.workspace.files import Workspace


class WorkspaceBaseline:
    def __init__(self, config: Config, ws: Workspace, journal: Journal) -> None:
        self.config = config
        self.ws = ws
        self.journal = journal

    def checks_for(self, step: Step | None = None) -> list[Check]:
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

    def ensure(self, rec: RunRecord, cancel: CancelToken) -> None:
        """Record which workspace checks are green now, unless that is known already."""
        if not self.config.workspace_checks or rec.workspace_baseline:
            return
        self.journal.event(BaselineStarted(checks=list(self.config.workspace_checks)))
        baseline: dict[str, bool] = {}
        for check in self.checks_for():
            res = self.ws.run(check.command or "", timeout_s=check.timeout_s, cancel=cancel)
            if res.cancelled or cancel.cancelled:
                # an interrupted run says nothing about the suite; recording it as red
                # would let a step that breaks a green suite pass
                self.journal.end(rec, "cancelled", "cancelled before the step started")
            baseline[check.command or ""] = res.ok
        rec.workspace_baseline.update(baseline)

    def counts(self, rec: RunRecord, c: CheckResult) -> bool:
        """Whether a failed check fails the step (a step's own checks always do)."""
        if not c.workspace_check:
            return True
        return rec.workspace_baseline.get(c.check.command or "", True)

    def update(self, rec: RunRecord, checks: list[CheckResult]) -> None:
        """A suite a passed step left green is green from now on."""
        for c in checks:
            if c.workspace_check and c.passed:
                rec.workspace_baseline[c.check.command or ""] = True

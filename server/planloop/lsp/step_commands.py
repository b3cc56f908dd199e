"""Step commands: runStep, runAll, stepDiff, fileAtCheckpoint, revertStep
(``planloop run`` / ``diff`` / ``cat`` / ``revert``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planloop.lsp import args as A
from planloop.lsp.payloads import diff_payload, file_payload, run_payload
from planloop.lsp.registry import CommandTable, Spec, current_payload

if TYPE_CHECKING:
    from planloop.api import Session
    from planloop.lsp.events import Call
    from planloop.lsp.folders import FolderSession


def register(table: CommandTable) -> None:
    table["planloop.runStep"] = Spec(A.RunStepArgs, run_step, long=True)
    table["planloop.runAll"] = Spec(A.RunAllArgs, run_all, long=True)
    table["planloop.stepDiff"] = Spec(A.StepDiffArgs, step_diff, long=False)
    table["planloop.fileAtCheckpoint"] = Spec(
        A.FileAtCheckpointArgs, file_at_checkpoint, long=False
    )
    table["planloop.revertStep"] = Spec(A.RevertStepArgs, revert_step, long=True)


def run_step(core: Session, a: A.RunStepArgs, s: FolderSession, c: Call) -> Any:
    # the user pressed Run on the plan the editor shows: that is the plan review
    res = core.run(step_id=a.step_id, cancel=c.cancel, plan_reviewed_by=s.ctx.client.name)
    return run_payload(res, current_payload(s), res.step_id)


def run_all(core: Session, a: A.RunAllArgs, s: FolderSession, c: Call) -> Any:
    res = core.run(all_steps=True, cancel=c.cancel, plan_reviewed_by=s.ctx.client.name)
    return run_payload(res, current_payload(s), res.step_id)


def step_diff(core: Session, a: A.StepDiffArgs, s: FolderSession, c: None) -> Any:
    d = core.diff(a.step_id)
    return diff_payload(d.step, d.files, d.before, d.after)


def file_at_checkpoint(core: Session, a: A.FileAtCheckpointArgs, s: FolderSession, c: None) -> Any:
    return file_payload(a.checkpoint, a.path, core.file_at(a.checkpoint, a.path))


def revert_step(core: Session, a: A.RevertStepArgs, s: FolderSession, c: Call) -> Any:
    res = core.revert(a.step_id, a.paths)
    return {
        "stepId": a.step_id,
        "restored": list(res.restored),
        "conflicts": [{"path": x.path, "reason": x.reason} for x in res.conflicts],
        "plan": current_payload(s),
    }

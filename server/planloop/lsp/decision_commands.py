"""Decision commands: answer the question a run waits on, after the live approval
request went unanswered (``planloop approve`` / ``reject``). See ``approvals.py`` for the
request itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planloop.lsp import args as A
from planloop.lsp.registry import CommandTable, Spec, current_payload

if TYPE_CHECKING:
    from planloop.api import Session
    from planloop.lsp.events import Call
    from planloop.lsp.folders import FolderSession


def register(table: CommandTable) -> None:
    table["planloop.decideRevision"] = Spec(A.DecideRevisionArgs, decide_revision, long=True)
    table["planloop.approvePause"] = Spec(A.ApprovePauseArgs, approve_pause, long=True)
    table["planloop.decidePending"] = Spec(A.DecidePendingArgs, decide_pending, long=True)
    table["planloop.setMode"] = Spec(A.SetModeArgs, set_mode, long=True)


def decide_revision(core: Session, a: A.DecideRevisionArgs, s: FolderSession, c: Call) -> Any:
    by = s.ctx.client.name
    core.decide_revision(a.version, a.approve, by=by, feedback=a.feedback, cancel=c.cancel)
    return current_payload(s)


def approve_pause(core: Session, a: A.ApprovePauseArgs, s: FolderSession, c: Call) -> Any:
    core.approve_pause(a.step_id, by=s.ctx.client.name)
    return current_payload(s)


def decide_pending(core: Session, a: A.DecidePendingArgs, s: FolderSession, c: Call) -> Any:
    """Answer whatever question waits (plan review, pause, budget, re-plan), either way.

    approvePause can only say yes and decideRevision only answers re-plans; a client
    also needs to say no to a plan, a pause or a budget question.
    """
    core.decide_pending(a.approve, by=s.ctx.client.name, feedback=a.feedback, cancel=c.cancel)
    return current_payload(s)


def set_mode(core: Session, a: A.SetModeArgs, s: FolderSession, c: Call) -> Any:
    """Override auto's split/joint choice while the plan awaits review."""
    core.set_mode(a.mode, by=s.ctx.client.name, cancel=c.cancel)
    return current_payload(s)

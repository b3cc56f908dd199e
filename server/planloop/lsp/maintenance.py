"""Maintenance commands: the event log and checkpoint clean-up (``planloop log --json``,
``planloop clean``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planloop.lsp import args as A
from planloop.lsp.registry import CommandTable, Spec

if TYPE_CHECKING:
    from planloop.api import Session
    from planloop.lsp.events import Call
    from planloop.lsp.folders import FolderSession


def register(table: CommandTable) -> None:
    table["planloop.log"] = Spec(A.LogArgs, log_events, long=False, needs_session=False)
    table["planloop.clean"] = Spec(A.CleanArgs, clean, long=True)


def log_events(core: None, a: A.LogArgs, s: FolderSession, c: None) -> Any:
    """The plan's event log, as ``planloop log --json`` prints it (one object a line)."""
    return {"events": s.query.log(a.plan_id)}


def clean(core: Session, a: A.CleanArgs, s: FolderSession, c: Call) -> Any:
    """``planloop clean [--keep-current] [--reset-shadow]``; holds the run slot, so it
    never drops checkpoints under a step that is being recorded."""
    if a.reset_shadow:
        moved = core.reset_checkpoints()
        s.stale = True  # both sessions held the old repository open: rebuild them
        return {"movedTo": str(moved) if moved is not None else None}
    res = core.clean(keep_current=a.keep_current)
    return {"freedBytes": res.freed_bytes, "inUseBytes": res.in_use_bytes}

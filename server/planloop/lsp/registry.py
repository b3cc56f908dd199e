"""What a command module declares: its commands' argument models and work.

A command's work is a plain synchronous function ``work(core, args, folder, call)``
that calls the core API (``api.Session``) and builds the JSON result; ``commands.py``
runs it on the worker pool so the event loop keeps serving (notifications, approvals,
cancel) while a step runs for minutes. Each feature module adds its commands to the
table in its ``register``.

Payloads are built from the stored run record (``plan_cache.PlanPayloads``, through a
query session of its own), not from the running session's ``status()``: reading must
not touch the orchestrator another thread may be running, and ``getPlan`` then needs
no models or settings at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planloop.errors import NoPlanError
from planloop.lsp import args as A

if TYPE_CHECKING:
    from planloop.lsp.folders import FolderSession
    from planloop.state.record import RunRecord

Work = Callable[..., Any]


@dataclass(frozen=True)
class Spec:
    args: type[A._Args]
    work: Work
    long: bool  # holds the folder's run slot, cancellable, may ask for approval
    #: False: the work reads the stored record only and gets no session (no settings)
    needs_session: bool = True


CommandTable = dict[str, Spec]


def current(s: FolderSession) -> tuple[RunRecord, dict[str, Any]]:
    """The current plan's record and PlanPayload (NoPlanError when there is none)."""
    plan_id = s.payloads.current_id()
    if plan_id is None:
        raise NoPlanError()
    return s.payloads.get(plan_id)


def current_payload(s: FolderSession) -> dict[str, Any]:
    return current(s)[1]

"""The planloop.* commands: argument model, the work, and how it runs.

Each command's work is a plain synchronous function that calls the core API
(``api.Session``) and builds the JSON result; ``dispatch`` runs it on the server's worker pool so the event
loop keeps serving (notifications, approvals, cancel) while a step runs for minutes.
"Long" commands hold the folder's one-run-at-a-time slot and get a CancelToken that
``planloop.cancel``, the progress bar's cancel button, ``$/cancelRequest`` and a
client disconnect all trip.

Payloads are built from the stored run record (``plan_cache.PlanPayloads``, through a
query session of its own), not from the running session's ``status()``: reading must
not touch the orchestrator another thread may be running, and ``getPlan`` then needs
no models or settings at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..api import Session
from ..errors import InvalidRequestError, NoPlanError, PlanloopError, StoreError
from . import args as A
from .events import Call
from .folders import FolderSession
from .payloads import diff_payload, file_payload, proposal_payload, run_payload, status_of
from .rpc_errors import to_rpc_error

if TYPE_CHECKING:
    from ..store import RunRecord
    from .server import PlanloopServer

log = logging.getLogger("planloop.lsp")

Work = Callable[..., Any]


@dataclass(frozen=True)
class Spec:
    args: type[A._Args]
    work: Work
    long: bool  # holds the folder's run slot, cancellable, may ask for approval
    needs_session: bool = True


def _current(s: FolderSession) -> tuple[RunRecord, dict[str, Any]]:
    """The current plan's record and PlanPayload (NoPlanError when there is none)."""
    plan_id = s.payloads.current_id()
    if plan_id is None:
        raise NoPlanError()
    return s.payloads.get(plan_id)


def _payload(s: FolderSession) -> dict[str, Any]:
    return _current(s)[1]


# --- the work of each command (runs on a worker thread) ------------------------------


def create_plan(core: Session, a: A.CreatePlanArgs, s: FolderSession, c: Call) -> Any:
    core.create_plan(a.goal, cancel=c.cancel)
    return _payload(s)


def get_plan(core: None, a: A.GetPlanArgs, s: FolderSession, c: None) -> Any:
    if a.plan_id is None:
        plan_id = s.payloads.current_id()
        if plan_id is None:
            if a.version is not None:
                raise NoPlanError()
            return None
    else:
        plan_id = a.plan_id
        known = s.payloads.plan_ids()
        if plan_id not in known:
            raise InvalidRequestError(
                f"no plan {plan_id!r} in {s.root}; plans there: {', '.join(known) or 'none'}"
            )
    rec, payload = s.payloads.get(plan_id)
    if a.version is None:
        return payload
    try:
        plan = s.query.plan_version(plan_id, a.version)
    except StoreError as e:  # no such version: the caller asked for it, not a broken store
        raise InvalidRequestError(str(e)) from None
    # a recorded version in the PlanPayload envelope; the run's state is today's
    return proposal_payload(plan, status_of(rec))


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


def run_step(core: Session, a: A.RunStepArgs, s: FolderSession, c: Call) -> Any:
    # the user pressed Run on the plan the editor shows: that is the plan review
    res = core.run(step_id=a.step_id, cancel=c.cancel, plan_reviewed_by=s.server.client_name)
    return run_payload(res, _payload(s), res.step_id)


def run_all(core: Session, a: A.RunAllArgs, s: FolderSession, c: Call) -> Any:
    res = core.run(all_steps=True, cancel=c.cancel, plan_reviewed_by=s.server.client_name)
    return run_payload(res, _payload(s), res.step_id)


def step_diff(core: Session, a: A.StepDiffArgs, s: FolderSession, c: None) -> Any:
    d = core.diff(a.step_id)
    return diff_payload(d.step, d.files)


def file_at_checkpoint(core: Session, a: A.FileAtCheckpointArgs, s: FolderSession, c: None) -> Any:
    return file_payload(a.checkpoint, a.path, core.file_at(a.checkpoint, a.path))


def revert_step(core: Session, a: A.RevertStepArgs, s: FolderSession, c: Call) -> Any:
    res = core.revert(a.step_id, a.paths)
    return {
        "stepId": a.step_id,
        "restored": list(res.restored),
        "conflicts": [{"path": x.path, "reason": x.reason} for x in res.conflicts],
        "plan": _payload(s),
    }


def replan(core: Session, a: A.ReplanArgs, s: FolderSession, c: Call) -> Any:
    res = core.replan(reason=a.reason, goal=a.goal, cancel=c.cancel)
    rec, plan = _current(s)
    if res.proposal is None:
        raise PlanloopError(f"no revision was proposed: {res.reason}")
    return {
        "proposal": proposal_payload(res.proposal, status_of(rec)),
        "decision": res.decision,
        "plan": plan,
        "state": res.state,
        "reason": res.reason,
    }


def decide_revision(core: Session, a: A.DecideRevisionArgs, s: FolderSession, c: Call) -> Any:
    by = s.server.client_name
    core.decide_revision(a.version, a.approve, by=by, feedback=a.feedback, cancel=c.cancel)
    return _payload(s)


def approve_pause(core: Session, a: A.ApprovePauseArgs, s: FolderSession, c: Call) -> Any:
    core.approve_pause(a.step_id, by=s.server.client_name)
    return _payload(s)


def decide_pending(core: Session, a: A.DecidePendingArgs, s: FolderSession, c: Call) -> Any:
    """Answer whatever question waits (plan review, pause, budget, re-plan), either way.

    approvePause can only say yes and decideRevision only answers re-plans; a client
    also needs to say no to a plan, a pause or a budget question.
    """
    core.decide_pending(a.approve, by=s.server.client_name, feedback=a.feedback, cancel=c.cancel)
    return _payload(s)


COMMANDS: dict[str, Spec] = {
    "planloop.createPlan": Spec(A.CreatePlanArgs, create_plan, long=True),
    "planloop.getPlan": Spec(A.GetPlanArgs, get_plan, long=False, needs_session=False),
    "planloop.runStep": Spec(A.RunStepArgs, run_step, long=True),
    "planloop.runAll": Spec(A.RunAllArgs, run_all, long=True),
    "planloop.stepDiff": Spec(A.StepDiffArgs, step_diff, long=False),
    "planloop.fileAtCheckpoint": Spec(A.FileAtCheckpointArgs, file_at_checkpoint, long=False),
    "planloop.revertStep": Spec(A.RevertStepArgs, revert_step, long=True),
    "planloop.replan": Spec(A.ReplanArgs, replan, long=True),
    "planloop.decideRevision": Spec(A.DecideRevisionArgs, decide_revision, long=True),
    "planloop.approvePause": Spec(A.ApprovePauseArgs, approve_pause, long=True),
    "planloop.decidePending": Spec(A.DecidePendingArgs, decide_pending, long=True),
    "planloop.log": Spec(A.LogArgs, log_events, long=False, needs_session=False),
    "planloop.clean": Spec(A.CleanArgs, clean, long=True),
}
CANCEL = "planloop.cancel"


# --- running a command (event loop) -----------------------------------------------------


async def dispatch(server: PlanloopServer, name: str, raw: tuple[Any, ...]) -> Any:
    """Run one command; every failure becomes a JSON-RPC error with a clear message."""
    try:
        if name == CANCEL:
            return cancel(server, A.parse_args(name, A.CancelArgs, raw))
        spec = COMMANDS[name]
        parsed = A.parse_args(name, spec.args, raw)
        session = server.folders.session(parsed.folder)
        if spec.long:
            return await _long(server, session, name, spec, parsed)
        core = await session.ensure_session(reader=True) if spec.needs_session else None
        return await server.loop.run_in_executor(
            server.executor, spec.work, core, parsed, session, None
        )
    except asyncio.CancelledError:
        raise
    except Exception as e:
        err = to_rpc_error(e)
        if err.code == -32603:
            log.exception("%s failed", name)
        else:
            log.info("%s: %s", name, err.message)
        raise err from e


async def _long(
    server: PlanloopServer, session: FolderSession, name: str, spec: Spec, parsed: A._Args
) -> Any:
    call = session.begin(name)
    _cancel_with_request(server, call)
    released = False
    try:
        core = await session.ensure_session()
        session.pump.start()
        work = server.executor.submit(spec.work, core, parsed, session, call)
        server.track(work)
        fut = asyncio.wrap_future(work)
        try:
            result = await asyncio.shield(fut)
        except asyncio.CancelledError:
            # $/cancelRequest or the client went away: stop the work, and keep the folder
            # busy until the worker has actually finished and saved its state.
            call.cancel.cancel()
            fut.add_done_callback(lambda _f: session.end(call))
            released = True
            raise
        await session.pump.finish("done")
        return result
    except BaseException:
        if not released:
            await _finish_quietly(session)
        raise
    finally:
        if not released:
            session.end(call)


def _cancel_with_request(server: PlanloopServer, call: Call) -> None:
    """Make ``$/cancelRequest`` of this command stop the run.

    pygls runs executeCommand as a built-in generator that awaits our handler under an
    inner id; a cancel resolves only the outer request's future (the client gets "request
    cancelled") and leaves our coroutine running. That outer future is found by the
    request id pygls keeps in a context variable, and its cancel is forwarded.
    """
    proto = server.protocol
    outer = proto._request_futures.get(proto.msg_id) if proto.msg_id is not None else None
    if outer is not None:
        outer.add_done_callback(lambda f: call.cancel.cancel() if f.cancelled() else None)


async def _finish_quietly(session: FolderSession) -> None:
    try:
        await asyncio.wait_for(session.pump.finish("stopped"), 5)
    except Exception:
        pass


def cancel(server: PlanloopServer, a: A.CancelArgs) -> dict[str, Any]:
    sessions = [server.folders.session(a.folder)] if a.folder else server.folders.all()
    cancelled = False
    for s in sessions:
        if s.call is not None and not s.call.cancel.cancelled:
            log.info("cancelling %s in %s", s.call.command, s.root)
            s.call.cancel.cancel()
            cancelled = True
    return {"cancelled": cancelled}

"""Running the planloop.* commands: parse, pick the folder, run the work, map errors.

The commands themselves live in feature modules (``plan_commands``, ``step_commands``,
``decision_commands``, ``maintenance``), each adding its own to the table; this module
runs them. "Long" commands hold the folder's one-run-at-a-time slot and get a
CancelToken that ``planloop.cancel``, the progress bar's cancel button,
``$/cancelRequest`` and a client disconnect all trip.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from planloop.lsp import args as A
from planloop.lsp import (
    decision_commands,
    doctor_commands,
    maintenance,
    plan_commands,
    step_commands,
)
from planloop.lsp.folders import Folders, FolderSession
from planloop.lsp.registry import CommandTable, Spec
from planloop.lsp.rpc_errors import to_rpc_error

if TYPE_CHECKING:
    from planloop.lsp.context import Context
    from planloop.lsp.events import Call

log = logging.getLogger("planloop.lsp")


def build_table() -> CommandTable:
    table: CommandTable = {}
    for feature in (plan_commands, step_commands, decision_commands, maintenance, doctor_commands):
        feature.register(table)
    return table


COMMANDS: CommandTable = build_table()
CANCEL = "planloop.cancel"


def folders_of(ctx: Context) -> Folders:
    """The folders' sessions, created with the first command."""
    if not isinstance(ctx.runs, Folders):
        ctx.runs = Folders(ctx)
    return ctx.runs


# --- running a command (event loop) -----------------------------------------------------


async def dispatch(ctx: Context, name: str, raw: tuple[Any, ...]) -> Any:
    """Run one command; every failure becomes a JSON-RPC error with a clear message."""
    try:
        if name == CANCEL:
            return cancel(ctx, A.parse_args(name, A.CancelArgs, raw))
        spec = COMMANDS[name]
        parsed = A.parse_args(name, spec.args, raw)
        session = folders_of(ctx).session(parsed.folder)
        log.debug("command %s for %s", name, session.root)
        if spec.long:
            return await _long(ctx, session, name, spec, parsed)
        core = await session.ensure_session(reader=True) if spec.needs_session else None
        return await ctx.loop.run_in_executor(ctx.executor, spec.work, core, parsed, session, None)
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
    ctx: Context, session: FolderSession, name: str, spec: Spec, parsed: A._Args
) -> Any:
    call = session.begin(name)
    _cancel_with_request(ctx, call)
    released = False
    try:
        core = await session.ensure_session()
        session.pump.start()
        work = ctx.executor.submit(spec.work, core, parsed, session, call)
        ctx.track(work)
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


def _cancel_with_request(ctx: Context, call: Call) -> None:
    """Make ``$/cancelRequest`` of this command stop the run.

    pygls runs executeCommand as a built-in generator that awaits our handler under an
    inner id; a cancel resolves only the outer request's future (the client gets "request
    cancelled") and leaves our coroutine running. That outer future is found by the
    request id pygls keeps in a context variable, and its cancel is forwarded.
    """
    proto = ctx.server.protocol
    outer = proto._request_futures.get(proto.msg_id) if proto.msg_id is not None else None
    if outer is not None:
        outer.add_done_callback(lambda f: call.cancel.cancel() if f.cancelled() else None)


async def _finish_quietly(session: FolderSession) -> None:
    try:
        await asyncio.wait_for(session.pump.finish("stopped"), 5)
    except Exception:
        pass


def cancel(ctx: Context, a: A.CancelArgs) -> dict[str, Any]:
    folders = folders_of(ctx)
    sessions = [folders.session(a.folder)] if a.folder else folders.all()
    cancelled = False
    for s in sessions:
        if s.call is not None and not s.call.cancel.cancelled:
            log.info("cancelling %s in %s", s.call.command, s.root)
            s.call.cancel.cancel()
            cancelled = True
    return {"cancelled": cancelled}

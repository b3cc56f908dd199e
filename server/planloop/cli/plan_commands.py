"""``plan``, ``run``, ``replan`` and ``revert``: the commands that make and move a plan.

They run the models, so they show the run as it happens (:mod:`planloop.cli.progress`),
ask at a terminal when the plan needs a person (:mod:`planloop.cli.approver`) and end
with one line a script can read the state from.
"""

from __future__ import annotations

import argparse

from rich.markup import escape

from planloop.approvals import NoApprover
from planloop.cancel import CancelToken
from planloop.checkpoints.ahead import stage_ahead
from planloop.cli import console
from planloop.cli.approver import TerminalAnswerer, choose_approver
from planloop.cli.common import ctrl_c_cancels, finish, labels, planned, session_for, waiting
from planloop.cli.progress import Spinner, make_printer
from planloop.roles.questions import WaitingForAnswer


def cmd_plan(args: argparse.Namespace) -> int:
    """Exit 0 once plan v1 is written, even when it awaits review: writing it was the
    command's whole job, and the review is the next command's (``run`` exits 3 for it).
    Exit 3 when the planner asked a question nobody at a terminal could answer."""
    progress = Spinner.for_stdout()
    session = session_for(args, choose_approver(args, progress), make_printer(progress))
    labels(session, new_plan=True)
    # the checkpoint repository is made and its index staged while the planner works, so
    # the first run starts from a warm index (see checkpoints/ahead.py)
    stage_ahead(session.root, create=True, copy_trees=True)
    cancel = CancelToken()
    try:
        with ctrl_c_cancels(cancel):
            plan = session.create_plan(" ".join(args.goal), cancel, TerminalAnswerer(progress))
    except WaitingForAnswer as e:
        return waiting(e)
    finally:
        progress.stop()
    return planned(session, plan, args.yes)


def cmd_run(args: argparse.Namespace) -> int:
    progress = Spinner.for_stdout()
    session = session_for(args, choose_approver(args, progress), make_printer(progress))
    labels(session)
    cancel = CancelToken()
    try:
        with ctrl_c_cancels(cancel):
            res = session.run(step_id=args.step, all_steps=args.all, cancel=cancel)
    finally:
        progress.stop()
    return finish(res, session)


def cmd_replan(args: argparse.Namespace) -> int:
    progress = Spinner.for_stdout()
    session = session_for(args, choose_approver(args, progress), make_printer(progress))
    res = session.replan(reason=args.reason, goal=args.goal)
    progress.stop()
    return finish(res, session)


def cmd_revert(args: argparse.Namespace) -> int:
    """Exit 4 when a file changed since the step and was left alone (a conflict): the step
    is then not reverted (its change is still in that file), and the last line says so and
    how to finish, since a script or a person must act before the step is undone."""
    session = session_for(args, NoApprover())
    res = session.revert(args.step, args.paths or None)
    for p in res.restored:
        console.out.print(f"[green]restored[/] {escape(p)}")
    for c in res.conflicts:
        console.out.print(f"[red]conflict[/] {escape(c.path)}: {escape(c.reason)} (left as it is)")
    if not res.restored and not res.conflicts:
        console.out.print("[dim]nothing to restore[/]")
    if not res.conflicts:
        return 0
    step, names = args.step, ", ".join(c.path for c in res.conflicts)
    console.out.print(
        escape(
            f"step {step!r} is not reverted: its change is still in {names}. Put each file "
            f"as you want it (as before the step: planloop cat {step} PATH --before > PATH, "
            f"or delete a file the step created), "
            f"then run planloop revert {step} again."
        )
    )
    return 4

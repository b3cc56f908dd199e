"""What the commands share: the session they open, how a run's end is reported, Ctrl-C.

Each command is a translation of :class:`planloop.api.Session`, arguments in and results
out, like the language server; so the two cannot drift apart, nothing in the CLI touches
the orchestrator, the store or the checkpoint repository.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.markup import escape

from planloop.api import RunResult, Session
from planloop.approvals import Approver
from planloop.cancel import CancelToken
from planloop.cli import console, render
from planloop.cli.approver import ask_trust, show_question, user
from planloop.cli.exits import ERROR_EXIT, EXIT
from planloop.config import Config, load_settings
from planloop.document.markdown import render_markdown
from planloop.document.plan import Plan
from planloop.errors import BusyError, InvalidRequestError, PlanEditError, PlanloopError
from planloop.roles.questions import WaitingForAnswer
from planloop.wiring import open_session


def config(args: argparse.Namespace) -> Config:
    """The settings, layered; a folder's untrusted keys are asked about once on a
    terminal, otherwise ignored with one warning that names them."""
    over = overrides(args)
    root = Path(args.workspace).resolve()
    settings = load_settings(root, over)
    if settings.ignored and ask_trust(root, settings.ignored):
        settings = load_settings(root, over, trusted=True)
    warning = settings.warning()
    if warning:
        render.warn(warning)
    return settings.config


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {}
    if args.planner:
        over["planner"] = args.planner
    if args.executor:
        over["executor"] = args.executor
    if getattr(args, "mode", None):
        over["mode"] = args.mode
    if getattr(args, "in_repo", False):
        over["plans_in_repo"] = True
    if getattr(args, "sandbox", None):
        over["sandbox"] = args.sandbox
    if getattr(args, "sandbox_network", False):
        over["sandbox_network"] = True
    if getattr(args, "repo_map_budget", None) is not None:
        over["repo_map_budget_s"] = args.repo_map_budget
    if getattr(args, "sandbox_writable", None):
        over["sandbox_writable"] = list(args.sandbox_writable)
    return over


def session_for(
    args: argparse.Namespace, approver: Approver, sink: Any = None, *, adopt: bool = True
) -> Session:
    """The workspace's session; a tolerated problem on disk is a warning, not a failure.

    ``adopt``: a hand edit of ``.planloop/plan.md`` is applied first (:func:`adopt_edit`),
    so no command shows or runs the plan it replaced (``planloop edit`` resolves such an
    edit itself and passes False)."""
    opened = open_session(Path(args.workspace), config=config(args), approver=approver, sink=sink)
    for problem in opened.problems():
        render.warn(problem)
    if adopt:
        adopt_edit(opened)
    return opened


def adopt_edit(session: Session) -> None:
    """README: edit ``.planloop/plan.md`` "and it becomes the next version". Applied as
    ``planloop edit`` would (authored "$USER (plan.md)", said in one line); a text that
    breaks a rule refuses the command, since running or showing the plan it meant to
    replace would act on a plan the user no longer wants. A refusal that is about the
    run's state (a step running, a re-plan awaiting a decision) lets the command go on:
    the text stays where it is (planloop never writes over it), with a copy kept."""
    text = session.document_edit()
    if text is None:
        return
    path = session.document_path()
    by = f"{user()} (plan.md)"
    try:
        plan = session.adopt_document_edit(author=by)
    except PlanEditError as e:
        kept = session.keep_edit(text, reuse=True)
        problems = "; ".join(
            f"line {p.line}: {render.one_line(p.message)}" if p.line else render.one_line(p.message)
            for p in e.problems
        )
        raise PlanloopError(
            f"{path} was edited by hand but cannot become the next version: {problems}. "
            f"Nothing was done and planloop will not write over your text (a copy is kept at "
            f"{kept}): fix {path} (the next command applies it), or apply a fixed copy with "
            f"`planloop edit --from {kept}`, or delete {path} to get the current plan back",
            kind=e.kind,
        ) from None
    except (BusyError, InvalidRequestError) as e:
        kept = session.keep_edit(text, reuse=True)
        render.warn(
            f"{path} was edited by hand and is not applied: {e.message} (a copy is kept at "
            f"{kept}; delete {path} to get the current plan back instead)"
        )
        return
    if plan is not None:
        render.warn(f"{path} was edited by hand: recorded as plan v{plan.version} (edited by {by})")


def finish(res: RunResult, session: Session) -> int:
    st = session.status()
    done, total = st.plan.progress
    color = {
        "done": "green",
        "stopped": "red",
        "error": "red",
        "awaiting_approval": "yellow",
        "paused": "yellow",
    }.get(res.state, "white")
    out = console.out
    out.print(
        f"[bold {color}]{res.state}[/]: {escape(res.reason)} "
        f"[dim]· {done}/{total} steps · {st.cost_text}[/]",
        soft_wrap=True,  # one line: scripts read the state from it
    )
    if res.state in ("awaiting_approval", "paused") and st.pending:
        out.print(
            "[yellow]waiting for you:[/] `planloop approve` or `planloop reject [--feedback TEXT]`, "
            "then `planloop run --all`"
        )
    elif res.state == "paused":
        out.print(
            "[yellow]paused, nothing lost:[/] `planloop run --all` resumes from here",
            soft_wrap=True,
        )
    return EXIT.get(res.state, 1)


def labels(session: Session, *, new_plan: bool = False) -> None:
    """Which model plays each role; a scripted one says so, never passing for a live one."""
    for role, spec in session.models(new_plan=new_plan).items():
        tag = (
            " [magenta](scripted: replayed model output, not a live model)[/]"
            if spec.startswith("scripted:")
            else ""
        )
        console.out.print(f"[dim]{role}: {escape(spec)}[/]{tag}")


def waiting_question(session: Session) -> bool:
    """Say so when the planner waits for an answer (a damaged question.json: a warning)."""
    try:
        pending = session.pending_question()
    except PlanloopError as e:
        render.warn(str(e))
        return False
    if pending is None:
        return False
    console.out.print(
        f"[yellow]the planner waits for your answer[/] (planning {escape(pending.goal)!r}): "
        f'{escape(pending.question.question)} — `planloop answer "..."`',
        soft_wrap=True,
    )
    return True


def waiting(e: WaitingForAnswer) -> int:
    show_question(e.pending.question)
    console.out.print(
        '[yellow]waiting for your answer:[/] `planloop answer "..."` goes on planning '
        + (
            "(an option's number or text, or your own words)"
            if e.pending.question.options
            else "(your own words)"
        ),
        soft_wrap=True,
    )
    return ERROR_EXIT["waiting"]


def planned(session: Session, plan: Plan, yes: bool) -> int:
    render.markdown(render_markdown(plan))
    if session.config.review_plan_first and yes:
        session.decide_pending(True, by="--yes")
        console.out.print("[green]plan v1 approved (--yes)[/]")
    elif session.config.review_plan_first:
        console.out.print(
            "[yellow]review it, then[/] `planloop run --all` (asks) or `planloop approve`"
        )
    return 0


@contextlib.contextmanager
def ctrl_c_cancels(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl-C cancels like the editor's Cancel: the model call stops, the command's
    process group is killed, the attempt is rolled back and the run ends resumable.
    A second Ctrl-C quits at once (the next run recovers the interrupted step)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        console.err.print("[yellow]cancelling… (Ctrl-C again to quit at once)[/]")
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

"""Approvals and the planner's questions, asked at the terminal.

Only a person at a terminal can be asked: with stdin or stdout not a terminal the
approver returns ``None`` and the run waits (``run`` exits 3, ``planloop approve`` goes
on), and a question waits for ``planloop answer``. A script is never blocked on a
prompt it cannot see.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from rich.markup import escape

from planloop.approvals import ApprovalRequest, Approver, AutoApprover, Decision, NoApprover
from planloop.cancel import CancelToken
from planloop.cli import console, render
from planloop.cli.progress import Spinner
from planloop.document.plan import Question
from planloop.errors import InvalidRequestError
from planloop.roles.questions import pick_option
from planloop.trust import TrustStore


class TerminalApprover:
    """Asks at the terminal; with no terminal there is nobody to ask (the run waits)."""

    def __init__(self, spinner: Spinner) -> None:
        self.spinner = spinner

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return None
        with self.spinner.paused():
            show_request(req)
            while True:
                choice = (
                    console.out.input(
                        "[bold]Approve?[/] [green]y[/]es / [red]n[/]o"
                        + (" / [cyan]d[/]iff" if req.proposed_markdown else "")
                        + " > "
                    )
                    .strip()
                    .lower()
                )
                if choice in ("y", "yes"):
                    return Decision(True, user())
                if choice in ("n", "no"):
                    fb = console.out.input(
                        "Feedback for the planner (empty to just stop) > "
                    ).strip()
                    return Decision(False, user(), fb or None)
                if choice in ("d", "diff") and req.proposed_markdown:
                    render.md_diff(req.current_markdown, req.proposed_markdown)


class TerminalAnswerer:
    """Answers the planner's ``ask_user`` at the terminal; with none, the question waits
    (``plan`` exits 3 and ``planloop answer`` goes on)."""

    def __init__(self, spinner: Spinner) -> None:
        self.spinner = spinner
        self.by = user()

    def answer(self, question: Question, cancel: CancelToken | None = None) -> str | None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return None
        with self.spinner.paused():
            show_question(question)
            while True:
                hint = f"1-{len(question.options)} or your own answer" if question.options else ""
                text = console.out.input(
                    f"[bold]Answer[/]{f' [dim]({hint})[/]' if hint else ''} > "
                )
                try:
                    picked, n = pick_option(question.options, text)
                except InvalidRequestError as e:
                    render.warn(str(e))
                    continue
                if picked:
                    said_option(n, picked)
                    return picked


def choose_approver(args: argparse.Namespace, spinner: Spinner) -> Approver:
    """``--yes`` approves; a terminal asks; anything else leaves the decision pending."""
    if getattr(args, "yes", False):
        return AutoApprover(by="--yes")
    if sys.stdin.isatty():
        return TerminalApprover(spinner)
    return NoApprover()


def said_option(n: int | None, answer: str) -> None:
    """Say which option a number picked, so a typo'd number is seen before it matters."""
    if n is not None:
        console.out.print(f"[dim]answer: option {n}: {escape(answer)}[/]", soft_wrap=True)


def show_question(q: Question) -> None:
    body = escape(q.question)
    for n, option in enumerate(q.options, 1):
        body += f"\n  [cyan]{n}[/]. {escape(option)}"
    render.panel(body, title="The planner asks", style="cyan")


def user() -> str:
    """Who decides, as the event log records it: the login name (the environment's, else
    the system's account for this process, as ``getpass`` finds it); "unknown user" when
    neither names anyone, never a word that reads like a person ("terminal")."""
    for var in ("USER", "USERNAME", "LOGNAME"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    try:
        return getpass.getuser() or "unknown user"
    except (OSError, KeyError, ImportError):  # no passwd entry for this uid (containers)
        return "unknown user"


def show_request(req: ApprovalRequest) -> None:
    title = {
        "plan": "Review the plan",
        "revision": f"Re-plan v{req.version} proposed",
        "pause": "Pause",
        "budget": "Budget",
        "command": "Command",
    }[req.kind]
    body = escape(req.reason)
    if req.evidence:
        body += "\n\n[bold]Evidence[/]\n" + "\n".join(f"• {escape(e)}" for e in req.evidence)
    if req.command:
        body += f"\n\n[bold]$ {escape(req.command)}[/]"
    render.panel(body, title=title, style="yellow")
    if req.kind == "plan":
        render.markdown(req.current_markdown)
    if req.proposed_markdown:
        render.md_diff(req.current_markdown, req.proposed_markdown)


def ask_trust(folder: Path, keys: list[str]) -> bool:
    """Once per folder, at a terminal: may its planloop.toml set ``keys``? The answer
    (either way) is remembered in the user's config directory, so this is asked once;
    without a terminal nobody is asked and the keys stay ignored."""
    store = TrustStore()
    if not (sys.stdin.isatty() and sys.stderr.isatty()) or store.decision(folder) is not None:
        return False
    err = console.err
    err.print(
        f"[bold]{escape(str(folder / 'planloop.toml'))}[/] sets "
        f"[yellow]{escape(', '.join(keys))}[/]: settings that send your credentials "
        "somewhere or widen what a model's commands may do. Trust this folder only if "
        "you wrote them or know who did.",
        soft_wrap=True,
    )
    choice = err.input("[bold]Trust this folder?[/] [green]y[/]es / [red]N[/]o > ")
    trusted = choice.strip().lower() in ("y", "yes")
    store.answer(folder, trusted)
    err.print(
        "trusted (planloop trust --revoke undoes it)"
        if trusted
        else "not trusted: those settings stay ignored (planloop trust changes that)"
    )
    return trusted

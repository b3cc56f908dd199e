"""The headless front end: ``planloop plan | run | status | show | diff | cat | ...``.

A translation of :class:`planloop.api.Session`, arguments in and results out, like the
language server; so the two cannot drift apart, nothing here touches the orchestrator,
the store or the checkpoint repository. Output is terse and honest in Aider's manner:
one line per tool call, the condensed observation of each check, cost per step and per
run. Exit codes (DESIGN §4): 0 done, 1 error, 2 usage, 3 waiting for the user,
4 stopped (``eval``: a run was not judged), 130 an interrupted ``eval``; scripts rely on them, so every failure ends in exactly one of them.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.progress import Progress as ProgressBar
from rich.status import Status as Spinner
from rich.table import Table

from planloop import __version__
from planloop.api import RunResult, Session, Side
from planloop.approvals import ApprovalRequest, Approver, AutoApprover, Decision, NoApprover
from planloop.cancel import CancelToken
from planloop.config import Config, load_config
from planloop.document.markdown import render_markdown
from planloop.document.plan import Plan, Question
from planloop.errors import PlanEditError, PlanloopError, UsageError
from planloop.eval.runner import EvalConfig, EvalReport, RunReport, check_options, run_eval
from planloop.eval.tasks import load_tasks
from planloop.events import (
    ApprovalGiven,
    BaselineStarted,
    CheckRan,
    CommandApproval,
    Event,
    EventSink,
    ExecutorToolCall,
    ModeChosen,
    PlannerToolCall,
    Planning,
    Progress,
    Recovered,
    ReplanStarted,
    Retry,
    RevisionProposed,
    RulesWarning,
    StateChanged,
    StepFinished,
    StepStarted,
)
from planloop.lsp.launch import add_serve_arguments, from_namespace
from planloop.redaction import redact
from planloop.roles.questions import WaitingForAnswer
from planloop.wiring import open_session

#: run state → exit code
EXIT = {
    "done": 0,
    "idle": 0,
    "awaiting_approval": 3,
    "paused": 3,
    "stopped": 4,
    "error": 1,
    "cancelled": 1,
    "running": 1,
}

#: error kind → exit code: the one place a failure's exit code is decided. A kind not
#: listed falls back to its class's kind (a model error "auth" to "model"), then to 1.
#: Every failure is 1 today ("waiting" is not one: 3, as for a run awaiting approval);
#: 2 is argparse's alone (bad arguments never reach a command).
ERROR_EXIT = {
    "error": 1,
    "usage": 1,
    "no_plan": 1,
    "unknown_step": 1,
    "invalid_request": 1,
    "not_found": 1,
    "busy": 1,
    "config": 1,
    "store": 1,
    "log_unreadable": 1,
    "model": 1,
    "workspace": 1,
    "path": 1,
    "checkpoint": 1,
    "internal": 1,
    "eval": 1,
    "cassette": 1,
    "plan_edit": 1,
    # a planner question nobody could answer: saved, `planloop answer` goes on
    "waiting": 3,
}

console = Console(highlight=False, stderr=False)
err = Console(stderr=True, highlight=False)


# --- approvals on a terminal ------------------------------------------------------------


class TerminalApprover:
    """Asks at the terminal; with no terminal there is nobody to ask (the run waits)."""

    def __init__(self, spinner: _Progress) -> None:
        self.spinner = spinner

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return None
        with self.spinner.paused():
            show_request(req)
            while True:
                choice = (
                    console.input(
                        "[bold]Approve?[/] [green]y[/]es / [red]n[/]o"
                        + (" / [cyan]d[/]iff" if req.proposed_markdown else "")
                        + " > "
                    )
                    .strip()
                    .lower()
                )
                if choice in ("y", "yes"):
                    return Decision(True, _user())
                if choice in ("n", "no"):
                    fb = console.input("Feedback for the planner (empty to just stop) > ").strip()
                    return Decision(False, _user(), fb or None)
                if choice in ("d", "diff") and req.proposed_markdown:
                    print_md_diff(req.current_markdown, req.proposed_markdown)


class TerminalAnswerer:
    """Answers the planner's ``ask_user`` at the terminal; with none, the question waits
    (``plan`` exits 3 and ``planloop answer`` goes on)."""

    def __init__(self, spinner: _Progress) -> None:
        self.spinner = spinner
        self.by = _user()

    def answer(self, question: Question, cancel: CancelToken | None = None) -> str | None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return None
        with self.spinner.paused():
            show_question(question)
            while True:
                hint = f"1-{len(question.options)} or your own answer" if question.options else ""
                text = console.input(f"[bold]Answer[/]{f' [dim]({hint})[/]' if hint else ''} > ")
                picked = pick_option(question.options, text)
                if picked:
                    return picked


def pick_option(options: list[str], text: str) -> str:
    """A number picks that option; anything else is the answer as typed."""
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    return text


def show_question(q: Question) -> None:
    body = escape(q.question)
    for n, option in enumerate(q.options, 1):
        body += f"\n  [cyan]{n}[/]. {escape(option)}"
    console.print(Panel(body, title="The planner asks", border_style="cyan"))


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "terminal"


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
    console.print(Panel(body, title=title, border_style="yellow"))
    if req.kind == "plan":
        console.print(Markdown(req.current_markdown))
    if req.proposed_markdown:
        print_md_diff(req.current_markdown, req.proposed_markdown)


def print_md_diff(old: str, new: str) -> None:
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), "current", "proposed", lineterm=""
    ):
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        # soft_wrap: a diff line wrapped at the terminal's width would read as two lines
        console.print(escape(line), style=style, soft_wrap=True)


# --- progress -----------------------------------------------------------------------------


class _Progress:
    """A spinner while a model or a check runs, with event lines printed above it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._spin: Spinner | None = None

    def start(self, text: str) -> None:
        if not self.enabled:
            return
        if self._spin is None:
            self._spin = console.status(text, spinner="dots")
            self._spin.start()
        else:
            self._spin.update(text)

    def stop(self) -> None:
        if self._spin is not None:
            self._spin.stop()
            self._spin = None

    class _Paused:
        def __init__(self, p: _Progress) -> None:
            self.p = p
            self.was = False

        def __enter__(self) -> None:
            self.was = self.p._spin is not None
            self.p.stop()

        def __exit__(self, *a: object) -> None:
            if self.was:
                self.p.start("working…")

    def paused(self) -> _Progress._Paused:
        return _Progress._Paused(self)


def make_printer(progress: _Progress) -> EventSink:
    def on_event(ev: Event) -> None:
        match ev:
            case Planning():
                progress.start("planner is exploring the workspace…")
            case ModeChosen():
                progress.stop()
                console.print(f"[bold]mode: {ev.mode}[/] [dim]— {escape(ev.reason)}[/]")
            case RulesWarning():
                warn(ev.message)
            case PlannerToolCall() | ExecutorToolCall():
                who = "planner" if ev.role == "planner" else "  "
                console.print(f"  [dim]{who} · {escape(ev.line)}[/]")
            case StepStarted():
                progress.start(f"executor on {ev.step_id}…")
                console.print(
                    f"[bold cyan]▶ {escape(ev.step_id)}[/] {escape(ev.title)} "
                    f"[dim](attempt {ev.attempt})[/]"
                )
            case CheckRan():
                mark = "[green]✓[/]" if ev.passed else "[red]✗[/]"
                console.print(f"  {mark} {escape(ev.check)}")
                if not ev.passed and ev.observation:
                    for line in ev.observation.splitlines()[:12]:
                        console.print(f"      [red]{escape(line)}[/]")
            case StepFinished():
                color = {"passed": "green", "failed": "red", "blocked": "magenta"}.get(
                    ev.status, "yellow"
                )
                files = ", ".join(ev.files) or "no files"
                console.print(
                    f"  [{color}]■ {ev.status}[/] [dim]{escape(files)} · "
                    f"{ev.cost_text or f'${ev.cost_usd:.4f}'}[/]"
                )
            case Retry():
                console.print("  [yellow]↻ retrying once with the failure observation[/]")
            case ReplanStarted():
                progress.start("planner is revising the plan…")
                console.print(f"[bold yellow]⟳ re-plan ({ev.trigger})[/]: {escape(ev.reason)}")
            case RevisionProposed():
                console.print(
                    f"  proposed v{ev.version} [dim]({ev.cost_text or f'${ev.cost_usd:.4f}'})[/]"
                )
            case ApprovalGiven() | CommandApproval():
                verdict = "[green]approved[/]" if ev.approve else "[red]rejected[/]"
                console.print(f"  {ev.kind} {verdict} by {escape(str(ev.by))}")
            case Recovered():
                files = ", ".join(ev.partial_files) or "none"
                console.print(
                    f"[yellow]recovered an interrupted step {ev.step_id}; partial changes: {escape(files)}"
                    " (put back to its before-checkpoint; it runs again)[/]"
                )
            case StateChanged():
                progress.stop()
            case BaselineStarted():
                progress.start("workspace checks: recording the baseline…")
            case Progress():
                # the spinner follows along; a line when long work starts and ends, so a
                # log without a terminal shows where the time went
                progress.start(ev.message)
                if ev.done == 0 or ev.finished:
                    console.print(f"  [dim]… {escape(ev.message)}[/]")

    return on_event


# --- commands ----------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> Config:
    over: dict[str, Any] = {}
    if args.planner:
        over["planner"] = args.planner
    if args.executor:
        over["executor"] = args.executor
    if getattr(args, "mode", None):
        over["mode"] = args.mode
    if getattr(args, "in_repo", False):
        over["plans_in_repo"] = True
    return load_config(Path(args.workspace).resolve(), over)


def _session(args: argparse.Namespace, approver: Approver, sink: Any = None) -> Session:
    session = open_session(Path(args.workspace), config=_config(args), approver=approver, sink=sink)
    for problem in session.problems():
        warn(problem)
    return session


def warn(message: str) -> None:
    """One line on stderr that does not fail the command (a tolerated fault on disk)."""
    err.print(f"[yellow]warning:[/] {escape(one_line(message))}", soft_wrap=True)


def _approver(args: argparse.Namespace, progress: _Progress) -> Approver:
    if getattr(args, "yes", False):
        return AutoApprover(by="--yes")
    if sys.stdin.isatty():
        return TerminalApprover(progress)
    return NoApprover()


def _finish(res: RunResult, session: Session) -> int:
    st = session.status()
    done, total = st.plan.progress
    color = {
        "done": "green",
        "stopped": "red",
        "error": "red",
        "awaiting_approval": "yellow",
        "paused": "yellow",
    }.get(res.state, "white")
    console.print(
        f"[bold {color}]{res.state}[/]: {escape(res.reason)} "
        f"[dim]· {done}/{total} steps · {st.cost_text}[/]",
        soft_wrap=True,  # one line: scripts read the state from it
    )
    if res.state in ("awaiting_approval", "paused") and st.pending:
        console.print(
            "[yellow]waiting for you:[/] `planloop approve` or `planloop reject [--feedback TEXT]`, "
            "then `planloop run --all`"
        )
    elif res.state == "paused":
        console.print(
            "[yellow]paused, nothing lost:[/] `planloop run --all` resumes from here",
            soft_wrap=True,
        )
    return EXIT.get(res.state, 1)


def cmd_plan(args: argparse.Namespace) -> int:
    """Exit 0 once plan v1 is written, even when it awaits review: writing it was the
    command's whole job, and the review is the next command's (``run`` exits 3 for it).
    Exit 3 when the planner asked a question nobody at a terminal could answer."""
    progress = _Progress(sys.stdout.isatty())
    session = _session(args, _approver(args, progress), make_printer(progress))
    labels(session)
    cancel = CancelToken()
    try:
        with ctrl_c_cancels(cancel):
            plan = session.create_plan(" ".join(args.goal), cancel, TerminalAnswerer(progress))
    except WaitingForAnswer as e:
        return _waiting(e)
    finally:
        progress.stop()
    return _planned(session, plan, args.yes)


def cmd_answer(args: argparse.Namespace) -> int:
    """Answer the planner's waiting question; planning goes on where it stopped."""
    progress = _Progress(sys.stdout.isatty())
    session = _session(args, _approver(args, progress), make_printer(progress))
    pending = session.pending_question()
    if pending is not None:
        console.print(f"[dim]the planner asked: {escape(pending.question.question)}[/]")
    cancel = CancelToken()
    try:
        with ctrl_c_cancels(cancel):
            plan = session.answer(
                " ".join(args.text), by=_user(), cancel=cancel, answerer=TerminalAnswerer(progress)
            )
    except WaitingForAnswer as e:
        return _waiting(e)
    finally:
        progress.stop()
    return _planned(session, plan, args.yes)


def _waiting_question(session: Session) -> bool:
    """Say so when the planner waits for an answer (a damaged question.json: a warning)."""
    try:
        pending = session.pending_question()
    except PlanloopError as e:
        warn(str(e))
        return False
    if pending is None:
        return False
    console.print(
        f"[yellow]the planner waits for your answer[/] (planning {escape(pending.goal)!r}): "
        f'{escape(pending.question.question)} — `planloop answer "..."`',
        soft_wrap=True,
    )
    return True


def _waiting(e: WaitingForAnswer) -> int:
    show_question(e.pending.question)
    console.print(
        '[yellow]waiting for your answer:[/] `planloop answer "..."` goes on planning '
        + (
            "(an option's text or your own words)"
            if e.pending.question.options
            else "(your own words)"
        ),
        soft_wrap=True,
    )
    return ERROR_EXIT["waiting"]


def _planned(session: Session, plan: Plan, yes: bool) -> int:
    console.print(Markdown(render_markdown(plan)))
    if session.config.review_plan_first and yes:
        session.decide_pending(True, by="--yes")
        console.print("[green]plan v1 approved (--yes)[/]")
    elif session.config.review_plan_first:
        console.print(
            "[yellow]review it, then[/] `planloop run --all` (asks) or `planloop approve`"
        )
    return 0


def labels(session: Session) -> None:
    c = session.config
    for role, spec in (("planner", c.planner_spec()), ("executor", c.executor_spec())):
        tag = (
            " [magenta](scripted: replayed model output, not a live model)[/]"
            if spec.startswith("scripted:")
            else ""
        )
        console.print(f"[dim]{role}: {escape(spec)}[/]{tag}")


def cmd_run(args: argparse.Namespace) -> int:
    progress = _Progress(sys.stdout.isatty())
    session = _session(args, _approver(args, progress), make_printer(progress))
    labels(session)
    cancel = CancelToken()
    try:
        with ctrl_c_cancels(cancel):
            res = session.run(step_id=args.step, all_steps=args.all, cancel=cancel)
    finally:
        progress.stop()
    return _finish(res, session)


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
        err.print("[yellow]cancelling… (Ctrl-C again to quit at once)[/]")
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def status_json(session: Session) -> dict[str, Any]:
    view = session.status_view()
    st = view.status
    return {
        "plan_id": st.plan.plan_id,
        "version": st.plan.version,
        "goal": st.plan.goal,
        "state": st.state,
        "reason": st.reason,
        "interrupted": st.interrupted,
        "steps": [
            {"id": s.id, "title": s.title, "status": s.status, "attempts": s.attempts}
            for s in st.plan.steps
        ],
        "replans": st.replans_used,
        "cost_usd": st.cost_usd,
        # False: some calls went to a model with no price, so cost_usd leaves them out
        "cost_known": st.usage.cost_known,
        "cost": st.cost_text,
        "tokens": {
            "input": st.usage.input_tokens,
            "output": st.usage.output_tokens,
            "cache_read": st.usage.cache_read_tokens,
            "cache_write": st.usage.cache_write_tokens,
            "unpriced": st.usage.unpriced_tokens,
        },
        "pending": st.pending.kind if st.pending else None,
        "checkpoints_bytes": view.checkpoints_bytes,
        # the project's instruction files the plan was made and runs under (rules.py)
        "rules_followed": list(st.plan.rules_followed),
    }


def cmd_status(args: argparse.Namespace) -> int:
    session = _session(args, NoApprover())
    if not args.json and _waiting_question(session) and session.current_plan_id() is None:
        return 0  # no plan yet: the waiting question is the whole status
    data = status_json(session)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    st = session.status()
    console.print(f"[bold]{escape(data['goal'])}[/] [dim]{data['plan_id']} v{data['version']}[/]")
    t = Table(show_header=True, header_style="bold", box=None)
    for col in ("#", "step", "status", "tries", "cost"):
        t.add_column(col)
    for n, s in enumerate(st.plan.steps, 1):
        color = {
            "passed": "green",
            "failed": "red",
            "blocked": "magenta",
            "running": "cyan",
            "awaiting_approval": "yellow",
            "reverted": "yellow",
        }.get(s.status, "white")
        cost = s.result.cost_text if s.result else ""
        t.add_row(
            str(n),
            f"{escape(s.title)} [dim]{s.id}[/]",
            f"[{color}]{s.status}[/]",
            str(s.attempts),
            cost,
        )
    console.print(t)
    if st.interrupted:
        console.print(
            f"state: [yellow]interrupted[/] — `planloop run` resumes it "
            f"[dim](the process ended during: {escape(data['reason'])})[/]"
        )
    else:
        console.print(f"state: {data['state']} — {escape(data['reason'])}")
    console.print(
        f"re-plans: {data['replans']} · cost: {data['cost']} · "
        f"checkpoints on disk: {data['checkpoints_bytes'] / 1e6:.1f} MB"
    )
    rules = ", ".join(data["rules_followed"]) or "none found"
    console.print(f"rules followed: {escape(rules)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    session = _session(args, NoApprover())
    plan = session.plan(args.version or None)
    if args.json:
        print(plan.model_dump_json(indent=2))
    elif args.md:
        print(render_markdown(plan))
    else:
        console.print(Markdown(render_markdown(plan)))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    session = _session(args, NoApprover())
    d = session.diff(args.step)
    console.print(
        f"[bold]{escape(d.step.title)}[/] [dim]{d.step.id} {d.before[:10]}..{d.after[:10]}[/]"
    )
    if not d.files:
        console.print("[dim]no changes[/]")
    for f in d.files:
        name = f"{f.old_path} → {f.path}" if f.old_path and f.old_path != f.path else f.path
        console.print(
            f"[bold]{escape(name)}[/] [dim]{f.status}[/] [green]+{f.added}[/] [red]−{f.removed}[/]"
            + (" [dim](binary)[/]" if f.binary else "")
        )
        if args.stat:
            continue
        for line in f.patch.splitlines():
            style = (
                "green"
                if line.startswith("+")
                else "red"
                if line.startswith("-")
                else "cyan"
                if line.startswith("@@")
                else None
            )
            console.print(escape(line), style=style)
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    """Raw bytes, not rendered text: the point is ``planloop cat STEP PATH > copy`` giving
    back exactly what the step saw or left, binary files included."""
    session = _session(args, NoApprover())
    side: Side = "before" if args.before else "after"
    data = session.file_at_step(args.step, args.path, side)
    if data is None:
        raise PlanloopError(
            f"{args.path} did not exist {side} step {args.step!r}",
            kind="not_found",
        )
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def cmd_revert(args: argparse.Namespace) -> int:
    session = _session(args, NoApprover())
    res = session.revert(args.step, args.paths or None)
    for p in res.restored:
        console.print(f"[green]restored[/] {escape(p)}")
    for c in res.conflicts:
        console.print(f"[red]conflict[/] {escape(c.path)}: {escape(c.reason)} (left as it is)")
    if not res.restored and not res.conflicts:
        console.print("[dim]nothing to restore[/]")
    return 0 if not res.conflicts else 4


def cmd_replan(args: argparse.Namespace) -> int:
    progress = _Progress(sys.stdout.isatty())
    session = _session(args, _approver(args, progress), make_printer(progress))
    res = session.replan(reason=args.reason, goal=args.goal)
    progress.stop()
    return _finish(res, session)


def cmd_decide(args: argparse.Namespace, approve: bool) -> int:
    progress = _Progress(sys.stdout.isatty())
    session = _session(args, _approver(args, progress), make_printer(progress))
    by = getattr(args, "by", None) or _user()
    res = session.decide_pending(approve, by=by, feedback=getattr(args, "feedback", None))
    progress.stop()
    return _finish(res, session)


def cmd_mode(args: argparse.Namespace) -> int:
    session = _session(args, NoApprover())
    cancel = CancelToken()
    with ctrl_c_cancels(cancel):
        plan = session.set_mode(args.run_mode, by=args.by or _user(), cancel=cancel)
    console.print(Markdown(render_markdown(plan)))
    console.print(f"plan v{plan.version} runs {plan.mode}; `planloop run --all` when ready")
    return 0


#: the largest plan document ``edit --from`` reads: a plan is a page, not a data file
MAX_EDIT_BYTES = 1_000_000


def cmd_edit(args: argparse.Namespace) -> int:
    """The plan document, edited by a person, becomes the next version (no approval: they
    made it). Whatever goes wrong after the text exists, the text is kept under
    ``.planloop/edits/`` and the message says where: an edit is never lost."""
    session = _session(args, NoApprover())
    current = render_markdown(session.plan())
    text = _read_edit(Path(args.from_file)) if args.from_file else _edit_in_editor(session, current)
    if text is None or text == current:
        console.print("no change: nothing written")
        return 0
    by = args.by or _user()
    try:
        if sys.stdin.isatty() and sys.stdout.isatty():
            preview = session.check_edit(text, author=by)
            if preview.problems:
                raise PlanEditError(preview.problems)
            if preview.plan is None or not preview.changed:
                console.print("no change: nothing written")
                return 0
            print_md_diff(current, render_markdown(preview.plan))
            answer = console.input(f"[bold]Apply as v{preview.plan.version}?[/] y/n > ")
            if answer.strip().lower() not in ("y", "yes"):
                kept = session.keep_edit(text)
                console.print(
                    f"not applied; your edit is kept at {escape(str(kept))}", soft_wrap=True
                )
                return 1
        before = session.plan().version
        plan = session.edit_plan(text, author=by)
    except PlanEditError as e:
        kept = session.keep_edit(text)
        for p in e.problems:
            where = f"line {p.line}" if p.line else "plan"
            err.print(f"[red]{where}:[/] {escape(one_line(p.message))}", soft_wrap=True)
        err.print(
            f"the edit was not applied (no version written); your text is kept at "
            f"{escape(str(kept))} — fix it and run `planloop edit --from {escape(str(kept))}`",
            soft_wrap=True,
        )
        return error_exit(e)
    except PlanloopError as e:
        kept = session.keep_edit(text)
        raise PlanloopError(f"{e.message} (your edit is kept at {kept})", kind=e.kind) from None
    if plan.version == before:
        console.print("no change: nothing written")
        return 0
    console.print(f"plan v{plan.version} recorded (edited by {escape(by)})")
    return 0


def _read_edit(path: Path) -> str:
    """A plan document from a file, refused before parsing when it cannot be one."""
    try:
        size = path.stat().st_size
        if size > MAX_EDIT_BYTES:
            raise UsageError(
                f"{path} is {size} bytes: a plan document is at most {MAX_EDIT_BYTES} bytes "
                "(nothing written)"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (nothing written)") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a plan document (nothing written)") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e} (nothing written)") from None
    if b"\0" in data:
        raise UsageError(f"{path} is a binary file, not a plan document (nothing written)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path} is not UTF-8 text (byte {e.start}): not a plan document (nothing written)"
        ) from None


def _edit_in_editor(session: Session, current: str) -> str | None:
    """``$VISUAL``/``$EDITOR`` on a temporary copy of the current version's Markdown (the
    copy, so an editor left open cannot race the next save of ``.planloop/plan.md``)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise UsageError("set $VISUAL or $EDITOR, or give the edited plan with --from FILE")
    with tempfile.TemporaryDirectory(prefix="planloop-edit-") as d:
        path = Path(d) / "plan.md"
        path.write_text(current, "utf-8")
        try:
            done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as e:
            raise UsageError(f"cannot start the editor {editor!r}: {e.strerror or e}") from None
        text = path.read_text("utf-8", errors="replace")
        if done.returncode != 0:
            if text != current:
                kept = session.keep_edit(text)
                raise UsageError(
                    f"the editor {editor!r} exited with {done.returncode}: edit not applied, "
                    f"your text is kept at {kept}"
                )
            raise UsageError(f"the editor {editor!r} exited with {done.returncode}")
        return text


def cmd_log(args: argparse.Namespace) -> int:
    read = _session(args, NoApprover()).event_log()
    for skipped in read.skipped:
        warn(skipped)
    events = read.events
    if args.json:
        for e in events:
            print(json.dumps(e))
        return 0
    for e in events:
        rest = {k: v for k, v in e.items() if k not in ("at", "type")}
        console.print(
            f"[dim]{e.get('at')}[/] [bold]{e.get('type')}[/] {escape(json.dumps(rest)[:200])}"
        )
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    session = _session(args, NoApprover())
    if args.reset_shadow:
        moved = session.reset_checkpoints()
        where = f"moved aside to {moved}" if moved else "there was none"
        console.print(
            f"checkpoint repository {where}; the next step starts a fresh one. "
            "Your files were not touched; diffs and reverts of earlier steps are gone."
        )
        return 0
    res = session.clean(keep_current=args.keep_current)
    console.print(
        f"checkpoints of finished plans dropped; {res.freed_bytes / 1e6:.1f} MB freed, "
        f"{res.in_use_bytes / 1e6:.1f} MB in use"
    )
    return 0


# --- eval ----------------------------------------------------------------------------------


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def _tokens(tokens: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{role[0]} {_k(t['input'] + t['output'])}"
        for role, t in tokens.items()
        if t["input"] + t["output"]
    ]
    return " · ".join(parts) or "0"


def eval_table(report: EvalReport) -> Table:
    t = Table(title="planloop eval", show_lines=False)
    for col in ("task", "config", "solved", "mode", "steps", "re-plans", "calls"):
        t.add_column(col)
    t.add_column("tokens (p/e/j)")
    t.add_column("cost", justify="right")
    t.add_column("wall", justify="right")
    for r in report.runs:
        mark = "[green]✓[/]" if r.solved else "[red]✗[/]"
        note = " [yellow]timeout[/]" if r.timed_out else ""
        note += " [yellow]interrupted[/]" if r.interrupted else ""
        note += " [red]check did not run[/]" if r.check_error else ""
        mode = r.mode or "-"
        if r.final_mode and r.final_mode != r.mode:
            mode += f"→{r.final_mode}"
        t.add_row(
            escape(r.task) + (f" #{r.repeat}" if r.repeat > 1 else ""),
            escape(r.config),
            mark + note,
            mode,
            str(r.steps),
            str(r.replans),
            str(r.model_calls),
            _tokens(r.tokens),
            f"${r.cost_usd:.4f}",
            f"{r.wall_s:.1f}s",
        )
    for label, tot in report.totals().items():
        t.add_row(
            "[bold]total[/]",
            escape(label),
            f"[bold]{tot.solved}/{tot.runs}[/]",
            "",
            str(tot.steps),
            str(tot.replans),
            str(tot.model_calls),
            _tokens(tot.tokens),
            f"${tot.cost_usd:.4f}",
            f"{tot.wall_s:.1f}s",
        )
    return t


def compare_table(report: EvalReport) -> Table:
    a, b = report.configs[:2]
    t = Table(title=f"planloop eval: {a} vs {b}")
    t.add_column("task")
    for col in ("solved", "calls", "cost", "wall"):
        t.add_column(f"{col} {a}", justify="right")
        t.add_column(f"{col} {b}", justify="right")
    t.add_column(f"Δ wall ({b}-{a})", justify="right")
    by = {(r.task, r.repeat, r.config): r for r in report.runs}
    keys = sorted({(r.task, r.repeat) for r in report.runs})
    for task, rep in keys:
        ra, rb = by.get((task, rep, a)), by.get((task, rep, b))
        if ra is None or rb is None:
            continue
        t.add_row(
            escape(task) + (f" #{rep}" if rep > 1 else ""),
            "✓" if ra.solved else "✗",
            "✓" if rb.solved else "✗",
            str(ra.model_calls),
            str(rb.model_calls),
            f"${ra.cost_usd:.4f}",
            f"${rb.cost_usd:.4f}",
            f"{ra.wall_s:.1f}s",
            f"{rb.wall_s:.1f}s",
            f"{rb.wall_s - ra.wall_s:+.1f}s",
        )
    ta, tb = report.totals()[a], report.totals()[b]
    t.add_row(
        "[bold]total[/]",
        f"{ta.solved}/{ta.runs}",
        f"{tb.solved}/{tb.runs}",
        str(ta.model_calls),
        str(tb.model_calls),
        f"${ta.cost_usd:.4f}",
        f"${tb.cost_usd:.4f}",
        f"{ta.wall_s:.1f}s",
        f"{tb.wall_s:.1f}s",
        f"{tb.wall_s - ta.wall_s:+.1f}s",
    )
    return t


def cmd_eval(args: argparse.Namespace) -> int:
    """Exit 0 when every run was judged (solved or not), 4 when a run timed out or its
    hidden check did not run, 130 when interrupted (the partial report is still written)."""
    given = [args.mode] if isinstance(args.mode, str) else args.mode  # `planloop --mode X eval`
    modes = list(args.compare) if args.compare else list(given or ["auto"])
    if args.compare and args.mode:
        raise UsageError("--compare A B names the two modes; drop --mode")
    configs = [EvalConfig(m, args.planner, args.executor) for m in modes]
    tasks = load_tasks(Path(args.tasks) if args.tasks else None)
    check_options(configs, args.repeat, args.jobs)
    total = len(tasks) * len(configs) * args.repeat
    err.print(f"[dim]{len(tasks)} task(s) × {len(configs)} configuration(s) × {args.repeat}[/]")
    if not (args.planner or args.executor):
        err.print("[magenta]scripted models: this measures the harness, not a model[/]")
    with ProgressBar(console=err, transient=True, disable=not err.is_terminal) as bar:
        job = bar.add_task("eval", total=total)

        def progress(done: int, n: int, r: RunReport) -> None:
            bar.update(job, completed=done)
            if not err.is_terminal:
                mark = "solved" if r.solved else "not solved"
                err.print(f"[{done}/{n}] {r.task} {r.config}: {mark} ({r.wall_s:.1f}s)")

        report = run_eval(
            tasks,
            configs,
            repeat=args.repeat,
            jobs=args.jobs,
            record=Path(args.record) if args.record else None,
            replay=Path(args.replay) if args.replay else None,
            on_progress=progress,
        )
    console.print(eval_table(report))
    if len(configs) == 2:
        console.print(compare_table(report))
    for r in report.runs:
        if not r.judged:
            why = r.error or r.check_error or ""
            err.print(f"[yellow]{escape(r.task)} {escape(r.config)}:[/] {escape(one_line(why))}")
    if args.json:
        report.write_json(Path(args.json))
    if args.csv:
        report.write_csv(Path(args.csv))
    if report.interrupted:
        err.print("[red]interrupted:[/] partial report; temporary copies removed")
        return 130
    return 0 if report.all_judged else 4


def cmd_doctor(args: argparse.Namespace) -> int:
    """Each role's model, endpoint and key presence, one live tool call each; 1 on failure."""
    checks = _session(args, NoApprover()).check_models()
    if args.json:
        print(
            json.dumps(
                {"ok": all(c.ok for c in checks), "checks": [c.to_dict() for c in checks]}, indent=2
            )
        )
    else:
        for c in checks:
            mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
            where = [c.endpoint] if c.endpoint != "-" else []
            if c.key_env is not None:
                where.append(f"{c.key_env} {'set' if c.key_present else 'not set'}")
            elif where and c.key_present is None and c.seconds is not None:
                where.append("no key needed")
            if c.seconds is not None:
                where.append(f"{c.seconds:.2f}s")
            console.print(
                f"{mark} [bold]{c.role}[/] {escape(c.label)} [dim]· {escape(' · '.join(where))}[/]",
                soft_wrap=True,
            )
            console.print(f"    {escape(one_line(c.detail))}", soft_wrap=True)
    return 0 if all(c.ok for c in checks) else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from planloop.lsp.server import main as serve

    if isinstance(args.workspace, _Default):  # not given: the client's folders decide
        args.workspace = None
    serve(launch=from_namespace(args))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from planloop.demo import run_demo

    return run_demo(example=args.example, keep=args.keep, cli_main=main)


class _Default(str):
    """The default ``--workspace``, told apart from an explicit ``--workspace .``: for
    ``serve`` an unset workspace means "the client's folders"."""


def build_parser() -> argparse.ArgumentParser:
    def shared(defaults: bool, mode: bool = True) -> argparse.ArgumentParser:
        # the options are accepted before and after the subcommand; only the top level
        # holds defaults, so a subcommand's unset option cannot overwrite a value given
        # before it (`planloop --workspace DIR status`)
        d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
        c = argparse.ArgumentParser(add_help=False)
        c.add_argument("--workspace", default=d(_Default(".")), help="workspace root (default: .)")
        c.add_argument(
            "--planner",
            default=d(None),
            help="planner model spec, e.g. anthropic:claude-opus-5-5 "
            "or scripted:FILE (env PLANLOOP_PLANNER)",
        )
        c.add_argument(
            "--executor", default=d(None), help="executor model spec (env PLANLOOP_EXECUTOR)"
        )
        if mode:  # eval's own --mode takes several
            c.add_argument(
                "--mode",
                choices=["auto", "split", "joint"],
                default=d(None),
                help="how a new plan runs: auto (the planner's horizon decides; default), "
                "split (planner + executor per step) or joint (one model, one loop) "
                "(env PLANLOOP_MODE)",
            )
        c.add_argument(
            "--debug",
            action="store_true",
            default=d(False),
            help="on an error, show the traceback too",
        )
        return c

    common = shared(defaults=False)
    common_no_mode = shared(defaults=False, mode=False)
    p = argparse.ArgumentParser(
        prog="planloop", description="A plan-then-act coding agent.", parents=[shared(True)]
    )
    # top level only: `show --version N` is a different option of one subcommand
    p.add_argument("--version", action="version", version=f"planloop {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("plan", parents=[common], help="write a plan for GOAL")
    s.add_argument("goal", nargs="+")
    s.add_argument("--yes", action="store_true", help="approve plan v1 without asking")
    s.add_argument(
        "--in-repo",
        action="store_true",
        help="keep plan versions and plan.md committable (plans_in_repo; run state stays ignored)",
    )
    s.set_defaults(fn=cmd_plan)

    s = sub.add_parser(
        "answer", parents=[common], help="answer the planner's waiting question, go on planning"
    )
    s.add_argument("text", nargs="+", help="your answer (an option's text or your own words)")
    s.add_argument("--yes", action="store_true", help="approve plan v1 without asking")
    s.set_defaults(fn=cmd_answer)

    s = sub.add_parser("run", parents=[common], help="run the next step, one step, or all")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--all", action="store_true")
    g.add_argument("--step")
    s.add_argument(
        "--yes",
        action="store_true",
        help="approve plan reviews, re-plans and pauses (not unlisted commands, not the dollar budget)",
    )
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("status", parents=[common], help="the plan's state")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("show", parents=[common], help="the plan document")
    f = s.add_mutually_exclusive_group()
    f.add_argument("--md", action="store_true")
    f.add_argument("--json", action="store_true")
    s.add_argument("--version", type=int)
    s.set_defaults(fn=cmd_show)

    s = sub.add_parser("diff", parents=[common], help="what a step changed")
    s.add_argument("step")
    s.add_argument("--stat", action="store_true")
    s.set_defaults(fn=cmd_diff)

    s = sub.add_parser(
        "cat", parents=[common], help="a file as a step left it (or found it: --before)"
    )
    s.add_argument("step")
    s.add_argument("path")
    s.add_argument("--before", action="store_true", help="as it was before the step's last attempt")
    s.set_defaults(fn=cmd_cat)

    s = sub.add_parser("revert", parents=[common], help="undo a step's changes")
    s.add_argument("step")
    s.add_argument("paths", nargs="*")
    s.set_defaults(fn=cmd_revert)

    s = sub.add_parser("replan", parents=[common], help="ask the planner for a new version")
    s.add_argument("--reason")
    s.add_argument("--goal", help="change the goal (a goal_changed revision)")
    s.add_argument("--yes", action="store_true")
    s.set_defaults(fn=cmd_replan)

    s = sub.add_parser("approve", parents=[common], help="approve what is pending")
    s.add_argument("--by")
    s.set_defaults(fn=lambda a: cmd_decide(a, True))

    s = sub.add_parser("reject", parents=[common], help="reject what is pending")
    s.add_argument(
        "--feedback", help="for the planner: a rejected re-plan with feedback is re-proposed"
    )
    s.add_argument("--by")
    s.set_defaults(fn=lambda a: cmd_decide(a, False))

    s = sub.add_parser(
        "mode", parents=[common], help="at review: run the plan split or joint instead"
    )
    s.add_argument("run_mode", choices=["split", "joint"], metavar="split|joint")
    s.add_argument("--by")
    s.set_defaults(fn=cmd_mode)

    s = sub.add_parser(
        "edit",
        parents=[common],
        help="edit the plan document in $VISUAL/$EDITOR (or apply --from FILE): a new version",
    )
    s.add_argument("--from", dest="from_file", metavar="FILE", help="apply FILE, no editor")
    s.add_argument("--by", help="the author recorded (default: $USER)")
    s.set_defaults(fn=cmd_edit)

    s = sub.add_parser("log", parents=[common], help="the event log")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_log)

    s = sub.add_parser(
        "doctor",
        parents=[common],
        help="check each role's model: endpoint, key present, one live tool call (exit 1 on failure)",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_doctor)

    s = sub.add_parser("clean", parents=[common], help="drop checkpoints of finished plans")
    s.add_argument("--keep-current", action="store_true")
    s.add_argument(
        "--reset-shadow",
        action="store_true",
        help="start the checkpoint repository afresh (after a 'damaged' error); moves it aside",
    )
    s.set_defaults(fn=cmd_clean)

    s = sub.add_parser(
        "serve",
        parents=[common_no_mode],
        help="the language server on stdio (--workspace: its default folder; "
        "--planner/--executor: its models, overridden by the editor's settings)",
    )
    add_serve_arguments(s)
    s.set_defaults(fn=cmd_serve)

    s = sub.add_parser(
        "eval",
        parents=[common_no_mode],
        help="run a task set (default: the starter set) and report solved, cost, tokens, time",
    )
    s.add_argument("tasks", nargs="?", help="a task folder or a folder of them")
    s.add_argument(
        "--mode", nargs="+", choices=["split", "joint", "auto"], help="one or more modes"
    )
    s.add_argument("--compare", nargs=2, metavar=("A", "B"), choices=["split", "joint", "auto"])
    s.add_argument("--repeat", type=int, default=1)
    s.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    s.add_argument("--json", metavar="FILE")
    s.add_argument("--csv", metavar="FILE")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--record", metavar="DIR", help="store every model request/response")
    g.add_argument("--replay", metavar="DIR", help="answer from a --record DIR, offline")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser(
        "demo", parents=[common], help="the offline demo on the bundled calculator example"
    )
    s.add_argument("--example", help="example folder (default: the bundled calculator)")
    s.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    s.set_defaults(fn=cmd_demo)
    return p


def error_exit(e: PlanloopError) -> int:
    return ERROR_EXIT.get(e.kind, ERROR_EXIT.get(e.family, 1))


def one_line(text: str) -> str:
    """A message as one redacted line: scripts read stderr's last line, and a wrapped or
    multi-line message (git's stderr, a validation list) would be cut in half."""
    return " ".join(part.strip() for part in redact(text).splitlines() if part.strip())


def _fail(message: str, debug: bool) -> None:
    if debug:
        sys.stderr.write(redact(traceback.format_exc()))
    # soft_wrap: rich would otherwise wrap at 80 columns when stderr is not a terminal
    err.print(f"[red]error:[/] {escape(one_line(message))}", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args.fn(args))
    except PlanloopError as e:
        _fail(str(e), debug)
        return error_exit(e)
    except BrokenPipeError:  # `planloop log | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        return 1
    except Exception as e:  # a bug: still one line and an exit code, never a traceback
        _fail(f"internal error: {type(e).__name__}: {e} (--debug shows where)", debug)
        return ERROR_EXIT["internal"]


if __name__ == "__main__":
    sys.exit(main())

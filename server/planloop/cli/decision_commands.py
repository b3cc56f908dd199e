"""``answer``, ``approve``/``reject``, ``mode`` and ``edit``: a person's say in the plan.

A decision is recorded with who made it (``--by``, else ``$USER``). An edited plan
document becomes the next version without approval, since its author is the reviewer.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.markup import escape

from planloop.api import Session
from planloop.approvals import NoApprover
from planloop.cancel import CancelToken
from planloop.cli import console, render
from planloop.cli.approver import TerminalAnswerer, choose_approver, said_option, user
from planloop.cli.common import ctrl_c_cancels, finish, planned, session_for, waiting
from planloop.cli.exits import error_exit
from planloop.cli.progress import Spinner, make_printer
from planloop.document.markdown import render_markdown
from planloop.errors import PlanEditError, PlanloopError, UsageError
from planloop.roles.questions import WaitingForAnswer, pick_option

#: the largest plan document ``edit --from`` reads: a plan is a page, not a data file
MAX_EDIT_BYTES = 1_000_000


def cmd_answer(args: argparse.Namespace) -> int:
    """Answer the planner's waiting question; planning goes on where it stopped."""
    progress = Spinner.for_stdout()
    session = session_for(args, choose_approver(args, progress), make_printer(progress))
    pending = session.pending_question()
    text, n = " ".join(args.text), None
    if pending is not None:
        console.out.print(f"[dim]the planner asked: {escape(pending.question.question)}[/]")
        # the question was printed with numbered options: `answer 2` means the second
        text, n = pick_option(pending.question.options, text)
        said_option(n, text)
    cancel = CancelToken()
    try:
        with ctrl_c_cancels(cancel):
            plan = session.answer(
                text, by=user(), cancel=cancel, answerer=TerminalAnswerer(progress)
            )
    except WaitingForAnswer as e:
        return waiting(e)
    finally:
        progress.stop()
    return planned(session, plan, args.yes)


def cmd_decide(args: argparse.Namespace, approve: bool) -> int:
    progress = Spinner.for_stdout()
    session = session_for(args, choose_approver(args, progress), make_printer(progress))
    by = getattr(args, "by", None) or user()
    res = session.decide_pending(approve, by=by, feedback=getattr(args, "feedback", None))
    progress.stop()
    return finish(res, session)


def cmd_approve(args: argparse.Namespace) -> int:
    return cmd_decide(args, True)


def cmd_reject(args: argparse.Namespace) -> int:
    return cmd_decide(args, False)


def cmd_mode(args: argparse.Namespace) -> int:
    session = session_for(args, NoApprover())
    cancel = CancelToken()
    with ctrl_c_cancels(cancel):
        plan = session.set_mode(args.run_mode, by=args.by or user(), cancel=cancel)
    render.markdown(render_markdown(plan))
    pending = session.status().pending
    if pending is not None and pending.kind == "plan":
        # choosing the mode approved nothing: without a terminal `run --all` would stop
        # at the review, so the next step printed is the one that works everywhere
        console.out.print(
            f"plan v{plan.version} runs {plan.mode}, not yet approved; review it, then "
            "`planloop approve`, then `planloop run --all`",
            soft_wrap=True,
        )
    else:
        console.out.print(
            f"plan v{plan.version} runs {plan.mode}; `planloop run --all` when ready",
            soft_wrap=True,
        )
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    """The plan document, edited by a person, becomes the next version (no approval: they
    made it). Whatever goes wrong after the text exists, the text is kept under
    ``.planloop/edits/`` and the message says where: an edit is never lost."""
    out, err = console.out, console.err
    # a hand edit of .planloop/plan.md is this command's to resolve: the editor starts
    # from it, and whatever replaces it is applied only after it is kept
    session = session_for(args, NoApprover(), adopt=False)
    current = render_markdown(session.plan())
    hand = session.document_edit()
    start = current if hand is None else hand
    text = _read_edit(Path(args.from_file)) if args.from_file else _edit_in_editor(session, start)
    if hand is not None and text != hand:
        kept = session.keep_edit(hand, reuse=True)
        render.warn(f"your hand edit of {session.document_path()} is replaced; kept at {kept}")
    if text is None or text == current:
        if hand is not None:
            session.restore_document()
        out.print("no change: nothing written")
        return 0
    by = args.by or user()
    try:
        if sys.stdin.isatty() and sys.stdout.isatty():
            preview = session.check_edit(text, author=by)
            if preview.problems:
                raise PlanEditError(preview.problems)
            if preview.plan is None or not preview.changed:
                out.print("no change: nothing written")
                return 0
            render.md_diff(current, render_markdown(preview.plan))
            answer = out.input(f"[bold]Apply as v{preview.plan.version}?[/] y/n > ")
            if answer.strip().lower() not in ("y", "yes"):
                kept = session.keep_edit(text)
                out.print(f"not applied; your edit is kept at {escape(str(kept))}", soft_wrap=True)
                return 1
        before = session.plan().version
        plan = session.edit_plan(text, author=by)
    except PlanEditError as e:
        kept = session.keep_edit(text)
        for p in e.problems:
            where = f"line {p.line}" if p.line else "plan"
            err.print(f"[red]{where}:[/] {escape(render.one_line(p.message))}", soft_wrap=True)
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
        out.print("no change: nothing written")
        return 0
    out.print(f"plan v{plan.version} recorded (edited by {escape(by)})")
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

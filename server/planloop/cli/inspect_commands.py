"""``status``, ``show``, ``diff``, ``cat`` and ``log``: reading a plan and its run.

None of them changes anything. Each has a form for scripts: ``--json``, the plan's own
Markdown (``show`` to a pipe, or ``--md``), or ``cat``'s raw bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.markup import escape
from rich.table import Table

from planloop.api import Session, Side
from planloop.approvals import NoApprover
from planloop.cli import console, render
from planloop.cli.common import session_for, waiting_question
from planloop.document.markdown import render_markdown
from planloop.errors import PlanloopError

#: a step's status → its colour in ``status``
STATUS_COLOR = {
    "passed": "green",
    "failed": "red",
    "blocked": "magenta",
    "running": "cyan",
    "awaiting_approval": "yellow",
    "reverted": "yellow",
}


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
        # what the last run's commands ran in (the sandbox, or "off"); null before any run
        "sandbox": st.sandbox,
        # the models the plan runs with (remembered, or as this command's flags chose)
        "planner_spec": st.planner_spec,
        "executor_spec": st.executor_spec,
    }


def cmd_status(args: argparse.Namespace) -> int:
    session = session_for(args, NoApprover())
    if not args.json and waiting_question(session) and session.current_plan_id() is None:
        return 0  # no plan yet: the waiting question is the whole status
    data = status_json(session)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    out = console.out
    st = session.status()
    out.print(f"[bold]{escape(data['goal'])}[/] [dim]{data['plan_id']} v{data['version']}[/]")
    t = Table(show_header=True, header_style="bold", box=None)
    for col in ("#", "step", "status", "tries", "cost"):
        t.add_column(col)
    for n, s in enumerate(st.plan.steps, 1):
        color = STATUS_COLOR.get(s.status, "white")
        cost = s.result.cost_text if s.result else ""
        t.add_row(
            str(n),
            f"{escape(s.title)} [dim]{s.id}[/]",
            f"[{color}]{s.status}[/]",
            str(s.attempts),
            cost,
        )
    render.table(t)
    if st.interrupted:
        out.print(
            f"state: [yellow]interrupted[/] — `planloop run` resumes it "
            f"[dim](the process ended during: {escape(data['reason'])})[/]"
        )
    else:
        out.print(f"state: {data['state']} — {escape(data['reason'])}")
    out.print(
        f"re-plans: {data['replans']} · cost: {data['cost']} · "
        f"checkpoints on disk: {data['checkpoints_bytes'] / 1e6:.1f} MB"
    )
    rules = ", ".join(data["rules_followed"]) or "none found"
    out.print(f"rules followed: {escape(rules)}")
    if data["sandbox"]:
        out.print(f"sandbox: {escape(data['sandbox'])}", soft_wrap=True)
    if data["planner_spec"] or data["executor_spec"]:
        out.print(
            f"models: planner {escape(str(data['planner_spec']))} · "
            f"executor {escape(str(data['executor_spec']))}",
            soft_wrap=True,
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Rendered on a terminal; to a pipe (or with ``--md``) the lossless document, so
    ``planloop show > plan.md`` and ``planloop edit --from plan.md`` round-trip.

    A re-plan awaiting approval is shown by its number; the line saying it is pending
    goes to stderr, so stdout stays the document itself for scripts."""
    session = session_for(args, NoApprover())
    pending = session.pending_proposal()
    if pending is not None and args.version == pending.version:
        plan = pending  # a proposal is not a version yet, but it is what the person decides on
        render.note(
            f"re-plan v{pending.version} is pending (awaiting approval), not yet the plan: "
            "`planloop approve` makes it the next version, `planloop reject "
            "[--feedback TEXT]` declines it"
        )
    else:
        plan = session.plan(args.version or None)
        if pending is not None and not args.version:
            render.note(
                f"re-plan v{pending.version} is awaiting approval: `planloop show --version "
                f"{pending.version}` shows it, then `planloop approve` or `planloop reject`"
            )
    if args.json:
        print(plan.model_dump_json(indent=2))
    elif args.md:
        print(render_markdown(plan))
    else:
        render.markdown(render_markdown(plan))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    out = console.out
    session = session_for(args, NoApprover())
    d = session.diff(args.step)
    out.print(
        f"[bold]{escape(d.step.title)}[/] [dim]{d.step.id} {d.before[:10]}..{d.after[:10]}[/]"
    )
    if not d.files:
        out.print("[dim]no changes[/]")
    for f in d.files:
        name = f"{f.old_path} → {f.path}" if f.old_path and f.old_path != f.path else f.path
        out.print(
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
            out.print(escape(line), style=style)
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    """Raw bytes, not rendered text: the point is ``planloop cat STEP PATH > copy`` giving
    back exactly what the step saw or left, binary files included."""
    session = session_for(args, NoApprover())
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


def cmd_log(args: argparse.Namespace) -> int:
    read = session_for(args, NoApprover()).event_log()
    for skipped in read.skipped:
        render.warn(skipped)
    events = read.events
    if args.json:
        for e in events:
            print(json.dumps(e))
        return 0
    terminal = console.out.is_terminal
    for e in events:
        rest = json.dumps({k: v for k, v in e.items() if k not in ("at", "type")})
        console.out.print(
            f"[dim]{e.get('at')}[/] [bold]{e.get('type')}[/] "
            f"{escape(shortened(rest) if terminal else rest)}",
            soft_wrap=not terminal,
        )
    return 0


#: how much of an event's fields a terminal line shows (``--json`` or a pipe: all)
LOG_LINE_CHARS = 200


def shortened(fields: str, limit: int = LOG_LINE_CHARS) -> str:
    """An event's JSON fields cut for a terminal line at a field's end, or else a word's,
    never inside a word, and saying it was cut: a cut mid-word read as the value itself."""
    if len(fields) <= limit:
        return fields
    head = fields[:limit]
    cut = head.rfind(', "')  # the end of the last whole field
    if cut <= 0:
        cut = head.rfind(" ")
    if cut <= 0:
        cut = limit
    return f"{fields[:cut].rstrip(',')} … (cut; planloop log --json has every field)"

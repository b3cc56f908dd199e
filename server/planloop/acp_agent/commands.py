"""The slash commands, announced with ``available_commands_update``.

Each is one core API call and its result as a message (``/diff`` also as an ACP
``diff`` tool call per file, so the client can show it in its diff view). ``/mode``
sets how the plan runs: at review, ``split`` or ``joint`` switches the waiting plan
(``planloop mode``); any of ``split|joint|auto`` becomes this session's setting for the
plans it makes next.
"""

from __future__ import annotations

import difflib

from acp.helpers import start_tool_call, tool_diff_content, update_available_commands
from acp.schema import (
    AvailableCommand,
    AvailableCommandInput,
    AvailableCommandsUpdate,
    McpServerStdio,
    UnstructuredCommandInput,
)

from planloop.acp_agent.session import AcpSession, McpServer
from planloop.acp_agent.turns import StopReason, in_thread, report, say
from planloop.cancel import CancelToken
from planloop.document.plan import RunMode
from planloop.errors import PlanloopError

COMMANDS: dict[str, tuple[str, str | None]] = {
    "status": ("the plan's state, progress and cost", None),
    "diff": ("what a step changed", "STEP"),
    "revert": ("undo a step's changes", "STEP"),
    "replan": ("ask the planner for a new version", "REASON"),
    "mode": ("how plans run: split, joint or auto", "split|joint|auto"),
    "clean": ("drop the checkpoints of finished plans", None),
}
RUN_MODES = ("split", "joint", "auto")
#: what a plan at review can be switched to (``auto`` is a setting for new plans only)
RUN_AT_REVIEW: dict[str, RunMode] = {"split": "split", "joint": "joint"}


def available() -> AvailableCommandsUpdate:
    return update_available_commands(
        AvailableCommand(
            name=name,
            description=what,
            input=AvailableCommandInput(root=UnstructuredCommandInput(hint=hint)) if hint else None,
        )
        for name, (what, hint) in COMMANDS.items()
    )


async def run_command(s: AcpSession, text: str) -> StopReason:
    name, _, arg = text[1:].partition(" ")
    arg = arg.strip()
    if name not in COMMANDS:
        say(s, f"unknown command /{name}; the commands: " + ", ".join(f"/{c}" for c in COMMANDS))
        await s.outbox.flush()
        return "end_turn"
    hint = COMMANDS[name][1]
    if hint and not arg and name != "replan":
        say(s, f"/{name} needs {hint}: /{name} {hint}")
        await s.outbox.flush()
        return "end_turn"
    work = {
        "status": lambda c: _status(s),
        "diff": lambda c: _diff(s, arg),
        "revert": lambda c: _revert(s, arg),
        "replan": lambda c: _replan(s, arg, c),
        "mode": lambda c: _mode(s, arg, c),
        "clean": lambda c: _clean(s),
    }[name]
    return await in_thread(s, work)


def _status(s: AcpSession) -> None:
    if s.mcp_servers:
        names = ", ".join(f"{m.name} ({_transport(m)})" for m in s.mcp_servers)
        say(s, f"MCP servers from the client: {names} (started with each plan or run)")
    try:
        st = s.api.status_view().status
    except PlanloopError as e:
        say(s, str(e))
        return
    s.send_plan(st.plan)
    done, total = st.plan.progress
    lines = [
        f"**{st.state}**: {st.reason}",
        f"plan {st.plan.plan_id} v{st.plan.version}: {st.plan.goal}",
        f"{done}/{total} steps · {st.cost_text} · mode {s.mode}",
    ]
    if st.pending is not None:
        lines.append(f"waiting for you: {st.pending.kind} — {st.pending.reason}")
    say(s, "\n\n".join(lines))


def _diff(s: AcpSession, step_id: str) -> None:
    d = s.api.diff(step_id)
    if d.files:
        patches = "\n".join(f.patch for f in d.files)
        say(s, f"step `{step_id}` changed {len(d.files)} file(s):\n\n```diff\n{patches}\n```")
        content = []
        for f in d.files:
            if f.binary:
                continue
            old = _text(s.api.file_at(d.before, f.old_path or f.path))
            new = _text(s.api.file_at(d.after, f.path)) or ""
            content.append(tool_diff_content(str(s.root / f.path), new, old))
        if content:
            s.send(
                start_tool_call(
                    f"planloop-diff-{step_id}",
                    f"diff of step {step_id}",
                    kind="read",
                    status="completed",
                    content=content,
                )
            )
    else:
        say(s, f"step `{step_id}` has no changes in the workspace now")
    _cancelled_work(s, step_id)


def _cancelled_work(s: AcpSession, step_id: str) -> None:
    """A cancelled attempt was rolled back at once; its work is kept in a checkpoint
    (``partial``) and shown here, so a cancel loses nothing a person may want back."""
    step = s.api.step(step_id)
    restored: list[str] = []
    for ev in s.api.log():
        if ev.get("type") == "step_cancelled" and ev.get("step_id") == step_id:
            restored = list(ev.get("restored") or [])
    for a in step.attempt_log:
        if a.ended != "cancelled" or a.partial is None or not restored:
            continue
        parts = []
        for path in restored:
            old = _text(s.api.file_at(a.before, path)) or ""
            new = _text(s.api.file_at(a.partial, path)) or ""
            diff = difflib.unified_diff(
                old.splitlines(), new.splitlines(), f"a/{path}", f"b/{path}", lineterm=""
            )
            parts.append("\n".join(diff))
        say(
            s,
            f"attempt {a.n} was cancelled and rolled back; what it had done (kept in "
            f"checkpoint {a.partial[:12]}):\n\n```diff\n" + "\n".join(parts) + "\n```",
        )


def _transport(server: McpServer) -> str:
    return "stdio" if isinstance(server, McpServerStdio) else str(server.type)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _revert(s: AcpSession, step_id: str) -> None:
    res = s.api.revert(step_id)
    lines = [f"restored {p}" for p in res.restored]
    lines += [f"conflict {c.path}: {c.reason} (left as it is)" for c in res.conflicts]
    if not lines:
        lines = ["nothing to restore"]
    say(s, f"/revert {step_id}:\n\n" + "\n".join(f"- {line}" for line in lines))
    s.send_plan(s.api.plan())


def _replan(s: AcpSession, reason: str, cancel: CancelToken) -> None:
    res = s.api.replan(reason=reason or None, cancel=cancel)
    report(s, res)


def _mode(s: AcpSession, arg: str, cancel: CancelToken) -> None:
    if arg not in RUN_MODES:
        say(s, f"/mode takes one of {', '.join(RUN_MODES)}, not {arg!r}")
        return
    s.overrides["mode"] = arg
    s.reopen()
    said = [f"new plans run {arg}"]
    try:
        st = s.api.status()
    except PlanloopError:
        st = None  # no plan yet
    at_review = st is not None and st.pending is not None and st.pending.kind == "plan"
    run_mode = RUN_AT_REVIEW.get(arg)
    if at_review and run_mode is not None:
        plan = s.api.set_mode(run_mode, by=s.asker.by, cancel=cancel)
        said.append(f"plan v{plan.version} at review now runs {arg}")
    say(s, "; ".join(said))


def _clean(s: AcpSession) -> None:
    res = s.api.clean()
    say(s, f"freed {res.freed_bytes} bytes of checkpoints; {res.in_use_bytes} bytes in use")

"""The core's events as ACP sees a run: tool calls, check results, step messages.

A workspace tool is told twice by the core: :class:`ToolStarted` just before it runs
(a ``tool_call`` with status ``in_progress``, so a long command or edit shows running)
and its finished ``ExecutorToolCall``/``PlannerToolCall`` with the same ``call_id`` (a
``tool_call_update``: ``completed`` or ``failed``, its one-line summary as the title).
The ACP ``kind`` and ``locations`` come from the events' structured fields (tool name,
path, line range), never from the line. An edit's diff comes from the workspace's write
hook (``on_write``: the file before and after), which fires between the two for the same
path; so every edit carries a ``diff`` block with the whole old and new text, and a
command its exit status and output's tail. A file that was not UTF-8 is shown with
replacement characters, and says so. A call the core ends without a start (a terminal
tool, the planner's question) is one ``tool_call``; a turn that ends with a call still
open (the client cancelled mid-tool) closes it ``failed`` (:meth:`ToolCalls.close_open`).

Each check is its own tool call (completed or failed, with what it observed), and each
step ends with a message naming the files it changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from acp.helpers import (
    start_tool_call,
    text_block,
    tool_content,
    tool_diff_content,
    update_agent_message_text,
    update_tool_call,
)
from acp.schema import ContentToolCallContent, FileEditToolCallContent, ToolCallLocation

from planloop.acp_agent.outbox import Update
from planloop.document.plan import Check
from planloop.events import (
    BudgetReached,
    CheckRan,
    CommandRefused,
    Event,
    ExecutorToolCall,
    PlanEdited,
    PlannerToolCall,
    PlanVersionRecorded,
    Recovered,
    ReplanStarted,
    Retry,
    Reverted,
    RulesWarning,
    StepCancelled,
    StepError,
    StepFinished,
    StepStarted,
    ToolStarted,
)

ToolKind = Literal["read", "edit", "delete", "move", "search", "execute", "think", "fetch", "other"]

#: a tool's name → its ACP kind
KINDS: dict[str, ToolKind] = {
    "read_file": "read",
    "list_files": "read",
    "repo_map": "read",
    "search": "search",
    "write_file": "edit",
    "edit_file": "edit",
    "run_command": "execute",
    "ask_user": "think",
    "submit_plan": "think",
    "report_outcome": "think",
}
#: the tools whose ``path`` is a file or folder to show (search's is where it looked)
PATH_TOOLS = ("read_file", "list_files", "repo_map", "write_file", "edit_file")
NOT_UTF8 = "the file was not UTF-8: its bytes are shown with replacement characters (U+FFFD)"


class ToolCalls:
    """Turns events into updates; ``checks(step_id)`` gives a step's acceptance checks."""

    def __init__(self, root: Path, checks: Callable[[str], list[Check]]) -> None:
        self._root = root
        self._checks = checks
        self._writes: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._n = 0
        #: the core's call id → the ACP tool call id of a call shown ``in_progress``
        self._open: dict[str, str] = {}

    def on_write(self, path: Path, old: str, new: str) -> None:
        """The workspace's write hook: kept until the tool call's line names the path."""
        with self._lock:
            self._writes[self._rel(path)] = (old, new)

    def updates(self, event: Event) -> list[Update]:
        match event:
            case ToolStarted():
                return [self._started(event)]
            case ExecutorToolCall() | PlannerToolCall():
                return [self._finished(event)]
            case CheckRan():
                return [self._check(event)]
            case StepStarted(step_id=sid, attempt=n, title=title):
                again = f" (attempt {n})" if n > 1 else ""
                return [_say(f"▶ step `{sid}`{again}: {title}")]
            case StepFinished(step_id=sid, status=status, files=files, cost_text=cost):
                changed = ", ".join(f"`{f}`" for f in files) or "no files"
                tail = f" · {cost}" if cost else ""
                return [_say(f"step `{sid}` {status} · changed {changed}{tail}")]
            case Retry(step_id=sid, observation=obs):
                return [_say(f"step `{sid}` retries: {obs}")]
            case StepCancelled(step_id=sid, restored=restored, conflicts=conflicts):
                kept = f"; kept (edited since): {', '.join(conflicts)}" if conflicts else ""
                undone = ", ".join(restored) or "nothing"
                return [
                    _say(
                        f"step `{sid}` cancelled: its edits were rolled back ({undone}){kept}. "
                        f"Nothing is lost: `/diff {sid}` shows what it had done, and the "
                        "next prompt `continue` runs it again."
                    )
                ]
            case StepError(step_id=sid, error=error):
                return [_say(f"step `{sid}`: the executor's model call failed: {error}")]
            case ReplanStarted(reason=reason, evidence=evidence):
                lines = "".join(f"\n- {e}" for e in evidence)
                return [_say(f"re-planning: {reason}{lines}")]
            case CommandRefused(command=command):
                return [_say(f"command refused by the policy: `{command}`")]
            case BudgetReached(spent_usd=spent, allowed_usd=allowed):
                return [_say(f"budget reached: ${spent:.4f} of ${allowed:.4f}")]
            case RulesWarning(path=path, message=message):
                return [_say(f"{path}: {message}")]
            case Reverted(step_id=sid, restored=restored, conflicts=conflicts):
                left = "".join(f"\n- conflict {c['path']}: {c['reason']}" for c in conflicts)
                return [
                    _say(f"reverted `{sid}`: restored {', '.join(restored) or 'nothing'}{left}")
                ]
            case PlanVersionRecorded(version=v, steps=steps):
                return [_say(f"plan v{v} is now the plan: {', '.join(steps)}")]
            case PlanEdited(version=v, author=author):
                return [_say(f"plan v{v} recorded (edited by {author})")]
            case Recovered(step_id=sid, partial_files=files):
                return [
                    _say(f"step `{sid}` was interrupted; its partial change: {files or 'none'}")
                ]
        return []

    # --- the mappings --------------------------------------------------------------------

    def _started(self, ev: ToolStarted) -> Update:
        acp_id = self._id()
        with self._lock:
            self._open[ev.call_id] = acp_id
        what = ev.command if ev.command is not None else ev.path
        return start_tool_call(
            acp_id,
            f"{ev.tool} {what}" if what else ev.tool,
            kind=KINDS.get(ev.tool, "other"),
            status="in_progress",
            locations=self._where(ev.tool, ev.path, None),
            raw_input={"tool": ev.tool, "path": ev.path, "command": ev.command},
        )

    def _finished(self, ev: ExecutorToolCall | PlannerToolCall) -> Update:
        kind = KINDS.get(ev.tool, "other")
        content: list[ContentToolCallContent | FileEditToolCallContent] = []
        if kind == "edit" and ev.path is not None:
            with self._lock:
                written = self._writes.pop(ev.path, None)
            if written is not None and not ev.is_error:
                old, new = written
                content.append(tool_diff_content(str(self._root / ev.path), new, old or None))
                if "\ufffd" in old:
                    content.append(tool_content(text_block(NOT_UTF8)))
        if ev.output:
            content.append(tool_content(text_block(ev.output)))
        status: Literal["completed", "failed"] = "failed" if ev.is_error else "completed"
        start_line = ev.start_line or (1 if ev.tool == "read_file" else None)
        locations = self._where(ev.tool, ev.path, start_line)
        with self._lock:
            acp_id = self._open.pop(ev.call_id, None) if ev.call_id else None
        if acp_id is not None:
            return update_tool_call(
                acp_id,
                title=ev.line,
                status=status,
                content=content or None,
                locations=locations,
                raw_output={"is_error": ev.is_error},
            )
        return start_tool_call(
            self._id(),
            ev.line,
            kind=kind,
            status=status,
            content=content or None,
            locations=locations,
            raw_input={"tool": ev.tool},
        )

    def close_open(self, why: str) -> list[Update]:
        """The turn ended with calls still shown running (cancelled mid-tool, the core
        stopped): each ends ``failed`` saying why, so no client keeps a spinner going."""
        with self._lock:
            left, self._open = list(self._open.values()), {}
        return [
            update_tool_call(acp_id, status="failed", content=[tool_content(text_block(why))])
            for acp_id in left
        ]

    def _where(
        self, tool: str, path: str | None, line: int | None
    ) -> list[ToolCallLocation] | None:
        if path is None or tool not in PATH_TOOLS:
            return None
        return [ToolCallLocation(path=str(self._root / path), line=line)]

    def _check(self, ev: CheckRan) -> Update:
        found = [c for c in self._checks(ev.step_id) if c.label() == ev.check]
        check = found[0] if found else None
        kind: ToolKind = "read" if check is not None and check.kind != "command" else "execute"
        where = check.path if check is not None and check.path else None
        verdict = "passed" if ev.passed else "failed"
        scope = " (workspace check)" if ev.workspace_check else ""
        text = f"{verdict}{scope}: {ev.observation}" if ev.observation else verdict + scope
        return start_tool_call(
            self._id(),
            f"check: {ev.check}",
            kind=kind,
            status="completed" if ev.passed else "failed",
            content=[tool_content(text_block(text))],
            locations=[ToolCallLocation(path=str(self._root / where))] if where else None,
            raw_input={"step": ev.step_id, "check": ev.check},
            raw_output={"passed": ev.passed},
        )

    def _id(self) -> str:
        with self._lock:
            self._n += 1
            return f"planloop-{self._n}"

    def _rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self._root).as_posix()
        except ValueError:
            return str(path)


def _say(text: str) -> Update:
    return update_agent_message_text(text + "\n\n")

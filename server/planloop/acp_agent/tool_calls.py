"""The core's events as ACP sees a run: tool calls, check results, step messages.

The executor reports each tool call as one line after it ran (``write_file a.py (+3 −1)``,
``run_command "pytest" → exit 0``); the line's first word is the tool, so the ACP
``kind`` and the ``locations`` come from it. An edit's diff comes from the workspace's
write hook (``on_write``: the file before and after), which fires just before the line
for the same path; so every edit tool call carries a ``diff`` block with the whole old
and new text. A file that was not UTF-8 is shown with replacement characters, and says so.

Each check is its own tool call (completed or failed, with what it observed), and each
step ends with a message naming the files it changed.
"""

from __future__ import annotations

import re
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
#: the tools whose line names a path right after the tool's name
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

    def on_write(self, path: Path, old: str, new: str) -> None:
        """The workspace's write hook: kept until the tool call's line names the path."""
        with self._lock:
            self._writes[self._rel(path)] = (old, new)

    def updates(self, event: Event) -> list[Update]:
        match event:
            case ExecutorToolCall(line=line) | PlannerToolCall(line=line):
                return [self._tool_call(line)]
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

    def _tool_call(self, line: str) -> Update:
        name, _, rest = line.partition(" ")
        kind = KINDS.get(name, "other")
        failed = "✗" in rest
        path, line_no = _lines(self._path(name, rest))
        content: list[ContentToolCallContent | FileEditToolCallContent] = []
        if kind == "edit" and path is not None and not failed:
            with self._lock:
                written = self._writes.pop(path, None)
            if written is not None:
                old, new = written
                is_new = not old and "new," in rest
                content.append(
                    tool_diff_content(str(self._root / path), new, None if is_new else old)
                )
                if "\ufffd" in old:
                    content.append(tool_content(text_block(NOT_UTF8)))
        return start_tool_call(
            self._id(),
            line,
            kind=kind,
            status="failed" if failed else "completed",
            content=content or None,
            locations=[ToolCallLocation(path=str(self._root / path), line=line_no)]
            if path
            else None,
            raw_input={"tool": name},
        )

    def _path(self, name: str, rest: str) -> str | None:
        if name not in PATH_TOOLS or not rest:
            return None
        with self._lock:
            for written in self._writes:  # a recorded path (may hold spaces) first
                if rest == written or rest.startswith(written + " "):
                    return written
        return rest.split(" ", 1)[0]

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


def _lines(token: str | None) -> tuple[str | None, int | None]:
    """``notes.txt:12-40`` (a read of lines 12 to 40) → the path and its first line."""
    if token is None:
        return None, None
    found = re.fullmatch(r"(.+):(\d+)-\d+", token)
    return (found.group(1), int(found.group(2))) if found else (token, None)


def _say(text: str) -> Update:
    return update_agent_message_text(text + "\n\n")

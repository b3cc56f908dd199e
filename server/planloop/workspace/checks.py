"""Acceptance checks: code, not a model, decides whether a step passed.

Why condense: a failing test run prints pages; the orchestrator, the retrying executor,
the planner and the person reviewing a re-plan each need the same few lines (which test,
what assertion, the tally). ``condense`` extracts those once, within a budget, so every
consumer gets a short observation instead of the raw log.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from planloop import faults
from planloop.cancel import CancelToken
from planloop.document.plan import Check, CheckResult, Step
from planloop.mcp_port import McpTools, ToolResult
from planloop.workspace.commands import CommandResult
from planloop.workspace.files import Workspace, WorkspaceError

#: longest single line kept in an observation
_LINE_WIDTH = 200
#: E-lines kept per failing test
_DETAIL_LINES = 4
_TAIL_LINES = 5

_PYTEST_TALLY = re.compile(
    r"^=*\s*((?:\d+ (?:failed|passed|errors?|skipped|xfailed|xpassed|warnings?|deselected)"
    r"(?:, )?)+|no tests ran)(?: in [\d.]+s)?.*?=*\s*$"
)
_PYTEST_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")
_PYTEST_RESULT = re.compile(r"^(FAILED|ERROR) \S")
#: "tests/test_x.py:5: AssertionError" (a traceback frame says "...: in func" instead)
_PYTEST_LOCATION = re.compile(r"^\S+:\d+: (?!in )[\w.]+$")
_NOTEWORTHY = re.compile(
    r"error|fail|traceback|exception|fatal|panic|cannot|not found|no such file", re.IGNORECASE
)


def run_checks(
    step: Step,
    ws: Workspace,
    workspace_checks: list[Check],
    cancel: CancelToken | None = None,
    mcp: McpTools | None = None,
    on_mcp: Callable[[Check, ToolResult], None] | None = None,
) -> list[CheckResult]:
    """Every acceptance check of ``step``, then (for edit steps) the workspace's own checks.

    Checks never raise: a path the sandbox refuses or a denied command is a failed
    check whose observation says why, so the orchestrator always gets a verdict. An
    ``mcp`` check calls a read-only tool of ``mcp`` (``on_mcp`` hears each call).
    """
    todo = [(check, False) for check in step.acceptance]
    if step.kind == "edit":
        todo += [(check, True) for check in workspace_checks]
    results: list[CheckResult] = []
    for check, is_workspace_check in todo:
        if cancel is not None and cancel.cancelled:
            passed, observation = False, "not run: cancelled by the user"
        else:
            faults.point("check")
            try:
                if check.kind == "mcp":
                    passed, observation = _run_mcp(check, mcp, cancel, on_mcp)
                else:
                    passed, observation = _run_one(check, ws, cancel)
            except WorkspaceError as exc:
                passed, observation = False, str(exc)
        results.append(
            CheckResult(
                check=check,
                passed=passed,
                observation=observation,
                workspace_check=is_workspace_check,
            )
        )
    return results


def _run_mcp(
    check: Check,
    mcp: McpTools | None,
    cancel: CancelToken | None,
    on_mcp: Callable[[Check, ToolResult], None] | None,
) -> tuple[bool, str]:
    """A read-only MCP tool answers without an error, and with ``pattern`` if one is set."""
    tool = check.tool or ""
    if mcp is None:
        return False, f"not run: no MCP server is running, so {tool} cannot be called"
    if not mcp.read_only(tool):
        return False, (
            f"not run: {tool} is not a read-only tool (a check may call only tools on "
            "planner_tools, or annotated readOnlyHint by a trusted server), or its server "
            "is not running"
        )
    try:
        regex = re.compile(check.pattern or "", re.MULTILINE)
    except re.error as exc:
        return False, f"invalid pattern /{check.pattern}/: {exc}"
    result = mcp.call(tool, check.arguments or {}, cancel)
    if on_mcp is not None:
        on_mcp(check, result)
    shown = _clip(" ".join(result.text.split("\n", 1)[-1].split()))
    if result.is_error:
        return False, f"{tool} answered with an error: {shown}"
    if check.pattern and regex.search(result.text) is None:
        return False, f"{tool}'s answer has no match for /{check.pattern}/: {shown}"
    return True, f"{tool}: {shown}"


def _run_one(check: Check, ws: Workspace, cancel: CancelToken | None) -> tuple[bool, str]:
    if check.kind == "command":
        command = check.command or ""
        # the user reviewed the plan, so "ask" does not apply; the deny list always does
        decision = ws.policy.decide(command)
        if decision.verdict == "deny":
            return False, f"not run: the command policy denies {command!r} ({decision.reason})"
        result = ws.run(command, timeout_s=check.timeout_s, cancel=cancel)
        return result.ok, condense(result)
    path = check.path or ""
    if check.kind == "file_exists":
        target = ws.resolve(path)
        if target.is_dir():
            return True, f"{path} exists (a directory)"
        if target.exists():
            return True, f"{path} exists"
        return False, f"{path} does not exist"
    try:
        regex = re.compile(check.pattern or "", re.MULTILINE)
    except re.error as exc:
        return False, f"invalid pattern /{check.pattern}/: {exc}"
    text = ws.read_text(path)
    match = regex.search(text)
    if match is None:
        return False, f"{path} has no match for /{check.pattern}/"
    line_no = text.count("\n", 0, match.start()) + 1
    line = text.splitlines()[line_no - 1] if text else ""
    return True, _clip(f"{path}:{line_no}: {line.strip()}")


# --- condensing output -------------------------------------------------------------


def condense(result: CommandResult, budget: int = 1200) -> str:
    """A short observation of a command's result: what failed and why, within ``budget``."""
    header = result.status
    lines = result.output.splitlines()
    if _is_pytest(result.command, lines):
        text = _condense_pytest(header, lines, budget)
    else:
        text = _condense_generic(header, lines, budget)
    return text if len(text) <= budget else text[: max(budget - 1, 0)] + "…"


def _clip(line: str) -> str:
    line = line.rstrip()
    return line if len(line) <= _LINE_WIDTH else line[: _LINE_WIDTH - 1] + "…"


def _is_pytest(command: str, lines: list[str]) -> bool:
    if "pytest" in command:
        return True
    return any(
        _PYTEST_TALLY.match(ln) or ln.startswith("=== short test summary") for ln in lines[-40:]
    )


def _condense_pytest(header: str, lines: list[str], budget: int) -> str:
    tally = next((m.group(1) for ln in reversed(lines) if (m := _PYTEST_TALLY.match(ln))), None)
    interrupted = next((ln.strip("! ") for ln in lines if "Interrupted:" in ln), None)
    head = " · ".join(x for x in (header, tally, interrupted) if x)
    results = [_clip(ln) for ln in lines if _PYTEST_RESULT.match(ln)]
    details = _pytest_details(lines)
    if not results:  # no short summary (e.g. -rN): name failures by their section titles
        results = [f"FAILED {title}" for title in details]
    if not results and not tally:
        return _condense_generic(header, lines, budget)

    used = len(head) + 1
    kept: list[str] = []
    for n, result_line in enumerate(results):
        more = f"… and {len(results) - n} more" if n < len(results) - 1 else ""
        if used + len(result_line) + 1 + len(more) + 1 > budget and kept:
            kept.append(f"… and {len(results) - n} more")
            break
        kept.append(result_line)
        used += len(result_line) + 1
    results = kept
    # details go under their test, as long as the budget lasts
    shown: dict[int, list[str]] = {}
    for i, result_line in enumerate(results):
        title = _title_for(result_line, details)
        for detail in details.get(title, []) if title else []:
            if detail in result_line:  # the short summary already says it
                continue
            row = "    " + detail
            if used + len(row) + 1 > budget:
                break
            shown.setdefault(i, []).append(row)
            used += len(row) + 1
    rendered = [head]
    for i, result_line in enumerate(results):
        rendered.append(result_line)
        rendered.extend(shown.get(i, []))
    return "\n".join(rendered)


def _pytest_details(lines: list[str]) -> dict[str, list[str]]:
    """Section title → what explains it: its first ``E`` lines, then where it failed."""
    errors: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    current: str | None = None
    for ln in lines:
        section = _PYTEST_SECTION.match(ln)
        if section:
            current = section.group(1)
            errors[current] = []
        elif current is None:
            continue
        elif ln.startswith("E ") and ln[1:].strip().strip("^~ "):
            if len(errors[current]) < _DETAIL_LINES:
                errors[current].append(_clip(ln[1:].strip()))
        elif _PYTEST_LOCATION.match(ln):
            where[current] = _clip(ln)  # the last one is where the test itself failed
        elif ln.startswith("="):
            current = None
    return {t: [*e, *([where[t]] if t in where else [])] for t, e in errors.items()}


def _title_for(result_line: str, details: dict[str, list[str]]) -> str | None:
    """Match ``FAILED tests/x.py::TestA::test_b[1] - msg`` to its ``TestA.test_b[1]`` section."""
    ident = result_line.split(" ", 1)[1].split(" - ", 1)[0].strip()
    for title in details:
        if title == ident or ident.endswith("::" + title.replace(".", "::")):
            return title
        if title.startswith("ERROR collecting ") and ident == title.removeprefix(
            "ERROR collecting "
        ):
            return title
    return None


def _condense_generic(header: str, lines: list[str], budget: int) -> str:
    # caret lines (Python's "^^^^" under an expression) point at nothing once condensed
    nonblank = [ln for ln in lines if ln.strip(" \t^~")]
    if not nonblank:
        return f"{header} (no output)"
    tail = [_clip(ln) for ln in nonblank[-_TAIL_LINES:]]
    body = nonblank[:-_TAIL_LINES] if len(nonblank) > _TAIL_LINES else []
    noteworthy = [_clip(ln) for ln in body if _NOTEWORTHY.search(ln)]
    used = len(header) + 1 + sum(len(x) + 1 for x in tail)
    while used > budget and len(tail) > 1:  # the last lines say the most; drop from the front
        used -= len(tail.pop(0)) + 1
    kept: list[str] = []
    for ln in noteworthy:
        if used + len(ln) + 1 > budget - 2:
            break
        kept.append(ln)
        used += len(ln) + 1
    gap = ["…"] if len(kept) < len(body) else []
    return "\n".join([header, *kept, *gap, *tail])

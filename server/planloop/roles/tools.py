"""The tools the models call, as thin validated wrappers over the workspace (``workspace/files.py``).

Why a separate layer: models send JSON that may be wrong in every way (missing fields,
wrong types, invented fields, unknown tools). Each tool's input is a pydantic model, so
the schema the model sees and the validation it gets are the same thing, and every
mistake comes back as a tool error the model can read and fix, never as an exception
that would end the step. Read-only is enforced here in code, not asked of the planner.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planloop.cancel import Cancelled, CancelToken
from planloop.document.plan import McpCall, Outcome
from planloop.mcp_port import McpTools, is_mcp
from planloop.models.base import ToolSpec
from planloop.validation import problems
from planloop.workspace import repomap_fill
from planloop.workspace.files import Workspace, WorkspaceError
from planloop.workspace.search import MAX_SEARCH_BYTES, SEARCH_TIMEOUT_S

#: read_file shows at most this much; the rest is paged with start_line/end_line
READ_MAX_LINES = 2000
READ_MAX_CHARS = 100_000
READ_MAX_LINE_CHARS = 2000
LIST_LIMIT = 500
SEARCH_LIMIT = 100
#: command output handed to the model (head + tail); a test log rarely needs more
RUN_MAX_OUTPUT = 40_000
MAX_COMMAND_TIMEOUT_S = 600


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListFilesInput(_Input):
    path: str = Field(".", description="Folder relative to the workspace root.")
    glob: str | None = Field(
        None, description="Filter, e.g. '*.py' (by file name) or 'src/**/*.ts' (by path)."
    )


class ReadFileInput(_Input):
    path: str = Field(description="File path relative to the workspace root.")
    start_line: int | None = Field(None, ge=1, description="First line to show (1-based).")
    end_line: int | None = Field(None, ge=1, description="Last line to show (inclusive).")


class SearchInput(_Input):
    pattern: str = Field(
        min_length=1,
        description="Regular expression, matched per line (look-around and backreferences work).",
    )
    path: str | None = Field(None, description="Folder or file to search; default: everything.")


class RepoMapInput(_Input):
    path: str = Field(".", description="Folder relative to the workspace root.")


class AskUserInput(_Input):
    question: str = Field(min_length=1, max_length=2000, description="One clear question.")
    options: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Likely answers to pick from (optional); the user may also answer freely.",
    )


class WriteFileInput(_Input):
    path: str = Field(description="File path relative to the workspace root.")
    content: str = Field(description="The complete new content of the file.")


class EditFileInput(_Input):
    path: str = Field(description="File path relative to the workspace root.")
    old: str = Field(
        min_length=1, description="Exact text to replace; must occur exactly once in the file."
    )
    new: str = Field(description="Replacement text.")


class RunCommandInput(_Input):
    command: str = Field(min_length=1, description="Shell command, run with bash in the root.")
    timeout_s: float | None = Field(
        None,
        gt=0,
        le=MAX_COMMAND_TIMEOUT_S,
        description=f"Time limit in seconds (at most {MAX_COMMAND_TIMEOUT_S}).",
    )


_INPUTS: dict[str, type[BaseModel]] = {
    "list_files": ListFilesInput,
    "read_file": ReadFileInput,
    "search": SearchInput,
    "repo_map": RepoMapInput,
    "write_file": WriteFileInput,
    "edit_file": EditFileInput,
    "run_command": RunCommandInput,
}
WRITE_TOOLS = frozenset({"write_file", "edit_file", "run_command"})
_HANDLED_ELSEWHERE = {
    "report_outcome": "the executor",
    "submit_plan": "the planner",
    "ask_user": "the planner",
}

_DESCRIPTIONS = {
    "list_files": "List files under a folder (ignored files and .git skipped), optionally "
    "filtered by a glob. Paths are relative to the workspace root.",
    "read_file": "Read a text file with line numbers. Long files are cut; page through them "
    "with start_line and end_line.",
    "search": "Search file contents with a regular expression (ripgrep; ignored files, binary "
    "files and files over 2 MB skipped); returns 'path:line: text', at most 100 lines.",
    "repo_map": "The repository map of one folder: its most relevant files (ranked by how "
    "much the rest of the code uses them, and by the goal) with their definitions and line "
    "numbers, within a token budget.",
    "ask_user": "Ask the user one clarifying question before you submit the plan, when the "
    "goal is ambiguous in a way that would change the plan; the answer comes back as this "
    "tool's result. Offer options when the likely answers are few.",
    "write_file": "Create or overwrite a file with the given content (folders are created).",
    "edit_file": "Replace one exact, unique occurrence of 'old' with 'new' in a file. Copy "
    "'old' exactly from read_file output, without the line numbers.",
    "run_command": "Run a shell command in the workspace root and get its exit code and output "
    "(long output keeps its start and end). Some commands need the user's approval or are "
    "refused; git commands that change the repository are always refused.",
    "report_outcome": "End the step: report whether it was done (ok), a one-line summary, "
    "anything surprising, or that it is blocked and why. Structured, not prose.",
}


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, trimmed for a language model (no titles, no null unions)."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        variants = prop.get("anyOf")
        if variants and len(variants) == 2 and {"type": "null"} in variants:
            prop.pop("anyOf")
            prop.update(next(v for v in variants if v != {"type": "null"}))
            if prop.get("default", ...) is None:
                prop.pop("default")
    schema["additionalProperties"] = False
    return schema


def _spec(name: str, model: type[BaseModel]) -> ToolSpec:
    return ToolSpec(name=name, description=_DESCRIPTIONS[name], input_schema=input_schema(model))


_OUTCOME_HELP = {
    "ok": "True if the step's instructions were carried out.",
    "summary": "One line: what was done.",
    "surprising": "True if something did not match what the step expected.",
    "surprising_why": "What was unexpected.",
    "blocked": "True if the step cannot be done as written.",
    "blocked_why": "What blocks it.",
    "observations": "Short facts the next steps or the planner should know.",
}


def _outcome_spec() -> ToolSpec:
    """report_outcome's schema is plan.Outcome's, so what the model sends is what is parsed."""
    schema = input_schema(Outcome)
    schema.pop("description", None)
    for name, prop in schema["properties"].items():
        prop.setdefault("description", _OUTCOME_HELP.get(name, name))
    return ToolSpec("report_outcome", _DESCRIPTIONS["report_outcome"], schema)


PLANNER_TOOLS: list[ToolSpec] = [
    _spec(n, _INPUTS[n]) for n in ("list_files", "read_file", "search")
]
#: offered to the planner when the repo map is on (``repo_map_tokens`` > 0)
REPO_MAP_TOOL: ToolSpec = _spec("repo_map", RepoMapInput)
#: offered to the planner while it may still ask (``planner_questions`` > 0); read-only:
#: it touches nothing, and the planner, not the ToolBox, handles it
ASK_USER_TOOL: ToolSpec = _spec("ask_user", AskUserInput)
EXECUTOR_TOOLS: list[ToolSpec] = [
    *PLANNER_TOOLS,
    *(_spec(n, _INPUTS[n]) for n in ("write_file", "edit_file", "run_command")),
    _outcome_spec(),
]


def format_validation_error(tool: str, exc: ValidationError, model: type[BaseModel]) -> str:
    """A message that tells the model exactly which fields to fix, and what is expected."""
    lines = [f"Invalid input for {tool}:"]
    for p in problems(exc):
        where = p.where or "(input)"
        if p.type == "missing":
            lines.append(f"- {where}: required field is missing")
        elif p.type == "extra_forbidden":
            lines.append(f"- {where}: unexpected field, not part of {tool}'s input")
        else:
            got = repr(p.input)
            got = got if len(got) <= 60 else got[:57] + "..."
            lines.append(f"- {where}: {p.msg} (got {got})")
    lines.append(f"Expected: {_signature(model)}")
    return "\n".join(lines)


def _signature(model: type[BaseModel]) -> str:
    schema = input_schema(model)
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type", "object")
        fields.append(f"{name} ({kind}{', required' if name in required else ''})")
    return ", ".join(fields)


@dataclass
class ToolOutput:
    content: str
    is_error: bool
    line: str  # one-line summary for events and logs


@dataclass(frozen=True)
class ToolTarget:
    """The file (and line range) or command a workspace tool call is about."""

    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    command: str | None = None


def _short(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def line_delta(before: str, after: str) -> tuple[int, int]:
    """Lines added and removed, as a diff would count them."""
    a, b = before.splitlines(), after.splitlines()
    added = removed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, removed


class ToolBox:
    """Runs one role's tool calls against a workspace; ``call`` never raises.

    ``files_written`` holds every path (relative, posix) written or edited through it, so
    the executor can tell the orchestrator what a step touched without parsing tool calls.
    """

    def __init__(
        self,
        ws: Workspace,
        *,
        writable: bool,
        command_gate: Callable[[str], str | None] | None = None,
        cancel: CancelToken | None = None,
        command_timeout_s: float = 120,
        repo_map: Callable[[str], str] | None = None,
        mcp: McpTools | None = None,
        mcp_gate: Callable[[str, dict[str, Any]], str | None] | None = None,
        mcp_offered: list[str] | None = None,
        on_mcp: Callable[[McpCall], None] | None = None,
    ) -> None:
        self.ws = ws
        #: the user's MCP servers; read-only tools only unless ``writable``
        self.mcp = mcp
        #: asks a person about an executor's call not on the allow list (None: allowed)
        self.mcp_gate = mcp_gate
        #: the MCP tools this request offers (a step's ``tools:``); others are refused
        self.mcp_offered = mcp_offered
        #: each MCP call, for the log and the step's record
        self.on_mcp = on_mcp
        self.mcp_calls: list[McpCall] = []
        #: folder → its repo map; None: the repo_map tool is not offered here
        self.repo_map = repo_map
        self.writable = writable
        self.command_gate = command_gate
        self.cancel = cancel
        self.command_timeout_s = command_timeout_s
        self.files_written: set[str] = set()

    @property
    def tool_names(self) -> list[str]:
        return [
            n
            for n in _INPUTS
            if (self.writable or n not in WRITE_TOOLS)
            and (n != "repo_map" or self.repo_map is not None)
        ]

    def where(self, name: str, input: Any) -> ToolTarget:
        """What a call will touch, from its structured input (never raises): a front end
        shows the file or command while the tool runs, without parsing the result line.
        The path is the workspace-relative one the tool will write, when it resolves."""
        if not isinstance(input, dict) or name not in _INPUTS:
            return ToolTarget()
        raw = input.get("path")
        path: str | None = None
        if isinstance(raw, str) and name != "search":
            try:
                path = self.ws.rel(self.ws.resolve(raw))
            except (WorkspaceError, OSError, ValueError):
                path = raw
        elif isinstance(raw, str):
            path = raw
        start, end = input.get("start_line"), input.get("end_line")
        command = input.get("command")
        return ToolTarget(
            path=path,
            start_line=start if isinstance(start, int) and not isinstance(start, bool) else None,
            end_line=end if isinstance(end, int) and not isinstance(end, bool) else None,
            command=command if isinstance(command, str) and name == "run_command" else None,
        )

    def call(self, name: str, input: dict[str, Any]) -> ToolOutput:
        # a search or a listing runs alone: the repo map's background parse waits
        hold = repomap_fill.paused() if name in ("search", "list_files") else nullcontext()
        try:
            with hold:
                return self._call(name, input)
        except Cancelled:  # the repo map stopped building: the loop ends at its next check
            return ToolOutput("Cancelled by the user; the tool was stopped.", True, f"{name} ✗")
        except WorkspaceError as exc:
            return _error(name, input, str(exc))
        except Exception as exc:  # a tool bug must reach the model as text, not end the step
            return _error(name, input, f"{type(exc).__name__}: {exc}")

    def _call(self, name: str, input: Any) -> ToolOutput:
        if self.cancel is not None and self.cancel.cancelled:
            return ToolOutput("Cancelled by the user; the tool was not run.", True, f"{name} ✗")
        if name == "ask_user":  # offered, the planner handles it before the ToolBox sees it
            return ToolOutput(
                "ask_user is not available here: this role cannot ask the user now "
                "(planner_questions = 0, or a re-plan). Make your best assumption and state "
                "it in the step instructions.",
                True,
                "ask_user ✗ not available",
            )
        if isinstance(name, str) and is_mcp(name):
            return self._mcp(name, input)
        if name in _HANDLED_ELSEWHERE:
            return ToolOutput(
                f"{name} is handled by {_HANDLED_ELSEWHERE[name]}, not by the workspace tools.",
                True,
                f"{name} ✗ misrouted",
            )
        if name not in _INPUTS:
            available = ", ".join(self.tool_names)
            return ToolOutput(
                f"Unknown tool {name!r}. Available tools: {available}.",
                True,
                f"{_short(str(name), 40)} ✗ unknown tool",
            )
        if not self.writable and name in WRITE_TOOLS:
            return ToolOutput(
                f"{name} is not available here: this role's tools are read-only "
                f"({', '.join(self.tool_names)}). Describe the change in the plan instead.",
                True,
                f"{name} ✗ read-only",
            )
        if name == "repo_map" and self.repo_map is None:
            return ToolOutput(
                f"repo_map is not available here (the repo map is off, or this role has no "
                f"map). Available tools: {', '.join(self.tool_names)}.",
                True,
                "repo_map ✗ not available",
            )
        model = _INPUTS[name]
        if input is None:
            input = {}
        if not isinstance(input, dict):
            return ToolOutput(
                f"Invalid input for {name}: expected a JSON object, got {type(input).__name__}. "
                f"Expected: {_signature(model)}",
                True,
                f"{name} ✗ invalid input",
            )
        try:
            args = model.model_validate(input)
        except ValidationError as exc:
            return ToolOutput(
                format_validation_error(name, exc, model), True, f"{name} ✗ invalid input"
            )
        handler: Callable[[Any], ToolOutput] = getattr(self, f"_{name}")
        return handler(args)

    # -- the user's MCP tools

    def _mcp(self, name: str, input: Any) -> ToolOutput:
        """An MCP tool: offered here, read-only for a read-only role, gated for a writer."""
        if self.mcp is None or (self.mcp_offered is not None and name not in self.mcp_offered):
            return ToolOutput(
                f"{name} is not available here. Available tools: {', '.join(self.tool_names)}"
                + (f", {', '.join(self.mcp_offered)}" if self.mcp_offered else "")
                + ".",
                True,
                f"{_short(name, 40)} ✗ not available",
            )
        if input is None:
            input = {}
        if not isinstance(input, dict):
            return ToolOutput(
                f"Invalid input for {name}: expected a JSON object, got {type(input).__name__}.",
                True,
                f"{name} ✗ invalid input",
            )
        if not self.writable and not self.mcp.read_only(name):
            return ToolOutput(
                f"{name} is not available here: this role may call only read-only tools. "
                "Describe the call in the plan instead.",
                True,
                f"{name} ✗ read-only",
            )
        if self.writable and self.mcp_gate is not None and not self.mcp.allowed(name):
            refusal = self.mcp_gate(name, input)
            if refusal is not None:
                self._record(McpCall(tool=name, arguments=input, is_error=True, result=refusal))
                return ToolOutput(f"Tool not called: {refusal}", True, f"{name} ✗ refused")
        if self.writable and self.ws.write_ahead is not None:
            self.ws.write_ahead("*")  # a server may write anything, as a command may
        result = self.mcp.call(name, input, self.cancel)
        self._record(
            McpCall(tool=name, arguments=input, is_error=result.is_error, result=result.text)
        )
        return ToolOutput(result.text, result.is_error, result.line)

    def _record(self, call: McpCall) -> None:
        call = call.capped()
        self.mcp_calls.append(call)
        if self.on_mcp is not None:
            self.on_mcp(call)

    # -- read-only tools

    def _list_files(self, args: ListFilesInput) -> ToolOutput:
        files = self.ws.list_files(args.path, args.glob, limit=1_000_000)
        shown = files[:LIST_LIMIT]
        more = len(files) - len(shown)
        body = "\n".join(shown) if shown else "(no files match)"
        if more:
            body += f"\n… {more} more (narrow the listing with path or glob)"
        where = args.path + (f" {args.glob}" if args.glob else "")
        return ToolOutput(body, False, f"list_files {_short(where)} ({len(files)} files)")

    def _read_file(self, args: ReadFileInput) -> ToolOutput:
        lines = self.ws.read_text(args.path).splitlines()
        total = len(lines)
        if total == 0:
            return ToolOutput("(empty file)", False, f"read_file {args.path} (empty)")
        start = args.start_line or 1
        end = min(args.end_line or total, total)
        if start > total:
            raise WorkspaceError(
                f"start_line {start} is past the end: {args.path} has {total} lines"
            )
        if end < start:
            raise WorkspaceError(f"end_line {args.end_line} is before start_line {start}")
        rows: list[str] = []
        chars = 0
        last = start - 1
        for n in range(start, end + 1):
            text = lines[n - 1]
            if len(text) > READ_MAX_LINE_CHARS:
                text = text[:READ_MAX_LINE_CHARS] + " …[line cut]"
            row = f"{n:>6}\t{text}"
            if len(rows) >= READ_MAX_LINES or (rows and chars + len(row) > READ_MAX_CHARS):
                break
            rows.append(row)
            chars += len(row) + 1
            last = n
        if last < end:
            rows.append(
                f"[cut: showed lines {start}-{last} of {total}; read on with start_line={last + 1}]"
            )
        summary = f"read_file {args.path}:{start}-{last} of {total}"
        return ToolOutput("\n".join(rows), False, summary)

    def _search(self, args: SearchInput) -> ToolOutput:
        result = self.ws.search_result(args.pattern, args.path, limit=SEARCH_LIMIT)
        hits, more = result.hits, result.more
        body = "\n".join(hits) if hits else "(no matches)"
        if more:
            body += "\n… more matches not shown (narrow the pattern or path)"
        if result.timed_out:
            body += (
                f"\n… the search stopped after {SEARCH_TIMEOUT_S:g} s; these are the matches "
                "found so far (narrow the path or the pattern)"
            )
        if not hits:
            body += f" (binary files and files over {MAX_SEARCH_BYTES // 1_000_000} MB are not searched)"
        count = f"{len(hits)}{'+' if more or result.timed_out else ''} matches"
        where = f" in {args.path}" if args.path else ""
        return ToolOutput(body, False, f"search /{_short(args.pattern, 40)}/{where} ({count})")

    def _repo_map(self, args: RepoMapInput) -> ToolOutput:
        assert self.repo_map is not None
        target = self.ws.resolve(args.path)
        if not target.is_dir():
            raise WorkspaceError(f"{args.path} is not a folder; give a folder to map")
        text = self.repo_map(self.ws.rel(target))
        body = text if text.strip() else "(no files to map there)"
        return ToolOutput(
            body, False, f"repo_map {_short(args.path)} ({len(body.splitlines())} lines)"
        )

    # -- writing tools

    def _write_file(self, args: WriteFileInput) -> ToolOutput:
        target = self.ws.resolve(args.path, for_write=True)
        rel = self.ws.rel(target)
        existed = target.is_file()
        before = ""
        if existed:
            try:
                before = self.ws.read_text(args.path)
            except WorkspaceError:
                before = ""  # it was binary: every new line counts as added
        self.ws.write_text(args.path, args.content)
        self.files_written.add(rel)
        added, removed = line_delta(before, args.content)
        return ToolOutput(
            f"{'wrote' if existed else 'created'} {rel} ({len(args.content.splitlines())} lines)",
            False,
            f"write_file {rel} ({'' if existed else 'new, '}+{added} −{removed})",
        )

    def _edit_file(self, args: EditFileInput) -> ToolOutput:
        rel = self.ws.rel(self.ws.resolve(args.path, for_write=True))
        self.ws.edit(args.path, args.old, args.new)
        self.files_written.add(rel)
        added, removed = line_delta(args.old, args.new)
        return ToolOutput(
            f"edited {rel}: replaced {len(args.old.splitlines())} line(s) "
            f"with {len(args.new.splitlines())} line(s)",
            False,
            f"edit_file {rel} (+{added} −{removed})",
        )

    def _run_command(self, args: RunCommandInput) -> ToolOutput:
        command = args.command
        shown = f'run_command "{_short(command)}"'
        decision = self.ws.policy.decide(command)
        if decision.verdict == "deny":
            return ToolOutput(
                f"Command not run: the command policy denies it ({decision.reason}).",
                True,
                f"{shown} ✗ denied",
            )
        if self.command_gate is not None:
            refusal = self.command_gate(command)
            if refusal is not None:
                return ToolOutput(f"Command not run: {refusal}", True, f"{shown} ✗ refused")
        timeout = args.timeout_s or self.command_timeout_s
        result = self.ws.run(
            command, timeout_s=timeout, cancel=self.cancel, max_output=RUN_MAX_OUTPUT
        )
        status = result.status
        if result.timed_out:
            status += " (its processes were killed)"
        output = result.output if result.output.strip() else "(no output)"
        return ToolOutput(f"{status}\n{output}", False, f"{shown} → {status}")


def _error(name: str, input: Any, message: str) -> ToolOutput:
    target = (input.get("path") or input.get("command")) if isinstance(input, dict) else None
    first = message.splitlines()[0] if message else "error"
    where = f" {_short(str(target), 40)}" if target else ""
    return ToolOutput(message, True, f"{name}{where} ✗ {_short(first, 80)}")

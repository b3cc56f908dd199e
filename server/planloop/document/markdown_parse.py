"""Reading the plan document back: the parser of the format :mod:`.markdown` writes.

Its own module because reading is a job of its own, with its own callers: it runs on
every keystroke in an editor (the language server imports it lazily, to place lenses
while a person types), so it stays stdlib only and reports problems with 1-based line
numbers instead of raising. It knows the format's grammar but not the plan's model:
what it reads are the fields as written (:class:`Parsed`), and
:mod:`planloop.document.edits` validates them into a plan and holds the rules about
what an edit may change. The renderer uses the line readers here (:func:`parse_check`,
:func:`parse_decision`, :func:`codes_list`) to write a readable line only when it reads
back exactly. The format itself is described in :mod:`planloop.document.markdown`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# --- inline code spans -------------------------------------------------------------------


def read_code(s: str, i: int) -> tuple[str, int] | None:
    """The code span starting at ``s[i]`` and the index after it, or None."""
    m = re.match(r"`+", s[i:])
    if m is None:
        return None
    fence = m.group(0)
    start = i + len(fence)
    j = start
    while True:
        k = s.find(fence, j)
        if k < 0:
            return None
        end = k + len(fence)
        if (k > start and s[k - 1] == "`") or (end < len(s) and s[end] == "`"):
            j = k + 1
            while j < len(s) and s[j] == "`":
                j += 1
            continue
        body = s[start:k]
        if len(body) >= 2 and body.startswith(" ") and body.endswith(" ") and body.strip(" "):
            body = body[1:-1]
        elif body == "  ":
            body = ""
        return body, end


def codes_list(s: str) -> list[str] | None:
    """``a`, `b`` → ["a", "b"]; None when ``s`` is not exactly that shape."""
    out: list[str] = []
    i = 0
    while True:
        got = read_code(s, i)
        if got is None:
            return None
        out.append(got[0])
        i = got[1]
        if i == len(s):
            return out
        if not s.startswith(", ", i):
            return None
        i += 2


# --- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EditProblem:
    """A problem on a 1-based line of the text (0: the document as a whole)."""

    line: int
    message: str


@dataclass
class ParsedStep:
    line: int
    id: str
    title: str
    kind: str
    depends_on: list[str]
    instructions: str = ""
    files: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    expected_output: str = ""
    #: each check's fields as written (``plan_edits`` validates them into ``plan.Check``)
    acceptance: list[dict[str, Any]] = field(default_factory=list)
    check_lines: list[int] = field(default_factory=list)


@dataclass
class Parsed:
    """What the text says, with the line of each part (for rule messages)."""

    goal: str | None = None
    goal_line: int = 0
    steps: list[ParsedStep] = field(default_factory=list)
    decision_points: list[dict[str, Any]] = field(default_factory=list)
    decision_lines: list[int] = field(default_factory=list)
    success: str | None = None
    failure: str | None = None
    has_steps_section: bool = False
    problems: list[EditProblem] = field(default_factory=list)


STEP_LINE = re.compile(
    r"^(?P<n>\d+)\. \[(?P<icon>.?)\] \*\*(?P<title>.*)\*\* `(?P<id>[^`]*)` — "
    r"(?P<kind>edit|command|pause)(?: \(after (?P<deps>[^()]*)\))?\s*$"
)
_LOOKS_LIKE_STEP = re.compile(r"^\d+\.\s")
#: a step's field: written as "   - label: …", read with any indent and "-" or "*" (hand edits)
_FIELD = re.compile(
    r"^\s*[-*] +(?P<label>[a-z][a-z ]*?)(?P<json> \(json\))?:(?: (?P<rest>.*))?$", re.I
)
_SECTIONS = {"steps", "decision points", "stop conditions"}


def parse_check(s: str) -> dict[str, Any] | None:
    """A readable check's fields (what follows ``- check: ``), or None if it is not one."""
    desc = ""
    if s.startswith("run "):
        got = read_code(s, 4)
        if got is None:
            return None
        values: dict[str, Any] = {"kind": "command", "command": got[0]}
        rest = s[got[1] :]
    elif s.startswith("file "):
        got = read_code(s, 5)
        if got is None:
            return None
        values = {"path": got[0]}
        rest = s[got[1] :]
        if rest.startswith(" exists"):
            values["kind"] = "file_exists"
            rest = rest[len(" exists") :]
        elif rest.startswith(" contains "):
            pat = read_code(rest, len(" contains "))
            if pat is None:
                return None
            values |= {"kind": "file_contains", "pattern": pat[0]}
            rest = rest[pat[1] :]
        else:
            return None
    elif s.startswith("mcp "):
        got = read_code(s, 4)
        if got is None:
            return None
        values = {"kind": "mcp", "tool": got[0]}
        rest = s[got[1] :]
        if rest.startswith(" "):
            args = read_code(rest, 1)
            if args is None:
                return None
            try:
                values["arguments"] = json.loads(args[0])
            except ValueError:
                return None
            if not isinstance(values["arguments"], dict):
                return None
            rest = rest[args[1] :]
        if rest.startswith(" expect "):
            pat = read_code(rest, len(" expect "))
            if pat is None:
                return None
            values["pattern"] = pat[0]
            rest = rest[pat[1] :]
    else:
        return None
    m = re.match(r" \(timeout ([0-9][0-9.e+-]*) s\)", rest)
    if m:
        try:
            values["timeout_s"] = float(m.group(1))
        except ValueError:
            return None
        rest = rest[m.end() :]
    if rest.startswith(" — "):
        desc = rest[3:]
    elif rest:
        return None
    return {**values, "description": desc}


def parse_decision(s: str) -> dict[str, Any] | None:
    """``after `id`: condition → action`` (condition optional), or None."""
    if not s.startswith("after "):
        return None
    got = read_code(s, 6)
    if got is None:
        return None
    rest = s[got[1] :]
    m = re.fullmatch(r"(?:: (?P<cond>.*))? → (?P<action>complete|pause|replan)", rest)
    if m is None:
        return None
    return {"after_step": got[0], "condition": m.group("cond") or "", "action": m.group("action")}


class _Lines:
    def __init__(self, text: str) -> None:
        # a file saved with CRLF line ends (every line): read as LF; a lone "\r\n" inside
        # an LF document is text (an instruction may hold one) and stays as it is
        crlf = "\n" in text and text.count("\r\n") == text.count("\n")
        self.lines = (text.replace("\r\n", "\n") if crlf else text).split("\n")
        self.i = 0

    def block(self, problems: list[EditProblem]) -> str | None:
        """A fenced block after a field line (blank lines before it allowed)."""
        start = self.i
        j = self.i
        while j < len(self.lines) and not self.lines[j].strip():
            j += 1
        if j >= len(self.lines):
            problems.append(EditProblem(start, "a fenced block (```) should follow this line"))
            return None
        opening = self.lines[j]
        m = re.match(r"^(\s*)(`{3,})[^`]*$", opening)
        if m is None:
            problems.append(EditProblem(start, "a fenced block (```) should follow this line"))
            return None
        lead, fence = m.group(1), m.group(2)
        body: list[str] = []
        k = j + 1
        while k < len(self.lines):
            ln = self.lines[k]
            if ln.strip() == fence and ln.startswith(lead):
                self.i = k + 1
                return "\n".join(body)
            body.append(ln[len(lead) :] if ln.startswith(lead) else ln.lstrip(" "))
            k += 1
        problems.append(EditProblem(j + 1, f"this block is not closed ({fence} missing)"))
        self.i = len(self.lines)
        return None


def parse(text: str) -> Parsed:
    """Read a plan document; problems name their line instead of raising."""
    out = Parsed()
    lines = _Lines(text)
    src = lines.lines
    section: str | None = None  # None: the header; "" an ignored section
    current: ParsedStep | None = None
    while lines.i < len(src):
        n = lines.i + 1
        # trailing whitespace is an editor's, never the plan's (no readable line the
        # renderer writes ends in it; fenced blocks, read raw, keep theirs)
        line = src[lines.i].rstrip()
        lines.i += 1
        if line.startswith("## "):
            name = line[3:].strip().lower()
            section = name if name in _SECTIONS else ""
            current = None
            if name == "steps":
                out.has_steps_section = True
            continue
        if line.startswith("# ") and section is None:
            continue
        if section is None:
            if line.startswith("**Goal:**"):
                if out.goal is not None:
                    out.problems.append(EditProblem(n, "a second **Goal:** line"))
                    continue
                rest = line[len("**Goal:**") :]
                out.goal_line = n
                if rest.strip():
                    out.goal = rest[1:] if rest.startswith(" ") else rest
                else:
                    out.goal = lines.block(out.problems)
            continue  # other header lines are derived
        if section == "":
            continue
        if section == "steps":
            current = _steps_line(out, lines, line, n, current)
        elif section == "decision points":
            _decision_section_line(out, line, n)
        elif section == "stop conditions":
            _stop_section_line(out, line, n)
    if out.goal is None or not out.has_steps_section:
        missing = [
            w
            for w, ok in (
                ("**Goal:** line", out.goal is not None),
                ("## Steps section", out.has_steps_section),
            )
            if not ok
        ]
        out.problems.insert(
            0,
            EditProblem(
                0,
                f"this is not a plan document: it has no {' and no '.join(missing)} "
                "(planloop show prints the format)",
            ),
        )
    return out


def _steps_line(
    out: Parsed, lines: _Lines, line: str, n: int, current: ParsedStep | None
) -> ParsedStep | None:
    if not line.strip():
        return current
    m = STEP_LINE.match(line)
    if m:
        deps = [d.strip() for d in (m.group("deps") or "").split(",") if d.strip()]
        step = ParsedStep(
            line=n,
            id=m.group("id"),
            title=m.group("title"),
            kind=m.group("kind"),
            depends_on=deps,
        )
        out.steps.append(step)
        return step
    if _LOOKS_LIKE_STEP.match(line):
        out.problems.append(
            EditProblem(
                n,
                "not a step line: expected N. [ ] **Title** `step-id` — edit|command|pause "
                "(after a, b)",
            )
        )
        return None
    f = _FIELD.match(line)
    if f is None or current is None:
        if current is None and f is not None:
            out.problems.append(EditProblem(n, "a step field before any step line"))
        else:
            out.problems.append(
                EditProblem(
                    n,
                    "not part of a step: a step's fields are '   - instructions:', "
                    "'   - files:', '   - expected output:' and '   - check:' lines",
                )
            )
        return current
    label, is_json, rest = f.group("label").lower(), bool(f.group("json")), f.group("rest") or ""
    if is_json:
        _json_field(out, current, label, rest, n)
        return current
    if label in ("instructions", "expected output"):
        value = rest if rest else lines.block(out.problems)
        if value is None:
            return current
        if label == "instructions":
            current.instructions = value
        else:
            current.expected_output = value
    elif label == "files":
        files = codes_list(rest)
        if files is None:
            out.problems.append(
                EditProblem(n, "files: expected `path`, `path` (each in backticks)")
            )
        else:
            current.files = files
    elif label == "tools":
        tools = codes_list(rest)
        if tools is None:
            out.problems.append(
                EditProblem(n, "tools: expected `mcp__server__tool`, … (each in backticks)")
            )
        else:
            current.tools = tools
    elif label == "check":
        c = parse_check(rest)
        if c is None:
            out.problems.append(
                EditProblem(
                    n,
                    "check: expected run `command`, file `path` exists, file `path` "
                    "contains `pattern` or mcp `tool` `{json}` expect `pattern` "
                    "(optionally (timeout N s) and — description)",
                )
            )
        else:
            current.acceptance.append(c)
            current.check_lines.append(n)
    else:
        out.problems.append(EditProblem(n, f"unknown step field {label!r}"))
    return current


def _json_field(out: Parsed, step: ParsedStep, label: str, rest: str, n: int) -> None:
    try:
        value = json.loads(rest)
    except ValueError as e:
        out.problems.append(EditProblem(n, f"{label} (json): not JSON ({e})"))
        return
    if label == "check":
        if not isinstance(value, dict):
            out.problems.append(EditProblem(n, "check (json): expected a JSON object"))
        else:
            step.acceptance.append(value)
            step.check_lines.append(n)
    elif label in ("files", "tools"):
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            out.problems.append(EditProblem(n, f"{label} (json): expected a list of strings"))
        elif label == "files":
            step.files = value
        else:
            step.tools = value
    else:
        out.problems.append(EditProblem(n, f"unknown step field {label!r}"))


def _decision_section_line(out: Parsed, line: str, n: int) -> None:
    if not line.strip():
        return
    if line.startswith("- after (json): "):
        try:
            dp = json.loads(line[len("- after (json): ") :])
        except ValueError as e:
            out.problems.append(EditProblem(n, f"decision point (json): not JSON ({e})"))
            return
        if not isinstance(dp, dict):
            out.problems.append(EditProblem(n, "decision point (json): expected a JSON object"))
            return
    else:
        got = parse_decision(line[2:]) if line.startswith("- ") else None
        if got is None:
            out.problems.append(
                EditProblem(
                    n,
                    "decision point: expected - after `step-id`: condition → pause|replan|complete",
                )
            )
            return
        dp = got
    out.decision_points.append(dp)
    out.decision_lines.append(n)


def _stop_section_line(out: Parsed, line: str, n: int) -> None:
    m = re.match(r"^- (success|failure)( \(json\))?: (.*)$", line)
    if m is None:
        return  # derived lines (the estimate) follow this section
    value = m.group(3)
    if m.group(2):
        try:
            loaded = json.loads(value)
        except ValueError:
            loaded = None
        if not isinstance(loaded, str):
            out.problems.append(EditProblem(n, f"{m.group(1)} (json): expected a JSON string"))
            return
        value = loaded
    if m.group(1) == "success":
        out.success = value
    else:
        out.failure = value

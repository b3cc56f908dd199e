"""The plan as Markdown a person reads *and* edits: the format, and writing it.

``planloop show`` prints this, ``.planloop/plan.md`` holds it and ``planloop edit`` (or
an editor through the language server) reads it back, so the one format has to stay
readable while every editable field survives a round trip: ``check_edit(
render_markdown(p), p)`` gives ``p`` again. :func:`render_markdown` writes the
document; reading it back is :mod:`.markdown_parse`. The format, line by line:

```
# Plan pln_0123abcd v3                     (derived: ignored when parsed)

**Goal:** one line of goal                 (or "**Goal:**" then a fenced block)
**Mode:** … / **Revision** … / **Estimate:** …   (derived: any **Label:** line but Goal)

## Steps

1. [x] **Title** `step-id` — edit (after a, b)
   - instructions: one line               (or "- instructions:" then a fenced block)
   - files: `a.py`, `dir/b.py`
   - tools: `mcp__db__query`, `mcp__docs__*`   (the MCP tools the step may call)
   - expected output: one line            (or a fenced block, as instructions)
   - check: run `pytest -q` (timeout 60.0 s) — description
   - check: file `a.py` exists
   - check: file `a.py` contains `def square` — description

## Decision points

- after `step-id`: condition → pause      (no condition: "- after `step-id` → pause")

## Stop conditions

- success: text
- failure: text
```

Why each choice:

- Fenced blocks (indented five spaces, under the field) carry multi-line text as it is;
  the fence is longer than any backtick run inside. Inline code spans use the CommonMark
  rule (a longer backtick run, a space of padding when the text starts or ends with a
  backtick or a space), so paths and commands with backticks survive.
- Anything the readable form cannot say exactly (a newline in a check's command, a
  description with leading spaces) is written as one JSON line — ``- check (json): {…}``,
  ``- files (json): […]`` — chosen at render time by parsing the readable line back:
  the format is lossless by construction, readable wherever it can be.
- Status is shown (the ``[x]`` icon) but not editable: status, attempts, results and
  every field the format does not show are carried over from the base plan by step id
  (``model_copy``), so fields other modules add to :class:`~planloop.document.plan.Plan` flow
  through without this module knowing them. The header's ``**Label:**`` lines other than
  Goal, and every ``## `` section other than Steps, Decision points and Stop conditions
  (``## Questions``, …), are derived: ignored when parsed.
- A step line keeps the shape ``N. [icon] **Title** `id` — kind (after a, b)``: the
  language server finds steps by it. Titles are one line.

:func:`~.markdown_parse.parse` reports problems with 1-based line numbers instead of
raising, because it runs on every keystroke in an editor; the rules about what an edit
may change live in :mod:`planloop.document.edits`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from planloop.document.markdown_parse import codes_list, parse_check, parse_decision
from planloop.document.plan import Check, DecisionPoint, Plan, Step

_INDENT = "     "  # a field's block sits under "   - "
#: a check's fields when a readable line does not name them (``plan.Check``'s defaults;
#: if those ever differ, the line reads back differently and JSON is written instead)
CHECK_DEFAULTS: dict[str, Any] = {
    "description": "",
    "command": None,
    "path": None,
    "pattern": None,
    "timeout_s": 120.0,
    "tool": None,
    "arguments": None,
}

# --- inline code spans -------------------------------------------------------------------


def code(text: str) -> str:
    """``text`` as a CommonMark code span that reads back as exactly ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# --- rendering ---------------------------------------------------------------------------


def _fence_for(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"^\s*(`{3,})", text, re.M)), default=2)
    return "`" * max(3, longest + 1)


def _block(text: str, indent: str) -> list[str]:
    fence = _fence_for(text)
    lines = [f"{indent}{fence}text"]
    lines += [f"{indent}{ln}" if ln else "" for ln in text.split("\n")]
    lines.append(f"{indent}{fence}")
    return lines


def _one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text and text == text.strip()


def _single(line: str) -> bool:
    return "\n" not in line and "\r" not in line


def _field(label: str, text: str) -> list[str]:
    if _one_line(text):
        return [f"   - {label}: {text}"]
    return [f"   - {label}:", *_block(text, _INDENT)]


def _check_line(c: Check) -> str:
    readable = _readable_check(c)
    values = c.model_dump()
    if readable is not None and _single(readable) and readable == readable.rstrip():
        back = parse_check(readable)
        if back is not None and {**CHECK_DEFAULTS, **back} == values:
            return f"   - check: {readable}"
    shown = {k: v for k, v in values.items() if k == "kind" or CHECK_DEFAULTS.get(k, ...) != v}
    return f"   - check (json): {json.dumps(shown, ensure_ascii=False)}"


def _readable_check(c: Check) -> str | None:
    if c.tool is not None and c.kind != "mcp":
        return None
    if c.kind == "mcp":
        if c.tool is None or c.command is not None or c.path is not None:
            return None
        s = f"mcp {code(c.tool)}"
        if c.arguments is not None:
            s += f" {code(json.dumps(c.arguments, ensure_ascii=False, separators=(',', ':')))}"
        if c.pattern is not None:
            s += f" expect {code(c.pattern)}"
    elif c.arguments is not None:
        return None
    elif c.kind == "command":
        if c.command is None or c.path is not None or c.pattern is not None:
            return None
        s = f"run {code(c.command)}"
    elif c.kind == "file_exists":
        if c.path is None or c.command is not None or c.pattern is not None:
            return None
        s = f"file {code(c.path)} exists"
    else:
        if c.path is None or c.pattern is None or c.command is not None:
            return None
        s = f"file {code(c.path)} contains {code(c.pattern)}"
    if c.timeout_s != CHECK_DEFAULTS["timeout_s"]:
        s += f" (timeout {c.timeout_s!r} s)"
    if c.description:
        s += f" — {c.description}"
    return s


def decision_line(dp: DecisionPoint) -> str:
    """A decision point (``plan.DecisionPoint``) as its list item."""
    readable = (
        f"- after {code(dp.after_step)}: {dp.condition} → {dp.action}"
        if dp.condition
        else f"- after {code(dp.after_step)} → {dp.action}"
    )
    values = dp.model_dump()
    if (
        _single(readable)
        and readable == readable.rstrip()
        and parse_decision(readable[2:]) == values
    ):
        return readable
    return f"- after (json): {json.dumps(values, ensure_ascii=False)}"


def stop_line(label: str, text: str) -> str:
    """A stop condition (``success`` / ``failure``) as its list item."""
    if _one_line(text):
        return f"- {label}: {text}"
    return f"- {label} (json): {json.dumps(text, ensure_ascii=False)}"


def _files_line(files: list[str], label: str = "files") -> str:
    readable = ", ".join(code(f) for f in files)
    if _single(readable) and readable == readable.rstrip() and codes_list(readable) == files:
        return f"   - {label}: {readable}"
    return f"   - {label} (json): {json.dumps(files, ensure_ascii=False)}"


def goal_lines(goal: str) -> list[str]:
    """``**Goal:** text``, or for a goal of several lines the label and a fenced block."""
    if _one_line(goal):
        return [f"**Goal:** {goal}"]
    return ["**Goal:**", "", *_block(goal, "")]


def one_line_title(title: str) -> str:
    """Titles are one line in the document (a newline would end the step line)."""
    return " ".join(title.splitlines()) if "\n" in title or "\r" in title else title


def step_fields(s: Step) -> list[str]:
    """The lines under a step's line (``plan.Step``): every field a person edits."""
    lines: list[str] = []
    if s.instructions:
        lines += _field("instructions", s.instructions)
    if s.files:
        lines.append(_files_line(s.files))
    if s.tools:
        lines.append(_files_line(s.tools, "tools"))
    if s.expected_output:
        lines += _field("expected output", s.expected_output)
    lines += [_check_line(c) for c in s.acceptance]
    return lines


# --- rendering ---------------------------------------------------------------------

_ICON = {
    "pending": "[ ]",
    "running": "[~]",
    "passed": "[x]",
    "failed": "[!]",
    "blocked": "[#]",
    "skipped": "[-]",
    "awaiting_approval": "[?]",
    "reverted": "[<]",
}


def rules_followed_lines(plan: Plan) -> list[str]:
    """The plan document's ``**Rules followed:**`` header line (and a blank), or nothing:
    a reviewer sees which of the project's instruction files the plan was made under."""
    if not plan.rules_followed:
        return []
    return [f"**Rules followed:** {', '.join(plan.rules_followed)}", ""]


def render_markdown(plan: Plan) -> str:
    """A plan a person can review in 30 seconds, and edit: goal, steps with every field
    and check, rules, cost. The format: this module's docstring; its parser:
    :mod:`.markdown_parse` (the header's other ``**Label:**`` lines and other ``## ``
    sections are derived)."""
    lines = [f"# Plan {plan.plan_id} v{plan.version}", "", *goal_lines(plan.goal), ""]
    if plan.mode_choice is not None:
        mc = plan.mode_choice
        lines += [f"**Mode:** {mc.mode} (asked: {mc.requested}) — {mc.reason}", ""]
    lines += rules_followed_lines(plan)
    if plan.revision:
        r = plan.revision
        lines.append(f"**Revision** ({r.trigger}) from v{plan.parent_version}: {r.reason}")
        for e in r.evidence:  # every line quoted: evidence is output, never a section
            lines += [f"> {line}" for line in e.splitlines() or [""]]
        if r.decided:
            lines.append(f"_{r.decided} by {r.decided_by or '?'} at {r.decided_at or '?'}_")
        lines.append("")
    lines += render_questions(plan)
    lines.append("## Steps")
    lines.append("")
    for n, s in enumerate(plan.steps, 1):
        deps = f" (after {', '.join(s.depends_on)})" if s.depends_on else ""
        title = one_line_title(s.title)
        lines.append(f"{n}. {_ICON[s.status]} **{title}** `{s.id}` — {s.kind}{deps}")
        lines += step_fields(s)
    lines.append("")
    if plan.decision_points:
        lines.append("## Decision points")
        lines.append("")
        for dp in plan.decision_points:
            lines.append(decision_line(dp))
        lines.append("")
    lines.append("## Stop conditions")
    lines.append("")
    lines.append(stop_line("success", plan.stop_conditions.success))
    lines.append(stop_line("failure", plan.stop_conditions.failure))
    lines.append("")
    est = plan.estimate
    if est.cost_usd is not None or est.duration_s is not None:
        parts = []
        if est.cost_usd is not None:
            parts.append(f"${est.cost_usd:.2f}")
        if est.duration_s is not None:
            parts.append(f"{est.duration_s:.0f} s")
        lines.append(f"**Estimate:** {' · '.join(parts)}")
        lines.append("")
    return "\n".join(lines)


def render_questions(plan: Plan) -> list[str]:
    """The ``## Questions`` section (empty when none were asked): derived from
    ``plan.questions``, so a parser of the Markdown reads past it rather than from it."""
    if not plan.questions:
        return []
    lines = ["## Questions", ""]
    for n, q in enumerate(plan.questions, 1):
        lines.append(f"{n}. **Q:** {' '.join(q.question.split())}")
        if q.options:
            lines.append(f"   - options: {' · '.join(q.options)}")
        if q.answer is None:
            lines.append("   - **A:** _(not answered yet)_")
        else:
            by = f" — {q.answered_by}" if q.answered_by else ""
            lines.append(f"   - **A:** {' '.join(q.answer.split())}{by}")
    lines.append("")
    return lines

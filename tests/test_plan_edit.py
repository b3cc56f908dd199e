"""``planloop edit``: the plan document, edited by a person, becomes the next version.

Through the real console script in fresh processes, as tests/test_cli.py: stdin is not a
terminal, so an edit applies without asking. Each bad input is its own test and asserts
the three promises: a message naming the problem (and its line), a non-zero exit, no
version written — and the user's text kept where the message says.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import report, step, submit, write
from planloop.state.store import PlanStore
from test_cli import (
    GOAL,
    SQUARE,
    cli_env,
    contains,
    fresh_copy,
    models,
    plan_dir,
    planloop,
    record,
    write_script,
)


def three_step_plan() -> list[dict[str, Any]]:
    return submit(
        GOAL,
        [
            step(
                "square",
                "Add square()",
                checks=[contains("calculator/calc.py", "def square")],
                files=["calculator/calc.py"],
            ),
            step("notes", "Write notes", checks=[{"kind": "file_exists", "path": "NOTES.md"}]),
            step(
                "docs",
                "Document it",
                checks=[contains("NOTES.md", "square")],
                deps=["notes"],
            ),
        ],
    )


class Ran:
    """A workspace whose plan v1 is approved and whose first step has passed."""

    def __init__(self, ws: Path, script: Path) -> None:
        self.ws = ws
        self.script = script

    def show(self) -> str:
        res = planloop(self.ws, "show", "--md")
        assert res.returncode == 0, res.stderr
        return res.stdout.removesuffix("\n")  # print's newline: the document itself

    def versions(self) -> list[str]:
        return sorted(p.name for p in plan_dir(self.ws).glob("v*.json"))


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    root = tmp_path_factory.mktemp("edit")
    ws = fresh_copy(root / "calc")
    calc = (ws / "calculator" / "calc.py").read_text() + SQUARE
    s = write_script(
        root / "script.json", [three_step_plan()], [write("calculator/calc.py", calc), report()]
    )
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    res = planloop(ws, "run", "--step", "square", "--yes", *models(s))
    assert res.returncode == 0, res.stdout + res.stderr
    assert [x.status for x in record(ws).plan.steps] == ["passed", "pending", "pending"]
    return Ran(ws, s)


def line_of(text: str, needle: str) -> int:
    """The 1-based line number of the first line containing ``needle``."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in the text")


def refused(ran: Ran, text: str | bytes, name: str = "edited.md") -> tuple[str, Path]:
    """Apply ``text`` with ``--from``; assert it was refused and nothing was written.
    Returns stderr and the file the message says the text is kept in."""
    before_versions = ran.versions()
    before_plan = ran.show()
    assert text != before_plan, "the test's edit changed nothing (a replace that missed)"
    path = ran.ws.parent / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, "utf-8")
    res = planloop(ran.ws, "edit", "--from", str(path))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert ran.versions() == before_versions  # no version written
    assert ran.show() == before_plan
    assert path.read_bytes() == (text if isinstance(text, bytes) else text.encode())
    m = re.search(r"kept at (\S+\.md)", res.stderr)
    kept = Path(m.group(1)) if m else Path()
    return res.stderr, kept


def assert_kept(kept: Path, text: str) -> None:
    assert kept.parent.name == "edits" and kept.parent.parent.name == ".planloop", kept
    assert kept.read_text("utf-8") == text


# --- applied -----------------------------------------------------------------------------


def test_edit_from_a_file_records_a_user_version_and_the_log_says_who_and_when(
    calc_ws: Path, tmp_path: Path
) -> None:
    ws = fresh_copy(tmp_path / "ws")
    s = write_script(tmp_path / "s.json", [three_step_plan()], [])
    assert planloop(ws, "plan", GOAL, *models(s)).returncode == 0  # awaits review
    text = planloop(ws, "show", "--md").stdout
    new_goal = "Add square() and cube()"
    edited = (
        text.replace(f"**Goal:** {GOAL}", f"**Goal:** {new_goal}")
        .replace("**Document it**", "**Document square and cube**")
        .replace("## Decision points", "## Decision points")
    )
    edited = edited.replace(
        "\n## Stop conditions",
        "4. [ ] **Check by hand** `look` — pause (after docs)\n"
        "   - instructions:\n"
        "     ```\n"
        "     Read NOTES.md.\n"
        "     Does it say `cube`?\n"
        "     ```\n"
        "\n## Stop conditions",
    )
    f = tmp_path / "edited.md"
    f.write_text(edited)
    res = planloop(ws, "edit", "--from", str(f), "--by", "ann")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "plan v2 recorded (edited by ann)" in res.stdout

    rec = record(ws)
    assert rec.plan.version == 2 and rec.plan.goal == new_goal
    assert [x.id for x in rec.plan.steps] == ["square", "notes", "docs", "look"]
    look = rec.plan.steps[3]
    assert look.kind == "pause" and look.depends_on == ["docs"]
    assert look.instructions == "Read NOTES.md.\nDoes it say `cube`?"
    assert rec.plan.steps[2].title == "Document square and cube"
    rev = rec.plan.revision
    assert rev is not None and rev.trigger == "user_edited"
    assert rev.proposed_by == "ann" and rev.decided_by == "ann" and rev.decided_at
    assert GOAL in rev.reason and new_goal in rev.reason  # recorded as a goal change
    assert rec.pending is not None and rec.pending.kind == "plan"  # the review still stands
    v2 = json.loads((plan_dir(ws) / "v2.json").read_text())
    assert v2["parent_version"] == 1 and v2["revision"]["proposed_by"] == "ann"

    events = [json.loads(x) for x in planloop(ws, "log", "--json").stdout.splitlines()]
    edits = [e for e in events if e["type"] == "plan_edited"]
    assert len(edits) == 1 and edits[0]["author"] == "ann" and edits[0]["at"]
    assert edits[0]["added"] == ["look"] and edits[0]["changed"] == ["docs"]
    assert edits[0]["old_goal"] == GOAL and edits[0]["goal"] == new_goal
    log = planloop(ws, "log").stdout
    assert "plan_edited" in log and '"author": "ann"' in log
    # the version history shows it too, and .planloop/plan.md is the new version
    shown = planloop(ws, "show", "--md").stdout
    assert "(user_edited) from v1" in shown and "by ann" in shown
    assert (ws / ".planloop" / "plan.md").read_text() == shown.removesuffix("\n")  # print's
    # an unchanged document writes nothing
    f.write_text(shown)
    again = planloop(ws, "edit", "--from", str(f))
    assert again.returncode == 0 and "no change" in again.stdout
    assert record(ws).plan.version == 2
    # and the reviewer approves the edited plan as usual
    assert planloop(ws, "approve", "--by", "rev").returncode == 0
    assert record(ws).pending is None


EDITOR = """\
import sys
from pathlib import Path
p = Path(sys.argv[1])
p.write_text(p.read_text().replace({old!r}, {new!r}))
"""


def test_edit_opens_the_editor_on_the_current_version_and_applies_it(ran: Ran) -> None:
    script = ran.ws.parent / "editor_ok.py"
    script.write_text(EDITOR.format(old="**Write notes**", new="**Write the notes**"))
    env = cli_env(VISUAL=f"{sys.executable} {script}")
    before = record(ran.ws).plan.version
    res = planloop(ran.ws, "edit", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    rec = record(ran.ws)
    assert rec.plan.version == before + 1
    assert rec.plan.steps[1].title == "Write the notes"
    assert rec.plan.steps[0].status == "passed"  # statuses carried over


def test_a_bad_edit_in_the_editor_is_kept_and_the_message_says_where(ran: Ran) -> None:
    script = ran.ws.parent / "editor_dup.py"
    script.write_text(EDITOR.format(old="`notes`", new="`square`"))
    env = cli_env(EDITOR=f"{sys.executable} {script}", VISUAL="")
    versions = ran.versions()
    text = ran.show()
    res = planloop(ran.ws, "edit", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    n = line_of(text, "`notes`")
    assert f"line {n}:" in res.stderr and "duplicate step id 'square'" in res.stderr
    assert ran.versions() == versions
    m = re.search(r"kept at (\S+\.md)", res.stderr)
    assert m, res.stderr
    assert_kept(Path(m.group(1)), text.replace("`notes`", "`square`"))


def test_edit_without_an_editor_set_says_how(ran: Ran) -> None:
    res = planloop(ran.ws, "edit", env=cli_env(VISUAL="", EDITOR=""))
    assert res.returncode == 1
    assert "set $VISUAL or $EDITOR" in res.stderr and "--from" in res.stderr


def test_edit_is_refused_while_a_step_runs(ran: Ran) -> None:
    text = ran.show().replace("**Document it**", "**Document it, while running**")
    with PlanStore(ran.ws).run_lock():
        stderr, kept = refused(ran, text)
    assert "a step is running, so the plan edit is refused" in stderr
    assert_kept(kept, text)


# --- bad input: each named -----------------------------------------------------------------


def test_bad_input_an_edit_to_a_passed_step(ran: Ran) -> None:
    text = ran.show().replace("**Add square()**", "**Add square() fast**")
    stderr, kept = refused(ran, text)
    n = line_of(text, "`square` —")
    assert f"line {n}: step 'square' has passed, so it cannot change (changed: title)" in stderr
    assert_kept(kept, text)


def test_bad_input_removing_a_passed_step(ran: Ran) -> None:
    text = ran.show()
    start = line_of(text, "`square` —") - 1
    end = line_of(text, "`notes` —") - 1
    lines = text.splitlines(keepends=True)
    edited = "".join(lines[:start] + lines[end:])
    stderr, kept = refused(ran, edited)
    assert "step 'square' has passed and cannot be removed" in stderr
    assert_kept(kept, edited)


def test_bad_input_a_removed_step_that_a_later_step_depends_on(ran: Ran) -> None:
    text = ran.show()
    lines = text.splitlines(keepends=True)
    start = line_of(text, "`notes` —") - 1
    end = line_of(text, "`docs` —") - 1
    edited = "".join(lines[:start] + lines[end:])
    stderr, kept = refused(ran, edited)
    n = line_of(edited, "`docs` —")
    assert (
        f"line {n}: step 'docs' depends on 'notes', which is not a step (this edit removes it)"
        in stderr
    )
    assert_kept(kept, edited)


def test_bad_input_a_duplicate_step_id(ran: Ran) -> None:
    text = ran.show().replace("`docs` —", "`notes` —")
    stderr, kept = refused(ran, text)
    n = line_of(text, "**Document it**")
    first = line_of(text, "**Write")
    assert f"line {n}: duplicate step id 'notes' (first on line {first})" in stderr
    assert_kept(kept, text)


def test_bad_input_a_dependency_cycle(ran: Ran) -> None:
    text = ran.show()
    notes = next(x for x in text.splitlines() if "`notes` —" in x)
    text = text.replace(notes, notes + " (after docs)" if "(after" not in notes else notes)
    stderr, _ = refused(ran, text)
    n = line_of(text, "`notes` —")
    assert f"line {n}: step 'notes' depends on 'docs', which comes after it" in stderr
    assert "cycle" in stderr


def test_bad_input_an_edit_step_without_a_check(ran: Ran) -> None:
    text = ran.show()
    lines = text.splitlines(keepends=True)
    docs = line_of(text, "`docs` —")
    edited = "".join(x for i, x in enumerate(lines, 1) if not (i > docs and "- check" in x))
    stderr, _ = refused(ran, edited)
    assert f"line {docs}: edit step 'docs' has no acceptance check" in stderr


def test_bad_input_markdown_that_is_not_a_plan(ran: Ran) -> None:
    text = "# My notes\n\nSome thoughts about the calculator.\n\n- add cube()\n"
    stderr, kept = refused(ran, text)
    assert "Goal" in stderr and "## Steps" in stderr
    assert_kept(kept, text)


def test_bad_input_a_huge_file(ran: Ran) -> None:
    text = ran.show() + ("<!-- padding -->\n" * 70_000)
    stderr, _ = refused(ran, text)
    assert "bytes: a plan document is at most 1000000 bytes" in stderr


def test_bad_input_a_binary_file(ran: Ran) -> None:
    stderr, _ = refused(ran, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "is a binary file, not a plan document" in stderr


def test_bad_input_a_file_that_is_not_utf8(ran: Ran) -> None:
    stderr, _ = refused(ran, "**Goal:** caf\xe9\n".encode("latin-1"))
    assert "is not UTF-8 text" in stderr


def test_bad_input_a_missing_file(ran: Ran) -> None:
    res = planloop(ran.ws, "edit", "--from", str(ran.ws / "nope.md"))
    assert res.returncode == 1 and "no such file" in res.stderr


# --- on a terminal: the diff, then a question ----------------------------------------------


def on_a_terminal(ws: Path, args: list[str], answer: str) -> tuple[int, str, str]:
    """Run ``planloop`` with stdin and stdout on a pseudo-terminal; answer the question
    when it appears. Returns the exit code, what the terminal showed, and stderr."""
    import os
    import pty
    import select
    import subprocess

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("planloop")), *args],
        cwd=ws,
        env=cli_env(TERM="dumb"),
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        text=False,
    )
    os.close(slave)
    shown = b""
    answered = False
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if not answered and b"> " in shown and b"Apply as v" in shown:
                os.write(master, answer.encode() + b"\n")
                answered = True
        rc = proc.wait(timeout=30)
    finally:
        os.close(master)
    assert proc.stderr is not None
    return rc, shown.decode("utf-8", "replace"), proc.stderr.read().decode()


def test_on_a_terminal_the_diff_is_shown_and_yes_applies(ran: Ran) -> None:
    text = ran.show()
    old = "- success: every step passed its acceptance checks"
    edited = text.replace(old, "- success: NOTES.md explains square()")
    f = ran.ws.parent / "tty-yes.md"
    f.write_text(edited)
    before = record(ran.ws).plan.version
    rc, shown, stderr = on_a_terminal(ran.ws, ["edit", "--from", str(f)], "y")
    assert rc == 0, shown + stderr
    assert f"-{old}" in shown and "+- success: NOTES.md explains square()" in shown
    assert f"Apply as v{before + 1}?" in shown
    rec = record(ran.ws)
    assert rec.plan.version == before + 1
    assert rec.plan.stop_conditions.success == "NOTES.md explains square()"


def test_on_a_terminal_no_applies_nothing_and_keeps_the_text(ran: Ran) -> None:
    text = ran.show()
    edited = text.replace("- failure: ", "- failure: two failed attempts, or ")
    f = ran.ws.parent / "tty-no.md"
    f.write_text(edited)
    versions = ran.versions()
    rc, shown, stderr = on_a_terminal(ran.ws, ["edit", "--from", str(f)], "n")
    assert rc == 1, shown + stderr
    assert "+- failure: two failed attempts, or" in shown
    assert ran.versions() == versions and ran.show() == text
    m = re.search(r"kept at (\S+\.md)", shown.replace("\r\n", " ").replace("\n", " "))
    assert m, shown
    assert_kept(Path(m.group(1)), edited)

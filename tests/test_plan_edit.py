"""``planloop edit``: the user's edit of the plan document, through the real console script.

Each bad input is its own test (the issue's list): a file that is huge or binary, a
Markdown file that is not a plan, a step removed that a later step depends on, an edit
to a passed step, a duplicate id, an edit while a step runs, and unchanged text. For
each: a message naming the problem (and its line), a non-zero exit, no version written,
the run record untouched, and the user's text kept where the message says.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import report, step, submit, write
from planloop.store import PlanStore

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
GOAL = "Add a square() function and a notes file"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    out["PLANLOOP_MODE"] = "split"
    out["PATH"] = os.path.dirname(sys.executable) + os.pathsep + out.get("PATH", "")
    out["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    out["COLUMNS"] = "200"
    out.pop("VISUAL", None)
    out.pop("EDITOR", None)
    out.update(extra)
    return out


def planloop(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLANLOOP, *args],
        cwd=cwd,
        env=env(**extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def contains(path: str, pattern: str) -> dict[str, str]:
    return {"kind": "file_contains", "path": path, "pattern": pattern}


@pytest.fixture
def ws(calc_ws: Path, tmp_path: Path) -> Path:
    """Plan v1 (square, then notes after it), approved; ``square`` has run and passed."""
    (calc_ws / "planloop.toml").write_text("workspace_checks = []\n")
    plan = submit(
        GOAL,
        [
            step(
                "square",
                "Add square()",
                checks=[contains("calculator/calc.py", "def square")],
                files=["calculator/calc.py"],
            ),
            step(
                "notes",
                "Write notes",
                checks=[{"kind": "file_exists", "path": "NOTES.md"}],
                deps=["square"],
            ),
        ],
    )
    calc = (calc_ws / "calculator" / "calc.py").read_text() + SQUARE
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps({"planner": [plan], "executor": [write("calculator/calc.py", calc), report()]})
    )
    spec = f"scripted:{script}"
    for args in (("plan", GOAL, "--yes"), ("run", "--yes")):
        res = planloop(calc_ws, *args, "--planner", spec, "--executor", spec)
        assert res.returncode == 0, res.stdout + res.stderr
    rec = PlanStore(calc_ws).load()
    assert [s.status for s in rec.plan.steps] == ["passed", "pending"]
    return calc_ws


def document(ws: Path) -> str:
    res = planloop(ws, "show", "--md")
    assert res.returncode == 0, res.stderr
    return res.stdout


def pdir(ws: Path) -> Path:
    pid = (ws / ".planloop" / "current").read_text().strip()
    return ws / ".planloop" / "plans" / pid


def state(ws: Path) -> tuple[list[str], bytes]:
    """What an edit must leave alone when it is refused: the versions and run.json."""
    d = pdir(ws)
    return sorted(p.name for p in d.glob("v*.json")), (d / "run.json").read_bytes()


def apply(ws: Path, text: str | bytes, name: str = "edited.md") -> subprocess.CompletedProcess[str]:
    path = ws.parent / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return planloop(ws, "edit", "--from", str(path), "--by", "ann")


def refused(ws: Path, res: subprocess.CompletedProcess[str], before: Any) -> str:
    """The edit failed cleanly: exit 1, no traceback, nothing written; its stderr."""
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert state(ws) == before
    return res.stderr


def kept_text(stderr: str) -> str:
    """The file the message says the edit is kept in, read."""
    m = re.search(r"kept at (\S+\.md)", stderr)
    assert m, stderr
    path = Path(m.group(1))
    assert path.parent.name == "edits" and path.parent.parent.name == ".planloop"
    return path.read_text(encoding="utf-8")


# --- an edit that applies --------------------------------------------------------------------


def test_an_edit_becomes_the_next_version_authored_by_the_user(ws: Path) -> None:
    md = document(ws)
    edited = md.replace("**Write notes**", "**Write the release notes**").replace(
        f"**Goal:** {GOAL}", "**Goal:** Add square() and release notes"
    )
    edited = edited.replace(
        "   - check: file `NOTES.md` exists",
        "   - instructions: Say what square() does.\n"
        "     Keep it short.\n"
        "   - check: file `NOTES.md` exists\n"
        "   - check: file `NOTES.md` contains `square` — names the function",
    )
    # the instructions continue over two lines: the one-line form cannot, use a block
    edited = edited.replace(
        "   - instructions: Say what square() does.\n     Keep it short.\n",
        "   - instructions:\n     ```text\n     Say what square() does.\n     Keep it short.\n"
        "     ```\n",
    )
    res = apply(ws, edited)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "v2" in res.stdout
    rec = PlanStore(ws).load()
    assert rec.plan.version == 2 and rec.plan.parent_version == 1
    notes = rec.plan.step("notes")
    assert notes.title == "Write the release notes"
    assert notes.instructions == "Say what square() does.\nKeep it short."
    assert [c.kind for c in notes.acceptance] == ["file_exists", "file_contains"]
    assert notes.acceptance[1].description == "names the function"
    assert rec.plan.step("square").status == "passed"  # statuses come from the base
    assert rec.plan.goal == "Add square() and release notes"
    rev = rec.plan.revision
    assert rev is not None and rev.trigger == "user_edited"
    assert rev.proposed_by == rev.decided_by == "ann" and rev.decided_at
    assert "goal changed" in rev.reason
    assert (pdir(ws) / "v2.json").exists()
    # the log says who and when, and what changed in the goal
    log = planloop(ws, "log", "--json")
    edits = [json.loads(line) for line in log.stdout.splitlines() if '"plan_edited"' in line]
    assert len(edits) == 1
    ev = edits[0]
    assert ev["author"] == "ann" and ev["at"] and ev["version"] == 2
    assert ev["old_goal"] == GOAL and ev["goal"] == "Add square() and release notes"
    assert ev["changed"] == ["notes"]
    # .planloop/plan.md follows the current version, and reads back as it
    on_disk = (ws / ".planloop" / "plan.md").read_text(encoding="utf-8")
    assert "# Plan" in on_disk and " v2" in on_disk and "Write the release notes" in on_disk
    again = apply(ws, on_disk, "again.md")
    assert again.returncode == 0 and "no change" in again.stdout, again.stdout + again.stderr


def test_unchanged_text_says_no_change_and_writes_nothing(ws: Path) -> None:
    before = state(ws)
    res = apply(ws, document(ws))
    assert res.returncode == 0, res.stderr
    assert "no change" in res.stdout
    assert state(ws) == before
    assert not (ws / ".planloop" / "edits").exists()


# --- bad input ---------------------------------------------------------------------------------


def test_a_huge_file_is_refused_unread(ws: Path) -> None:
    before = state(ws)
    huge = document(ws) + ("<!-- padding -->\n" * 70_000)
    assert len(huge.encode()) > 1_000_000
    err = refused(ws, apply(ws, huge), before)
    assert "bytes" in err and "edited.md" in err


def test_a_binary_file_is_refused(ws: Path) -> None:
    before = state(ws)
    err = refused(ws, apply(ws, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))), before)
    assert "binary" in err or "UTF-8" in err


def test_a_markdown_file_that_is_not_a_plan_is_refused_and_kept(ws: Path) -> None:
    before = state(ws)
    text = "# Shopping list\n\n- eggs\n- milk\n"
    err = refused(ws, apply(ws, text), before)
    assert "not a plan document" in err
    assert kept_text(err) == text


def test_removing_a_step_a_later_step_depends_on_names_the_line(ws: Path) -> None:
    """``notes`` has no dependents, so give it one first (a real edit), then remove it."""
    md = document(ws)
    with_third = md.replace(
        "\n\n## Stop conditions",
        "\n3. [ ] **Publish** `publish` — command (after notes)\n"
        "   - check: run `python -c pass`\n\n## Stop conditions",
        1,
    )
    assert apply(ws, with_third, "third.md").returncode == 0
    md = document(ws)
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if "`notes`" in ln and ln[0].isdigit())
    end = next(i for i, ln in enumerate(lines) if "`publish`" in ln)
    edited_lines = lines[:start] + lines[end:]
    publish_line = next(i for i, ln in enumerate(edited_lines, 1) if "`publish`" in ln)
    before = state(ws)
    edited = "\n".join(edited_lines) + "\n"
    err = refused(ws, apply(ws, edited), before)
    assert f"line {publish_line}:" in err
    assert "'notes'" in err and "removes" in err
    assert kept_text(err) == edited


def test_an_edit_to_a_passed_step_is_refused(ws: Path) -> None:
    before = state(ws)
    md = document(ws)
    edited = md.replace("`def square`", "`def square(`")
    lines = edited.splitlines()
    step_line = next(i for i, ln in enumerate(lines, 1) if "`square` — edit" in ln)
    err = refused(ws, apply(ws, edited), before)
    assert f"line {step_line}:" in err and "passed" in err and "acceptance" in err
    # removing it is refused as well
    start = next(i for i, ln in enumerate(lines) if "`square` — edit" in ln)
    end = next(i for i, ln in enumerate(lines) if "`notes` — edit" in ln)
    gone = "\n".join(lines[:start] + lines[end:]).replace(" (after square)", "")
    err = refused(ws, apply(ws, gone, "gone.md"), before)
    assert "'square' has passed and cannot be removed" in err


def test_a_duplicate_step_id_is_refused_naming_both_lines(ws: Path) -> None:
    before = state(ws)
    md = document(ws)
    edited = md.replace("`notes` — edit", "`square` — edit")
    lines = edited.splitlines()
    first, second = [i for i, ln in enumerate(lines, 1) if "`square` — edit" in ln]
    err = refused(ws, apply(ws, edited), before)
    assert f"line {second}: duplicate step id 'square' (first on line {first})" in err


def test_a_step_without_a_check_and_a_bad_check_line_each_name_their_line(ws: Path) -> None:
    before = state(ws)
    md = document(ws)
    edited = md.replace("   - check: file `NOTES.md` exists", "   - check: NOTES.md is there")
    lines = edited.splitlines()
    bad = next(i for i, ln in enumerate(lines, 1) if "NOTES.md is there" in ln)
    notes = next(i for i, ln in enumerate(lines, 1) if "`notes` — edit" in ln)
    err = refused(ws, apply(ws, edited), before)
    assert f"line {bad}: check: expected" in err
    assert f"line {notes}: edit step 'notes' has no acceptance check" in err


def test_an_edit_while_a_step_runs_is_refused(ws: Path) -> None:
    """A run in progress holds the workspace's run lock: the edit is refused, not queued."""
    before = state(ws)
    edited = document(ws).replace("**Write notes**", "**Write more notes**")
    with PlanStore(ws).run_lock():  # what a running `planloop run` holds
        res = apply(ws, edited)
    err = refused(ws, res, before)
    assert "a step is running" in err and "refused" in err
    assert kept_text(err) == edited
    # once the run has ended the same text applies
    assert apply(ws, edited, "later.md").returncode == 0


def test_edit_without_an_editor_or_file_says_how(ws: Path) -> None:
    before = state(ws)
    res = planloop(ws, "edit")
    err = refused(ws, res, before)
    assert "$EDITOR" in err and "--from" in err


def test_edit_opens_the_editor_on_the_current_document(ws: Path, tmp_path: Path) -> None:
    """``$EDITOR`` gets a copy of the current version's Markdown; what it saves applies."""
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('**Write notes**', '**Notes by the editor**'))\n"
    )
    res = planloop(ws, "edit", "--by", "bob", EDITOR=f"{sys.executable} {editor}")
    assert res.returncode == 0, res.stdout + res.stderr
    rec = PlanStore(ws).load()
    assert rec.plan.version == 2 and rec.plan.step("notes").title == "Notes by the editor"
    assert rec.plan.revision is not None and rec.plan.revision.decided_by == "bob"

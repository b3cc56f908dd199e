"""Editing ``.planloop/plan.md`` by hand, as the README says: "edit either, and it becomes
the next version". The edit applies with the next command (as ``planloop edit --from``
would: the same rules, authored "$USER (plan.md)"), or the command is refused naming the
problems — and planloop never writes over the user's text.

Through the real console script in fresh processes (tests/test_cli.py's helpers), stdin not
a terminal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import report, write
from planloop.document.markdown import render_markdown
from planloop.state.store import PlanStore
from test_cli import GOAL, SQUARE, cli_env, fresh_copy, models, plan_dir, planloop, write_script
from test_plan_edit import line_of, three_step_plan

ENV = cli_env(USER="ann")


def doc(ws: Path) -> Path:
    return ws / ".planloop" / "plan.md"


def planned(tmp_path: Path, *, yes: bool = True) -> tuple[Path, Path]:
    ws = fresh_copy(tmp_path / "ws")
    calc = (ws / "calculator" / "calc.py").read_text() + SQUARE
    s = write_script(
        tmp_path / "s.json", [three_step_plan()], [write("calculator/calc.py", calc), report()]
    )
    res = planloop(ws, "plan", GOAL, *(["--yes"] if yes else []), *models(s), env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    return ws, s


def sed(path: Path, old: str, new: str) -> str:
    """What ``sed -i`` does to the file; the new text."""
    text = path.read_text("utf-8")
    assert old in text, old
    text = text.replace(old, new)
    path.write_text(text, "utf-8")
    return text


def record_of(ws: Path):  # type: ignore[no-untyped-def]
    return PlanStore(ws).load()


def test_a_hand_edit_applies_with_the_next_command_as_a_user_version(tmp_path: Path) -> None:
    ws, _ = planned(tmp_path)
    sed(doc(ws), "**Write notes**", "**Write the notes**")
    shown = planloop(ws, "show", "--md", env=ENV)
    assert shown.returncode == 0, shown.stderr
    assert "**Write the notes**" in shown.stdout  # not the old plan
    said = [ln for ln in shown.stderr.splitlines() if "plan.md" in ln]
    assert len(said) == 1 and "v2" in said[0] and "edited by hand" in said[0], shown.stderr
    rec = record_of(ws)
    assert rec.plan.version == 2 and rec.plan.steps[1].title == "Write the notes"
    assert rec.plan.revision is not None and rec.plan.revision.decided_by == "ann (plan.md)"
    events = [json.loads(ln) for ln in (plan_dir(ws) / "log.jsonl").read_text().splitlines()]
    edited = [e for e in events if e["type"] == "plan_edited"]
    assert len(edited) == 1 and edited[0]["author"] == "ann (plan.md)"
    assert edited[0]["changed"] == ["notes"]
    # the document is planloop's own again: the next command applies nothing more
    assert doc(ws).read_text("utf-8") == render_markdown(rec.plan)
    again = planloop(ws, "status", env=ENV)
    assert again.returncode == 0 and "plan.md" not in again.stderr, again.stderr
    assert record_of(ws).plan.version == 2


def test_approve_after_a_hand_edit_approves_the_edited_plan(tmp_path: Path) -> None:
    ws, s = planned(tmp_path, yes=False)  # v1 awaits review
    sed(doc(ws), "**Document it**", "**Document square()**")
    res = planloop(ws, "approve", *models(s), env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    rec = record_of(ws)
    assert rec.plan_approved and rec.plan.version == 2
    assert rec.plan.steps[2].title == "Document square()"
    assert "**Document square()**" in doc(ws).read_text("utf-8")  # not overwritten


def test_a_hand_edit_with_problems_refuses_the_command_and_is_never_overwritten(
    tmp_path: Path,
) -> None:
    ws, s = planned(tmp_path)
    text = sed(doc(ws), "`notes`", "`square`")  # a duplicate step id
    n = line_of(text, "**Write notes**")
    for command in (("run", "--all", *models(s)), ("show", "--md"), ("status",)):
        res = planloop(ws, *command, env=ENV)
        assert res.returncode == 1, command
        assert "Traceback" not in res.stderr
        assert f"line {n}:" in res.stderr and "duplicate step id 'square'" in res.stderr
        assert "delete" in res.stderr and "planloop edit" in res.stderr, res.stderr
        assert doc(ws).read_text("utf-8") == text, command  # the user's text, untouched
    rec = record_of(ws)
    assert rec.plan.version == 1 and [x.status for x in rec.plan.steps] == ["pending"] * 3
    m = re.search(r"kept at (\S+\.md)", res.stderr)
    assert m, res.stderr
    kept = Path(m.group(1))
    assert kept.parent == ws / ".planloop" / "edits" and kept.read_text("utf-8") == text
    assert len(list(kept.parent.iterdir())) == 1  # kept once, not once per command
    # fixing it in place applies it
    sed(doc(ws), "**Write notes** `square`", "**Write the notes** `notes`")
    fixed = planloop(ws, "status", env=ENV)
    assert fixed.returncode == 0, fixed.stderr
    assert [x.title for x in record_of(ws).plan.steps][1] == "Write the notes"


def test_deleting_a_refused_hand_edit_gets_plan_md_rewritten(tmp_path: Path) -> None:
    ws, _ = planned(tmp_path)
    sed(doc(ws), "`notes`", "`square`")
    assert planloop(ws, "status", env=ENV).returncode == 1
    doc(ws).unlink()
    res = planloop(ws, "status", env=ENV)
    assert res.returncode == 0, res.stderr
    # the next save writes it again (any command that saves; here a pending step run)
    rec = record_of(ws)
    PlanStore(ws).save(rec)
    assert doc(ws).read_text("utf-8") == render_markdown(rec.plan)


def test_planloop_edit_resolves_a_refused_hand_edit(tmp_path: Path) -> None:
    ws, _ = planned(tmp_path)
    text = sed(doc(ws), "`notes`", "`square`")
    fixed = tmp_path / "fixed.md"
    fixed.write_text(text.replace("**Write notes** `square`", "**Write notes now** `notes`"))
    res = planloop(ws, "edit", "--from", str(fixed), env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    assert record_of(ws).plan.steps[1].title == "Write notes now"
    assert "**Write notes now**" in doc(ws).read_text("utf-8")
    # the hand edit it replaced is kept, and the message says where
    m = re.search(r"kept at (\S+\.md)", res.stderr)
    assert m and Path(m.group(1)).read_text("utf-8") == text, res.stderr


def test_a_hand_edit_while_a_step_runs_is_not_applied_nor_overwritten(tmp_path: Path) -> None:
    ws, _ = planned(tmp_path)
    store = PlanStore(ws)
    with store.run_lock():  # a run in another process holds the workspace
        text = sed(doc(ws), "**Write notes**", "**Write the notes**")
        res = planloop(ws, "status", env=ENV)
        assert res.returncode == 0, res.stderr
        assert "a step is running" in res.stderr and "not applied" in res.stderr, res.stderr
        store.save(store.load())  # the run saves its record as it goes
        assert doc(ws).read_text("utf-8") == text
        assert store.load().plan.version == 1
    after = planloop(ws, "status", env=ENV)  # the run ended: the next command applies it
    assert after.returncode == 0, after.stderr
    assert record_of(ws).plan.steps[1].title == "Write the notes"


def test_a_hand_edit_under_a_pending_replan_waits_and_is_not_overwritten(tmp_path: Path) -> None:
    from test_cli_review import _with_pending_replan

    ws = fresh_copy(tmp_path / "ws")
    s = _with_pending_replan(ws, tmp_path)
    text = sed(doc(ws), "**Write notes**", "**Write the notes**")
    res = planloop(ws, "approve", *models(s), env=ENV)  # the re-plan's decision goes on
    assert res.returncode == 0, res.stdout + res.stderr
    assert "not applied" in res.stderr and "re-plan" in res.stderr, res.stderr
    assert record_of(ws).plan.version == 2
    assert doc(ws).read_text("utf-8") == text  # the approval did not write over it
    # made from v1, it would undo v2: refused, naming both, until fixed or deleted
    after = planloop(ws, "status", env=ENV)
    assert after.returncode == 1 and "made from plan" in after.stderr, after.stderr
    assert " v1" in after.stderr and " v2" in after.stderr
    assert doc(ws).read_text("utf-8") == text

"""A user's edit of the plan, in the core: what it does to the run record and its questions.

In process over a real workspace (scripted models, real git): the CLI flows are in
tests/test_plan_edit.py; these are the states an edit meets — a plan awaiting review, a
pause waiting, a re-plan waiting, an interrupted step — and the derived
``.planloop/plan.md`` that editors open.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import report, script, session, step, submit, write
from planloop.api import Session
from planloop.approvals import NoApprover
from planloop.document.edits import check_edit
from planloop.document.markdown import render_markdown
from planloop.errors import BusyError, InvalidRequestError, PlanEditError

GOAL = "Add a square() function"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"


def contains(path: str, pattern: str) -> dict[str, str]:
    return {"kind": "file_contains", "path": path, "pattern": pattern}


def square_step(title: str = "", deps: list[str] | None = None) -> dict:
    checks = [contains("calculator/calc.py", "def square")]
    return step("square", title, checks=checks, deps=deps)


def open_session(ws: Path, tmp_path: Path, steps: list[dict], executor: list) -> Session:
    (ws / "planloop.toml").write_text("workspace_checks = []\n")
    s = script(tmp_path, [submit(GOAL, steps)], executor)
    return Session(session(ws, s, approver=NoApprover()))


def test_an_edit_at_plan_review_keeps_the_review_for_the_edited_version(
    calc_ws: Path, tmp_path: Path
) -> None:
    ses = open_session(calc_ws, tmp_path, [square_step()], [])
    ses.create_plan(GOAL)
    rec = ses.record()
    assert rec.pending is not None and rec.pending.kind == "plan"
    doc = ses.document_path()
    assert doc == calc_ws / ".planloop" / "plan.md"
    assert doc.read_text(encoding="utf-8") == render_markdown(rec.plan)

    new = ses.edit_plan(doc.read_text().replace("**square**", "**Add square()**"), author="ann")
    rec = ses.record()
    assert new.version == 2 and rec.plan.version == 2
    assert rec.pending is not None and rec.pending.kind == "plan" and "v2" in rec.pending.reason
    assert rec.state == "awaiting_approval"
    assert doc.read_text(encoding="utf-8") == render_markdown(rec.plan)  # follows the save
    assert ses.versions() == [1, 2]


def test_removing_the_pause_a_run_waits_at_clears_the_question(
    calc_ws: Path, tmp_path: Path
) -> None:
    steps = [
        step("confirm", kind="pause", instructions="ask the team"),
        square_step(deps=["confirm"]),
    ]
    calc = (calc_ws / "calculator" / "calc.py").read_text() + SQUARE
    ses = open_session(calc_ws, tmp_path, steps, [write("calculator/calc.py", calc), report()])
    ses.create_plan(GOAL)
    ses.decide_pending(True, by="me")
    res = ses.run(all_steps=True)
    assert res.state == "awaiting_approval" and res.step_id == "confirm"
    lines = render_markdown(ses.plan()).splitlines()
    start = next(i for i, ln in enumerate(lines) if "`confirm` — pause" in ln)
    end = next(i for i, ln in enumerate(lines) if "`square` — edit" in ln)
    edited = "\n".join(lines[:start] + lines[end:]).replace(" (after confirm)", "")
    ses.edit_plan(edited, author="me")
    rec = ses.record()
    assert rec.pending is None and rec.state == "idle"
    assert [s.id for s in rec.plan.steps] == ["square"]
    assert ses.run(all_steps=True).state == "done"


def test_an_edit_while_a_replan_awaits_a_decision_is_refused(calc_ws: Path, tmp_path: Path) -> None:
    (calc_ws / "planloop.toml").write_text("workspace_checks = []\n")
    s = script(
        tmp_path,
        [
            submit(GOAL, [square_step()]),
            {"content": submit(GOAL, [square_step(title="again")], revision_reason="again")},
        ],
        [],
    )
    ses = Session(session(calc_ws, s, approver=NoApprover()))
    ses.create_plan(GOAL)
    ses.decide_pending(True, by="me")
    res = ses.replan(reason="try another way")
    pending = ses.record().pending
    assert pending is not None and pending.kind == "revision"
    before = (ses.versions(), ses.record().model_dump())
    text = render_markdown(ses.plan()).replace("**square**", "**Square it**")
    with pytest.raises(InvalidRequestError, match="awaits a decision"):
        ses.edit_plan(text)
    assert (ses.versions(), ses.record().model_dump()) == before
    assert res.state == "awaiting_approval"


def test_an_interrupted_step_refuses_the_edit(calc_ws: Path, tmp_path: Path) -> None:
    """run.json says a step is running but no process holds the lock: a crash mid-step."""
    ses = open_session(calc_ws, tmp_path, [square_step()], [])
    ses.create_plan(GOAL)
    store = ses._o.store  # the test stages the crash; front ends never do this
    rec = store.load()
    rec.state = "running"
    rec.plan.steps[0].status = "running"
    store.save(rec)
    with pytest.raises(BusyError, match="still marked running"):
        ses.edit_plan(render_markdown(rec.plan).replace("**square**", "**x**"))
    assert ses.versions() == [1]


def test_a_rule_broken_raises_every_problem_with_its_line(calc_ws: Path, tmp_path: Path) -> None:
    ses = open_session(calc_ws, tmp_path, [square_step()], [])
    ses.create_plan(GOAL)
    md = render_markdown(ses.plan())
    bad = md.replace("`square` — edit", "`square` — edit (after ghost)")
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "(after ghost)" in ln)
    with pytest.raises(PlanEditError) as info:
        ses.edit_plan(bad)
    assert [(p.line, "ghost" in p.message) for p in info.value.problems] == [(line, True)]
    assert f"line {line}:" in str(info.value)
    assert ses.versions() == [1]
    kept = ses.keep_edit(bad)
    again = ses.keep_edit(bad)
    assert kept != again and kept.read_text() == again.read_text() == bad
    assert kept.parent == calc_ws / ".planloop" / "edits"


def test_check_edit_is_pure(calc_ws: Path, tmp_path: Path) -> None:
    ses = open_session(calc_ws, tmp_path, [square_step()], [])
    ses.create_plan(GOAL)
    base = ses.plan()
    dumped = base.model_dump()
    res = check_edit(render_markdown(base).replace("**square**", "**changed**"), base)
    assert res.changed and res.plan is not None and res.plan.step("square").title == "changed"
    assert base.model_dump() == dumped
    assert ses.versions() == [1]


@pytest.mark.parametrize("damage", ["garbage", "deleted", "directory"])
def test_a_damaged_plan_document_breaks_nothing_and_comes_back(
    calc_ws: Path, tmp_path: Path, damage: str
) -> None:
    ses = open_session(calc_ws, tmp_path, [square_step()], [])
    ses.create_plan(GOAL)
    doc = ses.document_path()
    if damage == "garbage":
        doc.write_bytes(b"\xff\x00 not a plan")
    elif damage == "deleted":
        doc.unlink()
    else:
        doc.unlink()
        doc.mkdir()
    ses.decide_pending(True, by="me")  # any save of the record
    assert ses.record().plan_approved
    if damage == "directory":
        assert doc.is_dir()  # left alone: nothing writes over a folder a person made
    else:
        assert doc.read_text(encoding="utf-8") == render_markdown(ses.plan())


def test_a_step_edited_into_a_done_plan_reopens_it(calc_ws: Path, tmp_path: Path) -> None:
    """A done plan that gets a new step from an edit is idle again and runs it."""
    calc = (calc_ws / "calculator" / "calc.py").read_text() + SQUARE
    ses = open_session(
        calc_ws,
        tmp_path,
        [square_step()],
        [write("calculator/calc.py", calc), report(), write("NOTES.md", "n\n"), report()],
    )
    ses.create_plan(GOAL)
    ses.decide_pending(True, by="me")
    assert ses.run(all_steps=True).state == "done"
    md = render_markdown(ses.plan()).replace(
        "\n\n## Stop conditions",
        "\n2. [ ] **Notes** `notes` — edit (after square)\n"
        "   - check: file `NOTES.md` exists\n\n## Stop conditions",
    )
    ses.edit_plan(md, author="me")
    assert ses.record().state == "idle"
    assert ses.run(all_steps=True).state == "done"
    assert (calc_ws / "NOTES.md").exists()

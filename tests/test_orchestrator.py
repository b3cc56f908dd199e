"""The loop (architecture.md, The loop) with scripted models over a real workspace, real git and real pytest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import PYTEST_ALL, report, script, session, step, submit, text, tool, write
from planloop.approvals import ApprovalRequest, AutoApprover, Decision, NoApprover
from planloop.errors import (
    BusyError,
    InvalidRequestError,
    PlanloopError,
    StoreError,
    UnknownStepError,
)

GOAL = "Add a square() function"
SQUARE_OK = "\n\ndef square(x: float) -> float:\n    return x * x\n"


def calc_with(ws: Path, extra: str) -> str:
    return (ws / "calculator" / "calc.py").read_text() + extra


class Recorder:
    """An approver that answers from a list and records every question."""

    def __init__(self, *answers: Decision | None) -> None:
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    def ask(self, req: ApprovalRequest, cancel=None) -> Decision | None:
        self.asked.append(req)
        return self.answers.pop(0) if self.answers else None


def test_happy_path_runs_every_step_and_records_results(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square", checks=[PYTEST_ALL])])],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True, "added square")],
    )
    events: list[dict] = []
    orch = session(calc_ws, s, events=events)
    plan = orch.create_plan(GOAL)
    assert plan.version == 1 and [x.id for x in plan.steps] == ["square"]
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    st = orch.status()
    sq = st.plan.step("square")
    assert sq.status == "passed" and sq.attempts == 1
    assert sq.result and sq.result.checks_passed
    assert [f.path for f in sq.result.files_changed] == ["calculator/calc.py"]
    assert sq.result.files_changed[0].added == 4
    assert sq.result.checkpoint_before and sq.result.checkpoint_after
    kinds = [e["type"] for e in events]
    assert kinds.index("step_started") < kinds.index("check") < kinds.index("step_finished")
    # the log on disk has the same transitions, written before acting
    logged = [e["type"] for e in orch.store.events(plan.plan_id)]
    assert "plan_created" in logged and "step_finished" in logged and logged[-1] == "state"


def test_check_failed_once_retries_with_the_observation(calc_ws: Path, tmp_path: Path) -> None:
    bad = calc_with(calc_ws, "\n\ndef square(x):\n    return x +\n")  # a syntax error
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [
            write("calculator/calc.py", bad),
            report(True, "added"),
            # the retry must see the failing check's condensed output
            {
                "expect": "SyntaxError",
                "content": write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            },
            report(True, "fixed"),
        ],
    )
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done"
    sq = orch.status().plan.step("square")
    assert sq.attempts == 2 and sq.status == "passed"


def test_failed_twice_proposes_a_replan_with_evidence(calc_ws: Path, tmp_path: Path) -> None:
    bad = calc_with(calc_ws, "\n\ndef square(x):\n    return x +\n")
    s = script(
        tmp_path,
        [
            submit(GOAL, [step("square")]),
            {
                "expect": "repeated_failure",
                "content": submit(GOAL, [step("square-v2")], revision_reason="try again"),
            },
        ],
        [
            write("calculator/calc.py", bad),
            report(True),
            write("calculator/calc.py", bad),
            report(True),
            write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            report(True),
        ],
    )
    rec = Recorder(Decision(True, "tester"), Decision(True, "tester"))
    orch = session(calc_ws, s, approver=rec)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    revision_q = next(q for q in rec.asked if q.kind == "revision")
    assert revision_q.version == 2
    assert any("SyntaxError" in e for e in revision_q.evidence)
    assert revision_q.proposed_markdown and "square-v2" in revision_q.proposed_markdown
    st = orch.status()
    assert st.plan.version == 2 and st.replans_used == 1
    assert st.plan.revision and st.plan.revision.trigger == "repeated_failure"
    assert st.plan.revision.decided == "approved" and st.plan.revision.decided_by == "tester"
    assert orch.store.versions(st.plan.plan_id) == [1, 2]


def test_surprising_outcome_triggers_unexpected_state_replan(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(GOAL, [step("square"), step("cube", deps=["square"])]),
            submit(GOAL, [step("cube2", deps=["square"])]),
        ],
        [
            write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            report(
                True, "added", surprising=True, surprising_why="a square() already existed upstream"
            ),
        ],
    )
    rec = Recorder(Decision(True, "t"))  # plan review; the revision gets no answer
    orch = session(calc_ws, s, approver=rec)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "awaiting_approval"
    st = orch.status()
    assert st.plan.step("square").status == "passed"
    assert st.pending and st.pending.kind == "revision" and st.pending.trigger == "unexpected_state"


def test_blocked_step_triggers_step_unreachable_replan(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")]), submit(GOAL, [step("other")])],
        [report(False, "cannot", blocked=True, blocked_why="calc.py is generated")],
    )
    orch = session(calc_ws, s, approver=Recorder(Decision(True, "t")))
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "awaiting_approval"
    st = orch.status()
    assert st.plan.step("square").status == "blocked"
    assert st.pending and st.pending.trigger == "step_unreachable"
    assert "generated" in st.pending.reason or "generated" in " ".join(st.pending.evidence)


def test_pause_step_waits_then_approve_pause_continues(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(
                GOAL,
                [
                    step("confirm", kind="pause", instructions="check the API with the team"),
                    step("square", deps=["confirm"]),
                ],
            )
        ],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True)],
    )
    orch = session(calc_ws, s, approver=Recorder(Decision(True, "t")))
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "awaiting_approval" and res.step_id == "confirm"
    assert orch.status().plan.step("confirm").status == "awaiting_approval"
    with pytest.raises(InvalidRequestError):
        orch.approve_pause("square", by="me")
    orch.approve_pause("confirm", by="me")
    assert orch.status().plan.step("confirm").status == "passed"
    assert orch.run(all_steps=True).state == "done"


def test_decision_point_complete_skips_the_rest(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(
                GOAL,
                [step("square"), step("cube", deps=["square"])],
                decision_points=[
                    {"after_step": "square", "condition": "enough", "action": "complete"}
                ],
            )
        ],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True)],
    )
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done" and "decision point" in res.reason
    assert orch.status().plan.step("cube").status == "skipped"


def test_decision_point_pause_asks_the_user(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(
                GOAL,
                [step("square"), step("cube", deps=["square"])],
                decision_points=[
                    {"after_step": "square", "condition": "look at it", "action": "pause"}
                ],
            )
        ],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True)],
    )
    orch = session(calc_ws, s, approver=Recorder(Decision(True, "t")))
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "awaiting_approval"
    assert orch.status().pending.kind == "pause"


def test_replan_budget_exhausted_stops_with_partial_result(calc_ws: Path, tmp_path: Path) -> None:
    bad = calc_with(calc_ws, "\n\ndef square(x):\n    return x +\n")
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [
            write("calculator/calc.py", bad),
            report(True),
            write("calculator/calc.py", bad),
            report(True),
        ],
    )
    orch = session(calc_ws, s, budgets={"replans": 0})
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "stopped"
    assert "re-plan budget (0) exhausted" in res.reason and "0/1 steps passed" in res.reason


def test_rejected_replan_stops_and_rejection_with_feedback_reproposes(
    calc_ws: Path, tmp_path: Path
) -> None:
    bad = calc_with(calc_ws, "\n\ndef square(x):\n    return x +\n")
    planner = [
        submit(GOAL, [step("square")]),
        submit(GOAL, [step("a")]),
        {"expect": "use math.pow", "content": submit(GOAL, [step("b")])},
    ]
    s = script(tmp_path, planner, [write("calculator/calc.py", bad), report(True)] * 2)
    rec = Recorder(Decision(True, "t"), Decision(False, "t", "use math.pow"), Decision(False, "t"))
    orch = session(calc_ws, s, approver=rec)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "stopped" and "rejected" in res.reason
    assert [q.kind for q in rec.asked] == ["plan", "revision", "revision"]
    assert orch.status().replans_used == 2
    assert orch.status().plan.version == 1  # nothing rejected became a version


def test_user_requested_replan_and_goal_change(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(GOAL, [step("square")]),
            {
                "expect": "user_requested",
                "content": submit(GOAL, [step("square"), step("doc")], revision_reason="more"),
            },
            {"expect": "changed the goal", "content": submit("Add cube()", [step("cube")])},
        ],
        [],
    )
    orch = session(calc_ws, s, approver=AutoApprover())
    orch.create_plan(GOAL)
    assert orch.replan(reason="add docs too").state == "idle"
    assert [x.id for x in orch.status().plan.steps] == ["square", "doc"]
    res = orch.replan(goal="Add cube()")
    assert res.state == "idle", res.reason
    st = orch.status()
    assert st.plan.goal == "Add cube()" and st.plan.revision.trigger == "goal_changed"


def test_revision_that_changes_the_goal_is_rejected_by_code(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(GOAL, [step("square")]),
            submit("Something else", [step("x")]),
            submit(GOAL, [step("y")]),
        ],
        [],
    )
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    orch.replan(reason="why not")
    st = orch.status()
    assert st.plan.goal == GOAL and [x.id for x in st.plan.steps] == ["y"]


def test_revision_altering_a_passed_step_is_rejected(calc_ws: Path, tmp_path: Path) -> None:
    altered = step("square", instructions="something different")
    s = script(
        tmp_path,
        [
            submit(GOAL, [step("square"), step("cube", deps=["square"])]),
            submit(GOAL, [altered, step("cube2", deps=["square"])]),
            {
                "expect": "must stay exactly",
                "content": submit(GOAL, [step("cube2", deps=["square"])]),
            },
        ],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True)],
    )
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    orch.run()  # only the first step
    orch.replan(reason="change course")
    st = orch.status()
    assert [x.id for x in st.plan.steps] == ["square", "cube2"]
    assert st.plan.step("square").status == "passed" and st.plan.step("square").result is not None


def test_plan_that_fails_validation_every_time_fails_clearly(calc_ws: Path, tmp_path: Path) -> None:
    no_check = step("square", checks=[])
    s = script(tmp_path, [submit(GOAL, [no_check])] * 3, [])
    orch = session(calc_ws, s)
    with pytest.raises(PlanloopError, match=r"failed validation 3 times.*no acceptance check"):
        orch.create_plan(GOAL)
    assert orch.current_plan() is None  # nothing half-written


def test_invalid_plans_are_sent_back_with_the_error(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(GOAL, [step("a", deps=["ghost"])]),
            {"expect": "not a step of this plan", "content": submit(GOAL, [step("a"), step("a")])},
            {"expect": "duplicate step id", "content": submit(GOAL, [step("a")])},
        ],
        [],
    )
    orch = session(calc_ws, s)
    assert [x.id for x in orch.create_plan(GOAL).steps] == ["a"]


def test_malformed_tool_input_and_unknown_tool_go_back_to_the_model(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [
            [tool("write_file", path="calculator/calc.py")],  # content missing
            {"expect": "content", "content": [tool("teleport", where="mars")]},
            {"expect": "Unknown tool", "content": [tool("report_outcome", ok="maybe")]},
            {
                "expect": "invalid",
                "content": write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            },
            report(True),
        ],
    )
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    assert orch.run(all_steps=True).state == "done"


def test_workspace_check_turning_red_fails_the_step(calc_ws: Path, tmp_path: Path) -> None:
    # the step's own check passes (the file has the text) but the suite breaks
    broken = (
        (calc_ws / "calculator" / "calc.py").read_text().replace("return a + b", "return a - b")
    )
    own = [{"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def add"}]
    s = script(
        tmp_path,
        [submit(GOAL, [step("square", checks=own)]), submit(GOAL, [step("fix")])],
        [write("calculator/calc.py", broken), report(True)] * 2,
    )
    orch = session(calc_ws, s, approver=Recorder(Decision(True, "t")))
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "awaiting_approval"  # re-plan after two failures, no answer
    sq = orch.status().plan.step("square")
    ws_checks = [c for c in sq.result.checks if c.workspace_check]
    assert ws_checks and not ws_checks[0].passed and "test_add" in ws_checks[0].observation


def test_dollar_budget_pauses_and_asks(calc_ws: Path, tmp_path: Path) -> None:
    costly = {
        "content": write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
        "usage": {"input_tokens": 300_000, "output_tokens": 10},
    }
    s = tmp_path / "priced.json"
    # scripted usage is costed as a real model when the script says price_as
    s.write_text(
        json.dumps(
            {
                "price_as": {"executor": "claude-sonnet-5-5"},
                "planner": [submit(GOAL, [step("square"), step("cube", deps=["square"])])],
                "executor": [costly, report(True)],
            }
        )
    )
    rec = Recorder(Decision(True, "t"), Decision(False, "t"))
    orch = session(calc_ws, s, approver=rec, budgets={"usd": 0.5})
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert [q.kind for q in rec.asked] == ["plan", "budget"]
    assert res.state == "stopped" and "budget" in res.reason
    assert orch.status().plan.step("square").status == "passed"


def test_no_terminal_means_waiting_and_a_later_decision_resumes(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True)],
    )
    orch = session(calc_ws, s, approver=NoApprover())
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "awaiting_approval"
    assert orch.status().plan.step("square").status == "pending"  # nothing ran before review
    orch.decide_pending(True, by="later")
    assert orch.run(all_steps=True).state == "done"


def test_unknown_step_and_dependency_order(calc_ws: Path, tmp_path: Path) -> None:
    s = script(tmp_path, [submit(GOAL, [step("square"), step("cube", deps=["square"])])], [])
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    with pytest.raises(UnknownStepError, match="square, cube"):
        orch.run(step_id="nope")
    with pytest.raises(InvalidRequestError, match="depends on square"):
        orch.run(step_id="cube")


def test_second_run_in_the_same_workspace_is_refused(calc_ws: Path, tmp_path: Path) -> None:
    s = script(tmp_path, [submit(GOAL, [step("square")])], [])
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    with orch.store.run_lock(), pytest.raises(BusyError, match="already in progress"):
        session(calc_ws, s).run(all_steps=True)


def test_corrupt_run_file_is_named_and_left_alone(calc_ws: Path, tmp_path: Path) -> None:
    s = script(tmp_path, [submit(GOAL, [step("square")])], [])
    orch = session(calc_ws, s)
    plan = orch.create_plan(GOAL)
    run_file = calc_ws / ".planloop" / "plans" / plan.plan_id / "run.json"
    data = json.loads(run_file.read_text())
    data["plan"]["steps"][0]["status"] = "exploded"  # a hand edit into an invalid shape
    run_file.write_text(json.dumps(data))
    before = run_file.read_bytes()
    with pytest.raises(StoreError, match=str(run_file)):
        orch.run(all_steps=True)
    run_file.write_text("{not json")
    with pytest.raises(StoreError, match="corrupt"):
        orch.status()
    assert run_file.read_bytes() == b"{not json" and before != b"{not json"


def test_corrupt_version_file_is_never_overwritten(calc_ws: Path, tmp_path: Path) -> None:
    s = script(tmp_path, [submit(GOAL, [step("square")]), submit(GOAL, [step("x")])], [])
    orch = session(calc_ws, s)
    plan = orch.create_plan(GOAL)
    v1 = calc_ws / ".planloop" / "plans" / plan.plan_id / "v1.json"
    v2 = v1.with_name("v2.json")
    v2.write_text("garbage")  # someone left a file where v2 will go
    with pytest.raises(StoreError, match=r"v2\.json"):
        orch.replan(reason="go")
    assert v2.read_text() == "garbage"
    st = orch.status()  # still consistent: v1 current, the proposal still awaits a decision
    assert st.plan.version == 1 and st.pending and st.pending.version == 2


def test_model_error_pauses_cleanly_with_a_consistent_plan(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [
            {
                "error": {
                    "kind": "overloaded",
                    "message": "the API is overloaded (529)",
                    "retryable": True,
                }
            }
        ],
    )
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "paused" and "overloaded" in res.reason
    sq = orch.status().plan.step("square")
    assert sq.status == "failed" and sq.attempts == 0 and "overloaded" in (sq.result.error or "")


def test_unsaved_editor_buffer_stops_the_step_before_writing(calc_ws: Path, tmp_path: Path) -> None:
    from planloop.config import load_config
    from planloop.wiring import build_orchestrator

    s = script(
        tmp_path,
        [submit(GOAL, [step("square", files=["calculator/calc.py"])])],
        [write("calculator/calc.py", "x"), report(True)],
    )
    calc = (calc_ws / "calculator" / "calc.py").resolve()
    cfg = load_config(calc_ws, {"planner": f"scripted:{s}", "executor": f"scripted:{s}"})
    orch = build_orchestrator(
        calc_ws,
        config=cfg,
        approver=AutoApprover(),
        buffer_text=lambda p: "unsaved edits" if p == calc else None,
    )
    orch.create_plan(GOAL)
    before = calc.read_text()
    res = orch.run(all_steps=True)
    assert res.state == "paused" and "calculator/calc.py" in res.reason
    assert calc.read_text() == before


def test_text_only_turns_are_nudged(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [[text("thinking...")], {"expect": "submit_plan", "content": submit(GOAL, [step("a")])}],
        [],
    )
    assert session(calc_ws, s).create_plan(GOAL).steps[0].id == "a"


def test_running_from_the_editor_counts_as_the_plan_review(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True)],
    )
    rec = Recorder()
    orch = session(calc_ws, s, approver=rec)
    orch.create_plan(GOAL)
    assert orch.run(all_steps=True, plan_reviewed_by="vscode").state == "done"
    assert rec.asked == []
    approvals = [
        e for e in orch.store.events(orch.status().plan.plan_id) if e["type"] == "approval"
    ]
    assert approvals[0]["kind"] == "plan" and approvals[0]["by"] == "vscode"


def test_commands_outside_the_allow_list_ask_and_deny_list_refuses(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [
            [tool("run_command", command="echo hello > notes.txt")],
            {
                "expect": "did not allow",
                "content": [tool("run_command", command="git commit -am x")],
            },
            {
                "expect": "the command policy denies it",
                "content": [tool("run_command", command="echo hi > ok.txt")],
            },
            write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            report(True),
        ],
    )
    rec = Recorder(Decision(True, "t"), Decision(False, "t"), Decision(True, "t"))
    orch = session(calc_ws, s, approver=rec)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    asked = [q for q in rec.asked if q.kind == "command"]
    assert [q.command for q in asked] == [
        "echo hello > notes.txt",
        "echo hi > ok.txt",
    ]  # git never asked
    assert not (calc_ws / "notes.txt").exists() and (calc_ws / "ok.txt").read_text() == "hi\n"
    # the step's checkpoint caught what its shell command wrote, not only its file tools
    changed = {f.path for f in orch.status().plan.step("square").result.files_changed}
    assert changed == {"ok.txt", "calculator/calc.py"}


def test_revert_marks_the_step_and_its_dependents_and_reports_conflicts(
    calc_ws: Path, tmp_path: Path
) -> None:
    notes = {"kind": "file_exists", "path": "NOTES.md"}
    todo = {"kind": "file_exists", "path": "TODO.md"}
    s = script(
        tmp_path,
        [
            submit(
                GOAL, [step("notes", checks=[notes]), step("todo", checks=[todo], deps=["notes"])]
            )
        ],
        [write("NOTES.md", "notes\n"), report(True), write("TODO.md", "todo\n"), report(True)],
    )
    orch = session(calc_ws, s)
    plan = orch.create_plan(GOAL)
    assert orch.run(all_steps=True).state == "done"

    (calc_ws / "TODO.md").write_text("the user's own edit\n")
    clash = orch.revert_step("todo")
    assert clash.restored == [] and [c.path for c in clash.conflicts] == ["TODO.md"]
    assert (calc_ws / "TODO.md").read_text() == "the user's own edit\n"
    assert orch.status().plan.step("todo").status == "passed"  # nothing was undone

    res = orch.revert_step("notes")
    assert res.restored == ["NOTES.md"] and not (calc_ws / "NOTES.md").exists()
    st = orch.status()
    assert st.plan.step("notes").status == "reverted"
    assert st.plan.step("todo").status == "pending"  # built on a step that is undone
    assert st.state == "idle"
    reverts = [e for e in orch.store.events(plan.plan_id) if e["type"] == "revert"]
    assert [e["step_id"] for e in reverts] == ["todo", "notes"]
    assert reverts[0]["conflicts"][0]["path"] == "TODO.md"


def test_an_edit_only_step_records_its_own_writes_not_what_changed_beside_it(
    calc_ws: Path, tmp_path: Path
) -> None:
    """A step that wrote only through the file tools changed exactly the paths it noted,
    so its after-checkpoint stages those (no scan of a 100k-file tree): a file someone
    else changes meanwhile is not put on the step (the next step's before-checkpoint, a
    full scan, has it), and an ignored file it wrote stays out as a full scan leaves it
    out. (A step that runs a command is scanned whole: see the allow-list test above.)"""
    (calc_ws / ".gitignore").write_text("*.log\n")
    HAS_SQUARE = {"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def square"}
    s = script(
        tmp_path,
        [submit(GOAL, [step("edit", checks=[HAS_SQUARE]), step("next", checks=[HAS_SQUARE])])],
        [
            write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            write("debug.log", "noise\n"),
            report(True, "added square"),
            report(True, "nothing to do"),
        ],
    )

    class Meanwhile(list):  # the user edits another file while "edit" runs
        def append(self, ev: dict) -> None:
            if ev["type"] == "tool_started" and ev.get("step_id") == "edit":
                (calc_ws / "USER_NOTES.md").write_text("mine\n")
            super().append(ev)

    orch = session(calc_ws, s, events=Meanwhile())
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    plan = orch.status().plan
    edit, nxt = plan.step("edit").result, plan.step("next").result
    assert edit is not None and nxt is not None
    assert [f.path for f in edit.files_changed] == ["calculator/calc.py"]
    assert (calc_ws / "debug.log").exists()
    cp = orch.cp
    assert cp.file_at(edit.checkpoint_after, "debug.log") is None
    assert cp.file_at(edit.checkpoint_after, "USER_NOTES.md") is None
    assert cp.file_at(nxt.checkpoint_before, "USER_NOTES.md") == b"mine\n"
    assert b"def square" in (cp.file_at(edit.checkpoint_after, "calculator/calc.py") or b"")


@pytest.mark.parametrize("baseline", [False, True])
def test_the_first_step_uses_the_start_up_staging_unless_something_ran_first(
    calc_ws: Path, tmp_path: Path, baseline: bool
) -> None:
    """``planloop run`` stages the work tree while Python loads; the first step's
    before-checkpoint uses that index when nothing was written or run since start-up (a
    file changed after the staging is then absent, which shows the staging was used).
    Workspace checks run for the baseline first are commands: then it scans again."""
    from planloop.checkpoints import ahead

    own = [{"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def square"}]
    s = script(
        tmp_path,
        [submit(GOAL, [step("square", checks=own)])],
        [write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)), report(True)],
    )
    checks = ["echo base > base.txt"] if baseline else []
    orch = session(calc_ws, s, workspace_checks=checks)
    orch.create_plan(GOAL)
    ahead.stage_ahead(calc_ws, always=True)
    assert ahead._staged[calc_ws.resolve() / ".planloop" / "shadow.git"].wait(30).ok
    (calc_ws / "late.txt").write_text("changed after the staging\n")
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    sq = orch.status().plan.step("square").result
    assert sq is not None and [f.path for f in sq.files_changed] == ["calculator/calc.py"]
    late = orch.cp.file_at(sq.checkpoint_before, "late.txt")
    assert late == (b"changed after the staging\n" if baseline else None)
    assert (orch.cp.file_at(sq.checkpoint_before, "base.txt") is not None) == baseline

"""Regression tests for bugs found in review of the core loop (orchestrator, store, planner).

Crashes are simulated the honest way: by putting the files on disk back to what they held
at the moment of the "crash" (captured while the real run went on), never by patching code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import PYTEST_ALL, dict_sink, report, session, step, submit, write
from planloop.approvals import ApprovalRequest, Decision, NoApprover
from planloop.cancel import CancelToken

GOAL = "Add a square() function"
SQUARE_OK = "\n\ndef square(x: float) -> float:\n    return x * x\n"
COSTLY = {"input_tokens": 300_000, "output_tokens": 10}  # about $0.60 as claude-sonnet-5-5


def calc_with(ws: Path, extra: str) -> str:
    return (ws / "calculator" / "calc.py").read_text() + extra


def priced_script(tmp: Path, planner: list[Any], executor: list[Any]) -> Path:
    p = tmp / "priced.json"
    p.write_text(
        json.dumps(
            {
                "price_as": {"executor": "claude-sonnet-5-5"},
                "planner": planner,
                "executor": executor,
            }
        )
    )
    return p


class Recorder:
    def __init__(self, *answers: Decision | None) -> None:
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        self.asked.append(req)
        return self.answers.pop(0) if self.answers else None


# --- cost accounting across cancels ------------------------------------------------------------


def _during_checks(ev: dict[str, Any]) -> bool:
    # the executor has reported; the checks are about to run
    return ev.get("type") == "tool_call" and ev.get("line", "").startswith("report_outcome")


def _between_turns(ev: dict[str, Any]) -> bool:
    # after the first (paid) executor turn's tool ran, before the next turn
    return ev.get("type") == "tool_call" and ev.get("role") == "executor"


@pytest.mark.parametrize("cancel_when", [_during_checks, _between_turns])
def test_a_cancel_keeps_the_cancelled_attempts_paid_executor_cost(
    calc_ws: Path, tmp_path: Path, cancel_when: Any
) -> None:
    s = priced_script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [
            {
                "content": write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
                "usage": COSTLY,
            },
            report(True),
        ],
    )
    cancel = CancelToken()

    def sink(ev: dict[str, Any]) -> None:
        if cancel_when(ev):
            cancel.cancel()

    orch = session(calc_ws, s, reviewPlanFirst=False)
    orch.sink = dict_sink(sink)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True, cancel=cancel)
    assert res.state == "cancelled"
    st = orch.status()
    sq = st.plan.step("square")
    assert sq.status == "pending" and sq.attempts == 0
    assert sq.result is not None and sq.result.cost_usd > 0.5
    assert st.cost_usd == sq.result.cost_usd


# --- cost accounting across crash recovery ------------------------------------------------------


def test_crash_recovery_keeps_the_cost_of_earlier_attempts(calc_ws: Path, tmp_path: Path) -> None:
    bad = calc_with(calc_ws, "\n\ndef square(x):\n    return x +\n")
    s = priced_script(
        tmp_path,
        [submit(GOAL, [step("square")])],
        [
            {"content": write("calculator/calc.py", bad), "usage": COSTLY},
            report(True),
            write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            report(True),
            # after the recovery, the step runs again
            write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            report(True),
        ],
    )
    captured: dict[str, bytes] = {}
    orch = session(calc_ws, s, reviewPlanFirst=False)
    plan = orch.create_plan(GOAL)
    run_file = calc_ws / ".planloop" / "plans" / plan.plan_id / "run.json"

    def sink(ev: dict[str, Any]) -> None:
        # the disk as it is while attempt 2 runs: the "crash" happens here
        if ev.get("type") != "tool_call" or ev.get("role") != "executor" or captured:
            return
        if json.loads(run_file.read_text())["plan"]["steps"][0]["attempts"] == 2:
            captured["run"] = run_file.read_bytes()

    orch.sink = dict_sink(sink)
    assert orch.run(all_steps=True).state == "done"
    run_file.write_bytes(captured["run"])  # the process died mid attempt 2
    assert orch.status().state == "running"
    paid = orch.status().cost_usd
    assert paid > 0.5  # attempt 1's executor turns
    orch.sink = None
    assert orch.run(all_steps=True).state == "done"
    # attempt 1 was paid for; recovery must not forget it
    assert orch.status().cost_usd >= paid


# --- a step passed although a workspace check failed ----------------------------------------------


def test_cancelled_baseline_is_not_recorded_as_a_red_suite(calc_ws: Path, tmp_path: Path) -> None:
    broken = calc_with(calc_ws, "").replace("return a + b", "return a - b")
    own = [{"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def add"}]
    s = priced_script(
        tmp_path,
        [submit(GOAL, [step("square", checks=own)]), submit(GOAL, [step("fix")])],
        [write("calculator/calc.py", broken), report(True)] * 2,
    )
    cancel = CancelToken()

    def sink(ev: dict[str, Any]) -> None:
        if ev.get("type") == "baseline":
            cancel.cancel()  # cancelled while the green suite's baseline is taken

    orch = session(
        calc_ws,
        s,
        approver=Recorder(),
        reviewPlanFirst=False,
        workspaceChecks=[PYTEST_ALL["command"]],
    )
    orch.sink = dict_sink(sink)
    orch.create_plan(GOAL)
    assert orch.run(cancel=cancel).state == "cancelled"
    orch.sink = None
    orch.run()
    sq = orch.status().plan.step("square")
    # the suite was green before and the step turns it red: the step must not pass
    assert sq.status == "failed"


# --- persistence: crash windows ---------------------------------------------------------------------


def test_create_plan_failing_to_save_the_run_record_leaves_no_dangling_current(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = priced_script(tmp_path, [submit(GOAL, [step("square")])] * 2, [])
    orch = session(calc_ws, s)

    def sink(ev: dict[str, Any]) -> None:
        if ev.get("type") == "plan_created":
            # run.json cannot be written (as if the disk filled or the process died)
            blocker = calc_ws / ".planloop" / "plans" / ev["plan_id"] / "run.json"
            blocker.mkdir(parents=True)
            (blocker / "x").write_text("x")

    orch.sink = dict_sink(sink)
    with pytest.raises(OSError):
        orch.create_plan(GOAL)
    for d in (calc_ws / ".planloop" / "plans").iterdir():
        shutil.rmtree(d / "run.json", ignore_errors=True)
    # "current" must not name a plan whose run record was never written
    assert orch.current_plan() is None


def test_revision_approval_interrupted_before_saving_can_be_approved_again(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = priced_script(
        tmp_path,
        [submit(GOAL, [step("square")]), submit(GOAL, [step("cube")])],
        [],
    )
    orch = session(calc_ws, s, approver=NoApprover(), reviewPlanFirst=False)
    plan = orch.create_plan(GOAL)
    assert orch.replan(reason="try another way").state == "awaiting_approval"
    run_file = calc_ws / ".planloop" / "plans" / plan.plan_id / "run.json"
    pending_record = run_file.read_bytes()
    assert orch.decide_revision(2, True, by="alice").state == "idle"
    run_file.write_bytes(pending_record)  # the process died after v2.json, before run.json
    res = orch.decide_revision(2, True, by="bob")
    assert res.state == "idle", res.reason
    st = orch.status()
    assert st.plan.version == 2 and [s.id for s in st.plan.steps] == ["cube"]
    assert st.pending is None


# --- decision points in re-plans --------------------------------------------------------------------


def test_revision_replacing_a_step_with_a_decision_point_is_accepted(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = priced_script(
        tmp_path,
        [
            submit(
                GOAL,
                [step("square"), step("cube", deps=["square"])],
                decision_points=[{"after_step": "cube", "condition": "look", "action": "pause"}],
            ),
            # the re-plan replaces `cube` and says nothing about decision points
            submit(GOAL, [step("cube2", deps=["square"])], revision_reason="other way"),
        ],
        [
            write("calculator/calc.py", calc_with(calc_ws, SQUARE_OK)),
            report(True),
            report(False, "cannot"),
            report(False, "still cannot"),
        ],
    )
    orch = session(calc_ws, s, approver=Recorder(), reviewPlanFirst=False)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "awaiting_approval", res.reason
    p = orch.status().pending
    assert p is not None and p.kind == "revision" and p.proposal is not None
    assert [x.id for x in p.proposal.steps] == ["square", "cube2"]
    assert all(dp.after_step != "cube" for dp in p.proposal.decision_points)


def test_a_failed_replan_still_counts_the_planners_paid_turns(
    calc_ws: Path, tmp_path: Path
) -> None:
    """The planner's turns in a re-plan that never produced a valid plan cost money too."""
    no_check = step("fix", checks=[])  # invalid: an edit step without a check
    s = tmp_path / "priced.json"
    s.write_text(
        json.dumps(
            {
                "price_as": {"planner": "claude-opus-5-5"},
                "planner": [
                    submit(GOAL, [step("square")]),
                    *[
                        {
                            "content": submit(GOAL, [no_check]),
                            "usage": {"input_tokens": 10_000, "output_tokens": 1_000},
                        }
                    ]
                    * 3,
                ],
                "executor": [],
            }
        )
    )
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    before = orch.status().cost_usd
    res = orch.replan(reason="try another way")
    assert res.state == "error" and "failed validation 3 times" in res.reason
    st = orch.status()
    assert st.cost_usd > before and st.planner_usage.calls == 4


def test_a_save_that_changes_only_the_run_record_leaves_the_plans_copy_alone(
    calc_ws: Path, tmp_path: Path
) -> None:
    """Most of a step's saves change run.json alone: the plan's Markdown copy beside it is
    compared, not rewritten (two writes and four fsyncs a save); a copy that no longer
    says what the plan says (damaged, edited, gone) is written again."""
    from planloop.state.store import PlanStore

    s = priced_script(tmp_path, [submit(GOAL, [step("square")])], [])
    orch = session(calc_ws, s)
    orch.create_plan(GOAL)
    store = PlanStore(calc_ws)
    rec = store.load()
    copy = store.plan_dir(rec.plan.plan_id) / "plan.md"
    before = copy.stat()
    store.save(rec)  # the same plan: only run.json's updated_at changes
    after = copy.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    right = copy.read_text()
    copy.write_bytes(b"\xff garbage")
    store.save(rec)
    assert copy.read_text() == right
    copy.unlink()
    store.save(rec)
    assert copy.read_text() == right

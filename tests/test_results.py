"""What a run or a re-plan came to is said by the core's result, not read from events."""

from __future__ import annotations

from pathlib import Path

from helpers import report, script, session, step, submit, write
from planloop.approvals import ApprovalRequest, AutoApprover, Decision, NoApprover

GOAL = "Add a square() function"


class Answer:
    def __init__(self, decision: Decision | None) -> None:
        self.decision = decision

    def ask(self, req: ApprovalRequest, cancel: object = None) -> Decision | None:
        return self.decision


def _replan_script(tmp_path: Path) -> Path:
    return script(
        tmp_path,
        [submit(GOAL, [step("square")]), submit(GOAL, [step("square2")], revision_reason="r")],
        [],
    )


def test_replan_says_the_proposal_became_the_plan(calc_ws: Path, tmp_path: Path) -> None:
    orch = session(calc_ws, _replan_script(tmp_path), approver=AutoApprover())
    orch.create_plan(GOAL)
    res = orch.replan(reason="try another way")
    assert res.decision == "approved" and res.state == "idle"
    assert res.proposal is not None and [s.id for s in res.proposal.steps] == ["square2"]
    assert orch.status().plan.version == res.proposal.version == 2


def test_replan_nobody_answered_is_pending(calc_ws: Path, tmp_path: Path) -> None:
    orch = session(calc_ws, _replan_script(tmp_path), approver=NoApprover())
    orch.create_plan(GOAL)
    res = orch.replan(reason="try another way")
    assert res.decision == "pending" and res.state == "awaiting_approval"
    pending = orch.status().pending
    assert res.proposal is not None and pending is not None
    assert pending.proposal == res.proposal


def test_replan_turned_down_is_rejected(calc_ws: Path, tmp_path: Path) -> None:
    orch = session(calc_ws, _replan_script(tmp_path), approver=Answer(Decision(False, "me")))
    orch.create_plan(GOAL)
    orch.decide_pending(True, by="me")  # the plan review
    res = orch.replan(reason="try another way")
    assert res.decision == "rejected" and res.state == "stopped"
    assert res.proposal is not None and orch.status().plan.version == 1


def test_replan_without_a_proposal_has_no_decision(calc_ws: Path, tmp_path: Path) -> None:
    orch = session(
        calc_ws, _replan_script(tmp_path), approver=AutoApprover(), budgets={"replans": 0}
    )
    orch.create_plan(GOAL)
    res = orch.replan(reason="try another way")
    assert res.proposal is None and res.decision is None and res.state == "stopped"


def _exists(path: str) -> dict[str, str]:
    return {"kind": "file_exists", "path": path, "description": f"{path} exists"}


def test_run_result_names_the_last_step_run(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [
            submit(
                GOAL,
                [
                    step("one", checks=[_exists("a.txt")]),
                    step("two", checks=[_exists("b.txt")], deps=["one"]),
                ],
            )
        ],
        [write("a.txt", "a"), report(True), write("b.txt", "b"), report(True)],
    )
    orch = session(calc_ws, s, reviewPlanFirst=False)
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done" and res.step_id == "two"

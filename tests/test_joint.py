"""Joint mode, the auto choice, the override at review and the escalation to split."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import PYTEST_ALL, report, script, session, step, submit, write
from planloop.approvals import NoApprover
from planloop.config import load_config, run_mode
from planloop.document.markdown import render_markdown
from planloop.errors import ConfigError, InvalidRequestError

SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"
CUBE = "\n\ndef cube(x: float) -> float:\n    return x * x * x\n"
BROKEN = "\n\ndef add(a, b):\n    return a - b\n"
GOAL = "Add square() and cube()"


def calc(ws: Path, extra: str) -> str:
    return (ws / "calculator" / "calc.py").read_text() + extra


def two_steps() -> list[dict]:
    return [
        step("square", "Add square()", files=["calculator/calc.py"]),
        step("cube", "Add cube()", deps=["square"], files=["calculator/calc.py"]),
    ]


def test_auto_runs_a_short_plan_jointly_inside_the_safety(calc_ws: Path, tmp_path: Path) -> None:
    events: list[dict] = []
    s = script(
        tmp_path,
        [submit(GOAL, two_steps())],
        # one context, all the work: both edits in one turn, then the report
        [write("calculator/calc.py", calc(calc_ws, SQUARE + CUBE)), report(True, "both")],
    )
    orch = session(calc_ws, s, events=events, mode="auto")
    plan = orch.create_plan(GOAL)
    assert plan.mode == "joint" and [st.id for st in plan.steps] == ["joint"]
    assert plan.steps[0].title == f"joint: {GOAL}"
    mc = plan.mode_choice
    assert mc is not None and mc.requested == "auto" and mc.horizon == 2
    assert "2 step(s)" in mc.reason and "joint_max_steps=5" in mc.reason
    assert [o.id for o in mc.outline] == ["square", "cube"]
    # shown before anything acts: in the event log right after the plan, and in the document
    created = [e["type"] for e in events].index("plan_created")
    assert events[created + 1]["type"] == "mode_chosen"
    chosen = next(e for e in events if e["type"] == "mode_chosen")
    assert chosen["mode"] == "joint" and chosen["reason"] == mc.reason
    assert "**Mode:** joint (asked: auto)" in render_markdown(plan)
    assert orch.status().pending is not None  # the review still comes first

    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    types = [e["type"] for e in events]
    assert types.index("mode_chosen") < types.index("step_started")
    joint = orch.status().plan.step("joint")
    assert joint.status == "passed" and joint.attempts == 1
    assert joint.result is not None and "joint" in joint.result.usage
    assert joint.result.usage["joint"].calls == 2
    assert [f.path for f in joint.result.files_changed] == ["calculator/calc.py"]
    # the outline's checks ran as its acceptance (the same command as the workspace check)
    assert [c.check.label() for c in joint.result.checks] == ["suite passes"]
    assert all(c.passed for c in joint.result.checks)
    # diff and revert work as for any step
    _, diffs = orch.step_diff("joint")
    assert diffs and "cube" in diffs[0].patch
    orch.revert_step("joint")
    assert "cube" not in (calc_ws / "calculator" / "calc.py").read_text()


def test_auto_splits_a_plan_longer_than_joint_max_steps(calc_ws: Path, tmp_path: Path) -> None:
    s = script(tmp_path, [submit(GOAL, two_steps())], [])
    orch = session(calc_ws, s, mode="auto", joint_max_steps=1)
    plan = orch.create_plan(GOAL)
    assert plan.mode == "split" and [st.id for st in plan.steps] == ["square", "cube"]
    assert plan.mode_choice is not None
    assert "more than joint_max_steps=1" in plan.mode_choice.reason


def test_auto_splits_a_plan_with_a_pause_step(calc_ws: Path, tmp_path: Path) -> None:
    steps = [step("ask", "Ask the owner", kind="pause"), step("square", deps=["ask"])]
    orch = session(calc_ws, script(tmp_path, [submit(GOAL, steps)], []), mode="auto")
    plan = orch.create_plan(GOAL)
    assert plan.mode == "split" and "pause step (ask)" in plan.mode_choice.reason  # type: ignore[union-attr]


def test_mode_joint_makes_no_planner_call(calc_ws: Path, tmp_path: Path) -> None:
    # the planner script is empty: any planner call would fail with script_exhausted
    s = script(
        tmp_path,
        [],
        [write("calculator/calc.py", calc(calc_ws, SQUARE)), report(True, "square added")],
    )
    orch = session(calc_ws, s, mode="joint")
    plan = orch.create_plan("Add square()")
    assert plan.mode == "joint" and plan.steps[0].acceptance == []
    assert orch.status().planner_usage.calls == 0
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    checks = orch.status().plan.step("joint").result.checks  # type: ignore[union-attr]
    assert checks and all(c.workspace_check for c in checks)  # the workspace's own checks


def test_failing_joint_run_escalates_once_to_an_approved_split_replan(
    calc_ws: Path, tmp_path: Path
) -> None:
    events: list[dict] = []
    s = script(
        tmp_path,
        [
            submit(GOAL, two_steps()),
            submit(GOAL, [step("fix", "Fix add and add square", files=["calculator/calc.py"])]),
        ],
        [
            # the joint run breaks add(): its checks fail; no retry follows
            write("calculator/calc.py", calc(calc_ws, BROKEN)),
            report(True, "done (it thinks)"),
            # the split plan's one step, by the executor on the same model
            write("calculator/calc.py", calc(calc_ws, SQUARE)),
            report(True, "fixed"),
        ],
    )
    orch = session(calc_ws, s, events=events, mode="auto")
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    types = [e["type"] for e in events]
    assert "retry" not in types  # a joint run is never retried
    started = next(e for e in events if e["type"] == "replan_started")
    assert (
        started["trigger"] == "check_failed" and "escalating to a split plan" in started["reason"]
    )
    # the re-plan went through approval (--yes here) and is split for good
    approvals = [e for e in events if e["type"] == "approval" and e.get("kind") == "revision"]
    assert approvals and approvals[0]["approve"] is True
    st = orch.status()
    assert st.plan.version == 2 and st.plan.mode == "split" and st.replans_used == 1
    assert st.plan.mode_choice is not None
    assert st.plan.mode_choice.reason.startswith("escalated from joint")
    assert [x.id for x in st.plan.steps] == ["fix"]


def test_escalation_waits_for_a_person_and_never_loops(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, two_steps()), submit(GOAL, [step("fix", "Fix it")])],
        [write("calculator/calc.py", calc(calc_ws, BROKEN)), report(True, "hmm")],
    )
    orch = session(calc_ws, s, approver=NoApprover(), mode="auto")
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True, plan_reviewed_by="me")
    st = orch.status()
    assert res.state == "awaiting_approval"
    assert st.pending is not None and st.pending.kind == "revision"
    assert st.pending.proposal is not None and st.pending.proposal.mode == "split"
    # the joint step ran exactly once
    assert st.plan.step("joint").attempts == 1 and st.plan.step("joint").status == "failed"


def test_escalation_with_no_replan_budget_stops(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, two_steps())],
        [write("calculator/calc.py", calc(calc_ws, BROKEN)), report(True, "hmm")],
    )
    orch = session(calc_ws, s, mode="auto", budgets={"replans": 0})
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "stopped" and "re-plan budget (0) exhausted" in res.reason


def test_override_at_review_switches_mode_without_a_new_planner_call(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = script(tmp_path, [submit(GOAL, two_steps())], [])
    orch = session(calc_ws, s, mode="auto")
    orch.create_plan(GOAL)
    v2 = orch.set_mode("split", by="ann")
    assert v2.version == 2 and v2.mode == "split"
    assert [x.id for x in v2.steps] == ["square", "cube"]
    assert v2.mode_choice is not None and v2.mode_choice.decided_by == "ann"
    assert "ann chose split at review" in v2.mode_choice.reason
    st = orch.status()
    assert st.pending is not None and st.pending.kind == "plan"  # still reviewed before it runs
    v3 = orch.set_mode("joint", by="ann")
    assert v3.mode == "joint" and [o.id for o in v3.mode_choice.outline] == ["square", "cube"]  # type: ignore[union-attr]
    assert orch.store.versions(v3.plan_id) == [1, 2, 3]
    with pytest.raises(InvalidRequestError, match="already runs joint"):
        orch.set_mode("joint", by="ann")


def test_override_from_plannerless_joint_asks_the_planner(calc_ws: Path, tmp_path: Path) -> None:
    s = script(tmp_path, [submit(GOAL, two_steps())], [])
    orch = session(calc_ws, s, mode="joint")
    orch.create_plan(GOAL)
    v2 = orch.set_mode("split", by="bo")
    assert [x.id for x in v2.steps] == ["square", "cube"]
    assert orch.status().planner_usage.calls == 1


def test_mode_cannot_change_once_a_step_ran(calc_ws: Path, tmp_path: Path) -> None:
    s = script(
        tmp_path,
        [submit(GOAL, [step("square", checks=[PYTEST_ALL])])],
        [write("calculator/calc.py", calc(calc_ws, SQUARE)), report(True, "ok")],
    )
    orch = session(calc_ws, s, mode="split")
    orch.create_plan(GOAL)
    orch.run(all_steps=True)
    with pytest.raises(InvalidRequestError, match="only before a step runs"):
        orch.set_mode("joint", by="x")


def test_mode_setting_layers(calc_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANLOOP_MODE")
    assert run_mode(load_config(calc_ws)) == "auto"  # the default
    monkeypatch.setenv("PLANLOOP_MODE", "joint")
    assert run_mode(load_config(calc_ws)) == "joint"
    (calc_ws / "planloop.toml").write_text('mode = "split"\njoint_max_steps = 3\n')
    cfg = load_config(calc_ws)
    assert run_mode(cfg) == "split" and cfg.joint_max_steps == 3  # the file beats the env
    assert run_mode(load_config(calc_ws, {"mode": "joint"})) == "joint"  # a flag beats both
    monkeypatch.setenv("PLANLOOP_MODE", "sideways")
    (calc_ws / "planloop.toml").write_text("")
    with pytest.raises(ConfigError, match="PLANLOOP_MODE='sideways' is not one of"):
        run_mode(load_config(calc_ws))
    with pytest.raises(ConfigError, match="mode"):
        load_config(calc_ws, {"mode": "sideways"})


def test_cli_shows_the_choice_and_overrides_it_at_review(calc_ws: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    s = script(tmp_path, [submit(GOAL, two_steps())], [])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env["COLUMNS"] = "200"
    exe = str(Path(sys.executable).parent / "planloop")
    models = ["--planner", f"scripted:{s}", "--executor", f"scripted:{s}"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "--workspace", str(calc_ws), *args, *models],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    planned = cli("plan", GOAL)  # no --mode, no PLANLOOP_MODE: the default is auto
    assert planned.returncode == 0, planned.stderr
    out = planned.stdout
    assert "mode: joint — auto: the planner judged 2 step(s)" in out
    assert out.index("mode: joint") < out.index("review it")
    switched = cli("mode", "split", "--by", "ann")
    assert switched.returncode == 0, switched.stderr
    assert "plan v2 runs split" in switched.stdout and "Add cube()" in switched.stdout
    again = cli("mode", "split")
    assert again.returncode == 1 and "already runs split" in again.stderr
    bad = cli("mode", "sideways")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    bad_env = subprocess.run(
        [exe, "--workspace", str(calc_ws), "plan", GOAL, *models],
        env={**env, "PLANLOOP_MODE": "sideways"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad_env.returncode == 1
    assert "PLANLOOP_MODE='sideways' is not one of auto, split, joint" in bad_env.stderr

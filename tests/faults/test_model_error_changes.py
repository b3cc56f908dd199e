"""Finding 1 of issue 15: a model error after an edit leaves a change nobody can see or undo.

A step's executor applies an ``edit_file`` and then its next model call fails — a 401,
a 403, a 529 that outlasts the SDK's retries, a stream cut off mid-reply — over real
HTTP from the real SDK to the Messages API stand-in. The edit stays in the workspace
(kept for inspection; the run stops). Before the fix, the next attempt's
before-checkpoint already contained it, so once the step had run again ``planloop diff``
said "no changes" and ``planloop revert`` "nothing to restore" (both exit 0) while the
file still held the edit. Now diff and revert span every attempt of the step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from killkit import flat, planloop

from helpers import script, session, step, submit
from planloop.state.store import PlanStore
from standin import Reply, StandIn, error_reply, stream_error_reply, tool_use_message

KEY = "sk-ant-api03-FAULTS-fake-key-0c9e1d2b3a"
EXECUTOR = "anthropic:claude-sonnet-5-5"
GOAL = "Add square() to the calculator"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"
DIV_TAIL = '        raise ZeroDivisionError("division by zero")\n    return a / b\n'
SETTINGS = """workspace_checks = []
model_timeout_s = 10
model_retries = 1
"""

#: fault: (what the API answers the call after the edit, run exit code, run state)
FAULTS: dict[str, tuple[list[Reply], int, str]] = {
    "401-unauthorized": (
        [error_reply(401, "authentication_error", "invalid x-api-key")],
        1,
        "error",
    ),
    "403-forbidden": (
        [error_reply(403, "permission_error", "this key may not use the model")],
        1,
        "error",
    ),
    "529-past-the-retries": (
        # model_retries = 1: the SDK tries twice, both overloaded
        [error_reply(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "5"})] * 2,
        3,
        "paused",
    ),
    "stream-cut-mid-reply": ([stream_error_reply("overloaded_error", "Overloaded")], 3, "paused"),
}


def _planned(ws: Path, tmp: Path) -> str:
    (ws / "planloop.toml").write_text(SETTINGS)
    check = {"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def square"}
    s = script(tmp, [submit(GOAL, [step("square", "Add square()", checks=[check])])], [])
    orch = session(ws, s)
    orch.create_plan(GOAL)
    orch.decide_pending(True, by="test")
    original = (ws / "calculator" / "calc.py").read_text()
    assert DIV_TAIL in original
    return original


def _cli(ws: Path, api: StandIn, *args: str) -> tuple[int, str]:
    res = planloop(ws, *args, env=api.env(KEY))
    out = res.stdout + res.stderr
    assert KEY not in out, "the API key was printed"
    return res.returncode, out


def _edit_then(api: StandIn, fault: list[Reply]) -> None:
    api.enqueue(
        tool_use_message(
            "edit_file",
            {"path": "calculator/calc.py", "old": DIV_TAIL, "new": DIV_TAIL + SQUARE},
        ),
        *fault,
    )


def _fail_the_step(ws: Path, api: StandIn, case: str, original: str) -> None:
    replies, code, state = FAULTS[case]
    _edit_then(api, replies)
    rc, out = _cli(ws, api, "run", "--all", "--yes", "--executor", EXECUTOR)
    assert rc == code, out
    assert f"{state}: the executor's model call failed" in flat(out)
    assert api.pending == 0  # every queued reply was asked for: the fault really hit
    calc = ws / "calculator" / "calc.py"
    assert calc.read_text() == original.replace(DIV_TAIL, DIV_TAIL + SQUARE)  # kept


@pytest.mark.parametrize("case", list(FAULTS))
def test_an_edit_before_a_model_error_stays_visible_and_undoable_after_the_step_reruns(
    case: str, calc_ws: Path, tmp_path: Path, standin: StandIn
) -> None:
    original = _planned(calc_ws, tmp_path)
    _fail_the_step(calc_ws, standin, case, original)

    rc, out = _cli(calc_ws, standin, "diff", "square")
    assert rc == 0 and "calculator/calc.py" in out and "+def square" in out, out

    # the step runs again; the edit is already there, so the executor just reports
    standin.enqueue(tool_use_message("report_outcome", {"ok": True, "summary": "square() is in"}))
    rc, out = _cli(calc_ws, standin, "run", "--all", "--yes", "--executor", EXECUTOR)
    assert rc == 0 and "done: every step passed" in out, out

    # before the fix: "no changes" — the second attempt's before already held the edit
    rc, out = _cli(calc_ws, standin, "diff", "square")
    assert rc == 0, out
    assert "no changes" not in out and "+def square" in out, out
    rc, out = _cli(calc_ws, standin, "diff", "square", "--stat")
    assert rc == 0 and "calculator/calc.py" in out and "+4" in out, out

    rc, out = _cli(calc_ws, standin, "revert", "square")
    assert rc == 0 and "restored calculator/calc.py" in flat(out), out
    assert "nothing to restore" not in out
    assert (calc_ws / "calculator" / "calc.py").read_text() == original

    # the record names both attempts; the errored one did not count toward the retry
    sq = PlanStore(calc_ws).load().plan.step("square")
    assert [(a.ended, a.counted, a.files) for a in sq.attempt_log] == [
        ("model_error", False, ["calculator/calc.py"]),
        ("passed", True, []),
    ]
    assert sq.attempts == 1


def test_revert_right_after_the_model_error_restores_the_file_and_the_rerun_starts_clean(
    calc_ws: Path, tmp_path: Path, standin: StandIn
) -> None:
    original = _planned(calc_ws, tmp_path)
    _fail_the_step(calc_ws, standin, "401-unauthorized", original)

    rc, out = _cli(calc_ws, standin, "revert", "square")
    assert rc == 0 and "restored calculator/calc.py" in flat(out), out
    calc = calc_ws / "calculator" / "calc.py"
    assert calc.read_text() == original
    rc, out = _cli(calc_ws, standin, "revert", "square")  # a second revert has nothing left
    assert rc == 0 and "nothing to restore" in out, out

    standin.enqueue(
        tool_use_message(
            "edit_file",
            {"path": "calculator/calc.py", "old": DIV_TAIL, "new": DIV_TAIL + SQUARE},
        ),
        tool_use_message("report_outcome", {"ok": True, "summary": "added square()"}),
    )
    rc, out = _cli(calc_ws, standin, "run", "--all", "--yes", "--executor", EXECUTOR)
    assert rc == 0 and "done: every step passed" in out, out
    assert calc.read_text() == original.replace(DIV_TAIL, DIV_TAIL + SQUARE)
    rc, out = _cli(calc_ws, standin, "diff", "square")
    assert rc == 0 and out.count("+def square") == 1, out

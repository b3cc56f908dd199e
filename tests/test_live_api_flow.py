"""The anthropic adapter through the whole product: the real CLI, the real SDK, real HTTP.

``planloop plan`` / ``planloop run`` run as processes whose SDK talks to the Messages API
stand-in on 127.0.0.1 (``ANTHROPIC_BASE_URL``) with a fake key. The stand-in answers like
a model would, records every request, and sends the errors a real API sends; the tests
check what reaches the wire (tools, caching, bounded executor context), what the user
reads, what lands on disk — and that the key lands nowhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import script, session, step, submit, trust
from planloop.document.plan import submit_plan_schema
from planloop.models.base import Usage
from planloop.models.pricing import cost_usd
from planloop.roles.tools import EXECUTOR_TOOLS, PLANNER_TOOLS
from planloop.state.store import PlanStore
from standin import (
    Recorded,
    Reply,
    StandIn,
    error_reply,
    stream_error_reply,
    text_message,
    tokens,
    tool_use_message,
)

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
KEY = "sk-ant-api03-LIVEFLOW-fake-key-5d1e9b7c3a0f42"
PLANNER = "anthropic:claude-opus-5-5"
EXECUTOR = "anthropic:claude-sonnet-5-5"
GOAL = "Add square() and cube() to the calculator"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"
CUBE = "\n\ndef cube(x: float) -> float:\n    return x * x * x\n"
EPHEMERAL = {"type": "ephemeral"}
SETTINGS = """workspace_checks = []
model_timeout_s = {timeout}
model_retries = 0

[command_policy]
allow = ["env"]
"""


def cli(ws: Path, api: StandIn, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script, its SDK pointed at the stand-in, stdin not a terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env["PLANLOOP_MODE"] = "split"  # these scripts were written for the split loop
    env.update(api.env(KEY), COLUMNS="200")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    res = subprocess.run(
        [PLANLOOP, *args],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert KEY not in res.stdout and KEY not in res.stderr, "the API key was printed"
    return res


def settings(ws: Path, timeout: float = 10) -> None:
    (ws / "planloop.toml").write_text(SETTINGS.format(timeout=timeout))
    trust(ws)


def role_of(req: Recorded) -> str:
    system = req.body["system"][0]["text"]
    return "planner" if system.startswith("You are the planner") else "executor"


def first_text(req: Recorded) -> str:
    content = req.body["messages"][0]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def contains(path: str, pattern: str) -> dict[str, str]:
    return {"kind": "file_contains", "path": path, "pattern": pattern}


def square_step(**kw: Any) -> dict[str, Any]:
    return step(
        "square",
        "Add square()",
        instructions="INSTR-SQUARE: append square(x) to calculator/calc.py",
        checks=[contains("calculator/calc.py", "def square")],
        files=["calculator/calc.py"],
        **kw,
    )


def cube_step() -> dict[str, Any]:
    return step(
        "cube",
        "Add cube()",
        instructions="INSTR-CUBE: append cube(x) to calculator/calc.py",
        checks=[contains("calculator/calc.py", "def cube")],
        files=["calculator/calc.py"],
        deps=["square"],
    )


def leaks_in(folder: Path) -> list[str]:
    """Files under ``folder`` holding the key, also inside the shadow repo's git objects."""
    found = [str(p) for p in folder.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    shadow = folder / "shadow.git"
    if shadow.is_dir():  # objects are compressed: read them back through git
        dump = subprocess.run(
            ["git", "--git-dir", str(shadow), "cat-file", "--batch-all-objects", "--batch"],
            capture_output=True,
            check=True,
        ).stdout
        assert dump, "the shadow repository holds no objects to search"
        if KEY.encode() in dump:
            found.append(f"{shadow} (a git object)")
    return found


# --- the happy path ------------------------------------------------------------------------

PLAN_USAGE = [tokens(1500, 90, cache_write=1200), tokens(2600, 700, cache_read=1200)]
STEP_USAGE = [tokens(900, 40, cache_write=800), tokens(1000, 200, cache_read=800)]


def test_plan_and_run_through_the_sdk_over_http(calc_ws: Path, standin: StandIn) -> None:
    settings(calc_ws)
    calc = (calc_ws / "calculator" / "calc.py").read_text()
    standin.enqueue(
        tool_use_message("read_file", {"path": "calculator/calc.py"}, usage=PLAN_USAGE[0]),
        tool_use_message(
            "submit_plan",
            submit(GOAL, [square_step(), cube_step()])[0]["input"],
            text="Two small steps.",
            usage=PLAN_USAGE[1],
        ),
    )
    plan = cli(calc_ws, standin, "plan", GOAL, "--yes", "--planner", PLANNER)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"planner: {PLANNER}" in plan.stdout and "scripted" not in plan.stdout
    assert "plan v1 approved (--yes)" in plan.stdout

    standin.enqueue(
        # square: a command (to see what a child process is given), the edit, the outcome
        tool_use_message("run_command", {"command": "env"}, usage=STEP_USAGE[0]),
        tool_use_message("write_file", {"path": "calculator/calc.py", "content": calc + SQUARE}),
        tool_use_message("report_outcome", {"ok": True, "summary": "added square()"}),
        # cube
        tool_use_message(
            "write_file",
            {"path": "calculator/calc.py", "content": calc + SQUARE + CUBE},
            usage=STEP_USAGE[0],
        ),
        tool_use_message(
            "report_outcome", {"ok": True, "summary": "added cube()"}, usage=STEP_USAGE[1]
        ),
    )
    run = cli(calc_ws, standin, "run", "--all", "--yes", "--executor", EXECUTOR)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "done: every step passed · 2/2 steps" in run.stdout
    assert standin.pending == 0
    text = (calc_ws / "calculator" / "calc.py").read_text()
    assert "def square" in text and "def cube" in text

    reqs = standin.requests
    assert all(r.path.split("?")[0] == "/v1/messages" for r in reqs)
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in reqs)
    planner = [r for r in reqs if role_of(r) == "planner"]
    executor = [r for r in reqs if role_of(r) == "executor"]
    assert len(planner) == 2 and len(executor) == 5

    # tools on the wire: the planner's read-only ones plus submit_plan with the plan's schema
    for r in planner:
        assert r.body["model"] == "claude-opus-5-5" and r.body["stream"] is True
        names = [t["name"] for t in r.body["tools"]]
        # plus repo_map (the repo map is on by default), and ask_user while drafting the
        # first plan (planner_questions defaults to 3)
        assert names == [t.name for t in PLANNER_TOOLS] + ["repo_map", "ask_user", "submit_plan"]
        assert r.body["tools"][-1]["input_schema"] == submit_plan_schema()
    for r in executor:
        assert r.body["model"] == "claude-sonnet-5-5"
        sent = [(t["name"], t["input_schema"]) for t in r.body["tools"]]
        assert sent == [(t.name, t.input_schema) for t in EXECUTOR_TOOLS]
        assert not any(t["name"] == "submit_plan" for t in r.body["tools"])
    # prompt caching: system prompt, the last tool, and the conversation so far
    for r in reqs:
        assert r.body["system"][-1]["cache_control"] == EPHEMERAL
        assert r.body["tools"][-1]["cache_control"] == EPHEMERAL
        assert r.body["cache_control"] == EPHEMERAL
    # the planner read the real file and got it back as a tool result
    assert "def div(a: float, b: float)" in json.dumps(planner[1].body["messages"][-1])

    # bounded executor context: the goal line and its own step only
    square_first, cube_first = executor[0], executor[3]
    assert len(square_first.body["messages"]) == 1 and len(cube_first.body["messages"]) == 1
    assert f"Goal of the whole plan: {GOAL}" in first_text(square_first)
    assert "INSTR-SQUARE" in first_text(square_first)
    assert "INSTR-CUBE" not in first_text(square_first)
    assert f"Goal of the whole plan: {GOAL}" in first_text(cube_first)
    assert "INSTR-CUBE" in first_text(cube_first)
    assert "INSTR-SQUARE" not in first_text(cube_first)
    assert "square: added square()" in first_text(cube_first)  # its dependency's summary
    assert "run_command" not in json.dumps(cube_first.body["messages"])  # not square's turns

    # the key reached the API in its header only: not the child's env, not any body
    env_result = json.dumps(executor[1].body["messages"][-1])
    assert "tool_result" in env_result and "PATH=" in env_result
    assert "ANTHROPIC_API_KEY" not in env_result
    assert not [i for i, r in enumerate(reqs) if KEY.encode() in r.raw]

    status = cli(calc_ws, standin, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["state"] == "done" and data["cost_usd"] > 0

    def priced(model: str, u: dict[str, int]) -> float:
        return cost_usd(
            model,
            Usage(
                u["input_tokens"],
                u["output_tokens"],
                u["cache_read_input_tokens"],
                u["cache_creation_input_tokens"],
            ),
        )

    default = tokens()  # replies queued without usage
    expected = sum(priced("claude-opus-5-5", u) for u in PLAN_USAGE) + sum(
        priced("claude-sonnet-5-5", u)
        for u in (STEP_USAGE[0], default, default, STEP_USAGE[0], STEP_USAGE[1])
    )
    assert data["cost_usd"] == pytest.approx(expected, abs=1e-6)

    assert leaks_in(calc_ws / ".planloop") == []
    assert leaks_in(calc_ws) == []


# --- bad input through the product ---------------------------------------------------------


def test_http_401_while_planning_says_the_key_was_rejected_and_writes_no_plan(
    calc_ws: Path, standin: StandIn
) -> None:
    settings(calc_ws)
    standin.enqueue(error_reply(401, "authentication_error", "invalid x-api-key"))
    res = cli(calc_ws, standin, "plan", GOAL, "--yes", "--planner", PLANNER)
    assert res.returncode == 1, res.stdout + res.stderr
    msg = " ".join(res.stderr.split())
    assert "planning failed" in msg and "rejected the credentials" in msg
    assert "HTTP 401" in msg and "ANTHROPIC_API_KEY" in msg
    assert "Traceback" not in res.stderr
    assert len(standin.requests) == 1  # a rejected key is not retried
    store = PlanStore(calc_ws)
    assert store.current_id() is None and store.plan_ids() == []
    assert leaks_in(calc_ws / ".planloop") == []


def _planned(ws: Path, tmp: Path) -> str:
    """A one-step plan made and approved in-process (scripted planner); returns calc.py."""
    s = script(tmp, [submit(GOAL, [square_step()])], [])
    orch = session(ws, s)
    orch.create_plan(GOAL)
    orch.decide_pending(True, by="test")
    return (ws / "calculator" / "calc.py").read_text()


ERRORS: dict[str, tuple[Reply | dict[str, Any], int, str, list[str]]] = {
    # case: (the second executor reply, exit code, run state, what the user must read)
    "429-rate-limit": (
        error_reply(429, "rate_limit_error", "rate limit exceeded", headers={"retry-after": "17"}),
        3,
        "paused",
        ["rate limited", "HTTP 429", "wait 17s"],
    ),
    "500-server-error": (
        error_reply(500, "api_error", "Internal server error"),
        3,
        "paused",
        ["server error", "HTTP 500", "resume later"],
    ),
    "529-overloaded": (
        error_reply(529, "overloaded_error", "Overloaded"),
        3,
        "paused",
        ["overloaded", "HTTP 529", "wait a minute and resume"],
    ),
    "overloaded-mid-stream": (
        stream_error_reply("overloaded_error", "Overloaded"),
        3,
        "paused",
        ["overloaded", "resume"],
    ),
    "timeout": (
        Reply(body=text_message("too late"), delay_s=5),
        3,
        "paused",
        ["no response for 1s", "model_timeout_s"],
    ),
    "max-tokens": (
        text_message("def square(x", stop_reason="max_tokens", usage=tokens(3000, 8192)),
        1,
        "error",
        ["cut off at max_tokens=8192", "incomplete"],
    ),
    "refusal": (
        text_message("I can't help with that.", stop_reason="refusal", usage=tokens(3000, 12)),
        1,
        "error",
        ["declined to continue", "stop_reason=refusal"],
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_api_failure_during_a_step_ends_cleanly_with_a_consistent_plan(
    case: str, calc_ws: Path, tmp_path: Path, standin: StandIn
) -> None:
    reply, code, state, words = ERRORS[case]
    settings(calc_ws, timeout=1)
    calc = _planned(calc_ws, tmp_path)
    first = tokens(800, 60)
    standin.enqueue(
        tool_use_message(
            "write_file", {"path": "calculator/calc.py", "content": calc + SQUARE}, usage=first
        ),
        reply,
    )
    res = cli(calc_ws, standin, "run", "--all", "--yes", "--executor", EXECUTOR)
    assert res.returncode == code, res.stdout + res.stderr
    out = " ".join(res.stdout.split())
    assert f"{state}: the executor's model call failed" in out
    for w in words:
        assert w in out, w
    assert "Traceback" not in res.stderr
    assert len(standin.requests) == 2  # model_retries = 0: the failure is not retried

    rec = PlanStore(calc_ws).load()  # the plan on disk loads
    sq = rec.plan.step("square")
    assert rec.state == state and sq.status == "failed" and sq.attempts == 0
    assert sq.result and sq.result.error and words[0] in " ".join(sq.result.error.split())
    assert [f.path for f in sq.result.files_changed] == ["calculator/calc.py"]
    # what the executor wrote before the failure is kept, not half-undone
    assert (calc_ws / "calculator" / "calc.py").read_text() == calc + SQUARE
    # every billed reply is counted, including one that was cut off or refused
    billed = [first] + ([reply["usage"]] if isinstance(reply, dict) else [])
    expected = sum(
        cost_usd("claude-sonnet-5-5", Usage(u["input_tokens"], u["output_tokens"])) for u in billed
    )
    assert sq.result.cost_usd == pytest.approx(expected, abs=1e-6)
    assert leaks_in(calc_ws / ".planloop") == []


def test_rate_limited_step_resumes_on_the_next_run(
    calc_ws: Path, tmp_path: Path, standin: StandIn
) -> None:
    settings(calc_ws)
    calc = _planned(calc_ws, tmp_path)
    standin.enqueue(error_reply(429, "rate_limit_error", "rate limit exceeded"))
    paused = cli(calc_ws, standin, "run", "--all", "--yes", "--executor", EXECUTOR)
    assert paused.returncode == 3, paused.stdout + paused.stderr
    assert (calc_ws / "calculator" / "calc.py").read_text() == calc

    standin.enqueue(
        tool_use_message("write_file", {"path": "calculator/calc.py", "content": calc + SQUARE}),
        tool_use_message("report_outcome", {"ok": True, "summary": "added square()"}),
    )
    resumed = cli(calc_ws, standin, "run", "--all", "--yes", "--executor", EXECUTOR)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "done: every step passed" in resumed.stdout
    sq = PlanStore(calc_ws).load().plan.step("square")
    assert sq.status == "passed" and sq.attempts == 1  # the rate-limited call was not an attempt
    assert "def square" in (calc_ws / "calculator" / "calc.py").read_text()

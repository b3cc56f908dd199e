"""API faults at each phase of a run, over real HTTP through the real anthropic SDK.

The stand-in (tests/standin.py) injects each fault the issue lists — a reset
connection, a body that is not the API's, an SSE stream cut mid-event, 404 / 400 /
401 / 403, 429 with a short and a long retry-after (seconds and HTTP-date), 500, 529
past the retries, a timeout, malformed JSON — at each phase: planning, the executor's
first turn, the executor mid-step after an edit was applied, and the re-plan. After
each: the exit code the README documents (planning: 1, nothing written; later: 3 when
waiting may help — the run is paused and ``planloop run`` resumes — else 1), one
clear line saying what happened, no traceback, and the key nowhere.
"""

from __future__ import annotations

import email.utils
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faultkit import GOAL, SQUARE, Result, cli, contains, fresh_workspace, snapshot_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import step, submit
from planloop.state.store import PlanStore
from standin import (
    Reply,
    StandIn,
    cut_stream_reply,
    error_reply,
    raw_reply,
    reset_reply,
    tool_use_message,
)

KEY = "sk-ant-api03-FAULTS-fake-key-9c2e4b7a1d3f"
RETRIES = 1
TIMEOUT_S = 1.0
SETTINGS = f"""workspace_checks = []
model_timeout_s = {TIMEOUT_S}
model_retries = {RETRIES}
"""
#: what the API sends with a retryable error; keeps the SDK's retry short in tests
FAST = {"retry-after-ms": "20"}
MODELS = ("--planner", "anthropic:claude-opus-5-5", "--executor", "anthropic:claude-sonnet-5-5")


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@dataclass(frozen=True)
class Fault:
    """``replies(intended)``: what the stand-in sends instead of ``intended`` (the reply the
    phase was waiting for), enough of them to use up the SDK's retries."""

    replies: Callable[[dict[str, Any]], list[Reply]]
    retryable: bool
    says: str  # in the one line the user reads


def _times(
    reply: Callable[[], Reply], n: int = RETRIES + 1
) -> Callable[[dict[str, Any]], list[Reply]]:
    return lambda intended: [reply() for _ in range(n)]


FAULTS: dict[str, Fault] = {
    "reset": Fault(_times(reset_reply), True, "could not reach the API"),
    "html_502": Fault(
        _times(lambda: raw_reply(502, b"<html><h1>502 Bad Gateway</h1></html>", "text/html", FAST)),
        True,
        "HTTP 502",
    ),
    "sse_cut": Fault(lambda m: [cut_stream_reply(m, after_events=4)], True, "cut off"),
    "404_model": Fault(
        _times(lambda: error_reply(404, "not_found_error", "model: claude-nope"), 1),
        False,
        "HTTP 404",
    ),
    "400_malformed": Fault(
        _times(lambda: error_reply(400, "invalid_request_error", "messages.0: malformed"), 1),
        False,
        "HTTP 400",
    ),
    "401": Fault(
        _times(lambda: error_reply(401, "authentication_error", "invalid x-api-key"), 1),
        False,
        "rejected the credentials",
    ),
    "403": Fault(
        _times(lambda: error_reply(403, "permission_error", "not allowed"), 1),
        False,
        "permission denied",
    ),
    "429_short": Fault(
        _times(
            lambda: error_reply(
                429, "rate_limit_error", "slow down", headers={"retry-after": "0.2"}
            )
        ),
        True,
        "rate limited",
    ),
    "429_long": Fault(
        _times(
            lambda: error_reply(
                429, "rate_limit_error", "slow down", headers={"retry-after": "3600"}
            ),
            1,
        ),
        True,
        "retry after",
    ),
    "429_http_date": Fault(
        _times(
            lambda: error_reply(
                429, "rate_limit_error", "slow down", headers={"retry-after": http_date(7200)}
            ),
            1,
        ),
        True,
        "retry after",
    ),
    "500": Fault(
        _times(lambda: error_reply(500, "api_error", "Internal server error", headers=FAST)),
        True,
        "HTTP 500",
    ),
    "529": Fault(
        _times(lambda: error_reply(529, "overloaded_error", "Overloaded", headers=FAST)),
        True,
        "overloaded",
    ),
    "timeout": Fault(_times(lambda: Reply(body={}, delay_s=TIMEOUT_S * 3)), True, "no response"),
    "malformed_json": Fault(
        _times(lambda: raw_reply(200, b'{"type": "message", "content": [', "application/json"), 1),
        True,
        "could not read",
    ),
    "malformed_sse": Fault(
        _times(
            lambda: raw_reply(
                200, b"event: message_start\ndata: {not json\n\n", "text/event-stream"
            ),
            1,
        ),
        True,
        "could not read",
    ),
}

# --- the replies of a healthy run --------------------------------------------------------


def plan_reply(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return tool_use_message("submit_plan", submit(GOAL, steps)[0]["input"])


def square_step() -> dict[str, Any]:
    return step(
        "square",
        "Add square()",
        checks=[contains("calculator/calc.py", "def square")],
        files=["calculator/calc.py"],
    )


def never_passes() -> dict[str, Any]:
    return step("notes", "Write notes", checks=[contains("NOTES.md", "unreachable text")])


def write_reply(path: str, content: str) -> dict[str, Any]:
    return tool_use_message("write_file", {"path": path, "content": content})


def report_reply(ok: bool = True) -> dict[str, Any]:
    return tool_use_message("report_outcome", {"ok": ok, "summary": "done"})


# --- running a case ------------------------------------------------------------------------


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    with StandIn() as server:
        for k, v in server.env(KEY).items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        yield server


def workspace(tmp: Path) -> Path:
    ws = fresh_workspace(tmp / "calc")
    (ws / "planloop.toml").write_text(SETTINGS)
    (ws / "mine.txt").write_bytes(b"the user's own notes \xe2\x9c\x93\n")
    return ws


def plan_ok(ws: Path, api: StandIn, steps: list[dict[str, Any]]) -> None:
    api.enqueue(plan_reply(steps))
    res = cli(ws, "plan", GOAL, "--yes", *MODELS)
    assert res.code == 0, res.text


def no_leak(ws: Path, *results: Result) -> None:
    for r in results:
        assert KEY not in r.text, "the API key was printed"
    files = [str(p) for p in ws.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert files == []
    shadow = ws / ".planloop" / "shadow.git"
    if shadow.is_dir():
        dump = subprocess.run(
            ["git", "--git-dir", str(shadow), "cat-file", "--batch-all-objects", "--batch"],
            capture_output=True,
            check=True,
        ).stdout
        assert KEY.encode() not in dump


def the_line(res: Result) -> str:
    """What the user reads: the ``error:`` line, or the final state line of a run."""
    assert "Traceback" not in res.text and "internal error" not in res.text, res.text
    errors = [line for line in res.err.splitlines() if line.startswith("error:")]
    if errors:
        assert len(errors) == 1, res.err
        return errors[0]
    states = [
        line for line in res.out.splitlines() if line.startswith(("paused:", "error:", "stopped:"))
    ]
    assert len(states) == 1, res.out
    return states[0]


def expect(res: Result, fault: Fault, ws: Path) -> str:
    line = the_line(res)
    assert fault.says in line, line
    code = 3 if fault.retryable else 1
    assert res.code == code, (res.code, line)
    rec = PlanStore(ws).load()
    assert rec.state == ("paused" if fault.retryable else "error"), rec.reason
    if fault.retryable:
        assert "`planloop run --all` resumes from here" in res.out, res.out
    return line


PHASES = ["planning", "executor_first_turn", "executor_after_edit", "replan"]


def run_case(ws: Path, api: StandIn, phase: str, fault: Fault) -> tuple[Result, dict[str, bytes]]:
    """Drive the run to ``phase`` and inject ``fault`` there; returns the faulted command's
    result and the user's files as they were just before it."""
    calc = (ws / "calculator" / "calc.py").read_text()
    if phase == "planning":
        mine = snapshot_tree(ws)
        api.enqueue(*fault.replies(plan_reply([square_step()])))
        return cli(ws, "plan", GOAL, "--yes", *MODELS), mine
    if phase == "replan":
        plan_ok(ws, api, [never_passes()])
        attempt = [write_reply("NOTES.md", "no luck\n"), report_reply(True)]
        api.enqueue(*attempt, *attempt)
        intended = plan_reply([step("notes", "Write notes", checks=[contains("NOTES.md", "luck")])])
        api.enqueue(*fault.replies(intended))
        mine = snapshot_tree(ws)
        return cli(ws, "run", "--all", "--yes", *MODELS), mine
    plan_ok(ws, api, [square_step()])
    mine = snapshot_tree(ws)
    if phase == "executor_after_edit":
        api.enqueue(write_reply("calculator/calc.py", calc + SQUARE))
    api.enqueue(*fault.replies(report_reply()))
    return cli(ws, "run", "--all", "--yes", *MODELS), mine


def check_case(
    ws: Path, api: StandIn, phase: str, fault: Fault, res: Result, mine: dict[str, bytes]
) -> None:
    no_leak(ws, res)
    after = snapshot_tree(ws)
    if phase == "planning":
        line = the_line(res)
        assert res.code == 1 and "planning failed" in line and fault.says in line, line
        assert not (ws / ".planloop" / "current").exists()  # no plan written
        assert after == mine
        return
    expect(res, fault, ws)
    # the user's own files are untouched; only the step's own file may hold its edit
    step_files = {"calculator/calc.py", "NOTES.md"}
    assert {k: v for k, v in after.items() if k not in step_files} == {
        k: v for k, v in mine.items() if k not in step_files
    }
    assert after["mine.txt"] == mine["mine.txt"]
    status = cli(ws, "status", "--json")
    assert status.code == 0 and json.loads(status.out)["state"] in ("paused", "error")


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_at_phase(tmp_path: Path, api: StandIn, phase: str, name: str) -> None:
    fault = FAULTS[name]
    ws = workspace(tmp_path)
    res, mine = run_case(ws, api, phase, fault)
    check_case(ws, api, phase, fault, res, mine)


def test_a_paused_run_resumes_once_the_api_is_back(tmp_path: Path, api: StandIn) -> None:
    """Exit 3 means "try again later": the same command then finishes the run."""
    ws = workspace(tmp_path)
    res, _ = run_case(ws, api, "executor_first_turn", FAULTS["sse_cut"])
    assert res.code == 3
    calc = (ws / "calculator" / "calc.py").read_text()
    api.enqueue(write_reply("calculator/calc.py", calc + SQUARE), report_reply())
    again = cli(ws, "run", "--all", "--yes", *MODELS)
    assert again.code == 0, again.text
    assert "def square" in (ws / "calculator" / "calc.py").read_text()


def test_a_cut_stream_is_never_used_as_a_reply(tmp_path: Path, api: StandIn) -> None:
    """Regression: a tool call cut mid-input must not run with half its input."""
    ws = workspace(tmp_path)
    plan_ok(ws, api, [square_step()])
    before = (ws / "calculator" / "calc.py").read_bytes()
    api.enqueue(cut_stream_reply(write_reply("calculator/calc.py", "x = 1\n"), after_events=5))
    res = cli(ws, "run", "--all", "--yes", *MODELS)
    assert res.code == 3, res.text
    assert (ws / "calculator" / "calc.py").read_bytes() == before
    assert api.pending == 0 and len(api.requests) == 2  # not retried behind the user's back


def test_a_long_retry_after_is_not_slept_through(tmp_path: Path, api: StandIn) -> None:
    ws = workspace(tmp_path)
    plan_ok(ws, api, [square_step()])
    api.enqueue(error_reply(429, "rate_limit_error", "slow down", headers={"retry-after": "3600"}))
    t0 = time.monotonic()
    res = cli(ws, "run", "--all", "--yes", *MODELS)
    assert time.monotonic() - t0 < 30
    line = the_line(res)
    assert res.code == 3 and "wait 3600s" in line and "retry after 20" in line, line
    assert len(api.requests) == 2  # the plan, then one call: no retry slept through


# --- random faults at random points ----------------------------------------------------------


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(sorted(FAULTS)),
    at=st.integers(min_value=0, max_value=3),
    steps=st.integers(min_value=1, max_value=2),
)
def test_random_fault_at_a_random_call(tmp_path_factory, name: str, at: int, steps: int) -> None:
    """A plan of 1–2 steps, each a write then a report; the fault replaces executor call ``at``.

    Whatever the call, the run stops where the fault hit with the documented exit code,
    every step before it passed, and the user's own file is untouched.
    """
    fault = FAULTS[name]
    with StandIn() as api, pytest.MonkeyPatch.context() as mp:
        for k, v in api.env(KEY).items():
            mp.setenv(k, v)
        ws = workspace(tmp_path_factory.mktemp("rnd"))
        files = [f"f{i}.txt" for i in range(steps)]
        plan_ok(
            ws,
            api,
            [
                step(
                    f"s{i}", checks=[contains(f, "ok")], files=[f], deps=[f"s{i - 1}"] if i else []
                )
                for i, f in enumerate(files)
            ],
        )
        calls = [r for f in files for r in (write_reply(f, "ok\n"), report_reply())]
        at = at % len(calls)
        api.enqueue(*calls[:at], *fault.replies(calls[at]))
        mine = (ws / "mine.txt").read_bytes()
        res = cli(ws, "run", "--all", "--yes", *MODELS)
        expect(res, fault, ws)
        rec = PlanStore(ws).load()
        assert [s.status for s in rec.plan.steps][: at // 2] == ["passed"] * (at // 2)
        assert (ws / "mine.txt").read_bytes() == mine
        no_leak(ws, res)

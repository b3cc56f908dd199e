"""Cancel at every phase — planning, the executor's model call, a command, the checks,
an approval wait — and a client that disconnects mid-step. Each ends fast, in a
clear state, and resumable; nothing is left running."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

from lsp_harness import (
    Session,
    fixture_script,
    make_workspace,
    open_session,
    options,
    processes_running,
    read_json,
    step_of,
)
from lsprotocol import types

from planloop.state.store import PlanStore
from standin import Reply, StandIn, tool_use_message

FAST_S = 6.0  # a cancelled 30 s phase must end well within this


async def _run_and_cancel(
    s: Session, command: str, args: dict[str, Any], ready: Any, *, via: str = "command"
) -> tuple[Any, float]:
    """Start ``command``, wait for ``ready()``, cancel: (result or error, seconds to end).

    ``via``: ``command`` (planloop.cancel), ``progress`` (the progress bar's cancel,
    window/workDoneProgress/cancel) or ``request`` ($/cancelRequest of the command)."""
    msg_id = f"run-{uuid.uuid4()}"
    params = {"command": command, "arguments": [args]}
    task = asyncio.create_task(s.raw("workspace/executeCommand", params, msg_id=msg_id))
    await s.wait_for(ready, what="the phase to be cancelled")
    t0 = time.monotonic()
    if via == "progress":
        token = list(s.client.progress_reports)[-1]
        s.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    elif via == "request":
        s.client.cancel_request(types.CancelParams(id=msg_id))
    else:
        assert await s.cmd("planloop.cancel") == {"cancelled": True}
    try:
        result: Any = await task
    except Exception as e:  # createPlan reports a cancelled planning as an error
        result = e
    return result, time.monotonic() - t0


async def test_cancel_mid_command_kills_process_group_and_step_resumes(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("slow_command.json", tmp_path)
    opts = options(script, commandPolicy={"allow": ["sleep *"]})
    async with open_session(ws, opts) as s:
        await s.cmd("planloop.createPlan", {"goal": "Produce done.txt"})
        task = asyncio.create_task(s.cmd("planloop.runAll"))
        await s.wait_for(lambda: processes_running("sleep 29.731"), what="the sleep command")
        assert (ws / "partial.txt").exists()
        # the step's progress says what runs while it runs (the line comes when it ended)
        await s.wait_for(
            lambda: any(
                getattr(x, "message", None) == "running sleep 29.731"
                for r in s.client.progress_reports.values()
                for x in r
            ),
            what="the step's progress to name the running command",
        )

        # while the step runs the server keeps serving, and refuses a second run
        during = await s.cmd("planloop.getPlan")
        assert during["state"] == "running"
        assert step_of(during, "slow-step")["status"] == "running"
        busy = await s.error("planloop.runStep", {})
        assert busy.data == {"kind": "busy"}
        assert "already in progress" in busy.message and "planloop.cancel" in busy.message

        t0 = time.monotonic()
        assert await s.cmd("planloop.cancel") == {"cancelled": True}
        run = await task
        assert time.monotonic() - t0 < FAST_S
        assert run["state"] == "cancelled"
        assert "slow-step" in run["reason"] and "rolled back" in run["reason"]
        step = step_of(run["plan"], "slow-step")
        assert step["status"] == "pending" and step["attempts"] == 0
        assert not (ws / "partial.txt").exists()  # the attempt's edits were rolled back
        assert processes_running("sleep 29.731") == []
        assert [e["status"] for e in s.events("finished")] == ["pending"]
        assert all(r[-1].kind == "end" for r in s.client.progress_reports.values())

        # resumable: the next run picks the step up again and finishes it
        again = await s.cmd("planloop.runAll")
        assert again["state"] == "done"
        assert (ws / "done.txt").read_text() == "done\n"
        assert await s.cmd("planloop.cancel") == {"cancelled": False}


async def test_cancel_during_checks_through_the_progress_cancel_button(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("slow_check.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        await s.cmd("planloop.createPlan", {"goal": "Produce x.txt"})
        run, took = await _run_and_cancel(
            s, "planloop.runStep", {}, lambda: processes_running("sleep 28.917"), via="progress"
        )
        assert took < FAST_S
        assert run["state"] == "cancelled"
        assert step_of(run["plan"], "checked-step")["status"] == "pending"
        assert not (ws / "x.txt").exists()
        assert processes_running("sleep 28.917") == []


async def test_cancel_during_planning_model_call(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    with StandIn() as api:
        api.enqueue(Reply(body=tool_use_message("list_files", {"path": "."}), delay_s=30))
        opts = options(planner="anthropic:claude-standin-1", executor="anthropic:claude-standin-1")
        async with open_session(ws, opts, env=api.env()) as s:
            err, took = await _run_and_cancel(
                s, "planloop.createPlan", {"goal": "anything"}, lambda: api.requests
            )
            assert took < FAST_S
            assert "planning cancelled; no plan was written" in str(err)
            assert await s.cmd("planloop.getPlan") is None
            _assert_no_secret(s, api.env()["ANTHROPIC_API_KEY"])


async def test_cancel_during_executor_model_call(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("plan_only.json", tmp_path)
    with StandIn() as api:
        slow = tool_use_message("write_file", {"path": "alpha.txt", "content": "alpha\n"})
        api.enqueue(Reply(body=slow, delay_s=30))
        opts = options(planner=f"scripted:{script}", executor="anthropic:claude-standin-1")
        async with open_session(ws, opts, env=api.env()) as s:
            await s.cmd("planloop.createPlan", {"goal": "Write alpha"})
            err, took = await _run_and_cancel(
                s, "planloop.runStep", {}, lambda: api.requests, via="request"
            )
            assert getattr(err, "code", None) == -32800  # the request answers "cancelled"
            assert took < FAST_S
            # the run itself stops too: the folder frees up and the step is resumable
            await s.wait_for(lambda: _not_running(ws), what="the run to stop")
            run = await s.cmd("planloop.getPlan")
            assert run["state"] == "cancelled"
            assert step_of(run, "write-alpha")["status"] == "pending"
            assert not (ws / "alpha.txt").exists()
            assert await s.cmd("planloop.cancel") == {"cancelled": False}
            _assert_no_secret(s, api.env()["ANTHROPIC_API_KEY"])


async def test_cancel_while_waiting_for_an_approval(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("replan.json", tmp_path)
    never = asyncio.Event()

    async def no_answer(_params: dict[str, Any]) -> Any:
        await never.wait()

    opts = options(script, approvalTimeoutS=120)
    async with open_session(ws, opts, custom_approvals=True, answer=no_answer) as s:
        await s.cmd("planloop.createPlan", {"goal": "Make c.txt say good"})
        run, took = await _run_and_cancel(s, "planloop.runAll", {}, lambda: s.approvals)
        never.set()
        assert took < FAST_S
        assert run["state"] == "awaiting_approval"
        assert run["plan"]["pending"]["version"] == 2
        decided = await s.cmd("planloop.decideRevision", {"version": 2, "approve": True})
        assert decided["plan"]["version"] == 2


async def test_client_disconnect_mid_step_leaves_valid_resumable_plan(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("slow_command.json", tmp_path)
    opts = options(script, commandPolicy={"allow": ["sleep *"]})
    async with open_session(ws, opts) as s:
        created = await s.cmd("planloop.createPlan", {"goal": "Produce done.txt"})
        task = asyncio.create_task(s.cmd("planloop.runAll"))
        await s.wait_for(lambda: processes_running("sleep 29.731"), what="the sleep command")
        server = s.client._server
        assert server is not None and server.stdin is not None
        t0 = time.monotonic()
        server.stdin.close()  # the editor went away without shutdown/exit
        code = await asyncio.wait_for(server.wait(), 20)
        assert time.monotonic() - t0 < FAST_S + 4
        assert code == 1  # exit without shutdown, per the LSP spec
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

    assert processes_running("sleep 29.731") == []
    plan_id = created["plan"]["plan_id"]
    run_json = ws / ".planloop" / "plans" / plan_id / "run.json"
    assert read_json(run_json)["plan"]["plan_id"] == plan_id  # valid JSON
    rec = PlanStore(ws).load()  # and a valid, loadable record
    assert rec.state == "cancelled"
    assert rec.plan.step("slow-step").status == "pending"
    assert not (ws / "partial.txt").exists()

    # a new session resumes it
    async with open_session(ws, opts) as s2:
        run = await s2.cmd("planloop.runAll")
        assert run["state"] == "done"
        assert (ws / "done.txt").exists()


def _not_running(ws: Path) -> bool:
    rec = PlanStore(ws).load()
    return rec.state != "running"


def _assert_no_secret(s: Session, key: str) -> None:
    seen = [s.log_text(), repr(s.plan_changed), repr(s.step_events), repr(s.client.messages)]
    assert all(key not in text for text in seen)

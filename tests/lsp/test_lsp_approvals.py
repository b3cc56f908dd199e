"""Approvals in any client: the custom request for rich clients, showMessageRequest for
the rest, and a client that never answers (the run waits, resumable)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from lsp_harness import (
    fixture_script,
    log_events,
    make_workspace,
    open_session,
    options,
    step_of,
)
from lsprotocol import types

GOAL = "Make c.txt say good"


def _assert_replanned_and_done(run: dict[str, Any], ws: Path, decided_by: str) -> None:
    assert run["state"] == "done", run["reason"]
    plan = run["plan"]["plan"]
    assert plan["version"] == 2
    assert [s["id"] for s in plan["steps"]] == ["write-c-again"]
    assert plan["revision"]["trigger"] == "repeated_failure"
    assert plan["revision"]["decided"] == "approved"
    assert plan["revision"]["decided_by"] == decided_by
    assert plan["revision"]["decided_at"]
    assert (ws / "c.txt").read_text() == "good\n"
    approvals = [e for e in log_events(ws, plan["plan_id"]) if e["type"] == "approval"]
    assert len(approvals) == 1
    assert approvals[0]["approve"] is True and approvals[0]["by"] == decided_by
    assert approvals[0]["at"]  # when: every logged event is timestamped


async def test_replan_approved_through_request_approval(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("replan.json", tmp_path)
    async with open_session(ws, options(script), custom_approvals=True) as s:
        await s.cmd("planloop.createPlan", {"goal": GOAL})
        run = await s.cmd("planloop.runAll")
        _assert_replanned_and_done(run, ws, "tester via pytest-lsp-client")
        assert s.message_requests == []
        (req,) = s.approvals
        assert req["kind"] == "revision"
        assert req["version"] == 2
        assert req["planId"] == run["plan"]["plan"]["plan_id"]
        assert req["stepId"] == "write-c"
        assert "write-c wrote the wrong word twice" in req["reason"]
        assert any("c.txt says good" in e for e in req["evidence"]), req["evidence"]
        assert (
            "`write-c`" in req["currentMarkdown"] and "write-c-again" not in req["currentMarkdown"]
        )
        assert "`write-c-again`" in req["proposedMarkdown"]
        # the failed attempts are visible: started three times, two failures, one pass
        finished = [(e["stepId"], e["status"]) for e in s.events("finished")]
        assert finished == [
            ("write-c", "failed"),
            ("write-c", "failed"),
            ("write-c-again", "passed"),
        ]
        assert any(p["state"] == "awaiting_approval" for p in s.plan_changed)


async def test_replan_approved_through_show_message_request_fallback(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("replan.json", tmp_path)
    async with open_session(ws, options(script)) as s:  # no experimental.planloopApprovals
        await s.cmd("planloop.createPlan", {"goal": GOAL})
        run = await s.cmd("planloop.runAll")
        _assert_replanned_and_done(run, ws, "pytest-lsp-client")
        assert s.approvals == []
        (msg,) = s.message_requests
        assert [a.title for a in msg.actions or []] == ["Approve", "Reject"]
        assert msg.type == types.MessageType.Warning
        assert "approve re-plan v2?" in msg.message
        assert "write-c wrote the wrong word twice" in msg.message


async def test_replan_rejected_through_show_message_request_stops_run(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("replan.json", tmp_path)
    reject = lambda _p: types.MessageActionItem(title="Reject")  # noqa: E731
    async with open_session(ws, options(script), message_answer=reject) as s:
        await s.cmd("planloop.createPlan", {"goal": GOAL})
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "stopped"
        assert "re-plan v2 rejected by pytest-lsp-client" in run["reason"]
        assert run["plan"]["plan"]["version"] == 1
        assert step_of(run["plan"], "write-c")["status"] == "failed"


async def test_approval_never_answered_times_out_then_resumes_via_decide_revision(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("replan.json", tmp_path)
    answered_late = asyncio.Event()

    async def too_late(_params: dict[str, Any]) -> Any:
        await asyncio.sleep(1.5)  # the server gave up after 0.5 s
        answered_late.set()
        return {"approve": True, "by": "late"}

    opts = options(script, approvalTimeoutS=0.5)
    async with open_session(ws, opts, custom_approvals=True, answer=too_late) as s:
        await s.cmd("planloop.createPlan", {"goal": GOAL})
        t0 = time.monotonic()
        run = await s.cmd("planloop.runAll")
        assert time.monotonic() - t0 < 10
        assert run["state"] == "awaiting_approval"
        pending = run["plan"]["pending"]
        assert pending["kind"] == "revision" and pending["version"] == 2
        assert "`write-c-again`" in pending["proposedMarkdown"]

        # the late answer is not applied behind the user's back; the server says so
        await asyncio.wait_for(answered_late.wait(), 10)
        await s.wait_for(
            lambda: "arrived after planloop stopped waiting" in s.log_text(), what="late-answer log"
        )
        still = await s.cmd("planloop.getPlan")
        assert still["state"] == "awaiting_approval" and still["plan"]["version"] == 1

        decided = await s.cmd("planloop.decideRevision", {"version": 2, "approve": True})
        assert decided["plan"]["version"] == 2
        assert decided["plan"]["revision"]["decided_by"] == "pytest-lsp-client"
        assert decided["pending"] is None
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done"
        assert (ws / "c.txt").read_text() == "good\n"


async def test_replan_command_plan_review_and_pause_approval(tmp_path: Path) -> None:
    """A plan awaiting review is approved by the user pressing Run on it (recorded as an
    approval by the client); a pause step asks through requestApproval; approvePause
    resumes a pause."""
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("plan_only.json", tmp_path)
    answers: list[Any] = [None]  # the pause: no answer

    def answer(_params: dict[str, Any]) -> Any:
        return answers.pop(0)

    opts = options(script, reviewPlanFirst=True)
    async with open_session(ws, opts, custom_approvals=True, answer=answer) as s:
        created = await s.cmd("planloop.createPlan", {"goal": "Write alpha"})
        assert created["state"] == "awaiting_approval"
        assert created["pending"]["kind"] == "plan"

        run = await s.cmd("planloop.runStep")
        assert s.approvals == []  # pressing Run on the shown plan was the review
        assert run["stepId"] == "write-alpha"
        assert step_of(run["plan"], "write-alpha")["status"] == "passed"
        log = (ws / ".planloop" / "plans" / created["plan"]["plan_id"] / "log.jsonl").read_text()
        assert '"kind": "plan", "approve": true' in log

        run = await s.cmd("planloop.runStep")
        assert s.approvals[0]["kind"] == "pause"
        assert s.approvals[0]["stepId"] == "ask-human"
        assert run["state"] == "awaiting_approval"
        assert run["plan"]["pending"]["kind"] == "pause"

        e = await s.error("planloop.approvePause", {"stepId": "write-alpha"})
        assert "is not the one paused" in e.message
        done = await s.cmd("planloop.approvePause", {"stepId": "ask-human"})
        assert step_of(done, "ask-human")["status"] == "passed"
        assert done["pending"] is None


async def test_replan_command_returns_proposal_and_pending_decision(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("replan.json", tmp_path)
    async with open_session(
        ws, options(script), custom_approvals=True, answer=lambda _p: None
    ) as s:
        await s.cmd("planloop.createPlan", {"goal": GOAL})
        out = await s.cmd("planloop.replan", {"reason": "I want another approach"})
        assert out["decision"] == "pending"
        assert out["proposal"]["plan"]["version"] == 2
        assert [st["id"] for st in out["proposal"]["plan"]["steps"]] == ["write-c-again"]
        assert out["plan"]["plan"]["version"] == 1
        assert out["plan"]["pending"]["version"] == 2
        assert s.approvals[0]["kind"] == "revision"

        rejected = await s.cmd("planloop.decideRevision", {"version": 2, "approve": False})
        assert rejected["state"] == "stopped"
        assert rejected["plan"]["version"] == 1
        assert rejected["pending"] is None


async def test_an_mcp_call_off_the_allow_list_asks_the_editor_as_a_command_does(
    tmp_path: Path, http_server: str
) -> None:
    """A gated MCP call goes through planloop/requestApproval like a command (kind
    ``command``, the call as its text); the approved call reaches the server, and the
    step's record and the log say so. The client hands the server over."""
    import json

    from helpers import report, script, submit, tool

    ws = make_workspace(tmp_path / "proj")
    step = {
        "id": "close",
        "title": "Close order 23",
        "kind": "command",
        "instructions": "close order 23",
        "tools": ["mcp__db__set_status"],
        "acceptance": [],
    }
    path = script(
        tmp_path,
        planner=[submit("close order 23", [step])],
        executor=[
            [tool("mcp__db__set_status", order_id=23, status="closed")],
            {"content": report(True, "closed"), "expect": "updated order 23"},
        ],
    )
    servers = [{"name": "db", "type": "http", "url": http_server, "headers": []}]
    async with open_session(ws, options(path, mcpServers=servers), custom_approvals=True) as s:
        await s.cmd("planloop.createPlan", {"goal": "close order 23"})
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]
        (req,) = s.approvals
        assert req["kind"] == "command"
        assert req["command"].startswith("mcp__db__set_status ")
        assert json.loads(req["command"].split(" ", 1)[1]) == {"order_id": 23, "status": "closed"}
        assert "not on the allow list" in req["reason"]
        calls = step_of(run["plan"], "close")["result"]["mcp_calls"]
        assert [(c["tool"], c["is_error"]) for c in calls] == [("mcp__db__set_status", False)]
        logged = log_events(ws, run["plan"]["plan"]["plan_id"])
        assert [e["approve"] for e in logged if e["type"] == "approval" and e.get("command")] == [
            True
        ]

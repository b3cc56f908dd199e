"""The whole flow through the SDK's own client: prompt → plan entries → approve → steps
with edit diffs → a failing check → re-plan approved → every entry completed →
``end_turn``; then /diff, /revert, a cancel mid-step, a rejection at review and the
planner's clarifying questions."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from acp.schema import AvailableCommandsUpdate, CurrentModeUpdate, FileEditToolCallContent
from acp_harness import fixture, processes_running, prompt, wait_for, workspace

from planloop.acp_agent.tool_calls import ToolCalls
from planloop.events import ExecutorToolCall, ToolStarted

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def new(conn: Any, ws: Path) -> str:
    return str((await conn.new_session(cwd=str(ws), mcp_servers=[])).session_id)


async def test_plan_approve_fail_replan_approve_done_then_diff_and_revert(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    ws = workspace(tmp_path / "proj", fixture("replan.json"))
    sid = await new(conn, ws)
    await wait_for(lambda: client.of(sid, AvailableCommandsUpdate), "the slash commands")
    names = [c.name for c in client.of(sid, AvailableCommandsUpdate)[0].available_commands]
    assert names == ["status", "diff", "revert", "replan", "mode", "clean"]

    assert await prompt(conn, sid, "Make c.txt say good") == "end_turn"

    plans = client.plans(sid)
    assert plans[0] == [("write-c: Write c.txt", "pending")]
    assert ("write-c: Write c.txt", "in_progress") in [p[0] for p in plans]
    assert plans[-1] == [("write-c-again: Write c.txt again", "completed")]
    text = client.text(sid)
    assert "# Make c.txt say good" in text or "Make c.txt say good" in text
    asked = client.asked(sid)
    assert [a.title for a in asked] == ["Approve the plan and run it?", "Approve re-plan v2?"]
    replan = asked[1].content
    said = replan[0].content.text
    assert "write-c wrote the wrong word twice" in said and "Evidence:" in said
    assert "What changes:" in said and "+" in said
    assert isinstance(replan[1], FileEditToolCallContent)
    assert "plan v2 is now the plan: write-c-again" in text
    assert "write-c-again" in replan[1].new_text and "write-c-again" not in replan[1].old_text

    calls = client.tool_calls(sid)
    edits = [c for c in calls if c.kind == "edit"]
    assert [e.content[0].new_text for e in edits] == ["bad\n", "still bad\n", "good\n"]
    assert all(e.locations[0].path == str(ws / "c.txt") for e in edits)
    # each edit showed running first, then ended: one id, two notifications
    for e in edits:
        assert [st for i, st in client.statuses(sid) if i == e.tool_call_id] == [
            "in_progress",
            "completed",
        ]
    checks = [c for c in calls if c.title.startswith("check:")]
    assert [c.status for c in checks] == ["failed", "failed", "completed"]
    assert all(c.kind == "read" for c in checks)
    assert "step `write-c-again` passed · changed `c.txt`" in text
    assert (ws / "c.txt").read_text() == "good\n"

    assert await prompt(conn, sid, "/diff write-c-again") == "end_turn"
    diffs = [c for c in client.tool_calls(sid) if c.title == "diff of step write-c-again"]
    assert diffs and diffs[0].content[0].new_text == "good\n"
    assert "+good" in client.text(sid)

    assert await prompt(conn, sid, "/revert write-c-again") == "end_turn"
    assert "restored c.txt" in client.text(sid)
    # back to what the step found: write-c's last (failed) attempt
    assert (ws / "c.txt").read_text() == "still bad\n"
    assert client.plans(sid)[-1] == [("write-c-again: Write c.txt again [reverted]", "pending")]

    assert await prompt(conn, sid, "/status") == "end_turn"
    assert "mode review" in client.text(sid)


async def test_cancel_mid_step_answers_cancelled_and_keeps_the_change(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    ws = workspace(tmp_path / "proj", fixture("slow_command.json"), allow=["sleep *"])
    sid = await new(conn, ws)
    client.answer = lambda call, options: "approve"
    turn = asyncio.create_task(prompt(conn, sid, "Produce done.txt"))
    await wait_for(lambda: processes_running("sleep 29.731"), "the sleep command")
    # a second prompt while one runs is refused, and the first goes on
    with pytest.raises(Exception) as busy:
        await prompt(conn, sid, "another goal")
    assert "already running" in str(busy.value)
    t0 = time.monotonic()
    await conn.cancel(session_id=sid)
    assert await asyncio.wait_for(turn, 10) == "cancelled"
    assert time.monotonic() - t0 < 6  # at once: the command's process group is killed
    assert processes_running("sleep 29.731") == []
    # the command showed running while it ran, and ended failed: no spinner left behind
    sleep = next(c for c in client.tool_calls(sid) if c.kind == "execute")
    assert sleep.title.startswith('run_command "sleep 29.731') and sleep.status == "failed"
    order = [st for i, st in client.statuses(sid) if i == sleep.tool_call_id]
    assert order == ["in_progress", "failed"]
    assert "cancelled" in sleep.content[-1].content.text
    assert all(c.status in ("completed", "failed") for c in client.tool_calls(sid))
    assert "cancelled" in client.text(sid)
    assert not (ws / "partial.txt").exists()  # rolled back, as every front end does
    assert await prompt(conn, sid, "/diff slow-step") == "end_turn"
    assert "+partial" in client.text(sid)  # …and still visible
    assert await prompt(conn, sid, "continue") == "end_turn"
    assert (ws / "done.txt").read_text() == "done\n"
    assert client.plans(sid)[-1] == [("slow-step: Slow step", "completed")]


def _tool(name: str, **inp: Any) -> list[dict[str, Any]]:
    return [{"type": "tool_use", "name": name, "input": inp}]


def _one_step_plan(goal: str) -> list[dict[str, Any]]:
    step = {
        "id": "write-a",
        "title": "Write a.txt",
        "kind": "edit",
        "instructions": "write a.txt",
        "files": ["a.txt"],
        "expected_output": "",
        "acceptance": [{"kind": "file_exists", "path": "a.txt"}],
        "depends_on": [],
    }
    return _tool("submit_plan", goal=goal, steps=[step])


def question_script(options: list[str]) -> dict[str, Any]:
    return {
        "planner": [
            _tool("ask_user", question="Round half up or half to even?", options=options),
            _one_step_plan("Write a.txt"),
        ],
        "executor": [
            _tool("write_file", path="a.txt", content="a\n"),
            _tool("report_outcome", ok=True, summary="ok"),
        ],
    }


async def test_a_question_with_options_is_a_permission_and_a_rejected_plan_runs_nothing(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    ws = workspace(tmp_path / "proj", question_script(["half up", "half to even"]))
    sid = await new(conn, ws)
    client.answer = lambda call, options: (
        options[1].option_id if call.title.startswith("The planner asks") else "reject"
    )
    assert await prompt(conn, sid, "Write a.txt") == "end_turn"
    asked = client.asked(sid)
    assert asked[0].title == "The planner asks: Round half up or half to even?"
    assert asked[1].title == "Approve the plan and run it?"
    text = client.text(sid)
    assert "half to even" in text  # the answer is in the plan document
    assert "rejected" in text
    assert not (ws / "a.txt").exists()
    assert client.plans(sid)[-1] == [("write-a: Write a.txt", "pending")]


async def test_a_free_text_question_is_answered_by_the_next_prompt_in_auto_mode(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    ws = workspace(tmp_path / "proj", question_script([]))
    sid = await new(conn, ws)
    assert await prompt(conn, sid, "Write a.txt") == "end_turn"
    assert "**The planner asks:** Round half up or half to even?" in client.text(sid)
    assert client.asked(sid) == []
    await conn.set_session_mode(session_id=sid, mode_id="auto")
    assert [u.current_mode_id for u in client.of(sid, CurrentModeUpdate)] == ["auto"]
    assert await prompt(conn, sid, "half up, always") == "end_turn"
    assert client.asked(sid) == []  # auto: the plan was approved without asking
    assert "approved (auto mode)" in client.text(sid)
    assert (ws / "a.txt").read_text() == "a\n"
    assert client.plans(sid)[-1] == [("write-a: Write a.txt", "completed")]


async def test_reads_searches_commands_and_a_pause_map_to_their_kinds_and_permissions(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    look = {
        "id": "look",
        "title": "Look, then make made.txt",
        "kind": "edit",
        "instructions": "read notes.txt, then touch made.txt",
        "files": ["notes.txt", "made.txt"],
        "expected_output": "",
        "acceptance": [{"kind": "file_exists", "path": "made.txt"}],
        "depends_on": [],
    }
    wait = {
        "id": "wait",
        "title": "Check with me",
        "kind": "pause",
        "instructions": "look at made.txt",
        "files": [],
        "expected_output": "",
        "acceptance": [],
        "depends_on": ["look"],
    }
    script = {
        "planner": [_tool("submit_plan", goal="Make made.txt", steps=[look, wait])],
        "executor": [
            _tool("read_file", path="notes.txt"),
            _tool("search", pattern="hello"),
            _tool("run_command", command="touch made.txt"),
            _tool("report_outcome", ok=True, summary="made"),
        ],
    }
    ws = workspace(tmp_path / "proj", script)
    sid = await new(conn, ws)
    client.answer = lambda call, options: "approve"
    assert await prompt(conn, sid, "Make made.txt") == "end_turn"
    titles = [a.title for a in client.asked(sid)]
    assert titles == [
        "Approve the plan and run it?",
        "Run this command (not on the allow list)?",
        "Pause step wait: go on?",
    ]
    command = client.asked(sid)[1]
    assert command.kind == "execute" and "`touch made.txt`" in command.content[0].content.text
    kinds = {c.title.split(" ")[0]: c.kind for c in client.tool_calls(sid)}
    assert kinds["read_file"] == "read" and kinds["search"] == "search"
    assert kinds["run_command"] == "execute"
    run = next(c for c in client.tool_calls(sid) if c.kind == "execute")
    order = [st for i, st in client.statuses(sid) if i == run.tool_call_id]
    assert order == ["in_progress", "completed"]  # shown running before it ended
    assert run.title == 'run_command "touch made.txt" → exit 0'
    assert run.content[0].content.text.startswith("exit 0")
    assert run.raw_input == {"tool": "run_command", "path": None, "command": "touch made.txt"}
    read = next(c for c in client.tool_calls(sid) if c.title.startswith("read_file"))
    assert read.locations[0].path == str(ws / "notes.txt") and read.locations[0].line == 1
    assert (ws / "made.txt").exists()
    assert client.plans(sid)[-1] == [
        ("look: Look, then make made.txt", "completed"),
        ("wait: Check with me", "completed"),
    ]


async def test_slash_commands_replan_mode_clean_and_their_bad_arguments(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    script = question_script([])
    v2 = _one_step_plan("Write a.txt")
    v2[0]["input"]["revision_reason"] = "the user asked for another look"
    v2[0]["input"]["steps"][0]["id"] = "write-a-again"
    script["planner"] = [script["planner"][1], v2]
    ws = workspace(tmp_path / "proj", script)
    sid = await new(conn, ws)
    client.answer = lambda call, options: "approve"
    assert await prompt(conn, sid, "Write a.txt") == "end_turn"
    assert await prompt(conn, sid, "/replan take another look") == "end_turn"
    assert client.asked(sid)[-1].title == "Approve re-plan v2?"
    assert "the user asked for another look" in client.asked(sid)[-1].content[0].content.text
    assert client.plans(sid)[-1] == [  # the passed step stays; v2's new one waits
        ("write-a: Write a.txt", "completed"),
        ("write-a-again: Write a.txt", "pending"),
    ]

    assert await prompt(conn, sid, "/mode joint") == "end_turn"
    assert "new plans run joint" in client.text(sid)
    assert await prompt(conn, sid, "/mode sideways") == "end_turn"
    assert "/mode takes one of split, joint, auto, not 'sideways'" in client.text(sid)
    assert await prompt(conn, sid, "/diff") == "end_turn"
    assert "/diff needs STEP: /diff STEP" in client.text(sid)
    assert await prompt(conn, sid, "/nope") == "end_turn"
    assert "unknown command /nope" in client.text(sid)
    assert await prompt(conn, sid, "/diff no-such-step") == "end_turn"
    assert "error:" in client.text(sid) and "no-such-step" in client.text(sid)
    assert await prompt(conn, sid, "/clean") == "end_turn"
    assert "bytes of checkpoints" in client.text(sid)


async def test_at_review_reject_with_feedback_and_a_new_goal_said_so(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    script = {
        "planner": [_one_step_plan("Write a.txt"), _one_step_plan("Write b.txt instead")],
        "executor": [],
    }
    ws = workspace(tmp_path / "proj", script)
    sid = await new(conn, ws)
    client.answer = lambda call, options: None  # the review waits for a prompt
    assert await prompt(conn, sid, "Write a.txt") == "cancelled"
    assert await prompt(conn, sid, "something else: write b.txt instead") == "cancelled"
    assert "waited for your review; it is set aside" in client.text(sid)
    assert "**Goal:** something else: write b.txt instead" in client.text(sid)
    assert await prompt(conn, sid, "reject: too small") == "end_turn"
    assert "rejected" in client.text(sid)
    assert not (ws / "a.txt").exists()


async def test_the_clients_mcp_servers_are_the_sessions_tools_and_a_gated_call_asks(
    agent: Any, tmp_path: Path, http_server: str
) -> None:
    """session/new's ``mcpServers`` (here the SDK-built MCP server over streamable HTTP):
    the executor's call, not on the allow list, is a ``session/request_permission``."""
    from acp.schema import HttpMcpServer

    conn, client, _ = agent
    client.answer = lambda call, options: "approve"  # an earlier test may have changed it
    step = {
        "id": "look",
        "title": "Look up order 7",
        "kind": "command",
        "instructions": "look it up",
        "tools": ["mcp__db__lookup"],
        "acceptance": [{"kind": "file_exists", "path": "notes.txt"}],
    }
    script = {
        "planner": [_tool("submit_plan", goal="Look up order 7", steps=[step])],
        "executor": [
            _tool("mcp__db__lookup", order_id=7),
            {"content": _tool("report_outcome", ok=True, summary="ok"), "expect": "order 7"},
        ],
    }
    ws = workspace(tmp_path / "p", script)
    db = HttpMcpServer(name="db", url=http_server, headers=[], type="http")
    sid = str((await conn.new_session(cwd=str(ws), mcp_servers=[db])).session_id)
    assert await prompt(conn, sid, "Look up order 7") == "end_turn"
    asked = [a.raw_input for a in client.asked(sid) if a.raw_input]
    assert any("mcp__db__lookup" in str(r.get("command", "")) for r in asked), asked
    assert "step `look` passed" in client.text(sid)


async def test_a_tool_call_still_open_when_the_turn_ends_is_closed_failed(tmp_path: Path) -> None:
    """The safety net behind the cancel above: a start the core never finished (the
    worker stopped between them) is closed by the turn, in the agent's process."""
    tools = ToolCalls(tmp_path, lambda step_id: [])
    [start] = tools.updates(
        ToolStarted(role="executor", step_id="s", call_id="c1", tool="edit_file", path="a.txt")
    )
    assert (start.status, start.kind, start.title) == ("in_progress", "edit", "edit_file a.txt")
    assert start.locations[0].path == str(tmp_path / "a.txt")
    [end] = tools.close_open("cancelled")
    assert (end.tool_call_id, end.status) == (start.tool_call_id, "failed")
    assert end.content[0].content.text == "cancelled"
    assert tools.close_open("again") == []
    # a finished call with no start (a terminal tool) is one tool_call, already ended
    [done] = tools.updates(
        ExecutorToolCall(step_id="s", line="report_outcome", call_id="c1", tool="report_outcome")
    )
    assert done.session_update == "tool_call" and done.status == "completed"
    assert done.tool_call_id != start.tool_call_id and done.kind == "think"

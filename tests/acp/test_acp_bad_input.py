"""Each bad input of issue 22: a JSON-RPC error or a message, the agent still serving,
nothing lost. The module's agent was initialized by a client that advertised neither
``fs`` nor ``terminal`` (conftest), so every test here is also that case."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from acp.schema import (
    ClientCapabilities,
    FileEditToolCallContent,
    Implementation,
    McpServerStdio,
)
from acp_harness import (
    Recorder,
    agent_env,
    fixture,
    processes_running,
    prompt,
    spawn_agent_process,
    wait_for,
    workspace,
)
from test_acp_flow import new, question_script

from acp import RequestError
from planloop.state.store import PlanStore

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_prompt_with_no_session_is_an_error(agent: Any) -> None:
    conn, _, _ = agent  # the module's agent: no session opened yet
    with pytest.raises(RequestError) as e:
        await prompt(conn, "no-such-session", "hello")
    assert e.value.code == -32602
    assert "no session was opened yet (session/new first)" in str(e.value)


async def test_an_unknown_session_id_is_an_error_and_the_agent_serves_on(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    ws = workspace(tmp_path / "p", question_script([]))
    fs = McpServerStdio(name="fs", command="npx", args=["-y", "server-filesystem"], env=[])
    sid = (await conn.new_session(cwd=str(ws), mcp_servers=[fs])).session_id
    with pytest.raises(RequestError) as e:
        await prompt(conn, "f00", "hello")
    assert "unknown session 'f00'" in str(e.value)
    assert await prompt(conn, sid, "/status") == "end_turn"
    assert "no plan" in client.text(sid).lower()
    # the session keeps the client's MCP servers, typed, for the MCP front
    assert "MCP servers from the client: fs (stdio)" in client.text(sid)


async def test_a_client_without_fs_or_terminal_gets_the_whole_agent(
    agent: Any, tmp_path: Path
) -> None:
    conn, _client, _ = agent
    ws = workspace(tmp_path / "p", question_script([]))
    sid = await new(conn, ws)
    await conn.set_session_mode(session_id=sid, mode_id="auto")
    assert await prompt(conn, sid, "Write a.txt") == "end_turn"
    assert await prompt(conn, sid, "half up") == "end_turn"
    # the agent wrote through the core, never through the client (which has no fs/*)
    assert (ws / "a.txt").read_text() == "a\n"


async def test_a_permission_answered_cancelled_keeps_the_question(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    ws = workspace(tmp_path / "p", question_script(["half up", "half to even"]))
    sid = await new(conn, ws)
    client.answer = lambda call, options: None  # every question: "cancelled"
    assert await prompt(conn, sid, "Write a.txt") == "cancelled"
    text = client.text(sid)
    assert "Your next prompt is the answer (an option's number or text" in text
    client.answer = lambda call, options: None
    assert await prompt(conn, sid, "half to even") == "cancelled"  # the plan's review now
    assert "waiting for you (plan)" in client.text(sid)
    assert await prompt(conn, sid, "approve") == "end_turn"
    assert (ws / "a.txt").read_text() == "a\n"


@pytest.mark.parametrize("case", ["missing", "file", "relative"])
async def test_a_cwd_that_is_not_a_directory_is_an_error(
    agent: Any, tmp_path: Path, case: str
) -> None:
    conn, _, _ = agent
    (tmp_path / "file").write_text("x")
    cwd = {"missing": str(tmp_path / "nope"), "file": str(tmp_path / "file"), "relative": "rel"}
    with pytest.raises(RequestError) as e:
        await conn.new_session(cwd=cwd[case], mcp_servers=[])
    assert e.value.code == -32602
    said = {"missing": "does not exist", "file": "is not a directory", "relative": "absolute"}
    assert said[case] in str(e.value)


async def test_a_cwd_that_is_not_writable_is_an_error(agent: Any, tmp_path: Path) -> None:
    conn, _, _ = agent
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    import os

    if os.access(ro, os.W_OK):  # root ignores the mode; /proc/sys is read-only for all
        ro = Path("/proc/sys")
        if os.access(ro, os.W_OK):
            pytest.skip("no read-only directory here")
    with pytest.raises(RequestError) as e:
        await conn.new_session(cwd=str(ro), mcp_servers=[])
    assert "is not writable" in str(e.value)


async def test_a_cwd_that_is_not_a_git_repository_works_and_says_so(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    ws = workspace(tmp_path / "plain", question_script([]), git=False)
    sid = await new(conn, ws)
    await wait_for(lambda: "is not a git repository" in client.text(sid), "the note")
    assert "planloop works all the same" in client.text(sid)


async def test_a_megabyte_prompt_is_refused_and_nothing_is_done(agent: Any, tmp_path: Path) -> None:
    conn, _client, _ = agent
    ws = workspace(tmp_path / "p", question_script([]))
    sid = await new(conn, ws)
    with pytest.raises(RequestError) as e:
        await prompt(conn, sid, "x" * (1 << 20))
    assert "1,048,576 characters" in str(e.value) and "Nothing was done" in str(e.value)
    assert not (ws / ".planloop" / "question.json").exists()
    assert await prompt(conn, sid, "/status") == "end_turn"  # still serving


async def test_non_utf8_bytes_in_an_edited_file_are_shown_replaced_and_said(
    agent: Any, tmp_path: Path
) -> None:
    conn, client, _ = agent
    script = question_script([])
    script["planner"] = script["planner"][1:]  # no question
    ws = workspace(tmp_path / "p", script)
    (ws / "a.txt").write_bytes(b"caf\xe9 \xff\xfe\n")
    sid = await new(conn, ws)
    await conn.set_session_mode(session_id=sid, mode_id="auto")
    assert await prompt(conn, sid, "Write a.txt") == "end_turn"
    edit = next(c for c in client.tool_calls(sid) if c.kind == "edit")
    diff = edit.content[0]
    assert isinstance(diff, FileEditToolCallContent)
    assert diff.old_text == "caf\ufffd \ufffd\ufffd\n" and diff.new_text == "a\n"
    assert "was not UTF-8" in edit.content[1].content.text
    assert await prompt(conn, sid, "/diff write-a") == "end_turn"
    assert "+a" in client.text(sid)


async def test_a_client_gone_mid_step_leaves_it_interrupted_like_a_killed_run(
    tmp_path: Path,
) -> None:
    ws = workspace(tmp_path / "p", fixture("slow_command.json"), allow=["sleep *"])
    cmd = (sys.executable, "-m", "planloop.cli", "acp")
    client = Recorder()
    log = (tmp_path / "stderr.txt").open("w")
    async with spawn_agent_process(
        client, *cmd, env=agent_env(), transport_kwargs={"stderr": log}
    ) as (conn, proc):
        await conn.initialize(protocol_version=1, client_capabilities=ClientCapabilities())
        sid = await new(conn, ws)
        turn = asyncio.create_task(prompt(conn, sid, "Produce done.txt"))
        await wait_for(lambda: processes_running("sleep 29.731"), "the sleep command")
        assert proc.stdin is not None
        t0 = time.monotonic()
        proc.stdin.close()  # the editor went away
        assert await asyncio.wait_for(proc.wait(), 10) == 1
        assert time.monotonic() - t0 < 8
        turn.cancel()
    assert processes_running("sleep 29.731") == []
    assert "the step is left interrupted" in (tmp_path / "stderr.txt").read_text()
    rec = PlanStore(ws).load()
    assert rec.state == "running" and rec.plan.step("slow-step").status == "running"
    assert (ws / "partial.txt").read_text() == "partial\n"  # visible, not rolled back

    # a new agent: the session resumes the folder's plan; diff shows it, the run resumes
    client = Recorder()
    async with spawn_agent_process(client, *cmd, env=agent_env()) as (conn, proc):
        await conn.initialize(
            protocol_version=1,
            client_capabilities=ClientCapabilities(),
            client_info=Implementation(name="again", version="1"),
        )
        await conn.load_session(cwd=str(ws), session_id="resumed", mcp_servers=[])
        assert "resumed plan v1" in client.text("resumed")
        assert await prompt(conn, "resumed", "/diff slow-step") == "end_turn"
        assert "+partial" in client.text("resumed")
        assert await prompt(conn, "resumed", "continue") == "end_turn"
        assert (ws / "done.txt").read_text() == "done\n"
        assert client.plans("resumed")[-1] == [("slow-step: Slow step", "completed")]

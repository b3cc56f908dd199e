"""MCP tools through a whole plan and run, with scripted planner and executor and real
servers: the published filesystem server over stdio (a project's .mcp.json, consent
asked once) and the SDK-built server over streamable HTTP (the client hands it over)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import dict_sink, report, script, submit, tool
from mcp_fixtures import filesystem_server, stdio_spec
from planloop.approvals import ApprovalRequest, Approver, Decision, NoApprover
from planloop.cancel import CancelToken
from planloop.config import load_config
from planloop.mcp_tools.consent import CONSENT_FILE
from planloop.mcp_tools.sources import ServerSpec
from planloop.wiring import build_orchestrator


class Desk:
    """A person at the approval desk: answers each command question with ``answer``."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.asked: list[ApprovalRequest] = []

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        if req.kind != "command":
            return Decision(True, "tester")
        self.asked.append(req)
        return None if self.answer is None else Decision(self.answer, "tester", "not today")


def orchestrator(ws: Path, path: Path, desk: Approver, events: list[dict[str, Any]], **kw: Any):
    spec = f"scripted:{path}"
    config = load_config(
        ws, {"planner": spec, "executor": spec, "mcp": {"startTimeoutS": 20, "callTimeoutS": 20}}
    )
    return build_orchestrator(ws, config=config, approver=desk, sink=dict_sink(events.append), **kw)


def test_filesystem_server_from_mcp_json_planner_reads_executor_writes_check_reads(
    tmp_path: Path,
) -> None:
    found = filesystem_server()
    if found is None:
        pytest.skip("@modelcontextprotocol/server-filesystem not provisioned (provision-e2e.sh)")
    node, server = found
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "order.txt").write_text("order 7: status=broken\n")
    (ws / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"fs": {"command": node, "args": [server, "${WS_DATA:-data}"]}}})
    )
    # the user's own gates for the project's server: believe its readOnlyHint annotations
    (ws / "planloop.toml").write_text("[mcp.servers.fs]\ntrust = true\n")
    from helpers import trust

    trust(ws)
    check = {
        "kind": "mcp",
        "tool": "mcp__fs__read_text_file",
        "arguments": {"path": "order.txt"},
        "pattern": "status=fixed",
    }
    fix = {
        "id": "fix",
        "title": "Fix the order",
        "kind": "edit",
        "instructions": "set the status",
        "tools": ["mcp__fs__write_file"],
        "acceptance": [check],
    }
    path = script(
        tmp_path,
        planner=[
            [tool("mcp__fs__read_text_file", path="order.txt")],
            {"content": submit("fix the order", [fix]), "expect": "status=broken"},
        ],
        executor=[
            [tool("mcp__fs__write_file", path="order.txt", content="order 7: status=fixed\n")],
            {"content": report(True, "fixed"), "expect": "Successfully wrote"},
        ],
    )
    desk = Desk(True)
    events: list[dict[str, Any]] = []
    orch = orchestrator(ws, path, desk, events)
    plan = orch.create_plan("fix the order")
    assert plan.steps[0].tools == ["mcp__fs__write_file"]
    # consent for the project's .mcp.json was asked once, and remembered
    assert [r.command for r in desk.asked if "MCP servers" in (r.command or "")]
    assert json.loads((ws / ".planloop" / CONSENT_FILE).read_text())["allow"] is True
    asked_before = len(desk.asked)
    result = orch.run(all_steps=True)
    assert result.state == "done", result.reason
    # the write was gated (not on allow): asked and approved; consent was not asked again
    gated = desk.asked[asked_before:]
    assert [r.command.split(" ")[0] for r in gated] == ["mcp__fs__write_file"]  # type: ignore[union-attr]
    assert (ws / "data" / "order.txt").read_text() == "order 7: status=fixed\n"
    step = orch.store.load().plan.step("fix")
    assert step.result is not None
    assert [c.tool for c in step.result.mcp_calls] == ["mcp__fs__write_file"]
    assert step.result.checks[0].passed, step.result.checks[0].observation
    calls = [(e["role"], e["tool"]) for e in events if e["type"] == "mcp_call"]
    assert calls == [
        ("planner", "mcp__fs__read_text_file"),
        ("executor", "mcp__fs__write_file"),
        ("check", "mcp__fs__read_text_file"),
    ]
    logged = [e["type"] for e in orch.store.events(plan.plan_id)]
    assert "mcp_call" in logged and "mcp_started" in logged
    started = [e for e in events if e["type"] == "mcp_started"]
    assert started and started[0]["server"] == "fs" and started[0]["tools"] > 5


def test_http_server_handed_over_by_the_client_a_denied_call_is_not_made(
    tmp_path: Path, http_server: str
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    step = {
        "id": "close",
        "title": "Close order 8",
        "kind": "edit",
        "instructions": "set order 8's status, then note it",
        "tools": ["mcp__db__set_status"],
        "acceptance": [{"kind": "file_exists", "path": "note.txt"}],
    }
    path = script(
        tmp_path,
        planner=[
            [tool("mcp__db__lookup", order_id=8)],
            {"content": submit("close order 8", [step]), "expect": "order 8: not found"},
        ],
        executor=[
            [tool("mcp__db__set_status", order_id=8, status="closed")],
            {
                "content": [tool("write_file", path="note.txt", content="not closed\n")],
                "expect": "the user did not allow this call",
            },
            report(True, "noted"),
        ],
    )
    desk = Desk(False)
    events: list[dict[str, Any]] = []
    client = [
        ServerSpec("db", "http", url=http_server, source="client", trust=True),
        # a server that cannot start: a warning naming it, and the run is unharmed
        ServerSpec("gone", "stdio", command=str(tmp_path / "no-such-mcp-server"), source="client"),
    ]
    orch = orchestrator(ws, path, desk, events, mcp_servers=client)
    orch.create_plan("close order 8")
    assert desk.asked == []  # a client's server needs no consent; lookup is read-only
    gone = [e for e in events if e["type"] == "mcp_warning" and e["server"] == "gone"]
    assert gone and "command not found" in gone[0]["message"]
    result = orch.run(all_steps=True)
    assert result.state == "done", result.reason
    assert [r.command.split(" ")[0] for r in desk.asked] == ["mcp__db__set_status"]  # type: ignore[union-attr]
    rec = orch.store.load().plan.step("close").result
    assert rec is not None and rec.mcp_calls[0].is_error
    assert "did not allow" in rec.mcp_calls[0].result
    approvals = [e for e in events if e["type"] == "approval" and e.get("command")]
    assert approvals and approvals[0]["approve"] is False
    # the server's row was not written: the call never reached it
    from planloop.config import McpSettings
    from planloop.mcp_tools.hub import McpHub

    hub = McpHub(client[:1], McpSettings())
    hub.open()
    try:
        assert "not found" in hub.call("mcp__db__lookup", {"order_id": 8}, None).text
    finally:
        hub.close()


def test_a_recorded_run_replays_its_mcp_calls_without_the_server(
    tmp_path: Path, http_server: str
) -> None:
    """``planloop eval --record`` / ``--replay`` at the port: the cassette holds the tools
    offered and each call's result, so the replay needs neither the models nor the server."""
    from planloop.eval.cassette import Cassette

    step = {
        "id": "look",
        "title": "Look up order 7",
        "kind": "command",
        "instructions": "look it up",
        "tools": ["mcp__db__lookup"],
        "acceptance": [{"kind": "mcp", "tool": "mcp__db__lookup", "arguments": {"order_id": 7}}],
    }
    path = script(
        tmp_path,
        planner=[submit("look up order 7", [step])],
        executor=[
            [tool("mcp__db__lookup", order_id=7)],
            {"content": report(True, "looked"), "expect": "order 7: status="},
        ],
    )
    client = [ServerSpec("db", "http", url=http_server, source="client", trust=True)]
    recorded = Cassette()

    def run(ws: Path, **kw: Any) -> list[dict[str, Any]]:
        ws.mkdir(parents=True)
        events: list[dict[str, Any]] = []
        orch = orchestrator(ws, path, Desk(True), events, **kw)
        orch.create_plan("look up order 7")
        assert orch.run(all_steps=True).state == "done"
        return events

    live = run(
        tmp_path / "rec" / "ws",
        mcp_servers=client,
        wrap_model=lambda m, role: recorded.recorder(m, role, tmp_path / "rec" / "ws"),
        wrap_mcp=recorded.mcp_recorder,
    )
    saved = tmp_path / "cassette.json"
    recorded.save(saved)
    cassette = Cassette.load(saved)
    assert [i["op"] for i in cassette.interactions if i["role"] == "mcp"] == [
        "planner_specs",
        "executor_specs",
        "call",
        "call",
    ]
    replayed = run(
        tmp_path / "rep" / "ws",
        model_for=lambda role: cassette.player(role, tmp_path / "rep" / "ws", saved),
        wrap_mcp=lambda _none: cassette.mcp_player(saved),
    )
    assert not [e for e in replayed if e["type"] == "mcp_started"]  # no server this time
    results = [(e["role"], e["result"]) for e in live if e["type"] == "mcp_call"]
    assert results and results == [
        (e["role"], e["result"]) for e in replayed if e["type"] == "mcp_call"
    ]


def test_a_plan_rejected_with_feedback_is_planned_again_with_the_servers(
    tmp_path: Path, http_server: str
) -> None:
    """``planloop reject`` with feedback (a decision, not a plan or a run) sends the
    planner back to work: it has the servers a plan has, and they stop with it."""
    ws = tmp_path / "ws"
    ws.mkdir()
    first = {"id": "guess", "title": "Guess", "kind": "command", "instructions": "guess"}
    looked = {"id": "fix", "title": "Fix order 7", "kind": "command", "instructions": "fix"}
    path = script(
        tmp_path,
        planner=[
            submit("fix order 7", [first]),
            [tool("mcp__db__lookup", order_id=7)],
            {"content": submit("fix order 7", [looked]), "expect": "order 7: status=broken"},
        ],
        executor=[],
    )
    events: list[dict[str, Any]] = []
    client = [ServerSpec("db", "http", url=http_server, source="client", trust=True)]
    orch = orchestrator(ws, path, NoApprover(), events, mcp_servers=client)  # nobody there
    orch.create_plan("fix order 7")
    assert orch.run(all_steps=True).state == "awaiting_approval"  # the plan's review
    before = len(events)
    res = orch.decide_pending(False, by="tester", feedback="look the order up first")
    assert res.state == "awaiting_approval", res.reason
    pending = orch.store.load().pending
    assert pending is not None and pending.kind == "revision" and pending.proposal is not None
    assert [s.id for s in pending.proposal.steps] == ["fix"]
    calls = [
        (e["role"], e["tool"], e["is_error"]) for e in events[before:] if e["type"] == "mcp_call"
    ]
    assert calls == [("planner", "mcp__db__lookup", False)]
    assert [e["server"] for e in events[before:] if e["type"] == "mcp_started"] == ["db"]
    assert orch.mcp is not None and not orch.mcp._opened  # type: ignore[attr-defined]  # stopped


def test_a_server_that_dies_during_a_step_is_told_in_that_steps_events(tmp_path: Path) -> None:
    """The servers' thread keeps its warnings for the run's thread (the log is written
    there); a step's end tells them, so the death is not left for a later step to say."""
    ws = tmp_path / "ws"
    ws.mkdir()
    step = {
        "id": "poke",
        "title": "Poke the server",
        "kind": "command",
        "instructions": "call crash",
        "tools": ["mcp__db__crash"],
        "acceptance": [],
    }
    path = script(
        tmp_path,
        planner=[submit("poke", [step])],
        executor=[
            [tool("mcp__db__crash")],
            {"content": report(True, "poked"), "expect": "(server db)"},
        ],
    )
    events: list[dict[str, Any]] = []
    orchestrator(ws, path, Desk(True), []).create_plan("poke")  # no server: a second less
    client = [stdio_spec("db", allow=("crash",), source="client")]
    orch = orchestrator(ws, path, Desk(True), events, mcp_servers=client)
    assert orch.run(all_steps=True).state == "done"
    kinds = [(e["type"], e.get("server")) for e in events]
    warned = kinds.index(("mcp_warning", "db"))
    assert kinds.index(("step_started", None)) < warned < kinds.index(("step_finished", None))
    assert "stopped during the run" in events[warned]["message"]

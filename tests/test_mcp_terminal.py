"""A project's .mcp.json asks a person at a real terminal (a pty) before its server
starts, once per workspace: the answer is remembered, sealed with the user's key."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from helpers import dict_sink, script, submit, tool, trust
from mcp_fixtures import SERVER
from planloop.approvals import AutoApprover
from planloop.config import load_config
from planloop.wiring import build_orchestrator
from test_terminal_approval import Terminal


def test_terminal_user_consents_to_a_projects_mcp_json_once_and_the_planner_uses_it(
    tmp_path: Path, http_server: str
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    # the session's HTTP server: a URL in a project's file needs consent as a command does
    (ws / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"db": {"type": "http", "url": http_server}}})
    )
    (ws / "planloop.toml").write_text('[mcp]\nplanner_tools = ["mcp__db__lookup"]\n')
    trust(ws)
    step = {"id": "look", "title": "Look", "kind": "command", "instructions": "look"}
    path = script(
        tmp_path,
        planner=[
            [tool("mcp__db__lookup", order_id=7)],
            {"content": submit("fix order 7", [step]), "expect": "order 7: status=broken"},
        ],
        executor=[],
    )
    spec = f"scripted:{path}"
    argv = [sys.executable, "-m", "planloop.cli", "plan", "--workspace", str(ws)]
    term = Terminal([*argv, "--planner", spec, "--executor", spec, "fix order 7"], ws)
    term.expect("Approve?")
    assert "start the MCP servers this workspace's config defines" in term.seen
    assert f"db: {http_server}" in term.seen  # the person sees what would start
    term.type("y")
    assert term.finish() == 0, term.seen
    assert "MCP server db: 8 tools" in term.seen
    assert "planner · mcp__db__lookup" in term.seen and " v1" in term.seen
    consent = json.loads((ws / ".planloop" / "mcp-consent.json").read_text())
    assert consent["allow"] is True
    # the planner's call reached the server (its scripted turn expected the row)
    (log,) = (ws / ".planloop").glob("**/log.jsonl")
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    calls = [e for e in logged if e.get("type") == "mcp_call"]
    assert [c["tool"] for c in calls] == ["mcp__db__lookup"] and not calls[0]["is_error"]


def test_yes_is_nobody_to_ask_so_a_projects_servers_wait_and_no_refusal_is_remembered(
    tmp_path: Path,
) -> None:
    """``--yes`` refuses a command nobody approved, but a consent it cannot give is not a
    "no" to remember: the next run at a terminal must still ask."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"db": {"command": sys.executable, "args": [str(SERVER)]}}})
    )
    step = {"id": "look", "title": "Look", "kind": "command", "instructions": "look"}
    path = script(tmp_path, planner=[submit("fix order 7", [step])], executor=[])
    config = load_config(ws, {"planner": f"scripted:{path}", "executor": f"scripted:{path}"})
    events: list[dict[str, Any]] = []
    orch = build_orchestrator(
        ws, config=config, approver=AutoApprover(by="--yes"), sink=dict_sink(events.append)
    )
    orch.create_plan("fix order 7")
    warned = [e["message"] for e in events if e["type"] == "mcp_warning"]
    assert len(warned) == 1 and "db: not started" in warned[0] and "needs your consent" in warned[0]
    assert not [e for e in events if e["type"] == "mcp_started"]
    assert not (ws / ".planloop" / "mcp-consent.json").exists()

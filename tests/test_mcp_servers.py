"""The MCP client against real servers: what a tool may answer, and every way a server
can fail — each a warning or an error result naming the server, never a crash."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mcp_fixtures import stdio_spec
from planloop.config import McpSettings
from planloop.events import Event, McpServerStarted, McpWarning
from planloop.mcp_tools.hub import McpHub
from planloop.mcp_tools.sources import ServerSpec
from planloop.roles.tools import ToolBox
from planloop.workspace.files import Workspace


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[McpHub, list[Event]]]:
    """The SDK-built server over stdio, shared by the module."""
    events: list[Event] = []
    specs = [stdio_spec("db", trust=True, start_timeout_s=30, call_timeout_s=20)]
    h = McpHub(
        specs,  # type: ignore[arg-type]
        McpSettings(max_output_chars=5000),
        emit=events.append,
        log_dir=tmp_path_factory.mktemp("mcp-logs"),
    )
    h.open()
    yield h, events
    h.close()


def test_a_server_starts_and_its_tools_are_offered_by_role(hub: tuple[McpHub, list[Event]]) -> None:
    h, events = hub
    started = [e for e in events if isinstance(e, McpServerStarted)]
    assert [(e.server, e.tools) for e in started] == [("db", 8)]
    planner = {t.name for t in h.planner_specs()}
    # trusted: readOnlyHint tools, never the writing ones
    assert "mcp__db__lookup" in planner and "mcp__db__set_status" not in planner
    assert "mcp__db__crash" not in planner
    step = h.executor_specs(["mcp__db__set_status"])
    assert [t.name for t in step] == ["mcp__db__set_status"]
    assert step[0].input_schema["properties"].keys() == {"order_id", "status"}
    assert len(h.executor_specs([])) == 8
    assert [t.name for t in h.executor_specs(["mcp__db__l*"])] == ["mcp__db__lookup"]


def test_a_result_is_fenced_as_untrusted_data(hub: tuple[McpHub, list[Event]]) -> None:
    h, _ = hub
    r = h.call("mcp__db__lookup", {"order_id": 7}, None)
    assert not r.is_error
    assert r.text.startswith("[untrusted output of MCP tool mcp__db__lookup (server db)")
    assert "order 7: status=broken" in r.text and r.text.endswith("[end of MCP output]")


@contextmanager
def call_timeout(h: McpHub, seconds: float) -> Iterator[None]:
    conn = h.connections["db"]
    before = conn.spec
    conn.spec = replace(before, call_timeout_s=seconds)
    try:
        yield
    finally:
        conn.spec = before


def test_ten_megabytes_are_capped_head_and_tail(hub: tuple[McpHub, list[Event]]) -> None:
    r = hub[0].call("mcp__db__big", {}, None)
    assert not r.is_error
    assert len(r.text) < 5300
    assert "characters cut" in r.text and "(10,000,000 chars)" in r.line


def test_binary_content_is_named_not_inlined(hub: tuple[McpHub, list[Event]]) -> None:
    r = hub[0].call("mcp__db__picture", {}, None)
    assert "[image image/png, 1,032 bytes: not shown]" in r.text
    assert "iVBOR" not in r.text  # no base64


def test_a_tool_error_is_an_error_result_naming_the_server(
    hub: tuple[McpHub, list[Event]],
) -> None:
    r = hub[0].call("mcp__db__broken", {}, None)
    assert r.is_error
    assert "error from MCP tool mcp__db__broken (server db)" in r.text
    assert "the database is on fire" in r.text


def test_a_call_never_answered_times_out(hub: tuple[McpHub, list[Event]]) -> None:
    t0 = time.monotonic()
    with call_timeout(hub[0], 0.4):
        r = hub[0].call("mcp__db__silent", {}, None)
    assert time.monotonic() - t0 < 1.5
    assert r.is_error and "(server db)" in r.text
    assert "timed out" in r.text or "no answer within" in r.text
    # the server still answers the next call
    assert "status=broken" in hub[0].call("mcp__db__lookup", {"order_id": 7}, None).text


def test_an_illegal_tool_name_is_mapped_and_mapped_back(hub: tuple[McpHub, list[Event]]) -> None:
    h, _ = hub
    assert "mcp__db__docs_search_v2_beta" in {t.name for t in h.planner_specs()}
    assert h.table.resolve("mcp__db__docs_search_v2_beta") == ("db", "docs.search/v2 beta")
    r = h.call("mcp__db__docs_search_v2_beta", {"query": "refunds"}, None)
    assert "found refunds" in r.text


def test_the_planner_cannot_call_a_writing_tool(
    hub: tuple[McpHub, list[Event]], tmp_path: Path
) -> None:
    h, _ = hub
    offered = [t.name for t in h.planner_specs()]
    box = ToolBox(Workspace(tmp_path), writable=False, mcp=h, mcp_offered=offered)
    out = box.call("mcp__db__set_status", {"order_id": 7, "status": "x"})
    assert out.is_error and "not available here" in out.content
    assert "status=broken" in h.call("mcp__db__lookup", {"order_id": 7}, None).text


def test_a_server_that_dies_mid_run_is_a_warning_and_its_tools_go(
    hub: tuple[McpHub, list[Event]],
) -> None:
    """Last in this module: the shared server is gone after it."""
    h, events = hub
    r = h.call("mcp__db__crash", {}, None)
    assert r.is_error and "(server db)" in r.text
    deadline = time.monotonic() + 5
    while h.connections["db"].alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert h.executor_specs([]) == []
    warnings = [e for e in events if isinstance(e, McpWarning)]
    assert [w.server for w in warnings] == ["db"]
    assert "stopped during the run" in warnings[0].message
    later = h.call("mcp__db__lookup", {"order_id": 7}, None)
    assert later.is_error and "MCP server db is not available" in later.text


# --- servers that do not start -----------------------------------------------------------


def _script(tmp: Path, name: str, body: str) -> str:
    path = tmp / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_every_broken_server_is_a_warning_naming_it_and_the_good_one_runs(
    tmp_path: Path, refusing_http: str, http_server: str
) -> None:
    quick: dict[str, Any] = {"start_timeout_s": 0.6}
    specs = [
        ServerSpec("missing", "stdio", command=str(tmp_path / "no-such-server")),
        ServerSpec(
            "quits", "stdio", command=_script(tmp_path, "q", "echo 'no database' >&2\nexit 3\n")
        ),
        ServerSpec(
            "noisy",
            "stdio",
            command=_script(tmp_path, "n", "echo 'hello, I am not JSON'\nexec sleep 30\n"),
            **quick,
        ),
        ServerSpec("hangs", "stdio", command=_script(tmp_path, "h", "exec sleep 30\n"), **quick),
        ServerSpec("locked", "http", url=f"{refusing_http}/401/mcp", **quick),
        ServerSpec("failing", "http", url=f"{refusing_http}/500/mcp", **quick),
        ServerSpec("good", "http", url=http_server),
    ]
    events: list[Event] = []
    h = McpHub(
        specs, McpSettings(stop_timeout_s=0.2), emit=events.append, log_dir=tmp_path / "logs"
    )
    t0 = time.monotonic()
    h.open()
    try:
        took = time.monotonic() - t0
        warned: dict[str, list[str]] = {}
        for e in events:
            if isinstance(e, McpWarning):
                warned.setdefault(e.server, []).append(e.message)
        assert set(warned) == {"missing", "quits", "noisy", "hangs", "locked", "failing"}
        assert "command not found" in warned["missing"][0]
        assert "no database" in warned["quits"][0]  # its stderr, named
        assert any("not JSON-RPC" in m for m in warned["noisy"])
        assert "did not answer initialize within 0.6 s" in warned["hangs"][0]
        assert "HTTP 401 Unauthorized (the server wants credentials" in warned["locked"][0]
        assert "HTTP 500 Internal Server Error" in warned["failing"][0]
        assert all(any("the run goes on" in x for x in m) for m in warned.values())
        assert took < 5, f"the hangs cost {took:.1f} s"
        assert [s.name for s in h.statuses() if s.started] == ["good"]
        assert "mcp__good__lookup" in {t.name for t in h.executor_specs([])}
    finally:
        h.close()


def test_two_servers_whose_names_clash_are_both_kept_and_named(http_server: str) -> None:
    specs = [
        ServerSpec("db.x", "http", url=http_server, trust=True),
        ServerSpec("db_x", "http", url=http_server, trust=True),
    ]
    events: list[Event] = []
    h = McpHub(specs, McpSettings(), emit=events.append)
    h.open()
    try:
        clash = [e for e in events if isinstance(e, McpWarning) and e.server == "(names)"]
        assert clash and "'db.x'" in clash[0].message and "'db_x'" in clash[0].message
        assert h.table.resolve("mcp__db_x__lookup") == ("db.x", "lookup")
        assert h.table.resolve("mcp__db_x__lookup_2") == ("db_x", "lookup")
        assert "order 7" in h.call("mcp__db_x__lookup_2", {"order_id": 7}, None).text
    finally:
        h.close()

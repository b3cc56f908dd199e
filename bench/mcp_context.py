"""How much of a step's request do the user's MCP tools take, all of them against one?

Five real MCP servers (this file with ``--serve``, the SDK's server API over stdio), 20
tools each with realistic schemas, started through planloop's MCP client as a run starts
them. Measured in one run: the executor's tool list as the request carries it (name,
description, input schema; JSON bytes) with only the built-in tools (the baseline), with
all 100 MCP tools (a step that names none), and with the one tool a step names in its
``tools:`` line. Goal: a step that names one tool adds at most 2 KB to its request.

Prints ``all_tools_bytes=… step_tools_bytes=… baseline_bytes=… step_added_bytes=…
all_vs_step_ratio=…``.

    .venv/bin/python bench/mcp_context.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

SERVERS = 5
TOOLS = 20
GOAL_ADDED_BYTES = 2048

#: the kinds of tool a team's servers have: a database, a tracker, docs, a browser, CI
KINDS = ["db", "tracker", "docs", "browser", "ci"]


def serve(kind: str) -> None:
    """One server with TOOLS tools, each with three or four typed parameters."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(f"bench-{kind}")
    for i in range(TOOLS):

        def tool(
            resource_id: str,
            query: str = "",
            limit: int = 20,
            include_archived: bool = False,
        ) -> str:
            return f"{resource_id} {query} {limit} {include_archived}"

        server.add_tool(
            tool,
            name=f"{kind}_action_{i:02d}",
            description=(
                f"{kind} operation {i}: look up or change {kind} records by id, filtered by "
                "a free-text query; returns at most `limit` rows as JSON."
            ),
        )
    server.run("stdio")


def tool_bytes(specs: list[object]) -> int:
    """The tool list as a request carries it (what the model API bills as input)."""
    return len(
        json.dumps(
            [
                {"name": s.name, "description": s.description, "input_schema": s.input_schema}  # type: ignore[attr-defined]
                for s in specs
            ],
            separators=(",", ":"),
        ).encode()
    )


def main() -> int:
    from planloop.config import McpSettings
    from planloop.mcp_tools.hub import McpHub
    from planloop.mcp_tools.sources import ServerSpec
    from planloop.roles.tools import EXECUTOR_TOOLS

    specs = [
        ServerSpec(kind, "stdio", command=sys.executable, args=(__file__, "--serve", kind))
        for kind in KINDS[:SERVERS]
    ]
    hub = McpHub(specs, McpSettings(start_timeout_s=60))
    t0 = time.monotonic()
    hub.open()
    started = time.monotonic() - t0
    try:
        every = hub.executor_specs([])
        named = hub.executor_specs([f"mcp__{KINDS[2]}__{KINDS[2]}_action_07"])
    finally:
        hub.close()
    if len(every) != SERVERS * TOOLS or len(named) != 1:
        print(f"expected {SERVERS * TOOLS} tools and 1 named, got {len(every)} and {len(named)}")
        return 1
    base = tool_bytes(list(EXECUTOR_TOOLS))
    all_bytes = tool_bytes([*EXECUTOR_TOOLS, *every])
    step_bytes = tool_bytes([*EXECUTOR_TOOLS, *named])
    added = step_bytes - base
    print(f"servers={SERVERS} tools={SERVERS * TOOLS} start_s={started:.2f}")
    print(
        f"all_tools_bytes={all_bytes} step_tools_bytes={step_bytes} baseline_bytes={base} "
        f"step_added_bytes={added} all_vs_step_ratio={all_bytes / step_bytes:.1f}"
    )
    ok = added <= GOAL_ADDED_BYTES
    print(
        f"goal: a step naming one tool adds <= {GOAL_ADDED_BYTES} bytes: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        sys.exit(main())

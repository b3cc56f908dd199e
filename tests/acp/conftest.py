"""One ``planloop acp`` child for the whole module: starting it is the costly part."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from acp.schema import ClientCapabilities, FileSystemCapabilities, Implementation
from acp_harness import Recorder, agent_env, spawn_agent_process


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def agent() -> AsyncIterator[tuple[Any, Recorder, Any]]:
    client = Recorder()
    async with spawn_agent_process(
        client, sys.executable, "-m", "planloop.cli", "acp", env=agent_env()
    ) as (conn, proc):
        await conn.initialize(
            protocol_version=1,
            client_capabilities=ClientCapabilities(  # neither fs nor terminal: never needed
                fs=FileSystemCapabilities(read_text_file=False, write_text_file=False),
                terminal=False,
            ),
            client_info=Implementation(name="pytest", version="1"),
        )
        yield conn, client, proc

"""``planloop acp``: serve one ACP client on stdin/stdout until it goes away.

The settings flags (``--planner``, ``--executor``, ``--mode``, ``--sandbox…``) are the
overrides every session's settings start from, as for ``serve``.

A client that disconnects while a step runs ends the process as a kill would: the
step's record stays ``running`` with its write-ahead list of touched files, its
commands' process groups are killed, and nothing is rolled back. That is the state
every front end already knows (``status`` says interrupted, ``diff`` shows the half-done
change, ``revert`` undoes it, the next run recovers and resumes); a clean cancel would
instead race the process's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

from acp import run_agent
from planloop.acp_agent.agent import PlanloopAgent


def main(overrides: dict[str, Any]) -> int:
    if stat.S_ISREG(os.fstat(0).st_mode):
        sys.stderr.write(
            "planloop acp: stdin is a file; the agent talks ACP with an editor over a pipe "
            "(docs/editors/acp.md shows how an editor starts it)\n"
        )
        return 2
    asyncio.run(_serve(PlanloopAgent(overrides)))
    return 0


async def _serve(agent: PlanloopAgent) -> None:
    try:
        # the SDK types its agent as its Protocol class; PlanloopAgent has the methods it uses
        await run_agent(agent)  # type: ignore[arg-type]
    finally:
        # still on the loop: asyncio.run would otherwise wait for the worker thread
        if agent.working():
            sys.stderr.write(
                "planloop acp: the client went away mid-run; the step is left "
                "interrupted (the next run resumes it)\n"
            )
            sys.stderr.flush()
            _kill_children()
            os._exit(1)


def _kill_children() -> None:
    """Every command runs in a process group of its own (``start_new_session``): kill
    each child's group, so nothing the run started outlives it."""
    for children in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for pid in children.read_text().split():
                with contextlib.suppress(OSError):
                    os.killpg(int(pid), signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)

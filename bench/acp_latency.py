"""ACP agent latency: how long an editor's agent panel waits for planloop.

Measures, in one run, with the ACP SDK's own client (``spawn_agent_process``):
- spawn → ``initialize`` result, for ``python -m planloop.cli acp`` and for the SDK's
  bare example agent (``examples/echo_agent.py`` of agentclientprotocol/python-sdk,
  inlined below: the floor is the interpreter and the SDK alone), runs interleaved so
  machine load hits both alike; the ratio is planloop's own start-up cost;
- the planner's answer → the first ``plan`` update received by the client, with the
  scripted planner on a fresh git folder. The scripted model records its position in
  ``.planloop/scripted-state.json`` as it hands out a reply, so that file's mtime is
  when the answer arrived; the client stamps the update's arrival on the same clock.
  (File times come from the kernel's coarse clock, a few ms behind: if anything the
  figure is too high.) ``session/prompt`` sent → that update is printed too.

Prints, last: ``initialize_ms=<planloop median> bare_initialize_ms=<bare median>
init_ratio=<planloop/bare> first_plan_update_ms=<median>``. Goals: ratio ≤ 1.3, first
plan update ≤ 50 ms after the planner's answer. Other processes' load moves both
initialize figures a lot on a shared machine; the runs are interleaved for that.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from acp.schema import AgentPlanUpdate, AllowedOutcome, RequestPermissionResponse

from acp import spawn_agent_process, text_block

ROOT = Path(__file__).resolve().parents[1]

# the SDK's examples/echo_agent.py, trimmed to what initialize needs
BARE_AGENT = textwrap.dedent(
    """
    import asyncio
    from typing import Any
    from uuid import uuid4
    from acp import Agent, InitializeResponse, NewSessionResponse, PromptResponse, run_agent


    class EchoAgent(Agent):
        def on_connect(self, conn: Any) -> None:
            self._conn = conn

        async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
            return InitializeResponse(protocol_version=protocol_version)

        async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
            return NewSessionResponse(session_id=uuid4().hex)

        async def prompt(self, prompt: Any, session_id: str, **kwargs: Any) -> PromptResponse:
            return PromptResponse(stop_reason="end_turn")


    asyncio.run(run_agent(EchoAgent()))
    """
)


class Client:
    def __init__(self) -> None:
        self.first_plan: float | None = None
        self.first_plan_ns: int | None = None

    async def request_permission(self, **kw: Any) -> RequestPermissionResponse:
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id="reject")
        )

    async def session_update(self, session_id: str, update: Any, **kw: Any) -> None:
        if isinstance(update, AgentPlanUpdate) and self.first_plan is None:
            self.first_plan = time.perf_counter()
            self.first_plan_ns = time.time_ns()

    def on_connect(self, conn: Any) -> None:
        pass


#: the agents' settings folder: empty, and removed when the bench ends
CONFIG_DIR = tempfile.mkdtemp(prefix="acp-bench-config-")
atexit.register(shutil.rmtree, CONFIG_DIR, True)


def env() -> dict[str, str]:
    return {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "server"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "XDG_CONFIG_HOME": CONFIG_DIR,
    }


async def initialize_ms(*cmd: str) -> float:
    t0 = time.perf_counter()
    async with spawn_agent_process(Client(), *cmd, env=env()) as (conn, _):
        await conn.initialize(protocol_version=1)
        took = (time.perf_counter() - t0) * 1000
    return took


def folder(tmp: Path, n: int) -> Path:
    ws = tmp / f"ws{n}"
    ws.mkdir()
    (ws / "notes.txt").write_text("hello\n")
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
    plan = [{"type": "tool_use", "name": "submit_plan", "input": {"goal": "a", "steps": [step]}}]
    (ws / "script.json").write_text(json.dumps({"planner": [plan], "executor": []}))
    spec = f"scripted:{ws / 'script.json'}"
    (ws / "planloop.toml").write_text(f'planner = "{spec}"\nexecutor = "{spec}"\n')
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    return ws


async def first_plan_ms(
    cmd: tuple[str, ...], tmp: Path, runs: int
) -> tuple[list[float], list[float]]:
    """(planner's answer → first plan update, prompt sent → first plan update) per run."""
    client = Client()
    after_answer, after_prompt = [], []
    async with spawn_agent_process(client, *cmd, env=env()) as (conn, _):
        await conn.initialize(protocol_version=1)
        for n in range(runs):
            ws = folder(tmp, n)
            sid = (await conn.new_session(cwd=str(ws), mcp_servers=[])).session_id
            client.first_plan = client.first_plan_ns = None
            t0 = time.perf_counter()
            await conn.prompt(session_id=sid, prompt=[text_block("Write a.txt")])
            assert client.first_plan is not None and client.first_plan_ns is not None
            answered = (ws / ".planloop" / "scripted-state.json").stat().st_mtime_ns
            after_answer.append((client.first_plan_ns - answered) / 1e6)
            after_prompt.append((client.first_plan - t0) * 1000)
    return after_answer, after_prompt


async def main(runs: int) -> None:
    planloop = (sys.executable, "-m", "planloop.cli", "acp")
    with tempfile.TemporaryDirectory() as tmp:
        bare_file = Path(tmp) / "echo_agent.py"
        bare_file.write_text(BARE_AGENT)
        bare = (sys.executable, str(bare_file))
        await initialize_ms(*planloop)  # warm the file cache for both
        await initialize_ms(*bare)
        ours, floor = [], []
        for _ in range(runs):  # interleaved: load hits both alike
            ours.append(await initialize_ms(*planloop))
            floor.append(await initialize_ms(*bare))
        plans, prompts = await first_plan_ms(planloop, Path(tmp), runs + 1)
    i, b = statistics.median(ours), statistics.median(floor)
    p = statistics.median(plans[1:])  # the first session pays the imports of the plan path
    print(
        f"initialize: planloop {[round(x) for x in ours]} ms, bare {[round(x) for x in floor]} ms"
    )
    print(f"planner's answer → first plan update: {[round(x, 1) for x in plans]} ms")
    print(f"prompt sent → first plan update: {[round(x, 1) for x in prompts]} ms")
    print("(the medians leave out the first session, which pays the core's imports)")
    print(
        f"initialize_ms={i:.0f} bare_initialize_ms={b:.0f} init_ratio={i / b:.2f} "
        f"first_plan_update_ms={p:.1f}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    asyncio.run(main(ap.parse_args().runs))

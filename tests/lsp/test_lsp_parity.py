"""The commands that bring the LSP level with the CLI: ``planloop.log`` (``planloop log
--json``), ``planloop.clean`` (``planloop clean [--keep-current] [--reset-shadow]``) and
``planloop.getPlan`` with a recorded ``version`` (``planloop show --version N``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lsp_harness import fixture_script, log_events, make_workspace, open_session, options

PLANLOOP_CLI = [sys.executable, "-c", "import sys; from planloop.cli import main; sys.exit(main())"]


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PLANLOOP_CLI, "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_log_clean_and_plan_versions_over_lsp(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    other = make_workspace(tmp_path / "other")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script), folders=[ws, other]) as s:
        created = await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        plan_id = created["plan"]["plan_id"]
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]

        # planloop.log: the event log, the same objects `planloop log --json` prints
        logged = await s.cmd("planloop.log")
        assert set(logged) == {"events"}
        events = logged["events"]
        assert events == log_events(ws, plan_id)
        assert events[0]["type"] == "plan_created"
        assert "step_finished" in [e["type"] for e in events]
        cli = _cli(ws, "log", "--json")
        assert cli.returncode == 0, cli.stderr
        assert [json.loads(line) for line in cli.stdout.splitlines()] == events
        assert (await s.cmd("planloop.log", {"planId": plan_id}))["events"] == events
        e = await s.error("planloop.log", {"planId": "pln_00000000"})
        assert e.data == {"kind": "invalid_request"} and "no plan 'pln_00000000'" in e.message
        e = await s.error("planloop.log", {"folder": str(other)})
        assert e.data == {"kind": "no_plan"}

        # getPlan version: a recorded version in the PlanPayload envelope
        v1 = await s.cmd("planloop.getPlan", {"version": 1})
        assert set(v1) == {
            "plan",
            "markdown",
            "state",
            "reason",
            "costUsd",
            "costKnown",
            "costText",
            "tokens",
            "progress",
            "pending",
            "interrupted",
        }
        assert v1["interrupted"] is False
        assert v1["plan"]["version"] == 1 and v1["plan"]["plan_id"] == plan_id
        assert [st["status"] for st in v1["plan"]["steps"]] == ["pending", "pending"]
        assert v1["state"] == "done" and v1["pending"] is None
        assert v1["progress"] == {"done": 0, "total": 2}
        assert "**Goal:** Write alpha and beta files" in v1["markdown"]
        assert (await s.cmd("planloop.getPlan", {"planId": plan_id, "version": 1})) == v1
        e = await s.error("planloop.getPlan", {"version": 7})
        assert e.data == {"kind": "invalid_request"} and "has no version 7" in e.message
        e = await s.error("planloop.getPlan", {"version": 1, "folder": str(other)})
        assert e.data == {"kind": "no_plan"}

        # planloop.clean: the current plan is done, so its checkpoints go too
        diff = await s.cmd("planloop.stepDiff", {"stepId": "write-beta"})
        assert diff["files"]
        kept = await s.cmd("planloop.clean", {"keepCurrent": True})
        assert set(kept) == {"freedBytes", "inUseBytes"}
        assert kept["inUseBytes"] > 0
        assert (await s.cmd("planloop.stepDiff", {"stepId": "write-beta"}))["files"]
        cleaned = await s.cmd("planloop.clean")
        assert cleaned["freedBytes"] >= 0 and cleaned["inUseBytes"] >= 0
        e = await s.error("planloop.stepDiff", {"stepId": "write-beta"})
        assert e.code != -32603, e.message  # the checkpoints are gone: a clear error

        # resetShadow moves the checkpoint repository aside; the next run starts fresh
        moved = await s.cmd("planloop.clean", {"resetShadow": True})
        assert set(moved) == {"movedTo"}
        assert moved["movedTo"] is not None and Path(moved["movedTo"]).is_dir()
        assert not (ws / ".planloop" / "shadow.git").exists()
        assert await s.cmd("planloop.clean", {"resetShadow": True}) == {"movedTo": None}
        again = await s.cmd("planloop.getPlan")
        assert again["state"] == "done"
        assert (ws / "alpha.txt").read_text() == "alpha\n"  # the user's files are untouched

        e = await s.error("planloop.clean", {"keepCurrent": 1})
        assert e.data == {"kind": "bad_arguments"} and "'keepCurrent'" in e.message

"""Joint and auto modes through the language server: the setting, the tree's one step, setMode."""

from __future__ import annotations

import json
from pathlib import Path

from lsp_harness import log_events, make_workspace, open_session, options

GOAL = "Write a.txt and b.txt"


def _tool(name: str, **inp: object) -> dict[str, object]:
    return {"type": "tool_use", "name": name, "input": inp}


def _script(tmp: Path) -> Path:
    steps = [
        {
            "id": sid,
            "title": f"Write {sid}.txt",
            "instructions": f"write {sid}.txt",
            "acceptance": [{"kind": "file_contains", "path": f"{sid}.txt", "pattern": sid}],
        }
        for sid in ("a", "b")
    ]
    p = tmp / "joint.json"
    p.write_text(
        json.dumps(
            {
                "planner": [[_tool("submit_plan", goal=GOAL, steps=steps)]],
                "executor": [
                    [_tool("write_file", path="a.txt", content="a\n")],
                    [_tool("write_file", path="b.txt", content="b\n")],
                    [_tool("report_outcome", ok=True, summary="both written")],
                ],
            }
        )
    )
    return p


async def test_auto_setting_reaches_the_server_and_the_tree_shows_one_joint_step(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    async with open_session(ws, options(_script(tmp_path), mode="auto")) as s:
        created = await s.cmd("planloop.createPlan", {"goal": GOAL})
        plan = created["plan"]
        assert [st["id"] for st in plan["steps"]] == ["joint"]
        assert plan["steps"][0]["title"] == f"joint: {GOAL}"
        assert plan["mode_choice"]["mode"] == "joint"
        assert "2 step(s)" in plan["mode_choice"]["reason"]
        assert "**Mode:** joint (asked: auto)" in created["markdown"]
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]
        assert (ws / "a.txt").read_text() == "a\n" and (ws / "b.txt").read_text() == "b\n"
        assert any(e["stepId"] == "joint" for e in s.events("finished"))
        diff = await s.cmd("planloop.stepDiff", {"stepId": "joint"})
        assert sorted(f["path"] for f in diff["files"]) == ["a.txt", "b.txt"]
        types = [e["type"] for e in log_events(ws, plan["plan_id"])]
        assert types.index("mode_chosen") < types.index("step_started")


async def test_set_mode_at_review_gives_the_split_plan_back(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    init = options(_script(tmp_path), mode="auto", reviewPlanFirst=True)
    async with open_session(ws, init) as s:
        await s.cmd("planloop.createPlan", {"goal": GOAL})
        switched = await s.cmd("planloop.setMode", {"mode": "split"})
        plan = switched["plan"]
        assert plan["version"] == 2 and [st["id"] for st in plan["steps"]] == ["a", "b"]
        assert plan["mode_choice"]["mode"] == "split"
        assert switched["pending"]["kind"] == "plan"  # still reviewed before it runs
        err = await s.error("planloop.setMode", {"mode": "sideways"})
        assert "mode" in str(err)

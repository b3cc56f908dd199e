"""The whole loop over LSP: plan, run all, notifications, progress, diff, file at a
checkpoint, revert — what any LSP client (not only VS Code) can do."""

from __future__ import annotations

from pathlib import Path

from lsp_harness import (
    fixture_script,
    make_workspace,
    open_session,
    options,
    read_json,
    step_of,
)


async def test_create_plan_run_all_diff_file_at_checkpoint_and_revert(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        assert await s.cmd("planloop.getPlan") is None

        created = await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        plan = created["plan"]
        assert plan["version"] == 1
        assert plan["plan_id"].startswith("pln_")
        assert [st["id"] for st in plan["steps"]] == ["write-alpha", "write-beta"]
        assert all(st["status"] == "pending" for st in plan["steps"])
        assert created["state"] == "idle"
        assert created["pending"] is None
        assert created["progress"] == {"done": 0, "total": 2}
        assert "**Goal:** Write alpha and beta files" in created["markdown"]

        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]
        assert run["plan"]["progress"] == {"done": 2, "total": 2}
        assert [st["status"] for st in run["plan"]["plan"]["steps"]] == ["passed", "passed"]
        alpha = step_of(run["plan"], "write-alpha")
        assert alpha["attempts"] == 1
        assert alpha["result"]["checks"][0]["passed"] is True
        assert alpha["result"]["files_changed"] == [
            {
                "path": "alpha.txt",
                "status": "added",
                "old_path": None,
                "added": 1,
                "removed": 0,
                "binary": False,
            }
        ]
        assert (ws / "alpha.txt").read_text() == "alpha\n"

        # Notifications arrived before the result (the server drains them first).
        assert s.plan_changed[-1]["state"] == "done"
        assert s.plan_changed[-1]["plan"]["plan_id"] == plan["plan_id"]
        assert [e["stepId"] for e in s.events("started")] == ["write-alpha", "write-beta"]
        finished = s.events("finished")
        assert [(e["stepId"], e["status"]) for e in finished] == [
            ("write-alpha", "passed"),
            ("write-beta", "passed"),
        ]
        assert all(e["planId"] == plan["plan_id"] for e in s.step_events)
        tool_lines = [e["line"] for e in s.events("tool") if e["stepId"] == "write-beta"]
        assert any("beta.txt" in line for line in tool_lines), tool_lines
        assert any("notes.txt" in line for line in tool_lines), tool_lines
        checks = s.events("check")
        assert len(checks) == 2 and all(e["passed"] for e in checks)

        # Work-done progress: planning and each step, begin ... end, cancellable.
        reports = list(s.client.progress_reports.values())
        assert len(reports) == 3, s.progress_kinds()
        for r in reports:
            assert r[0].kind == "begin" and r[0].cancellable is True
            assert r[-1].kind == "end"
        titles = [r[0].title for r in reports]
        assert titles == [
            "planloop: planning",
            "planloop: Write alpha.txt",
            "planloop: Write beta.txt and note it",
        ]
        assert any(x.kind == "report" for r in reports[1:] for x in r)

        # Per-step diff and files at checkpoints.
        diff = await s.cmd("planloop.stepDiff", {"stepId": "write-beta"})
        assert diff["stepId"] == "write-beta"
        files = {f["path"]: f for f in diff["files"]}
        assert set(files) == {"beta.txt", "notes.txt"}
        assert files["beta.txt"]["status"] == "added" and files["beta.txt"]["added"] == 1
        assert files["notes.txt"]["status"] == "modified"
        assert "+hello beta" in files["notes.txt"]["patch"]
        assert "-hello" in files["notes.txt"]["patch"]

        before = await s.cmd(
            "planloop.fileAtCheckpoint",
            {"checkpoint": diff["checkpointBefore"], "path": "notes.txt"},
        )
        assert before == {
            "path": "notes.txt",
            "checkpoint": diff["checkpointBefore"],
            "exists": True,
            "text": "hello\n",
            "binary": False,
        }
        after = await s.cmd(
            "planloop.fileAtCheckpoint",
            {"checkpoint": diff["checkpointAfter"], "path": "notes.txt"},
        )
        assert after["text"] == "hello beta\n"
        absent = await s.cmd(
            "planloop.fileAtCheckpoint",
            {"checkpoint": diff["checkpointBefore"], "path": "beta.txt"},
        )
        assert absent["exists"] is False and absent["text"] is None

        # Revert one step: exactly its files come back, the other step's stay.
        reverted = await s.cmd("planloop.revertStep", {"stepId": "write-beta"})
        assert sorted(reverted["restored"]) == ["beta.txt", "notes.txt"]
        assert reverted["conflicts"] == []
        assert step_of(reverted["plan"], "write-beta")["status"] == "reverted"
        assert not (ws / "beta.txt").exists()
        assert (ws / "notes.txt").read_text() == "hello\n"
        assert (ws / "alpha.txt").read_text() == "alpha\n"

        again = await s.cmd("planloop.getPlan")
        assert step_of(again, "write-beta")["status"] == "reverted"
        assert (
            again["plan"]
            == read_json(ws / ".planloop" / "plans" / plan["plan_id"] / "run.json")["plan"]
        )

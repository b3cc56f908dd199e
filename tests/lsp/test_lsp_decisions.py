"""Deciding any pending question over LSP, the order a client sees things in, and an open
(clean) editor buffer that follows the server's own writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lsp_harness import fixture_script, make_workspace, open_session, options, step_of
from lsprotocol import types


async def test_decide_pending_rejects_a_pause_and_the_run_stops(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("plan_only.json", tmp_path)
    seen_before_question: list[Any] = []
    holder: dict[str, Any] = {}

    def answer(params: dict[str, Any]) -> Any:
        # the tree must already show the question when the dialog opens
        seen_before_question.append(holder["s"].plan_changed[-1]["pending"])
        return None  # no decision now

    async with open_session(ws, options(script), custom_approvals=True, answer=answer) as s:
        holder["s"] = s
        await s.cmd("planloop.createPlan", {"goal": "Write alpha"})
        await s.cmd("planloop.runStep")
        waiting = await s.cmd("planloop.runStep")
        assert waiting["state"] == "awaiting_approval"
        assert seen_before_question and seen_before_question[0]["kind"] == "pause"

        stopped = await s.cmd("planloop.decidePending", {"approve": False, "feedback": "not yet"})
        assert stopped["state"] == "stopped" and "not approved" in stopped["reason"]
        assert stopped["pending"] is None
        assert step_of(stopped, "ask-human")["status"] == "awaiting_approval"


async def test_decide_pending_approves_a_plan_review_and_errors_when_nothing_waits(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("plan_only.json", tmp_path)
    async with open_session(ws, options(script, reviewPlanFirst=True)) as s:
        created = await s.cmd("planloop.createPlan", {"goal": "Write alpha"})
        assert created["pending"]["kind"] == "plan"
        decided = await s.cmd("planloop.decidePending", {"approve": True})
        assert decided["pending"] is None and decided["state"] == "idle"
        e = await s.error("planloop.decidePending", {"approve": True})
        assert "nothing awaits a decision" in e.message
        e = await s.error("planloop.decidePending", {"approve": "yes"})
        assert "approve" in e.message


async def test_open_clean_buffer_follows_the_servers_own_write(tmp_path: Path) -> None:
    """A file open (unmodified) in the editor, written twice in one step: the second write
    must not be refused as if the user had unsaved changes."""
    ws = make_workspace(tmp_path / "proj", {"alpha.txt": "old\n"})
    script = tmp_path / "twice.json"
    step = {
        "id": "write-alpha",
        "title": "Write alpha twice",
        "kind": "edit",
        "instructions": "write it",
        "files": ["alpha.txt"],
        "acceptance": [{"kind": "file_contains", "path": "alpha.txt", "pattern": "second"}],
    }
    script.write_text(
        json.dumps(
            {
                "planner": [
                    [
                        {
                            "type": "tool_use",
                            "name": "submit_plan",
                            "input": {"goal": "Write alpha", "steps": [step]},
                        }
                    ]
                ],
                "executor": [
                    [
                        {
                            "type": "tool_use",
                            "name": "write_file",
                            "input": {"path": "alpha.txt", "content": "first\n"},
                        }
                    ],
                    {
                        "expect": "wrote alpha.txt",
                        "content": [
                            {
                                "type": "tool_use",
                                "name": "write_file",
                                "input": {"path": "alpha.txt", "content": "second\n"},
                            }
                        ],
                    },
                    [
                        {
                            "type": "tool_use",
                            "name": "report_outcome",
                            "input": {"ok": True, "summary": "written"},
                        }
                    ],
                ],
            }
        )
    )
    async with open_session(ws, options(script)) as s:
        s.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=(ws / "alpha.txt").as_uri(),
                    language_id="plaintext",
                    version=1,
                    text="old\n",
                )
            )
        )
        await s.cmd("planloop.createPlan", {"goal": "Write alpha"})
        done = await s.cmd("planloop.runStep")
        assert done["state"] == "done", done["reason"]
        assert (ws / "alpha.txt").read_text() == "second\n"

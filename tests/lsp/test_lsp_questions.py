"""The planner's clarifying questions over LSP: showMessageRequest for plain clients,
planloop/requestAnswer for clients that declare it, getPlan's pending, planloop.answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lsp_harness import make_workspace, open_session, options, read_json
from lsprotocol import types

from planloop.lsp.rpc_errors import CODES

GOAL = "Write w.txt"
QUESTION = {"question": "Lowercase or uppercase w?", "options": ["lowercase", "uppercase"]}


def _script(dest: Path) -> Path:
    plan = {
        "goal": GOAL,
        "steps": [
            {
                "id": "write-w",
                "title": "Write w.txt",
                "kind": "edit",
                "instructions": "Write w.txt",
                "files": ["w.txt"],
                "expected_output": "",
                "acceptance": [{"kind": "file_exists", "path": "w.txt"}],
                "depends_on": [],
            }
        ],
    }
    turns = [
        [{"type": "tool_use", "name": "ask_user", "input": QUESTION}],
        [{"type": "tool_use", "name": "submit_plan", "input": plan}],
    ]
    path = dest / "ask.json"
    path.write_text(json.dumps({"planner": turns, "executor": []}), encoding="utf-8")
    return path


def _questions(payload: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return [(q["question"], q["answer"], q["answered_by"]) for q in payload["plan"]["questions"]]


async def test_a_plain_client_picks_an_option_in_show_message_request(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    pick = lambda _p: types.MessageActionItem(title="uppercase")  # noqa: E731
    async with open_session(ws, options(_script(tmp_path)), message_answer=pick) as s:
        plan = await s.cmd("planloop.createPlan", {"goal": GOAL})
        (msg,) = s.message_requests
        assert [a.title for a in msg.actions or []] == ["lowercase", "uppercase"]
        assert msg.type == types.MessageType.Info
        assert "Lowercase or uppercase w?" in msg.message and "planloop.answer" in msg.message
        assert s.questions == []  # not declared: no custom request
        assert _questions(plan) == [(QUESTION["question"], "uppercase", "pytest-lsp-client")]
        assert "## Questions" in plan["markdown"]


async def test_dismissed_the_question_is_pending_in_get_plan_and_planloop_answer_goes_on(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    dismiss = lambda _p: None  # noqa: E731
    async with open_session(ws, options(_script(tmp_path)), message_answer=dismiss) as s:
        e = await s.error("planloop.createPlan", {"goal": GOAL})
        assert e.code == CODES["waiting"], e
        assert "Lowercase or uppercase w?" in e.message
        waiting = await s.cmd("planloop.getPlan")
        assert waiting["plan"] is None and waiting["state"] == "awaiting_answer"
        assert waiting["goal"] == GOAL
        pending = waiting["pending"]
        assert pending["kind"] == "question"
        assert pending["question"] == QUESTION["question"]
        assert pending["options"] == QUESTION["options"]
        saved = read_json(ws / ".planloop" / "question.json")
        assert saved["question"]["question"] == QUESTION["question"]

        bad = await s.error("planloop.answer", {"answer": "x"})
        assert "unexpected argument 'answer'" in bad.message and "text" in bad.message
        plan = await s.cmd("planloop.answer", {"text": "  a lowercase w, please "})
        assert _questions(plan) == [
            (QUESTION["question"], "a lowercase w, please", "pytest-lsp-client")
        ]
        assert plan["pending"] is None
        assert not (ws / ".planloop" / "question.json").exists()
        again = await s.cmd("planloop.getPlan")
        assert again["plan"]["plan_id"] == plan["plan"]["plan_id"]
        assert again["pending"] is None


async def test_a_client_that_declares_planloop_questions_answers_with_free_text(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    reply = lambda _p: {"answer": "my own words"}  # noqa: E731
    async with open_session(
        ws, options(_script(tmp_path)), custom_questions=True, question_answer=reply
    ) as s:
        plan = await s.cmd("planloop.createPlan", {"goal": GOAL})
        (asked,) = s.questions
        assert asked["question"] == QUESTION["question"]
        assert asked["options"] == QUESTION["options"]
        assert s.message_requests == []
        assert _questions(plan) == [(QUESTION["question"], "my own words", "pytest-lsp-client")]


async def test_planloop_answer_with_nothing_pending_is_a_clear_error(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    async with open_session(ws, options(_script(tmp_path))) as s:
        e = await s.error("planloop.answer", {"text": "yes"})
        assert e.code == CODES["invalid_request"]
        assert "nothing is waiting for an answer" in e.message
        assert await s.cmd("planloop.getPlan") is None


async def test_planner_questions_0_from_the_client_settings_means_nobody_is_asked(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    async with open_session(ws, options(_script(tmp_path), plannerQuestions=0)) as s:
        plan = await s.cmd("planloop.createPlan", {"goal": GOAL})
        assert s.message_requests == [] and s.questions == []
        assert plan["plan"]["questions"] == []
        assert "## Questions" not in plan["markdown"]

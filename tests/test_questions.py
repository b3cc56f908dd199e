"""Clarifying questions: the planner's ask_user, answered at a terminal, later, or never.

The planner's requests go to the Messages API stand-in (tests/standin.py) through the real
SDK, so what is asserted is what the model would see: the tool offered or not, the answer
as ask_user's result in the same conversation, the cap's error. The terminal case runs
the CLI on a real pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import script, step, submit, tool
from standin import StandIn, message, tokens, tool_use_message
from test_terminal_approval import Terminal

KEY = "sk-ant-api03-QUESTIONS-fake-key-7c1d"
PLANNER = "anthropic:claude-opus-5-5"
GOAL = "Add a rounding helper to the calculator"
CHECK = {"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def round_to"}
QUESTION = {"question": "Round half up or half to even?", "options": ["half up", "half to even"]}


def cli(ws: Path, api: StandIn | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env["PLANLOOP_MODE"] = "split"
    if api is not None:
        env.update(api.env(KEY))
    env["COLUMNS"] = "200"
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    planloop = str(Path(sys.executable).with_name("planloop"))
    extra = ["--planner", PLANNER] if api is not None else []
    return subprocess.run(
        [planloop, "--workspace", str(ws), *args, *extra],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def plan_input(title: str = "Add round_to") -> dict:
    return submit(GOAL, [step("round", title, checks=[CHECK], files=["calculator/calc.py"])])[0][
        "input"
    ]


def settings(ws: Path, extra: str = "") -> None:
    (ws / "planloop.toml").write_text(
        "workspace_checks = []\nmodel_retries = 0\nrepo_map_tokens = 0\n" + extra
    )


def tool_names(body: dict) -> list[str]:
    return [t["name"] for t in body["tools"]]


def last_results(body: dict) -> list[dict]:
    """The tool results of the request's last user message."""
    content = body["messages"][-1]["content"]
    assert isinstance(content, list), content
    return [b for b in content if b.get("type") == "tool_result"]


def result_text(block: dict) -> str:
    c = block["content"]
    return c if isinstance(c, str) else "".join(p.get("text", "") for p in c)


def test_without_a_terminal_plan_waits_exit_3_and_answer_goes_on_in_the_same_conversation(
    calc_ws: Path, standin: StandIn
) -> None:
    settings(calc_ws)
    standin.enqueue(
        tool_use_message("read_file", {"path": "calculator/calc.py"}, usage=tokens(100, 10)),
        tool_use_message("ask_user", QUESTION, id="toolu_ask_1", usage=tokens(120, 10)),
    )
    res = cli(calc_ws, standin, "plan", GOAL)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "Round half up or half to even?" in res.stdout
    assert "1. half up" in res.stdout and "planloop answer" in res.stdout
    saved = calc_ws / ".planloop" / "question.json"
    pending = json.loads(saved.read_text())
    assert pending["question"]["question"] == QUESTION["question"]
    assert pending["call_id"] == "toolu_ask_1"
    assert not (calc_ws / ".planloop" / "current").exists()  # no plan yet
    first = standin.requests[0].body
    assert "ask_user" in tool_names(first)
    assert "Use ask_user (at most 3 times) only when" in first["system"][0]["text"]
    assert len(standin.requests) == 2
    status = cli(calc_ws, None, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "the planner waits for your answer" in status.stdout
    assert "Round half up or half to even?" in status.stdout

    standin.enqueue(tool_use_message("submit_plan", plan_input(), usage=tokens(150, 40)))
    res = cli(calc_ws, standin, "answer", "half to even, like Python's round")
    assert res.returncode == 0, res.stdout + res.stderr
    assert not saved.exists()  # answered: nothing waits any more
    resumed = standin.requests[2].body
    # the same conversation, re-sent: the first message, the read, the question …
    assert (
        resumed["messages"][: len(standin.requests[1].body["messages"])]
        == (standin.requests[1].body["messages"])
    )
    assert any(
        b.get("type") == "tool_use" and b["id"] == "toolu_ask_1"
        for b in resumed["messages"][-2]["content"]
    )
    # … with the answer as ask_user's result
    (answer,) = last_results(resumed)
    assert answer["tool_use_id"] == "toolu_ask_1"
    assert "half to even, like Python's round" in result_text(answer)
    assert not answer.get("is_error")

    show = cli(calc_ws, None, "show")
    assert show.returncode == 0
    assert "Questions" in show.stdout and "Round half up or half to even?" in show.stdout
    pid = (calc_ws / ".planloop" / "current").read_text().strip()
    md = (calc_ws / ".planloop" / "plans" / pid / "plan.md").read_text()
    assert "## Questions" in md and "**A:** half to even, like Python's round" in md
    v1 = json.loads((calc_ws / ".planloop" / "plans" / pid / "v1.json").read_text())
    (q,) = v1["questions"]
    assert q["options"] == QUESTION["options"] and q["answer"].startswith("half to even")
    assert q["asked_at"] <= q["answered_at"]
    log = [
        json.loads(line)
        for line in (calc_ws / ".planloop" / "plans" / pid / "log.jsonl").read_text().splitlines()
    ]
    types = [e["type"] for e in log]
    assert types[0] == "plan_created"
    assert types[1:3] == ["question_asked", "question_answered"]
    assert log[2]["answer"].startswith("half to even")
    # the planning spent before the question is charged to the plan too (3 turns)
    st = json.loads(cli(calc_ws, None, "status", "--json").stdout)
    assert st["tokens"]["input"] == 100 + 120 + 150

    # a re-plan sees the answers (in the plan it is shown) and keeps them
    standin.enqueue(
        tool_use_message(
            "submit_plan",
            {**plan_input("Add round_to, banker's"), "revision_reason": "asked"},
            usage=tokens(10, 10),
        )
    )
    res = cli(calc_ws, standin, "replan", "--reason", "try again", "--yes")
    assert res.returncode in (0, 3), res.stdout + res.stderr
    replan_prompt = json.dumps(standin.requests[3].body["messages"][0])
    assert (
        "Round half up or half to even?" in replan_prompt and "half to even, like" in replan_prompt
    )
    assert "ask_user" not in tool_names(standin.requests[3].body)


def test_at_a_terminal_the_question_is_answered_inline(calc_ws: Path, tmp_path: Path) -> None:
    settings(calc_ws)
    s = script(
        tmp_path,
        [[tool("ask_user", **QUESTION)], [tool("submit_plan", **plan_input())]],
        [],
    )
    spec = f"scripted:{s}"
    term = Terminal(
        [sys.executable, "-m", "planloop.cli", "plan", GOAL, "--planner", spec, "--executor", spec],
        calc_ws,
    )
    term.expect("The planner asks")
    term.expect("half to even")
    term.expect("Answer")
    term.type("2")  # a number picks that option
    term.expect("review it, then")
    code = term.finish()
    assert code == 0, term.seen
    pid = (calc_ws / ".planloop" / "current").read_text().strip()
    md = (calc_ws / ".planloop" / "plans" / pid / "plan.md").read_text()
    assert "**A:** half to even" in md
    assert not (calc_ws / ".planloop" / "question.json").exists()


def test_a_question_beyond_the_cap_is_refused_and_the_planner_told_to_assume(
    calc_ws: Path, standin: StandIn
) -> None:
    settings(calc_ws, "planner_questions = 1\n")
    standin.enqueue(tool_use_message("ask_user", QUESTION, id="toolu_q1"))
    assert cli(calc_ws, standin, "plan", GOAL).returncode == 3
    standin.enqueue(
        tool_use_message("ask_user", {"question": "And negative numbers?"}, id="toolu_q2"),
        tool_use_message("submit_plan", plan_input()),
    )
    res = cli(calc_ws, standin, "answer", "half up")
    assert res.returncode == 0, res.stdout + res.stderr
    (refused,) = last_results(standin.requests[2].body)
    assert refused["tool_use_id"] == "toolu_q2" and refused["is_error"] is True
    assert "submit the plan now with your best assumption" in result_text(refused)
    assert "at most 1 times" in standin.requests[0].body["system"][0]["text"]
    pid = (calc_ws / ".planloop" / "current").read_text().strip()
    v1 = json.loads((calc_ws / ".planloop" / "plans" / pid / "v1.json").read_text())
    assert [q["question"] for q in v1["questions"]] == [QUESTION["question"]]


def test_yes_approves_plans_but_never_answers_a_question(calc_ws: Path, standin: StandIn) -> None:
    settings(calc_ws)
    standin.enqueue(tool_use_message("ask_user", QUESTION))
    res = cli(calc_ws, standin, "plan", GOAL, "--yes")
    assert res.returncode == 3, res.stdout + res.stderr
    assert (calc_ws / ".planloop" / "question.json").is_file()


def test_planner_questions_0_offers_no_ask_user(calc_ws: Path, standin: StandIn) -> None:
    settings(calc_ws, "planner_questions = 0\n")
    standin.enqueue(tool_use_message("submit_plan", plan_input()))
    res = cli(calc_ws, standin, "plan", GOAL, "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    (req,) = standin.requests
    assert "ask_user" not in tool_names(req.body)
    assert "submit_plan" in tool_names(req.body)
    assert "Never ask questions." in req.body["system"][0]["text"]


def test_planner_questions_0_a_scripted_ask_user_is_an_unknown_tool(
    calc_ws: Path, tmp_path: Path
) -> None:
    """Off means off in code too: a model that calls it anyway is told it does not exist."""
    settings(calc_ws, "planner_questions = 0\n")
    s = script(
        tmp_path, [[tool("ask_user", **QUESTION)], [tool("submit_plan", **plan_input())]], []
    )
    spec = f"scripted:{s}"
    res = cli(calc_ws, None, "plan", GOAL, "--planner", spec, "--executor", spec)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ask_user ✗ not available" in res.stdout
    assert not (calc_ws / ".planloop" / "question.json").exists()


def test_answer_with_nothing_pending_is_a_clear_error(calc_ws: Path) -> None:
    settings(calc_ws)
    res = cli(calc_ws, None, "answer", "yes")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "nothing is waiting for an answer" in res.stderr
    plans = calc_ws / ".planloop" / "plans"
    assert not plans.exists() or list(plans.iterdir()) == []  # no plan written
    assert not (calc_ws / ".planloop" / "current").exists()


def test_an_empty_answer_is_refused_and_the_question_kept(calc_ws: Path, standin: StandIn) -> None:
    settings(calc_ws)
    standin.enqueue(tool_use_message("ask_user", QUESTION))
    assert cli(calc_ws, standin, "plan", GOAL).returncode == 3
    saved = calc_ws / ".planloop" / "question.json"
    before = saved.read_bytes()
    res = cli(calc_ws, standin, "answer", "   ")
    assert res.returncode == 1 and "the answer is empty" in res.stderr, res.stderr
    assert saved.read_bytes() == before
    assert len(standin.requests) == 1  # nothing was spent on it


def test_answer_by_an_options_number_sends_that_options_text(
    calc_ws: Path, standin: StandIn
) -> None:
    """The question was printed with numbered options, so `planloop answer 2` means the
    second option (said back to the user), not the text "2"; a number past the options is
    refused with the range, before anything is spent; other text is sent as written."""
    settings(calc_ws)
    standin.enqueue(tool_use_message("ask_user", QUESTION, id="toolu_ask_n"))
    assert cli(calc_ws, standin, "plan", GOAL).returncode == 3
    saved = calc_ws / ".planloop" / "question.json"
    before = saved.read_bytes()
    for wrong in ("3", "0"):
        res = cli(calc_ws, standin, "answer", wrong)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "1-2" in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert saved.read_bytes() == before
    assert len(standin.requests) == 1  # nothing was spent on them

    standin.enqueue(tool_use_message("submit_plan", plan_input(), usage=tokens(10, 10)))
    res = cli(calc_ws, standin, "answer", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "option 2: half to even" in res.stdout
    (answer,) = last_results(standin.requests[1].body)
    assert answer["tool_use_id"] == "toolu_ask_n"
    assert result_text(answer) != "2" and "half to even" in result_text(answer)
    pid = (calc_ws / ".planloop" / "current").read_text().strip()
    v1 = json.loads((calc_ws / ".planloop" / "plans" / pid / "v1.json").read_text())
    assert v1["questions"][0]["answer"] == "half to even"


def test_answer_text_that_is_not_an_options_number_is_sent_as_written(
    calc_ws: Path, standin: StandIn
) -> None:
    settings(calc_ws)
    standin.enqueue(tool_use_message("ask_user", {"question": "How many decimals?", "options": []}))
    assert cli(calc_ws, standin, "plan", GOAL).returncode == 3
    standin.enqueue(tool_use_message("submit_plan", plan_input(), usage=tokens(10, 10)))
    res = cli(calc_ws, standin, "answer", "2")  # no options: a number is just an answer
    assert res.returncode == 0, res.stdout + res.stderr
    assert "option" not in res.stdout
    (answer,) = last_results(standin.requests[1].body)
    assert "2" in result_text(answer)
    pid = (calc_ws / ".planloop" / "current").read_text().strip()
    v1 = json.loads((calc_ws / ".planloop" / "plans" / pid / "v1.json").read_text())
    assert v1["questions"][0]["answer"] == "2"


def test_a_damaged_pending_question_is_named_and_left_as_it_is(calc_ws: Path) -> None:
    settings(calc_ws)
    saved = calc_ws / ".planloop" / "question.json"
    saved.parent.mkdir()
    for damage in (b"", b'{"goal": 3}', bytes(range(256))):
        saved.write_bytes(damage)
        res = cli(calc_ws, None, "answer", "half up")
        assert res.returncode == 1, res.stdout + res.stderr
        assert str(saved) in res.stderr and "Traceback" not in res.stderr
        assert saved.read_bytes() == damage


def test_calls_after_the_question_in_the_same_turn_wait_too(
    calc_ws: Path, standin: StandIn
) -> None:
    """A turn that asks and reads at once: the read is not run while nobody has answered,
    and the resumed conversation says so beside the answer (every call gets its result)."""
    settings(calc_ws)
    blocks = [
        {"type": "tool_use", "id": "toolu_ask", "name": "ask_user", "input": QUESTION},
        {
            "type": "tool_use",
            "id": "toolu_read",
            "name": "read_file",
            "input": {"path": "calculator/calc.py"},
        },
    ]
    standin.enqueue(message(blocks, stop_reason="tool_use"))
    assert cli(calc_ws, standin, "plan", GOAL).returncode == 3
    standin.enqueue(tool_use_message("submit_plan", plan_input()))
    assert cli(calc_ws, standin, "answer", "half up").returncode == 0
    answer, read = last_results(standin.requests[1].body)
    assert answer["tool_use_id"] == "toolu_ask" and "half up" in result_text(answer)
    assert read["tool_use_id"] == "toolu_read" and read["is_error"] is True
    assert "waiting for the user's answer" in result_text(read)

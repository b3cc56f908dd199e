"""Bring-your-own-model through the whole product: plan → fail → re-plan → pass from the CLI.

The model turns are the demo's recording (``examples/calculator/demo.json``) served as
real Chat Completions replies by tests/standin_openai.py (and, for the mixed pair's
planner, as Messages replies by tests/standin.py), so the real tools, checks, git and
re-plan run exactly as in the demo — but every turn crosses the real SDKs over HTTP,
and the stand-in fails the test if planloop sends a request the real API refuses.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import trust
from planloop.state.store import PlanStore
from standin import StandIn, message, tokens
from standin_openai import OpenAIStandIn, chat, usage

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
EXAMPLE = Path(__file__).parents[1] / "examples" / "calculator"
DEMO = json.loads((EXAMPLE / "demo.json").read_text())
GOAL = (
    "Make division by zero raise a clear CalculatorError instead of a bare "
    "ZeroDivisionError, and add a mean() function"
)
OPENAI_KEY = "sk-proj-FLOWTEST-9f8e7d6c5b4a3210"
ANTHROPIC_KEY = "sk-ant-api03-FLOWTEST-fake-key-1a2b3c"
_ids = itertools.count(1)


def as_chat(turn: dict[str, Any], model: str) -> dict[str, Any]:
    blocks = turn["content"]
    text = "".join(b.get("text", "") for b in blocks if b["type"] == "text")
    calls = [(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
    u = turn.get("usage") or {}
    return chat(
        text=text or None,
        calls=calls,
        use=usage(u.get("input_tokens", 10), u.get("output_tokens", 5)),
        model=model,
    )


def as_message(turn: dict[str, Any]) -> dict[str, Any]:
    blocks = [
        {**b, "id": f"toolu_flow_{next(_ids):04d}"} if b["type"] == "tool_use" else b
        for b in turn["content"]
    ]
    u = turn.get("usage") or {}
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return message(
        blocks,
        stop_reason=stop,
        usage=tokens(u.get("input_tokens", 10), u.get("output_tokens", 5)),
    )


def run(ws: Path, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "PLANLOOP_", "OPENAI_", "OLLAMA_"))
    }
    env.update(env_extra, COLUMNS="200", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PLANLOOP_MODE"] = "split"  # these scripts were written for the split loop
    env["PLANLOOP_WARM"] = "off"  # each test's process starts as a user's would, cold
    res = subprocess.run(
        [PLANLOOP, *args],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        assert key not in res.stdout and key not in res.stderr, "a key was printed"
    return res


def settings(ws: Path, extra: str = "") -> None:
    (ws / "planloop.toml").write_text(
        'workspace_checks = ["python -m pytest -q"]\nmodel_retries = 0\nmodel_timeout_s = 20\n'
        '[command_policy]\nallow = ["python -m pytest*"]\n' + extra
    )
    trust(ws)


def no_key_on_disk(ws: Path) -> None:
    for p in (ws / ".planloop").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert OPENAI_KEY.encode() not in data and ANTHROPIC_KEY.encode() not in data, p


def assert_flow_passed(ws: Path, out: str) -> None:
    assert "done: every step passed" in out, out
    rec = PlanStore(ws).load()
    assert rec.state == "done" and rec.plan.version == 2  # the re-plan was adopted
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], cwd=ws, capture_output=True, text=True
    )
    assert tests.returncode == 0, tests.stdout


def test_openai_for_both_roles_plans_fails_replans_and_passes(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    settings(calc_ws, '[prices."gpt-4.1"]\ninput = 2\noutput = 8\ncache_read = 0.5\n')
    api = openai_standin
    env = api.env(OPENAI_KEY)
    api.enqueue(*(as_chat(t, "gpt-4.1") for t in DEMO["planner"][:3]))
    plan = run(calc_ws, env, "plan", GOAL, "--yes", "--planner", "openai:gpt-4.1")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "planner: openai:gpt-4.1" in plan.stdout

    # executor turns in order, with the planner's two revision turns where the re-plan asks
    ex = [as_chat(t, "o4-mini") for t in DEMO["executor"]]
    pl = [as_chat(t, "gpt-4.1") for t in DEMO["planner"][3:]]
    api.enqueue(*ex[:8], *pl, *ex[8:])
    env_roles = {**env, "PLANLOOP_PLANNER": "openai:gpt-4.1", "PLANLOOP_EXECUTOR": "openai:o4-mini"}
    res = run(calc_ws, env_roles, "run", "--all", "--yes")
    out = " ".join(res.stdout.split())
    assert res.returncode == 0, res.stdout + res.stderr
    assert_flow_passed(calc_ws, out)
    assert api.pending == 0
    reqs = api.requests
    assert all(r.headers["authorization"] == f"Bearer {OPENAI_KEY}" for r in reqs)
    assert {r.body["model"] for r in reqs} == {"gpt-4.1", "o4-mini"}
    # the retry's evidence reached the executor as a plain user message, the failing test named
    assert any("test_div_by_zero_raises" in json.dumps(r.body["messages"]) for r in reqs)
    assert not any(OPENAI_KEY.encode() in r.raw for r in reqs)
    # the planner is priced by the planloop.toml table, the executor is not: never "$0.00"
    status = run(calc_ws, env_roles, "status")
    text = " ".join(status.stdout.split())
    assert "cost unknown" in text and "$0.0000" not in text, text
    data = json.loads(run(calc_ws, env_roles, "status", "--json").stdout)
    assert data["cost_known"] is False and data["cost_usd"] > 0
    assert data["tokens"]["unpriced"] > 0
    no_key_on_disk(calc_ws)


def test_ollama_for_both_roles_completes_the_flow_with_no_key_and_cost_unknown(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    settings(calc_ws, f'[providers.ollama]\nbase_url = "{openai_standin.base_url}"\n')
    api = openai_standin
    api.enqueue(*(as_chat(t, "qwen3") for t in DEMO["planner"][:3]))
    plan = run(calc_ws, {}, "plan", GOAL, "--yes", "--planner", "ollama:qwen3")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    ex = [as_chat(t, "qwen3") for t in DEMO["executor"]]
    pl = [as_chat(t, "qwen3") for t in DEMO["planner"][3:]]
    api.enqueue(*ex[:8], *pl, *ex[8:])
    res = run(
        calc_ws,
        {},
        "run",
        "--all",
        "--yes",
        "--planner",
        "ollama:qwen3",
        "--executor",
        "ollama:qwen3",
    )
    out = " ".join(res.stdout.split())
    assert res.returncode == 0, res.stdout + res.stderr
    assert_flow_passed(calc_ws, out)
    assert "cost unknown" in out and "$0.00" not in out
    assert all(r.body["model"] == "qwen3" for r in api.requests)
    assert all(r.headers["authorization"] == "Bearer planloop-no-key" for r in api.requests)


def test_mixed_pair_anthropic_planner_and_openai_executor(
    calc_ws: Path, openai_standin: OpenAIStandIn, standin: StandIn
) -> None:
    settings(calc_ws)
    env = {**openai_standin.env(OPENAI_KEY), **standin.env(ANTHROPIC_KEY)}
    planner, executor = "anthropic:claude-opus-5-5", "openai:o4-mini"
    standin.enqueue(*(as_message(t) for t in DEMO["planner"]))
    openai_standin.enqueue(*(as_chat(t, "o4-mini") for t in DEMO["executor"]))
    plan = run(calc_ws, env, "plan", GOAL, "--yes", "--planner", planner)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    res = run(calc_ws, env, "run", "--all", "--yes", "--planner", planner, "--executor", executor)
    out = " ".join(res.stdout.split())
    assert res.returncode == 0, res.stdout + res.stderr
    assert_flow_passed(calc_ws, out)
    assert standin.pending == 0 and openai_standin.pending == 0
    assert len(standin.requests) == 5 and len(openai_standin.requests) == 16
    assert all(r.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}" for r in standin.requests)
    assert all(
        r.headers["authorization"] == f"Bearer {OPENAI_KEY}" for r in openai_standin.requests
    )
    data = json.loads(run(calc_ws, env, "status", "--json").stdout)
    assert data["cost_known"] is False and data["cost_usd"] > 0  # the planner's part is priced
    no_key_on_disk(calc_ws)


def test_broken_tool_arguments_go_back_to_the_model_and_the_step_still_passes(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    """An executor that sends unreadable JSON reads a tool error and tries again."""
    settings(calc_ws)
    api = openai_standin
    env = api.env(OPENAI_KEY)
    step = {
        "id": "noop",
        "title": "Say hello",
        "kind": "edit",
        "instructions": "write hello.txt",
        "files": ["hello.txt"],
        "expected_output": "",
        "depends_on": [],
        "acceptance": [{"kind": "file_exists", "path": "hello.txt"}],
    }
    api.enqueue(chat(calls=[("submit_plan", {"goal": "hello", "steps": [step]})]))
    plan = run(calc_ws, env, "plan", "hello", "--yes", "--planner", "openai:gpt-4.1")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    api.enqueue(
        chat(calls=[("write_file", '{"path": "hello.txt", "content": "hi"')]),  # cut-off JSON
        chat(calls=[("write_file", {"path": "hello.txt", "content": "hi\n"})]),
        chat(calls=[("report_outcome", {"ok": True, "summary": "wrote hello.txt"})]),
    )
    res = run(calc_ws, env, "run", "--all", "--yes", "--executor", "openai:gpt-4.1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "write_file (unreadable arguments)" in res.stdout
    assert (calc_ws / "hello.txt").read_text() == "hi\n"
    second = api.requests[2].body["messages"]
    assert second[-1]["role"] == "tool" and "not valid JSON" in second[-1]["content"]
    # the model sees what it sent, so it can fix it
    assert (
        second[-2]["tool_calls"][0]["function"]["arguments"]
        == '{"path": "hello.txt", "content": "hi"'
    )


@pytest.mark.parametrize(
    ("spec", "env", "words"),
    [
        ("openai:gpt-4.1", {}, ["OPENAI_API_KEY is not set"]),
        ("vllm:my-model", {}, ["needs the server's base URL", "VLLM_BASE_URL"]),
        ("bedrock:anthropic.claude-x", {}, ["pip install 'planloop[bedrock]'"]),
        ("gemini:pro", {}, ["is not recognised", "ollama:<model>"]),
    ],
)
def test_a_model_that_cannot_be_used_is_one_line_and_no_plan(
    spec: str, env: dict[str, str], words: list[str], calc_ws: Path
) -> None:
    settings(calc_ws)
    res = run(calc_ws, env, "plan", GOAL, "--yes", "--planner", spec)
    assert res.returncode == 1, res.stdout + res.stderr
    msg = " ".join(res.stderr.split())
    for w in words:
        assert w in msg, (w, msg)
    assert "Traceback" not in res.stderr
    assert PlanStore(calc_ws).current_id() is None


def test_a_dollar_budget_an_unpriced_model_cannot_keep_is_refused_from_the_cli(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    settings(
        calc_ws,
        f'[budgets]\nusd = 1.5\n[providers.ollama]\nbase_url = "{openai_standin.base_url}"\n',
    )
    res = run(calc_ws, {}, "plan", GOAL, "--yes", "--planner", "ollama:qwen3")
    assert res.returncode == 1, res.stdout + res.stderr
    msg = " ".join(res.stderr.split())
    assert "budgets.usd = 1.5 cannot be kept: the planner model ollama:qwen3 has no price" in msg
    assert "Traceback" not in res.stderr and openai_standin.requests == []

"""``planloop doctor``: each role's model, endpoint, key presence and one live tool call.

Real CLI processes, the real SDKs against the stand-ins on 127.0.0.1; the key's value
must never be printed, and any failing role makes the exit code 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import trust
from standin import StandIn, tool_use_message
from standin_openai import OpenAIStandIn, chat, chat_text

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
KEY = "sk-proj-DOCTOR-5e4d3c2b1a"
ANT_KEY = "sk-ant-api03-DOCTOR-77aa88bb"


def doctor(ws: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "PLANLOOP_", "OPENAI_", "OLLAMA_"))
    }
    res = subprocess.run(
        [PLANLOOP, "doctor", *args],
        cwd=ws,
        env={**base, **env, "COLUMNS": "200", "PLANLOOP_WARM": "off"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for k in (KEY, ANT_KEY):
        assert k not in res.stdout and k not in res.stderr, "a key was printed"
    return res


def test_both_roles_answer_and_call_tools(
    tmp_path: Path, openai_standin: OpenAIStandIn, standin: StandIn
) -> None:
    trust(tmp_path)
    (tmp_path / "planloop.toml").write_text(
        f'model_retries = 0\n[providers.ollama]\nbase_url = "{openai_standin.base_url}"\n'
    )
    standin.enqueue(tool_use_message("report_ping", {"ok": True}))
    openai_standin.enqueue(chat(calls=[("report_ping", {"ok": True})]))
    env = standin.env(ANT_KEY)
    res = doctor(
        tmp_path, env, "--planner", "anthropic:claude-opus-5-5", "--executor", "ollama:qwen3"
    )
    out = " ".join(res.stdout.split())
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        f"✓ planner anthropic:claude-opus-5-5 · {standin.base_url} · ANTHROPIC_API_KEY set" in out
    )
    assert f"✓ executor ollama:qwen3 · {openai_standin.base_url} · no key needed" in out
    assert out.count("answered and called a tool") == 2
    # the live request is tiny and offers exactly the one tool
    [req] = openai_standin.requests
    assert [t["function"]["name"] for t in req.body["tools"]] == ["report_ping"]
    assert standin.requests[0].body["tools"][0]["name"] == "report_ping"

    standin.enqueue(tool_use_message("report_ping", {"ok": True}))
    openai_standin.enqueue(chat(calls=[("report_ping", {"ok": True})]))
    js = doctor(
        tmp_path,
        env,
        "--json",
        "--planner",
        "anthropic:claude-opus-5-5",
        "--executor",
        "ollama:qwen3",
    )
    data = json.loads(js.stdout)
    assert data["ok"] is True
    ex = data["checks"][1]
    assert ex["role"] == "executor" and ex["key_env"] is None and ex["seconds"] > 0


def test_missing_key_no_tool_call_and_bad_spec_each_fail_with_exit_1(
    tmp_path: Path, openai_standin: OpenAIStandIn
) -> None:
    (tmp_path / "planloop.toml").write_text("model_retries = 0\n")
    env = {"OPENAI_BASE_URL": openai_standin.base_url}
    res = doctor(tmp_path, env, "--planner", "openai:gpt-4.1", "--executor", "nosuch:model")
    out = " ".join(res.stdout.split())
    assert res.returncode == 1, out
    assert "✗ planner openai:gpt-4.1" in out and "OPENAI_API_KEY not set" in out
    assert "OPENAI_API_KEY is not set" in out
    assert "✗ executor nosuch:model" in out and "is not recognised" in out
    assert openai_standin.requests == []  # nothing sent without a key

    openai_standin.enqueue(chat_text("Hello! How can I help?"))
    env["OPENAI_API_KEY"] = KEY
    res = doctor(tmp_path, env, "--planner", "openai:gpt-4.1", "--executor", "openai:gpt-4.1")
    out = " ".join(res.stdout.split())
    assert res.returncode == 1, out
    assert "OPENAI_API_KEY set" in out
    assert "answered but did not call the tool (it said: 'Hello! How can I help?')" in out


def test_a_model_without_tool_support_fails_the_check(tmp_path: Path) -> None:
    with OpenAIStandIn(no_tools={"gemma:2b"}) as api:
        trust(tmp_path)
        (tmp_path / "planloop.toml").write_text(
            f'model_retries = 0\n[providers.ollama]\nbase_url = "{api.base_url}"\n'
        )
        res = doctor(tmp_path, {}, "--planner", "ollama:gemma:2b", "--executor", "ollama:gemma:2b")
    out = " ".join(res.stdout.split())
    assert res.returncode == 1
    assert out.count("does not support tool calling") == 2


def test_an_unreachable_local_server_says_how_to_start_it(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (tmp_path / "planloop.toml").write_text("model_retries = 0\n")
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"planner": [], "executor": []}))
    res = doctor(
        tmp_path,
        {"OLLAMA_BASE_URL": f"http://localhost:{port}/v1"},
        "--planner",
        "ollama:qwen3",
        "--executor",
        f"scripted:{script}",
    )
    out = " ".join(res.stdout.split())
    assert res.returncode == 1
    assert "✗ planner ollama:qwen3" in out and "`ollama serve`" in out
    # a scripted model has no endpoint: reported, not called, and not a failure
    assert f"✓ executor scripted:{script} (scripted) · none (replays a script)" in out
    assert "scripted: no endpoint to check" in out

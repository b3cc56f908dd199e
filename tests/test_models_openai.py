"""The openai adapter through the real ``openai`` SDK over real HTTP (tests/standin_openai.py).

Each fault an OpenAI-compatible endpoint sends has a case here with the line the user
reads; the stand-in fails any test whose request the real API would refuse.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from planloop.cancel import CancelToken
from planloop.models.base import ModelConfig, ModelError, ToolSpec
from planloop.models.openai_adapter import OpenAIModel
from planloop.models.providers import resolve
from planloop.models.registry import make_model
from standin_openai import (
    OpenAIReply,
    OpenAIStandIn,
    chat,
    chat_text,
    chat_tool_calls,
    error_reply,
    problems,
    stream_error_reply,
    usage,
)

KEY = "sk-proj-UNITTEST-0123456789abcdef"
TOOLS = [
    ToolSpec(
        "read_file",
        "Read a file.",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    ToolSpec("list_files", "List files.", {"type": "object", "properties": {}}),
]
USER = [{"role": "user", "content": "go"}]


def model(
    api: OpenAIStandIn,
    monkeypatch: pytest.MonkeyPatch,
    spec: str = "openai:gpt-4.1",
    *,
    providers: dict[str, dict[str, Any]] | None = None,
    timeout: float = 5,
) -> OpenAIModel:
    monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    cfg = ModelConfig(timeout_s=timeout, max_retries=0, providers=providers or {})
    m = make_model(spec, "executor", config=cfg)
    assert isinstance(m, OpenAIModel)
    return m


def fails(m: OpenAIModel, **kw: Any) -> ModelError:
    with pytest.raises(ModelError) as info:
        m.complete(system="sys", messages=kw.pop("messages", USER), tools=TOOLS, **kw)
    assert KEY not in info.value.message
    return info.value


# --- the happy paths ---------------------------------------------------------------------


def test_text_reply_usage_with_cached_tokens_and_the_request_on_the_wire(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_standin.enqueue(chat_text("hello there", use=usage(1200, 30, cached=1000)))
    m = model(openai_standin, monkeypatch)
    reply = m.complete(system="You are X", messages=USER, tools=TOOLS, max_tokens=999)
    assert reply.text == "hello there" and reply.stop_reason == "end_turn"
    assert (reply.usage.input_tokens, reply.usage.cache_read_tokens) == (200, 1000)
    assert reply.usage.output_tokens == 30
    assert reply.priced is False and reply.cost_usd == 0.0  # no price known for gpt-4.1
    [req] = openai_standin.requests
    body = req.body
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 999 and "max_completion_tokens" not in body
    assert body["messages"][0] == {"role": "system", "content": "You are X"}
    assert [t["function"]["name"] for t in body["tools"]] == ["read_file", "list_files"]
    assert body["tools"][0]["function"]["parameters"] == TOOLS[0].input_schema


def test_several_tool_calls_in_one_turn_are_assembled_and_answered_in_pairs(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_standin.enqueue(
        chat_tool_calls(
            ("read_file", {"path": "calculator/calc.py", "note": "x" * 50}), ("list_files", {})
        ),
        chat_text("done"),
    )
    m = model(openai_standin, monkeypatch)
    reply = m.complete(system="s", messages=USER, tools=TOOLS)
    assert reply.stop_reason == "tool_use"
    calls = reply.tool_calls
    assert [(c.name, c.input) for c in calls] == [
        ("read_file", {"path": "calculator/calc.py", "note": "x" * 50}),
        ("list_files", {}),
    ]
    assert all(c.id.startswith("call_standin_") and c.input_error is None for c in calls)
    history = [
        *USER,
        {"role": "assistant", "content": reply.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": c.id, "content": f"out {n}", "is_error": n}
                for n, c in enumerate(calls)
            ],
        },
    ]
    assert m.complete(system="s", messages=history, tools=TOOLS).text == "done"
    sent = openai_standin.requests[1].body["messages"]
    assert [x["role"] for x in sent] == ["system", "user", "assistant", "tool", "tool"]
    assert [c["id"] for c in sent[2]["tool_calls"]] == [c.id for c in calls]
    assert sent[3] == {"role": "tool", "tool_call_id": calls[0].id, "content": "out 0"}
    assert sent[4]["content"] == "ERROR: out 1"


def test_arguments_that_are_not_json_become_a_tool_error_not_a_crash(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_standin.enqueue(chat_tool_calls(("read_file", '{"path": "a.py"'), ("list_files", "[1]")))
    reply = model(openai_standin, monkeypatch).complete(system="s", messages=USER, tools=TOOLS)
    bad, not_object = reply.tool_calls
    assert bad.input == {} and bad.input_error and "not valid JSON" in bad.input_error
    assert not_object.input_error and "must be a JSON object" in not_object.input_error


def test_reasoning_models_get_max_completion_tokens_and_a_developer_message(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_standin.enqueue(chat_text("ok"), chat_text("ok"))
    model(openai_standin, monkeypatch, "openai:o4-mini").complete(
        system="sys", messages=USER, tools=TOOLS, max_tokens=500
    )
    body = openai_standin.requests[0].body
    assert body["max_completion_tokens"] == 500 and "max_tokens" not in body
    assert body["messages"][0] == {"role": "developer", "content": "sys"}
    # the config override wins over the name: a reasoning model the name does not reveal
    m = model(
        openai_standin, monkeypatch, "openai:my-thinker", providers={"openai": {"reasoning": True}}
    )
    m.complete(system="sys", messages=USER, tools=TOOLS, max_tokens=500)
    assert openai_standin.requests[1].body["max_completion_tokens"] == 500


def test_the_stand_in_refuses_what_the_real_api_refuses() -> None:
    def bad(body: dict[str, Any]) -> list[str]:
        return problems(body, reasoning=("o3",), no_tools=set())

    ok = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert bad(ok) == []
    assert "Unrecognized request argument" in bad({**ok, "cache_control": {}})[0]
    assert "max_completion_tokens" in bad({**ok, "model": "o3", "max_tokens": 5})[0]
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    orphan = {
        **ok,
        "messages": [*ok["messages"], {"role": "tool", "tool_call_id": "c9", "content": "r"}],
    }
    assert "must be a response to a preceeding message" in bad(orphan)[0]
    unanswered = {
        **ok,
        "messages": [
            *ok["messages"],
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "user", "content": "next"},
        ],
    }
    assert "did not have response messages: c1" in bad(unanswered)[0]
    named = {**ok, "tools": [{"type": "function", "function": {"name": "read file"}}]}
    assert "does not match pattern" in bad(named)[0]
    keyed = {**ok, "messages": [{"role": "user", "content": "x", "is_error": True}]}
    assert "Unrecognized key(s): is_error" in bad(keyed)[0]


def test_ollama_preset_sends_no_key_and_uses_its_url(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OLLAMA_BASE_URL", openai_standin.base_url)
    openai_standin.enqueue(chat_text("hi"))
    m = make_model("ollama:qwen3:8b", "executor", config=ModelConfig(max_retries=0))
    assert m.label == "ollama:qwen3:8b"
    assert m.complete(system="", messages=USER, tools=TOOLS).text == "hi"
    req = openai_standin.requests[0]
    assert req.body["model"] == "qwen3:8b" and req.body["messages"] == USER
    assert KEY not in req.headers.get("authorization", "")


def test_presets_resolve_their_urls_and_name_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("OLLAMA_BASE_URL", "LMSTUDIO_BASE_URL", "VLLM_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    assert resolve("ollama", "qwen3").base_url == "http://localhost:11434/v1"
    assert resolve("lmstudio", "m").base_url == "http://localhost:1234/v1"
    ep = resolve("openrouter", "anthropic/claude-x")
    assert ep.base_url == "https://openrouter.ai/api/v1" and ep.key_env == "OPENROUTER_API_KEY"
    own = resolve("ollama", "q", {"ollama": {"base_url": "http://gpu-box:11434/v1"}})
    assert own.base_url == "http://gpu-box:11434/v1" and not own.is_local
    cases = {
        "vllm:m": "needs the server's base URL: set VLLM_BASE_URL",
        "azure:dep": "needs the server's endpoint: set AZURE_OPENAI_ENDPOINT",
        "openrouter:gpt-4": "named vendor/model",
        "bedrock:anthropic.claude": "pip install 'planloop[bedrock]'",
        "vertex:claude": "pip install 'planloop[vertex]'",
    }
    for spec, words in cases.items():
        with pytest.raises(ModelError) as info:
            make_model(spec, "planner")
        assert words in info.value.message, spec
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")
    with pytest.raises(ModelError, match="needs an API version: set OPENAI_API_VERSION"):
        make_model("azure:dep", "planner")
    with pytest.raises(ModelError, match=r"\[providers.ollama\] has unknown key\(s\) region"):
        make_model("ollama:q", "planner", config=ModelConfig(providers={"ollama": {"region": "x"}}))


def test_azure_uses_the_sdks_azure_client_with_deployment_and_version(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", openai_standin.base_url.removesuffix("/v1"))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    m = make_model("azure:my-deploy", "executor", config=ModelConfig(max_retries=0))
    with pytest.raises(ModelError) as info:  # the stand-in serves /v1 only: a clear 404
        m.complete(system="s", messages=USER, tools=TOOLS)
    [req] = openai_standin.requests
    assert req.path == "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"
    assert req.headers["api-key"] == KEY
    assert "model 'my-deploy' not found" in info.value.message


# --- finish reasons -------------------------------------------------------------------------


def test_length_fails_the_turn_clearly_and_keeps_its_usage(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_standin.enqueue(chat(text="def sq(x", finish_reason="length", use=usage(50, 64)))
    err = fails(model(openai_standin, monkeypatch), max_tokens=64)
    assert err.kind == "max_tokens" and "cut off at max_tokens=64" in err.message
    assert err.reply is not None and err.reply.usage.output_tokens == 64


@pytest.mark.parametrize("refusal", [None, "I can't help with that."])
def test_content_filter_and_refusals_are_reported_as_refusals(
    refusal: str | None, openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    finish = "content_filter" if refusal is None else "stop"
    openai_standin.enqueue(
        chat(text=None if refusal else "", refusal=refusal, finish_reason=finish)
    )
    err = fails(model(openai_standin, monkeypatch))
    assert err.kind == "refusal" and "content filter or refused" in err.message
    if refusal:
        assert refusal in err.message


# --- faults, each with the line the user reads -----------------------------------------------

FAULTS: dict[str, tuple[OpenAIReply, str, bool, list[str]]] = {
    "401": (
        error_reply(401, f"Incorrect API key provided: {KEY}.", code="invalid_api_key"),
        "auth",
        False,
        ["rejected the credentials", "HTTP 401", "OPENAI_API_KEY", "[redacted]"],
    ),
    "403": (
        error_reply(403, "Project does not have access to model gpt-4.1"),
        "auth",
        False,
        ["permission denied", "HTTP 403", "may not be allowed to use 'gpt-4.1'"],
    ),
    "404": (
        error_reply(404, "The model `gpt-4.1` does not exist", code="model_not_found"),
        "bad_request",
        False,
        ["model 'gpt-4.1' not found at http://127.0.0.1", "HTTP 404"],
    ),
    "429": (
        error_reply(429, "Rate limit reached", headers={"retry-after": "7"}),
        "rate_limit",
        True,
        ["rate limited", "HTTP 429", "wait 7s"],
    ),
    "429-quota": (
        error_reply(429, "You exceeded your current quota", code="insufficient_quota"),
        "billing",
        False,
        ["no quota left", "billing"],
    ),
    "500": (
        error_reply(500, "The server had an error", type="server_error"),
        "server",
        True,
        ["server had an error", "HTTP 500", "resume later"],
    ),
    "mid-stream-error": (
        stream_error_reply("overloaded"),
        "server",
        True,
        ["broke off with an error", "overloaded"],
    ),
    "context": (
        error_reply(400, "This model's maximum context length is 8192 tokens"),
        "context_too_long",
        False,
        ["too long for 'gpt-4.1'", "larger context window"],
    ),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_http_faults_become_one_clear_line(
    case: str, openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply, kind, retryable, words = FAULTS[case]
    openai_standin.enqueue(reply)
    err = fails(model(openai_standin, monkeypatch))
    assert (err.kind, err.retryable) == (kind, retryable), err.message
    for w in words:
        assert w in err.message, (w, err.message)
    assert "\n" not in err.message
    assert len(openai_standin.requests) == 1  # max_retries = 0


def test_sdk_retries_a_429_honouring_retry_after(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_standin.enqueue(
        error_reply(429, "slow down", headers={"retry-after": "0"}), chat_text("ok")
    )
    m = model(openai_standin, monkeypatch)
    m.max_retries = 1
    m._client = None
    assert m.complete(system="s", messages=USER, tools=TOOLS).text == "ok"
    assert len(openai_standin.requests) == 2


def test_a_model_without_tool_support_is_named_at_the_first_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with OpenAIStandIn(no_tools={"gemma:2b"}) as api:
        monkeypatch.setenv("OLLAMA_BASE_URL", api.base_url)
        m = make_model("ollama:gemma:2b", "executor", config=ModelConfig(max_retries=0))
        with pytest.raises(ModelError) as info:
            m.complete(system="s", messages=USER, tools=TOOLS)
    err = info.value
    assert err.kind == "no_tools" and not err.retryable
    assert "'gemma:2b' at http://127.0.0.1" in err.message
    assert "does not support tool calling" in err.message and "tagged 'tools'" in err.message


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_connection_refused_on_a_local_url_says_how_to_start_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", f"http://localhost:{_closed_port()}/v1")
    m = make_model("ollama:qwen3", "executor", config=ModelConfig(max_retries=0))
    with pytest.raises(ModelError) as info:
        m.complete(system="s", messages=USER, tools=TOOLS)
    err = info.value
    assert err.kind == "connection" and err.retryable
    assert "nothing answers at http://localhost:" in err.message
    assert "Is the local server running? Start it with `ollama serve`" in err.message


def test_connection_refused_on_a_remote_url_points_at_network_and_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    # 127.0.0.2 is not one of the names treated as "this machine's own server"
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.2:{_closed_port()}/v1")
    m = make_model("openai:gpt-4.1", "executor", config=ModelConfig(max_retries=0, timeout_s=3))
    err = fails(m)
    assert err.kind == "connection" and "could not reach http://127.0.0.2" in err.message
    assert "Check the network or proxy" in err.message


def test_silence_longer_than_the_timeout_fails_as_a_timeout(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_standin.enqueue(OpenAIReply(body=chat_text("late"), delay_s=3))
    err = fails(model(openai_standin, monkeypatch, timeout=0.5))
    assert err.kind == "timeout" and err.retryable
    assert "no response from http://127.0.0.1" in err.message and "for 0.5s" in err.message


def test_missing_key_is_reported_before_any_request(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = model(openai_standin, monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY")
    err = fails(m)
    assert err.kind == "auth" and "OPENAI_API_KEY is not set" in err.message
    assert openai_standin.requests == []


def test_a_cancel_returns_at_once_during_a_stalled_stream(
    openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    openai_standin.enqueue(OpenAIReply(body=chat_text("slow"), stall_s=10))
    m = model(openai_standin, monkeypatch, timeout=30)
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    t0 = time.monotonic()
    err = fails(m, cancel=token)
    assert err.kind == "cancelled" and time.monotonic() - t0 < 5


def test_stream_chunks_carry_fragments(openai_standin: OpenAIStandIn) -> None:
    """The stand-in really fragments: the SDK sees arguments in pieces, not one blob."""
    import urllib.request

    openai_standin.enqueue(chat_tool_calls(("read_file", {"path": "abcdefghij"})))
    body = json.dumps(
        {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    ).encode()
    req = urllib.request.Request(
        openai_standin.base_url + "/chat/completions", data=body, method="POST"
    )
    req.add_header("content-type", "application/json")
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    pieces = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    frags = [
        tc["function"]["arguments"]
        for p in pieces
        for c in p["choices"]
        for tc in c["delta"].get("tool_calls", [])
        if tc["function"].get("arguments")
    ]
    assert len(frags) >= 2 and "".join(frags) == json.dumps({"path": "abcdefghij"})
    assert pieces[-1]["choices"] == [] and pieces[-1]["usage"]["prompt_tokens"] == 10


def test_provider_keys_are_secrets_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from planloop.redaction import redact, scrubbed_env

    env = {
        "OPENAI_API_KEY": KEY,
        "OPENROUTER_API_KEY": "or-key-123456789",
        "AZURE_OPENAI_API_KEY": "az-key-123456789",
        "VLLM_API_KEY": "vl-key-123456789",
        "GATEWAY_KEY": "a custom api_key_env",
        "PATH": "/bin",
    }
    assert scrubbed_env(env) == {"PATH": "/bin"}  # the executor's commands get none of them
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    line = redact(f"saw {KEY} and or-key-123456789 and az-key-123456789")
    assert KEY not in line and "or-key" not in line and "az-key" not in line

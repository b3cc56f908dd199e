"""The anthropic adapter, through the real SDK over real HTTP against the stand-in."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from planloop.cancel import CancelToken
from planloop.models.anthropic_adapter import AnthropicModel
from planloop.models.base import ModelConfig, ModelError, ToolSpec, Usage
from planloop.models.pricing import cost_usd, is_priced, price_for
from planloop.models.registry import DEFAULT_EXECUTOR_SPEC, DEFAULT_PLANNER_SPEC, make_model
from standin import (
    Reply,
    StandIn,
    error_reply,
    message,
    stream_error_reply,
    text_message,
    tokens,
    tool_use_message,
)

KEY = "sk-ant-api03-SECRET-test-key-0123456789abcdef"
USER = [{"role": "user", "content": "Add a subtract function to calc.py"}]
TOOLS = [
    ToolSpec(
        "read_file",
        "Read a file",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    ToolSpec(
        "write_file",
        "Write a file",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    ),
]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        for var in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        yield server


def model(model_id: str = "claude-sonnet-5-5", **kw: object) -> AnthropicModel:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout_s", 2.0)
    return AnthropicModel(model_id, role="executor", **kw)  # type: ignore[arg-type]


def fail(m: AnthropicModel, **kw: object) -> ModelError:
    with pytest.raises(ModelError) as info:
        m.complete(system="You edit code.", messages=USER, tools=TOOLS, **kw)  # type: ignore[arg-type]
    assert KEY not in info.value.message and KEY not in str(info.value)
    return info.value


# -- the happy path ----------------------------------------------------------------------


def test_tool_use_round_trip_sends_the_reply_back_unchanged(api: StandIn) -> None:
    api.enqueue(
        tool_use_message("read_file", {"path": "calc.py"}, id="toolu_01", text="Reading it."),
        text_message("Done: added subtract."),
    )
    m = model()
    first = m.complete(system="You edit code.", messages=USER, tools=TOOLS)

    assert first.stop_reason == "tool_use"
    assert first.text == "Reading it."
    [call] = first.tool_calls
    assert (call.id, call.name, call.input) == ("toolu_01", "read_file", {"path": "calc.py"})
    assert json.loads(json.dumps(first.content)) == first.content  # storable as JSON

    history = [
        *USER,
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "def add(): ..."}
            ],
        },
    ]
    second = m.complete(system="You edit code.", messages=history, tools=TOOLS)

    assert second.text == "Done: added subtract."
    assert second.stop_reason == "end_turn" and second.tool_calls == []
    sent = api.requests[1].body["messages"]
    assert sent[1] == {"role": "assistant", "content": first.content}
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_01"


def test_request_marks_system_last_tool_and_conversation_for_prompt_caching(api: StandIn) -> None:
    api.enqueue(text_message("ok"))
    model("claude-opus-5-5").complete(
        system="You plan.", messages=USER, tools=TOOLS, max_tokens=1234
    )

    body = api.requests[0].body
    assert body["model"] == "claude-opus-5-5"
    assert body["max_tokens"] == 1234
    assert body["system"] == [
        {"type": "text", "text": "You plan.", "cache_control": {"type": "ephemeral"}}
    ]
    assert [t["name"] for t in body["tools"]] == ["read_file", "write_file"]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][0]["input_schema"] == TOOLS[0].input_schema
    assert body["cache_control"] == {"type": "ephemeral"}
    assert body["stream"] is True
    assert "temperature" not in body


def test_empty_system_and_no_tools_are_left_out_of_the_request(api: StandIn) -> None:
    api.enqueue(text_message("ok"))
    model().complete(system="", messages=USER, tools=[])
    body = api.requests[0].body
    assert "system" not in body and "tools" not in body


def test_usage_includes_cache_tokens_and_cost_from_the_price_table(api: StandIn) -> None:
    api.enqueue(text_message("ok", usage=tokens(1000, 200, cache_read=5000, cache_write=2000)))
    reply = model("claude-sonnet-5-5").complete(system="s", messages=USER, tools=TOOLS)

    assert reply.usage == Usage(
        input_tokens=1000, output_tokens=200, cache_read_tokens=5000, cache_write_tokens=2000
    )
    # Sonnet 5.5: $2 in, $10 out, $2.50 cache write, $0.10 cache read per MTok
    assert reply.cost_usd == pytest.approx((1000 * 2 + 200 * 10 + 2000 * 2.5 + 5000 * 0.1) / 1e6)


def test_price_override_from_config_changes_the_cost(api: StandIn) -> None:
    api.enqueue(text_message("ok", usage=tokens(0, 1_000_000)))
    m = model("claude-sonnet-5-5", price_table={"claude-sonnet-5-5": {"output": 12}})
    assert m.complete(system="s", messages=USER, tools=[]).cost_usd == pytest.approx(12.0)


def test_unpriced_model_costs_zero_and_is_flagged(api: StandIn) -> None:
    api.enqueue(text_message("ok", usage=tokens(1000, 1000)))
    m = model("claude-unreleased-9")
    assert m.priced is False
    assert m.complete(system="s", messages=USER, tools=[]).cost_usd == 0.0


def test_thinking_blocks_are_kept_with_signature_for_the_next_turn(api: StandIn) -> None:
    api.enqueue(
        message(
            [
                {"type": "thinking", "thinking": "Look at calc.py first.", "signature": "sig-abc"},
                {"type": "tool_use", "id": "toolu_9", "name": "read_file", "input": {"path": "a"}},
            ],
            stop_reason="tool_use",
        )
    )
    reply = model().complete(system="s", messages=USER, tools=TOOLS)
    assert reply.content[0] == {
        "type": "thinking",
        "thinking": "Look at calc.py first.",
        "signature": "sig-abc",
    }
    assert reply.text == "" and reply.tool_calls[0].id == "toolu_9"


def test_api_key_is_sent_only_in_the_authorization_header(api: StandIn) -> None:
    api.enqueue(text_message("ok"))
    model().complete(system="s", messages=USER, tools=TOOLS)
    [req] = api.requests
    assert req.headers["authorization"] == f"Bearer {KEY}"
    others = {k: v for k, v in req.headers.items() if k != "authorization"}
    assert not any(KEY in v for v in others.values())
    assert KEY.encode() not in req.raw


def test_sdk_retries_an_overloaded_reply_when_retries_are_allowed(api: StandIn) -> None:
    api.enqueue(
        error_reply(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "10"}),
        text_message("second time lucky"),
    )
    reply = model(max_retries=1).complete(system="s", messages=USER, tools=[])
    assert reply.text == "second time lucky"
    assert [r.headers["x-stainless-retry-count"] for r in api.requests] == ["0", "1"]


# -- errors ---------------------------------------------------------------------------------


def test_missing_api_key_is_an_auth_error_before_any_request(
    api: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    err = fail(model())
    assert err.kind == "auth" and not err.retryable
    assert err.message.startswith("ANTHROPIC_API_KEY is not set")
    assert "scripted:" in err.message  # says how to run without a key
    assert api.requests == []


def test_api_key_with_inner_space_is_an_auth_error_before_any_request(
    api: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-abc def")
    err = fail(model())
    assert err.kind == "auth" and "copy the key again" in err.message
    assert "abc def" not in err.message
    assert api.requests == []


def test_wrong_key_401_is_auth_error_that_never_echoes_the_key(api: StandIn) -> None:
    api.require_key = "sk-ant-the-right-key"
    err = fail(model())
    assert err.kind == "auth" and not err.retryable
    assert "HTTP 401" in err.message and "ANTHROPIC_API_KEY" in err.message


def test_key_echoed_by_the_server_is_redacted_from_the_error(api: StandIn) -> None:
    api.enqueue(error_reply(401, "authentication_error", f"invalid x-api-key {KEY}"))
    err = fail(model())
    assert err.kind == "auth" and "[redacted]" in err.message


def test_403_permission_error_is_auth_and_names_the_model(api: StandIn) -> None:
    api.enqueue(error_reply(403, "permission_error", "not allowed to use this model"))
    err = fail(model("claude-opus-5-5"))
    assert err.kind == "auth" and "claude-opus-5-5" in err.message


def test_429_rate_limit_is_retryable_and_names_retry_after(api: StandIn) -> None:
    api.enqueue(
        error_reply(
            429, "rate_limit_error", "Number of requests exceeded", headers={"retry-after": "17"}
        )
    )
    err = fail(model())
    assert err.kind == "rate_limit" and err.retryable
    assert "17s" in err.message and "HTTP 429" in err.message


def test_500_is_a_retryable_server_error(api: StandIn) -> None:
    api.enqueue(error_reply(500, "api_error", "Internal server error"))
    err = fail(model())
    assert err.kind == "server" and err.retryable and "HTTP 500" in err.message


def test_529_is_a_retryable_overloaded_error(api: StandIn) -> None:
    api.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    err = fail(model())
    assert err.kind == "overloaded" and err.retryable and "wait" in err.message


def test_overloaded_error_event_in_the_middle_of_the_stream(api: StandIn) -> None:
    api.enqueue(stream_error_reply("overloaded_error", "Overloaded"))
    err = fail(model())
    assert err.kind == "overloaded" and err.retryable


def test_prompt_too_long_400_is_context_too_long(api: StandIn) -> None:
    api.enqueue(
        error_reply(
            400, "invalid_request_error", "prompt is too long: 1200001 tokens > 1000000 maximum"
        )
    )
    err = fail(model())
    assert err.kind == "context_too_long" and not err.retryable
    assert "prompt is too long" in err.message


def test_other_400_is_bad_request_with_the_api_message(api: StandIn) -> None:
    api.enqueue(
        error_reply(400, "invalid_request_error", "tools.0.name: String should match pattern")
    )
    err = fail(model())
    assert err.kind == "bad_request" and "tools.0.name" in err.message


def test_404_unknown_model_is_bad_request_naming_the_model(api: StandIn) -> None:
    api.enqueue(error_reply(404, "not_found_error", "model: claude-nope"))
    err = fail(model("claude-nope"))
    assert err.kind == "bad_request" and "claude-nope" in err.message


def test_low_credit_balance_is_a_billing_error(api: StandIn) -> None:
    api.enqueue(
        error_reply(
            400, "invalid_request_error", "Your credit balance is too low to access the API."
        )
    )
    err = fail(model())
    assert err.kind == "billing" and not err.retryable


def test_silence_longer_than_timeout_is_a_timeout(api: StandIn) -> None:
    api.enqueue(Reply(body=text_message("too late"), delay_s=5))
    start = time.monotonic()
    err = fail(model(timeout_s=0.5))
    assert err.kind == "timeout" and err.retryable and "0.5s" in err.message
    assert time.monotonic() - start < 2.5


def test_stream_that_stalls_mid_reply_is_a_timeout(api: StandIn) -> None:
    api.enqueue(Reply(body=text_message("stalls"), stall_s=5))
    start = time.monotonic()
    err = fail(model(timeout_s=0.5))
    assert err.kind == "timeout" and err.retryable
    assert time.monotonic() - start < 2.5


def test_unreachable_base_url_is_a_connection_error(
    api: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    err = fail(model())
    assert err.kind == "connection" and err.retryable and str(port) in err.message


def test_max_tokens_stop_is_an_error_that_keeps_the_billed_reply(api: StandIn) -> None:
    api.enqueue(text_message("def subtract(a, b", stop_reason="max_tokens", usage=tokens(50, 64)))
    err = fail(model(), max_tokens=64)
    assert err.kind == "max_tokens" and "max_tokens=64" in err.message
    assert "Raise max_tokens" in err.message
    assert err.reply is not None and err.reply.usage.output_tokens == 64


def test_refusal_stop_is_a_refusal_error(api: StandIn) -> None:
    api.enqueue(text_message("I can't help with that.", stop_reason="refusal"))
    err = fail(model())
    assert err.kind == "refusal" and not err.retryable


def test_context_window_exceeded_stop_is_context_too_long(api: StandIn) -> None:
    api.enqueue(text_message("partial", stop_reason="model_context_window_exceeded"))
    assert fail(model()).kind == "context_too_long"


def test_zero_max_tokens_is_rejected_without_a_request(api: StandIn) -> None:
    err = fail(model(), max_tokens=0)
    assert err.kind == "bad_request" and api.requests == []


# -- cancellation ------------------------------------------------------------------------


def _cancel_once_request_arrives(api: StandIn, token: CancelToken) -> list[float]:
    """Cancel as soon as the stand-in has the request in hand; returns [cancel time]."""
    when: list[float] = []

    def watch() -> None:
        deadline = time.monotonic() + 5
        while not api.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        when.append(time.monotonic())
        token.cancel()

    threading.Thread(target=watch, daemon=True).start()
    return when


@pytest.mark.parametrize(
    "reply",
    [Reply(body=text_message("slow"), delay_s=5), Reply(body=text_message("stalls"), stall_s=5)],
    ids=["before-headers", "mid-stream"],
)
def test_cancel_during_a_slow_call_returns_promptly(api: StandIn, reply: Reply) -> None:
    api.enqueue(reply)
    token = CancelToken()
    when = _cancel_once_request_arrives(api, token)
    err = fail(model(timeout_s=10), cancel=token)
    returned = time.monotonic()
    assert err.kind == "cancelled" and not err.retryable
    assert returned - when[0] < 1.0
    assert len(api.requests) == 1


def test_model_works_again_after_a_cancel(api: StandIn) -> None:
    api.enqueue(Reply(body=text_message("slow"), delay_s=5), text_message("fresh"))
    token = CancelToken()
    _cancel_once_request_arrives(api, token)
    m = model(timeout_s=10)
    assert fail(m, cancel=token).kind == "cancelled"
    reply = m.complete(system="s", messages=USER, tools=[], cancel=CancelToken())
    assert reply.text == "fresh"


def test_already_cancelled_token_makes_no_request(api: StandIn) -> None:
    token = CancelToken()
    token.cancel()
    assert fail(model(), cancel=token).kind == "cancelled"
    assert api.requests == []


def test_uncancelled_token_gets_the_normal_reply(api: StandIn) -> None:
    api.enqueue(tool_use_message("read_file", {"path": "x"}))
    reply = model().complete(system="s", messages=USER, tools=TOOLS, cancel=CancelToken())
    assert reply.tool_calls[0].name == "read_file"


# -- construction, registry, pricing ------------------------------------------------------


def test_importing_the_models_package_does_not_import_the_sdk() -> None:
    code = (
        "import sys; import planloop.models.registry, planloop.models.anthropic_adapter; "
        "from planloop.models.registry import make_model; "
        "make_model('anthropic:claude-x', 'planner'); "
        "print('anthropic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_builds_anthropic_models_with_config() -> None:
    m = make_model(
        "anthropic:claude-opus-5-5",
        "planner",
        config=ModelConfig(timeout_s=30, max_retries=1, prices={"claude-opus-5-5": {"input": 3}}),
    )
    assert isinstance(m, AnthropicModel)
    assert (m.label, m.scripted, m.timeout_s, m.max_retries) == (
        "anthropic:claude-opus-5-5",
        False,
        30.0,
        1,
    )
    assert DEFAULT_PLANNER_SPEC.startswith("anthropic:claude-")
    assert DEFAULT_EXECUTOR_SPEC.startswith("anthropic:claude-")
    assert is_priced(DEFAULT_PLANNER_SPEC.split(":", 1)[1])
    assert is_priced(DEFAULT_EXECUTOR_SPEC.split(":", 1)[1])


@pytest.mark.parametrize(
    "spec",
    ["nosuch:gpt-5", "anthropic:", "claude-opus-5-5", "", "anthropic:claude opus", "scripted:"],
)
def test_registry_rejects_bad_spec(spec: str) -> None:
    with pytest.raises(ModelError) as info:
        make_model(spec, "executor")
    assert info.value.kind == "bad_spec"
    assert "anthropic:" in info.value.message or "not valid" in info.value.message


def test_registry_rejects_bad_price_override() -> None:
    with pytest.raises(ModelError) as info:
        make_model(
            "anthropic:claude-opus-5-5",
            "planner",
            config=ModelConfig(prices={"claude-opus-5-5": {"ouptut": 20}}),
        )
    assert info.value.kind == "bad_spec" and "ouptut" in info.value.message


def test_pricing_uses_the_longest_matching_prefix() -> None:
    assert price_for("claude-opus-5-5-20261101") == price_for("claude-opus-5-5")
    assert price_for("claude-opus-5-20260724").input == 5  # type: ignore[union-attr]
    assert price_for("claude-opus-5-5").input == 4  # type: ignore[union-attr]
    assert price_for("claude-opus-4-1-20250805").input == 15  # type: ignore[union-attr]
    assert price_for("gpt-5") is None and not is_priced("gpt-5")
    assert cost_usd("gpt-5", Usage(input_tokens=10**6)) == 0.0


def test_pricing_bills_a_long_haiku_prompt_at_the_higher_band() -> None:
    short = Usage(input_tokens=100_000, output_tokens=1_000_000)
    long = Usage(input_tokens=60_000, cache_read_tokens=50_000, output_tokens=1_000_000)
    assert cost_usd("claude-haiku-5-5", short) == pytest.approx(0.01 + 0.50)
    assert cost_usd("claude-haiku-5-5", long) == pytest.approx(0.03 + 0.0025 + 2.50)


@pytest.mark.parametrize(
    "override",
    [{"claude-x": {"input": -1}}, {"claude-x": {"input": "free"}}, {"claude-x": 3}, {"": {}}],
    ids=["negative", "not-a-number", "not-a-table", "empty-prefix"],
)
def test_pricing_rejects_bad_override(override: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        cost_usd("claude-x", Usage(), override)

"""The model port: what the planner and executor need from any language model.

Adapters (``anthropic_adapter``, ``scripted``) turn a provider into this shape, so the
roles and the orchestrator never import an SDK. Messages use the Messages API's JSON
shape (role + content blocks) because it is the richest common form and the scripted
adapter replays exactly those blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from planloop.cancel import CancelToken
from planloop.errors import PlanloopError


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]
    #: set when the model's arguments could not be read (not JSON): the tool loop
    #: answers with this as a tool error instead of running the tool
    input_error: str | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class ModelReply:
    """One assistant turn. ``content`` is the Messages-API block list, to append to history."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model: str = ""
    #: False: no price is known for the model, so ``cost_usd`` (0) is not a cost and
    #: every front end shows the tokens and "cost unknown" instead
    priced: bool = True

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [
            ToolCall(
                id=b["id"],
                name=b["name"],
                input=b.get("input") or {},
                input_error=b.get("input_error"),
            )
            for b in self.content
            if b.get("type") == "tool_use"
        ]


class ModelError(PlanloopError):
    """A model call that failed, with a message a person can act on.

    ``kind`` is one of: auth, billing, rate_limit, overloaded, server, timeout,
    connection, context_too_long, bad_request, refusal, max_tokens, bad_spec,
    script_exhausted, script_mismatch, cancelled.
    ``retryable`` tells the orchestrator whether pausing and resuming may help.
    """

    #: the turn that was billed but could not be used (max_tokens, refusal, …), so
    #: its tokens and cost can still be recorded; None when nothing came back.
    reply: ModelReply | None = None

    default_kind = "model"

    def __init__(self, kind: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message, kind=kind)
        self.retryable = retryable


@dataclass
class ModelConfig:
    """Settings a front end reads from ``planloop.toml`` and hands to ``make_model``.

    Kept here (not in the adapter) so config code can build one without importing
    an adapter, let alone the SDK.
    """

    #: seconds the API may stay silent (no streamed byte) before the call fails.
    timeout_s: float = 120.0
    #: SDK-level retries for 429/529/5xx/connection errors, with backoff.
    max_retries: int = 2
    #: per model-id-prefix price overrides, USD per million tokens, e.g.
    #: ``{"claude-opus-5-5": {"input": 4, "output": 20}}`` (see ``pricing.py``).
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    #: ``[providers.<name>]`` from planloop.toml: base_url, api_key_env, reasoning,
    #: api_version (see ``providers.py``)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)


def stop_reason_error(stop_reason: str, label: str, max_tokens: int) -> ModelError | None:
    """The error a finished turn stands for, shared so scripted turns fail like real ones.

    A truncated or refused turn must not reach the roles as if it were an answer:
    a cut-off tool call would run with half its input.
    """
    if stop_reason == "max_tokens":
        return ModelError(
            "max_tokens",
            f"{label}: the reply was cut off at max_tokens={max_tokens}, so it is "
            "incomplete. Raise max_tokens in planloop.toml (or ask for a smaller step).",
        )
    if stop_reason == "refusal":
        return ModelError(
            "refusal",
            f"{label}: the model declined to continue (stop_reason=refusal). "
            "Rephrase the goal or step, or change what it is asked to do.",
        )
    if stop_reason == "model_context_window_exceeded":
        return ModelError(
            "context_too_long",
            f"{label}: the conversation filled the model's context window. Split the "
            "step into smaller ones or use a model with a larger context window.",
        )
    return None


class Model(Protocol):
    """A language model for one role."""

    #: what the CLI and events print, e.g. ``anthropic:claude-sonnet-5`` or
    #: ``scripted:demo.json (scripted)``; scripted models always say so.
    label: str
    scripted: bool

    def complete(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int = 8192,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        """One assistant turn; raises ModelError (never an SDK exception)."""
        ...

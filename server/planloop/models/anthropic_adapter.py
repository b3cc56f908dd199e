"""The Anthropic adapter: one ``Model.complete`` turn through the official SDK.

The SDK is imported on the first call, never at import time, so ``planloop serve``
answers ``initialize`` without paying for it, and a scripted run never needs it.

Every failure leaves here as a ``ModelError`` whose message says what to do, never as
an SDK exception, and never with the API key in it. This module holds the call (client,
stream, cancel); the request and reply translation is ``anthropic_wire``, the mapping
of failures ``anthropic_errors``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, Literal

from planloop.cancel import CancelToken
from planloop.models.anthropic_errors import map_error, no_long_waits, scrub, short
from planloop.models.anthropic_wire import reply_of, request_param
from planloop.models.base import ModelError, ModelReply, ToolSpec, stop_reason_error
from planloop.models.pricing import is_priced

log = logging.getLogger(__name__)

_NO_KEY = (
    "ANTHROPIC_API_KEY is not set — the anthropic model needs an API key. Create one at "
    "https://console.anthropic.com/settings/keys and `export ANTHROPIC_API_KEY=...` "
    "(in VS Code: run 'planloop: Set API Key'), or run offline with a scripted model: "
    "--planner scripted:FILE --executor scripted:FILE."
)

Credential = tuple[Literal["api_key", "auth_token"], str]
"""(the SDK argument that carries it, the secret) — e.g. ("api_key", "sk-ant-…")."""
_CREDENTIAL_VARS: tuple[tuple[str, Literal["api_key", "auth_token"]], ...] = (
    ("ANTHROPIC_API_KEY", "api_key"),
    ("ANTHROPIC_AUTH_TOKEN", "auth_token"),
)


class AnthropicModel:
    """A Claude model for one role, over the Messages API (streamed).

    Why streaming, although callers get one finished turn: with a plain request the
    HTTP read timeout bounds the *whole* generation, and a long thinking turn on a
    large model can legitimately take minutes. Streamed, ``timeout_s`` bounds only
    silence (the API sends events and pings while it works), so a stalled
    connection still fails fast, and a cancel can close the stream mid-reply.

    Why these SDK settings: the SDK's own retries (``max_retries``, default 2) cover
    what a short wait fixes — 429 (honouring ``retry-after``), 529 overloaded, 5xx
    and dropped connections — with exponential backoff. More would hide a real
    outage behind minutes of silence; when they run out the error is marked
    ``retryable`` and the orchestrator pauses so the user can resume. The SDK's
    default timeout (10 minutes) is far too long to notice a dead connection, so it
    is set to ``timeout_s`` (connect at most 10 s). Worst case per call:
    ``(max_retries + 1) * timeout_s`` plus backoff; a cancel returns at once anyway.

    Prompt caching: the system prompt and the tool list (marked on the last tool)
    are identical on every turn of a role, and the top-level ``cache_control``
    marks the end of the conversation so each tool-loop turn reads the previous
    turns from cache instead of paying for them again.
    """

    scripted = False

    def __init__(
        self,
        model_id: str,
        *,
        role: str | None = None,
        max_retries: int = 2,
        timeout_s: float = 120.0,
        price_table: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        if not model_id or any(ch.isspace() for ch in model_id):
            raise ModelError(
                "bad_spec",
                f"model id {model_id!r} is not valid; use e.g. anthropic:claude-sonnet-5-5",
            )
        if max_retries < 0:
            raise ModelError("bad_spec", f"max_retries must be 0 or more, not {max_retries}")
        if not timeout_s > 0:
            raise ModelError("bad_spec", f"timeout_s must be more than 0 seconds, not {timeout_s}")
        self.model_id = model_id
        self.role = role
        self.max_retries = max_retries
        self.timeout_s = float(timeout_s)
        self.price_table = price_table
        self.label = f"anthropic:{model_id}"
        #: False: cost_usd is reported as 0 because no price is known for this model.
        self.priced = is_priced(model_id, price_table)
        if not self.priced:
            log.warning(
                "%s has no price in planloop's table; its cost is shown as unknown. "
                "Add it under [prices] in planloop.toml.",
                self.label,
            )
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_key: tuple[str, str, str | None] | None = None

    # -- the port ----------------------------------------------------------------

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
        if cancel is not None and cancel.cancelled:
            raise self._cancelled()
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ModelError("bad_request", f"{self._who}: max_tokens must be a positive integer")
        if not messages:
            raise ModelError("bad_request", f"{self._who}: a turn needs at least one message")
        secret = self._credential()
        client = self._client_for(secret)
        request = request_param(self.model_id, system, messages, tools, max_tokens)
        try:
            if cancel is None:
                message = self._stream(client, request, None, {})
            else:
                message = self._run_cancellable(client, request, cancel)
        except ModelError:
            raise
        except Exception as exc:  # every SDK/transport failure becomes a ModelError
            import anthropic
            import httpx2

            failure = map_error(
                exc,
                anthropic,
                httpx2,
                who=self._who,
                client=client,
                retries=self.max_retries,
                timeout_s=self.timeout_s,
                model_id=self.model_id,
            )
            raise scrub(failure, secret[1]) from None
        if message is None:  # the worker saw the cancel between events
            raise self._cancelled()
        reply = reply_of(message, self.model_id, self.price_table, priced=self.priced)
        error = stop_reason_error(reply.stop_reason, self._who, max_tokens)
        if error is not None:
            error.reply = reply
            raise error
        return reply

    @property
    def _who(self) -> str:
        return f"{self.role} model {self.label}" if self.role else self.label

    # -- client, call, cancel --------------------------------------------------------

    def _credential(self) -> Credential:
        """(kind, secret) from the environment, read per call so a key set later counts.

        Passed to the SDK explicitly, so it never falls back to on-disk profiles the
        user did not choose for planloop.
        """
        for var, kind in _CREDENTIAL_VARS:
            value = os.environ.get(var, "").strip()
            if value:
                if not value.isascii() or not value.isprintable() or " " in value:
                    raise ModelError(
                        "auth",
                        f"{var} contains spaces or characters that cannot be sent in an "
                        "HTTP header; copy the key again, exactly as the console shows it.",
                    )
                return kind, value
        raise ModelError("auth", _NO_KEY)

    def _client_for(self, secret: Credential) -> Any:
        import anthropic  # lazy: keeps `import planloop.models` and LSP startup fast

        key = (secret[0], secret[1], os.environ.get("ANTHROPIC_BASE_URL"))
        with self._lock:
            if self._client is None or self._client_key != key:
                old, self._client = self._client, None
                if old is not None:
                    _close_quietly(old)
                timeout = anthropic.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s))
                http = anthropic.DefaultHttpxClient(
                    timeout=timeout, event_hooks={"response": [no_long_waits]}
                )
                kind, value = secret
                if kind == "api_key":
                    self._client = anthropic.Anthropic(
                        api_key=value,
                        max_retries=self.max_retries,
                        timeout=timeout,
                        http_client=http,
                    )
                else:
                    self._client = anthropic.Anthropic(
                        auth_token=value,
                        max_retries=self.max_retries,
                        timeout=timeout,
                        http_client=http,
                    )
                self._client_key = key
            return self._client

    def _stream(
        self,
        client: Any,
        request: dict[str, Any],
        cancel: CancelToken | None,
        holder: dict[str, Any],
    ) -> Any:
        ended, seen = False, 0
        with client.messages.stream(**request) as stream:
            holder["stream"] = stream
            for event in stream:
                if cancel is not None and cancel.cancelled:
                    return None
                seen += 1
                ended = ended or event.type == "message_stop"
            if not seen:
                kind = stream.response.headers.get("content-type", "none")
                raise ModelError(
                    "server",
                    f"{self._who}: the API sent a reply planloop could not read (no "
                    f"message events; content-type {short(kind, 60)}). Resume later; if "
                    "it persists, check ANTHROPIC_BASE_URL and any proxy in between.",
                    retryable=True,
                )
            if not ended:
                # the connection closed before message_stop: what arrived is a fragment
                # (a tool call may lack half its input), never a reply to act on
                raise ModelError(
                    "connection",
                    f"{self._who}: the reply stream was cut off before the message ended "
                    "(the connection closed mid-reply); nothing of it was used. Resume "
                    "later; check the network or proxy if it keeps happening.",
                    retryable=True,
                )
            return stream.get_final_message()

    def _run_cancellable(self, client: Any, request: dict[str, Any], cancel: CancelToken) -> Any:
        """Run the blocking call in a worker and return as soon as it ends or is cancelled.

        The SDK has no cancel of its own; waiting in this thread on either event
        means a cancel from the editor takes effect now, not when the API answers.
        """
        done = threading.Event()
        holder: dict[str, Any] = {}

        def work() -> None:
            try:
                holder["result"] = self._stream(client, request, cancel, holder)
            except BaseException as exc:  # handed to the caller's thread
                holder["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=work, name=f"planloop-{self.label}", daemon=True)
        unregister = cancel.on_cancel(done.set)
        try:
            worker.start()
            done.wait()
        finally:
            unregister()
        if "result" in holder:
            return holder["result"]
        if "error" in holder and not cancel.cancelled:
            raise holder["error"]
        self._abandon(client, holder)
        raise self._cancelled()

    def _abandon(self, client: Any, holder: dict[str, Any]) -> None:
        """Stop paying for a cancelled reply: close its stream, or the client if not yet open."""
        stream = holder.get("stream")
        if stream is not None:
            _close_quietly(stream)
            return
        with self._lock:
            if self._client is client:
                self._client, self._client_key = None, None
        _close_quietly(client)

    def _cancelled(self) -> ModelError:
        return ModelError("cancelled", f"{self._who}: cancelled by the user; no reply was used.")


def _close_quietly(closable: Any) -> None:
    try:
        closable.close()
    except Exception:  # closing after a cancel is best effort; the caller has moved on
        pass

"""The Anthropic adapter: one ``Model.complete`` turn through the official SDK.

The SDK is imported on the first call, never at import time, so ``planloop serve``
answers ``initialize`` without paying for it, and a scripted run never needs it.

Every failure leaves here as a ``ModelError`` whose message says what to do, never as
an SDK exception, and never with the API key in it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Any, Literal

from planloop.cancel import CancelToken
from planloop.models.base import ModelError, ModelReply, ToolSpec, Usage, stop_reason_error
from planloop.models.pricing import cost_usd, is_priced

log = logging.getLogger(__name__)

_EPHEMERAL = {"type": "ephemeral"}
_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")
_CONTEXT_HINTS = (
    "prompt is too long",
    "context window",
    "context length",
    "context limit",
    "too many tokens",
)
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
        request = self._request(system, messages, tools, max_tokens)
        try:
            if cancel is None:
                message = self._stream(client, request, None, {})
            else:
                message = self._run_cancellable(client, request, cancel)
        except ModelError:
            raise
        except Exception as exc:  # every SDK/transport failure becomes a ModelError
            raise self._scrubbed(self._map_error(exc, client), secret[1]) from None
        if message is None:  # the worker saw the cancel between events
            raise self._cancelled()
        reply = self._reply(message)
        error = stop_reason_error(reply.stop_reason, self._who, max_tokens)
        if error is not None:
            error.reply = reply
            raise error
        return reply

    # -- request and reply ---------------------------------------------------------

    @property
    def _who(self) -> str:
        return f"{self.role} model {self.label}" if self.role else self.label

    def _request(
        self,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_id,
            "max_tokens": max_tokens,
            "messages": messages,
            "cache_control": dict(_EPHEMERAL),
        }
        if system:  # the API rejects an empty text block
            request["system"] = [
                {"type": "text", "text": system, "cache_control": dict(_EPHEMERAL)}
            ]
        if tools:
            specs: list[dict[str, Any]] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in tools
            ]
            specs[-1]["cache_control"] = dict(_EPHEMERAL)
            request["tools"] = specs
        return request

    def _reply(self, message: Any) -> ModelReply:
        u = message.usage
        usage = Usage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,
            cache_read_tokens=u.cache_read_input_tokens or 0,
            cache_write_tokens=u.cache_creation_input_tokens or 0,
        )
        return ModelReply(
            content=[_block(b) for b in message.content],
            stop_reason=message.stop_reason or "end_turn",
            usage=usage,
            cost_usd=cost_usd(self.model_id, usage, self.price_table),
            model=message.model or self.model_id,
            priced=self.priced,
        )

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
                    timeout=timeout, event_hooks={"response": [_no_long_waits]}
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
                    f"message events; content-type {_short(kind, 60)}). Resume later; if "
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

    # -- errors -----------------------------------------------------------------------

    def _scrubbed(self, error: ModelError, secret: str) -> ModelError:
        text = error.message
        if len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
        text = _KEY_PATTERN.sub("[redacted]", text)
        return ModelError(error.kind, text, retryable=error.retryable)

    def _map_error(self, exc: Exception, client: Any) -> ModelError:
        import anthropic
        import httpx2

        who = self._who
        after = f" after {self.max_retries} retries" if self.max_retries else ""
        if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
            return ModelError(
                "timeout",
                f"{who}: no response for {self.timeout_s:g}s{after}. The API may be slow "
                "or the connection stalled; resume later, or raise model_timeout_s "
                "in planloop.toml.",
                retryable=True,
            )
        if isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError)):
            cause = exc.__cause__ or exc.__context__ or exc
            base_url = str(getattr(client, "base_url", "")).rstrip("/")
            return ModelError(
                "connection",
                f"{who}: could not reach the API at {base_url}{after} ({_short(cause)}). "
                "Check the network or proxy, and ANTHROPIC_BASE_URL if you set it.",
                retryable=True,
            )
        if isinstance(exc, anthropic.APIStatusError):
            return self._map_status(exc, after)
        if isinstance(exc, (anthropic.APIResponseValidationError, json.JSONDecodeError)):
            return ModelError(
                "server",
                f"{who}: the API sent a reply planloop could not read ({_short(exc)}). "
                "Resume later; if it persists, report it with the log.",
                retryable=True,
            )
        if isinstance(exc, anthropic.AnthropicError):
            return ModelError(
                "auth",
                f"{who}: the SDK could not set up credentials ({_short(exc)}). "
                "Check ANTHROPIC_API_KEY.",
            )
        if isinstance(exc, (TypeError, ValueError)):
            return ModelError(
                "bad_request",
                f"{who}: the request was not valid ({_short(exc)}). This is likely a "
                "planloop bug; please report it with the log.",
            )
        return ModelError(
            "server",
            f"{who}: unexpected failure during the call ({_short(exc)}). Resume later; "
            "if it persists, report it with the log.",
            retryable=True,
        )

    def _retried(self, exc: Any, after: str) -> str:
        """ " after N retries", unless a long retry-after stopped the retries at once."""
        wait = retry_after_seconds(exc.response.headers)
        return "" if wait is not None and wait > MAX_RETRY_WAIT_S else after

    def _map_status(self, exc: Any, after: str) -> ModelError:
        who = self._who
        status: int = exc.status_code
        err_type = exc.type or ""
        api_message = exc.api_message or _body_text(exc.body)
        detail = f"HTTP {status}" if status != 200 else "error event in the reply stream"
        if api_message:
            detail += f": {_short(api_message)}"
        lowered = (api_message or "").lower()

        if status == 401 or err_type == "authentication_error":
            return ModelError(
                "auth",
                f"{who}: the API rejected the credentials ({detail}). Check that "
                "ANTHROPIC_API_KEY holds a valid, active key "
                "(https://console.anthropic.com/settings/keys).",
            )
        if status == 403 or err_type == "permission_error":
            return ModelError(
                "auth",
                f"{who}: permission denied ({detail}). The key works but may not be "
                f"allowed to use '{self.model_id}' or this workspace; check the key's "
                "workspace, or pick another model with --planner/--executor.",
            )
        if status == 402 or err_type == "billing_error" or "credit balance" in lowered:
            return ModelError(
                "billing",
                f"{who}: the account cannot pay for this call ({detail}). Add credits "
                "or check billing in the Anthropic console, then resume.",
            )
        if status == 429 or err_type == "rate_limit_error":
            return ModelError(
                "rate_limit",
                f"{who}: rate limited{self._retried(exc, after)} ({detail}).{_wait_hint(exc)} "
                "Wait and resume, or ask for higher rate limits.",
                retryable=True,
            )
        if status == 529 or err_type == "overloaded_error":
            hint = _wait_hint(exc) or (
                " This is temporary on Anthropic's side; wait a minute and resume."
            )
            return ModelError(
                "overloaded",
                f"{who}: the API is overloaded{self._retried(exc, after)} ({detail}).{hint}",
                retryable=True,
            )
        if (
            status == 413
            or err_type == "request_too_large"
            or (status == 400 and any(h in lowered for h in _CONTEXT_HINTS))
        ):
            return ModelError(
                "context_too_long",
                f"{who}: the request is too long for the model ({detail}). Split the step "
                "into smaller ones, read less of each file, or use a model with a "
                "larger context window.",
            )
        if status == 404 or err_type == "not_found_error":
            return ModelError(
                "bad_request",
                f"{who}: not found ({detail}). Check the model id '{self.model_id}' "
                "(e.g. anthropic:claude-sonnet-5-5) and ANTHROPIC_BASE_URL.",
            )
        if status in (408, 504) or err_type == "timeout_error":
            return ModelError(
                "timeout",
                f"{who}: the API timed out{after} ({detail}). Resume later, or split the "
                "step so each turn is shorter.",
                retryable=True,
            )
        if status >= 500 or status == 409 or err_type == "api_error":
            return ModelError(
                "server",
                f"{who}: the API had a server error{after} ({detail}). Usually temporary; "
                "resume later. If it persists, check https://status.anthropic.com.",
                retryable=True,
            )
        return ModelError(
            "bad_request",
            f"{who}: the API rejected the request ({detail}). This is likely a planloop "
            f"bug or an option '{self.model_id}' does not support; please report it "
            "with the log.",
        )


# -- helpers ---------------------------------------------------------------------------


def _block(block: Any) -> dict[str, Any]:
    """A reply block as the plain dict the API accepts back (and JSON can store).

    Only request-side fields are kept: the reply's extras (citations, parsed output)
    are not valid in a request. Thinking blocks are kept with their signatures
    because the API requires them back, unchanged, in a tool-use loop.
    """
    kind = block.type
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input or {}}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    dumped: dict[str, Any] = block.model_dump(mode="json", exclude_none=True)
    return dumped


#: the longest ``retry-after`` a call waits out; a longer one pauses the run instead, so
#: a process does not sit silent for an hour (the SDK would sleep whatever it is told)
MAX_RETRY_WAIT_S = 60.0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds the API asks to wait: ``retry-after-ms``, ``retry-after`` seconds or HTTP-date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (when - dt.datetime.now(dt.timezone.utc)).total_seconds()


def _no_long_waits(response: Any) -> None:
    """An httpx response hook: a retry-after beyond :data:`MAX_RETRY_WAIT_S` is not slept
    through by the SDK; the error comes back at once and the run pauses, saying when."""
    wait = retry_after_seconds(response.headers)
    if wait is not None and wait > MAX_RETRY_WAIT_S:
        response.headers["x-should-retry"] = "false"


def _wait_hint(exc: Any) -> str:
    wait = retry_after_seconds(exc.response.headers)
    if wait is None or wait <= 0:
        return ""
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=wait)
    when = at.strftime("%Y-%m-%d %H:%M:%S UTC")
    if wait > MAX_RETRY_WAIT_S:
        return (
            f" The API asks to wait {wait:.0f}s, longer than planloop waits within a run "
            f"({MAX_RETRY_WAIT_S:.0f}s): retry after {when}."
        )
    return f" The API asks to wait {wait:g}s (until {when})."


def _body_text(body: object) -> str:
    if body is None:
        return ""
    return body if isinstance(body, str) else str(body)


def _short(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _close_quietly(closable: Any) -> None:
    try:
        closable.close()
    except Exception:  # closing after a cancel is best effort; the caller has moved on
        pass

"""An anthropic SDK failure as the one ``ModelError`` line a person can act on.

Kept apart from the adapter (as ``openai_errors`` is from its adapter) so the API's
statuses and error types, its ``retry-after`` headers and the key that must never be
echoed are mapped in one readable place, while the adapter keeps the call itself:
client, stream and cancel. The SDK is imported by the caller; here it arrives as a
module argument so importing this file costs nothing.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Mapping
from typing import Any

from planloop.models.base import ModelError

_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")
_CONTEXT_HINTS = (
    "prompt is too long",
    "context window",
    "context length",
    "context limit",
    "too many tokens",
)


def short(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub(error: ModelError, secret: str) -> ModelError:
    """``error`` with the secret, and anything shaped like an Anthropic key, redacted."""
    text = error.message
    if len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    text = _KEY_PATTERN.sub("[redacted]", text)
    return ModelError(error.kind, text, retryable=error.retryable)


def map_error(
    exc: Exception,
    anthropic: Any,
    httpx: Any,
    *,
    who: str,
    client: Any,
    retries: int,
    timeout_s: float,
    model_id: str,
) -> ModelError:
    """Any failure of a call (SDK, transport, the reply) as a ``ModelError``."""
    after = f" after {retries} retries" if retries else ""
    if isinstance(exc, (anthropic.APITimeoutError, httpx.TimeoutException)):
        return ModelError(
            "timeout",
            f"{who}: no response for {timeout_s:g}s{after}. The API may be slow "
            "or the connection stalled; resume later, or raise model_timeout_s "
            "in planloop.toml.",
            retryable=True,
        )
    if isinstance(exc, (anthropic.APIConnectionError, httpx.TransportError)):
        cause = exc.__cause__ or exc.__context__ or exc
        base_url = str(getattr(client, "base_url", "")).rstrip("/")
        return ModelError(
            "connection",
            f"{who}: could not reach the API at {base_url}{after} ({short(cause)}). "
            "Check the network or proxy, and ANTHROPIC_BASE_URL if you set it.",
            retryable=True,
        )
    if isinstance(exc, anthropic.APIStatusError):
        return _status(exc, who=who, after=after, model_id=model_id)
    if isinstance(exc, (anthropic.APIResponseValidationError, json.JSONDecodeError)):
        return ModelError(
            "server",
            f"{who}: the API sent a reply planloop could not read ({short(exc)}). "
            "Resume later; if it persists, report it with the log.",
            retryable=True,
        )
    if isinstance(exc, anthropic.AnthropicError):
        return ModelError(
            "auth",
            f"{who}: the SDK could not set up credentials ({short(exc)}). Check ANTHROPIC_API_KEY.",
        )
    if isinstance(exc, (TypeError, ValueError)):
        return ModelError(
            "bad_request",
            f"{who}: the request was not valid ({short(exc)}). This is likely a "
            "planloop bug; please report it with the log.",
        )
    return ModelError(
        "server",
        f"{who}: unexpected failure during the call ({short(exc)}). Resume later; "
        "if it persists, report it with the log.",
        retryable=True,
    )


def _retried(exc: Any, after: str) -> str:
    """ " after N retries", unless a long retry-after stopped the retries at once."""
    wait = retry_after_seconds(exc.response.headers)
    return "" if wait is not None and wait > MAX_RETRY_WAIT_S else after


def _status(exc: Any, *, who: str, after: str, model_id: str) -> ModelError:
    status: int = exc.status_code
    err_type = exc.type or ""
    api_message = exc.api_message or _body_text(exc.body)
    detail = f"HTTP {status}" if status != 200 else "error event in the reply stream"
    if api_message:
        detail += f": {short(api_message)}"
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
            f"allowed to use '{model_id}' or this workspace; check the key's "
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
            f"{who}: rate limited{_retried(exc, after)} ({detail}).{_wait_hint(exc)} "
            "Wait and resume, or ask for higher rate limits.",
            retryable=True,
        )
    if status == 529 or err_type == "overloaded_error":
        hint = _wait_hint(exc) or (
            " This is temporary on Anthropic's side; wait a minute and resume."
        )
        return ModelError(
            "overloaded",
            f"{who}: the API is overloaded{_retried(exc, after)} ({detail}).{hint}",
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
            f"{who}: not found ({detail}). Check the model id '{model_id}' "
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
        f"bug or an option '{model_id}' does not support; please report it "
        "with the log.",
    )


# -- retry-after ------------------------------------------------------------------------


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


def no_long_waits(response: Any) -> None:
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

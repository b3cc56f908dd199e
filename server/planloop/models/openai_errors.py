"""An openai SDK failure as the one ``ModelError`` line a person can act on.

Kept apart from the adapter so each endpoint's quirks (Ollama's "does not support
tools", a local server that is not running, OpenAI's 401 that echoes part of the key)
are mapped in one readable place. The SDK is imported by the caller; here it arrives
as a module argument so importing this file costs nothing.
"""

from __future__ import annotations

import re
from typing import Any

from planloop.models.base import ModelError
from planloop.models.providers import Endpoint

_NO_TOOLS_HINTS = (
    "does not support tools",
    "tools is not supported",
    "tool use is not supported",
    "tool calling",
    "function calling",
    "tools are not supported",
    '"auto" tool choice',
)
_CONTEXT_HINTS = ("context length", "context window", "maximum context", "too many tokens")
_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-*]{4,}")


def short(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def map_error(
    exc: Exception,
    openai: Any,
    httpx: Any,
    *,
    who: str,
    ep: Endpoint,
    retries: int,
    timeout_s: float,
) -> ModelError:
    after = f" after {retries} retries" if retries else ""
    url = ep.shown_url
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        return ModelError(
            "timeout",
            f"{who}: no response from {url} for {timeout_s:g}s{after}. The server may be "
            "slow (a local model loading?) or the connection stalled; resume later, or "
            "raise model_timeout_s in planloop.toml.",
            retryable=True,
        )
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        cause = exc.__cause__ or exc.__context__ or exc
        if ep.is_local:
            how = ep.start_hint or "start the server that serves it (e.g. `ollama serve`)"
            return ModelError(
                "connection",
                f"{who}: nothing answers at {url}{after} ({short(cause)}). Is the local "
                f"server running? {how[0].upper()}{how[1:]}.",
                retryable=True,
            )
        return ModelError(
            "connection",
            f"{who}: could not reach {url}{after} ({short(cause)}). Check the network or "
            "proxy, and the base URL if you set one.",
            retryable=True,
        )
    if isinstance(exc, openai.APIStatusError):
        return _status(exc, who=who, ep=ep, after=after)
    if isinstance(exc, openai.APIResponseValidationError):
        return ModelError(
            "server",
            f"{who}: {url} sent a reply planloop could not read ({short(exc)}).",
            retryable=True,
        )
    if isinstance(exc, openai.APIError):  # an error event inside a 200 stream
        return ModelError(
            "server",
            f"{who}: the stream from {url} broke off with an error ({short(exc.message)}). "
            "Usually temporary; resume later.",
            retryable=True,
        )
    if isinstance(exc, (TypeError, ValueError)):
        return ModelError(
            "bad_request",
            f"{who}: the request was not valid ({short(exc)}). This is likely a planloop "
            "bug; please report it with the log.",
        )
    return ModelError(
        "server",
        f"{who}: unexpected failure during the call ({short(exc)}). Resume later; if it "
        "persists, report it with the log.",
        retryable=True,
    )


def _status(exc: Any, *, who: str, ep: Endpoint, after: str) -> ModelError:
    status: int = exc.status_code
    message = _api_message(exc)
    detail = f"HTTP {status}" + (f": {short(message)}" if message else "")
    lowered = message.lower()
    key = ep.key_env or "the API key"
    if status == 401:
        return ModelError(
            "auth",
            f"{who}: {ep.provider} rejected the credentials ({detail}). Check that {key} "
            "holds a valid, active key (in VS Code: 'planloop: Set API Key').",
        )
    if status == 403:
        return ModelError(
            "auth",
            f"{who}: permission denied ({detail}). The key works but may not be allowed "
            f"to use '{ep.model_id}'; check the key's project or organisation.",
        )
    if status == 404:
        return ModelError(
            "bad_request",
            f"{who}: model '{ep.model_id}' not found at {ep.shown_url} ({detail}). Check the "
            "model id"
            + (" (`ollama list` shows what is pulled)" if ep.provider == "ollama" else "")
            + " and the base URL.",
        )
    if status == 429:
        if "quota" in lowered or "billing" in lowered:
            return ModelError(
                "billing",
                f"{who}: the account has no quota left ({detail}). Check billing, then resume.",
            )
        wait = _retry_after(exc)
        hint = f" The server asks to wait {wait}." if wait else ""
        return ModelError(
            "rate_limit",
            f"{who}: rate limited{after} ({detail}).{hint} Wait and resume.",
            retryable=True,
        )
    if status in (400, 422) and any(h in lowered for h in _NO_TOOLS_HINTS):
        return ModelError(
            "no_tools",
            f"{who}: '{ep.model_id}' at {ep.shown_url} does not support tool calling "
            f"({detail}). planloop's roles work only through tools; pick a model that "
            "supports them (for Ollama: one tagged 'tools', e.g. qwen3 or llama3.1).",
        )
    if status == 413 or (status == 400 and any(h in lowered for h in _CONTEXT_HINTS)):
        return ModelError(
            "context_too_long",
            f"{who}: the request is too long for '{ep.model_id}' ({detail}). Split the step, "
            "or use a model with a larger context window.",
        )
    if status in (408, 504):
        return ModelError(
            "timeout",
            f"{who}: the server timed out{after} ({detail}). Resume later.",
            retryable=True,
        )
    if status >= 500 or status == 409:
        return ModelError(
            "server",
            f"{who}: the server had an error{after} ({detail}). Usually temporary; resume later.",
            retryable=True,
        )
    return ModelError(
        "bad_request",
        f"{who}: the server rejected the request ({detail}). This is likely a planloop bug "
        f"or an option '{ep.model_id}' does not support; please report it with the log.",
    )


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    message = getattr(exc, "message", "") or ""
    return str(message)


def _retry_after(exc: Any) -> str | None:
    headers = exc.response.headers
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return f"{float(ms) / 1000:g}s"
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds:
        try:
            return f"{float(seconds):g}s"
        except ValueError:
            return f"until {seconds}"
    return None

"""The OpenAI-compatible adapter: one ``Model.complete`` turn over Chat Completions.

One class serves every endpoint that speaks the API — OpenAI, Azure, OpenRouter,
Ollama, LM Studio, vLLM — because they differ only in URL, key and a few quirks
(``providers.py`` holds those). The SDK is imported on the first call; converting the
history and assembling the stream live in ``openai_wire.py``, failures become one
clear line in ``openai_errors.py``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from planloop.cancel import CancelToken
from planloop.models.base import ModelError, ModelReply, ToolSpec, stop_reason_error
from planloop.models.openai_errors import map_error, scrub, short
from planloop.models.openai_wire import FINISH, StreamAssembler, messages_param, tools_param
from planloop.models.pricing import cost_usd, is_priced
from planloop.models.providers import Endpoint, reasoning_model

#: a key the SDK insists on for servers that take none (Ollama, LM Studio)
_NO_KEY = "planloop-no-key"


class OpenAIModel:
    """A model behind an OpenAI-compatible endpoint, streamed for the same reasons as
    ``AnthropicModel``: ``timeout_s`` then bounds silence, not the whole generation, and
    a cancel closes the stream mid-reply. The SDK's own retries (429 with
    ``retry-after``, 5xx, dropped connections) are bounded by ``max_retries``."""

    scripted = False

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        role: str | None = None,
        max_retries: int = 2,
        timeout_s: float = 120.0,
        price_table: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.model_id = endpoint.model_id
        self.role = role
        self.max_retries = max_retries
        self.timeout_s = float(timeout_s)
        self.price_table = price_table
        self.label = f"{endpoint.provider}:{endpoint.model_id}"
        self.priced = is_priced(self.model_id, price_table)
        self.reasoning = reasoning_model(endpoint)
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_key: str | None = None

    @property
    def _who(self) -> str:
        return f"{self.role} model {self.label}" if self.role else self.label

    def complete(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int = 8192,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        if cancel is not None and cancel.cancelled:
            raise self._cancelled()
        if not messages:
            raise ModelError("bad_request", f"{self._who}: a turn needs at least one message")
        secret = self.api_key()
        request = self.request(system, messages, tools, max_tokens)
        try:
            client = self._client_for(secret)
            done = self._call(client, request, cancel)
        except ModelError:
            raise
        except Exception as exc:  # every SDK/transport failure becomes a ModelError
            raise self._mapped(exc, secret) from None
        if done is None:
            raise self._cancelled()
        return self._reply(done, max_tokens)

    # -- request, reply ------------------------------------------------------------------

    def request(
        self, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec], max_tokens: int
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_id,
            "messages": messages_param(
                system, messages, system_role="developer" if self.reasoning else "system"
            ),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        request["max_completion_tokens" if self.reasoning else "max_tokens"] = max_tokens
        if tools:
            request["tools"] = tools_param(tools)
        return request

    def _reply(self, done: Any, max_tokens: int) -> ModelReply:
        stop = FINISH.get(done.finish_reason or "", "tool_use" if done.calls else "end_turn")
        reply = ModelReply(
            content=done.content,
            stop_reason=stop,
            usage=done.usage,
            cost_usd=cost_usd(self.model_id, done.usage, self.price_table),
            model=done.model or self.model_id,
            priced=self.priced,
        )
        if done.refusal or done.finish_reason == "content_filter":
            why = f": {short(done.refusal)}" if done.refusal else ""
            error = ModelError(
                "refusal",
                f"{self._who}: the reply was withheld by the provider's content filter or "
                f"refused{why} (finish_reason={done.finish_reason or 'stop'}). Rephrase the "
                "goal or step.",
            )
            error.reply = reply
            raise error
        stopped = stop_reason_error(stop, self._who, max_tokens)
        if stopped is not None:
            stopped.reply = reply
            raise stopped
        return reply

    # -- the key and the client ------------------------------------------------------------

    def api_key(self) -> str | None:
        """The key from its variable, read per call so one set later counts; never logged."""
        var = self.endpoint.key_env
        value = os.environ.get(var, "").strip() if var else ""
        if value:
            if not value.isascii() or not value.isprintable() or " " in value:
                raise ModelError(
                    "auth", f"{var} contains characters that cannot be sent in an HTTP header"
                )
            return value
        if self.endpoint.key_required:
            raise ModelError(
                "auth",
                f"{var} is not set — {self.label} needs an API key. `export {var}=...` "
                "(in VS Code: 'planloop: Set API Key'), or use a local model "
                "(e.g. --executor ollama:qwen3).",
            )
        return None

    def _client_for(self, secret: str | None) -> Any:
        import openai  # lazy: keeps `import planloop.models` and LSP startup fast

        key = f"{secret}|{self.endpoint}"
        with self._lock:
            if self._client is None or self._client_key != key:
                timeout = openai.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s))
                common: dict[str, Any] = {
                    "api_key": secret or _NO_KEY,
                    "max_retries": self.max_retries,
                    "timeout": timeout,
                }
                ep = self.endpoint
                if ep.provider == "azure":
                    self._client = openai.AzureOpenAI(
                        azure_endpoint=ep.base_url or "", api_version=ep.api_version, **common
                    )
                else:
                    self._client = openai.OpenAI(base_url=ep.base_url, **common)
                self._client_key = key
            return self._client

    # -- the call, cancellable -----------------------------------------------------------

    def _call(self, client: Any, request: dict[str, Any], cancel: CancelToken | None) -> Any:
        """The stream read in a worker so a cancel returns now, not when the server answers."""
        holder: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                stream = client.chat.completions.create(**request)
                holder["stream"] = stream
                assembler = StreamAssembler()
                with stream:
                    for chunk in stream:
                        if cancel is not None and cancel.cancelled:
                            return
                        assembler.feed(chunk)
                holder["result"] = assembler.result()
            except BaseException as exc:  # handed to the caller's thread
                holder["error"] = exc
            finally:
                done.set()

        if cancel is None:
            work()
        else:
            worker = threading.Thread(target=work, name=f"planloop-{self.label}", daemon=True)
            unregister = cancel.on_cancel(done.set)
            try:
                worker.start()
                done.wait()
            finally:
                unregister()
            if cancel.cancelled and "result" not in holder:
                stream = holder.get("stream")
                if stream is not None:
                    _close_quietly(stream)
                return None
        if "error" in holder:
            raise holder["error"]
        return holder.get("result")

    def _cancelled(self) -> ModelError:
        return ModelError("cancelled", f"{self._who}: cancelled by the user; no reply was used.")

    def _mapped(self, exc: Exception, secret: str | None) -> ModelError:
        import httpx2
        import openai

        error = map_error(
            exc,
            openai,
            httpx2,
            who=self._who,
            ep=self.endpoint,
            retries=self.max_retries,
            timeout_s=self.timeout_s,
        )
        return ModelError(error.kind, scrub(error.message, secret), retryable=error.retryable)


def _close_quietly(closable: Any) -> None:
    try:
        closable.close()
    except Exception:  # closing after a cancel is best effort; the caller has moved on
        pass

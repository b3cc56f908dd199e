"""Named presets for OpenAI-compatible endpoints: where a spec's requests go, with which key.

A preset is data, not code: ``ollama:qwen3`` is the openai adapter pointed at
``http://localhost:11434/v1`` with no key. Keeping every preset in one table means the
registry, ``planloop doctor`` and docs/models.md describe the same endpoints, and a new
local server is a row here. ``planloop.toml`` may override any preset's ``base_url`` and
``api_key_env`` under ``[providers.<name>]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from planloop.models.base import ModelError


@dataclass(frozen=True)
class Preset:
    name: str
    #: None: the SDK's own default (``OPENAI_BASE_URL`` or api.openai.com)
    base_url: str | None
    #: the variable the key is read from; None: the endpoint takes no key
    key_env: str | None
    #: a variable that may hold the base URL (read before the preset's default)
    url_env: str | None = None
    #: how to start the server when a local URL refuses the connection
    start_hint: str | None = None
    #: the model id must look like ``vendor/model`` (OpenRouter)
    vendor_model: bool = False


PRESETS: dict[str, Preset] = {
    "openai": Preset("openai", None, "OPENAI_API_KEY", url_env="OPENAI_BASE_URL"),
    "ollama": Preset(
        "ollama",
        "http://localhost:11434/v1",
        None,
        url_env="OLLAMA_BASE_URL",
        start_hint="start it with `ollama serve` (and `ollama pull <model>` once)",
    ),
    "lmstudio": Preset(
        "lmstudio",
        "http://localhost:1234/v1",
        None,
        url_env="LMSTUDIO_BASE_URL",
        start_hint="start LM Studio's server (Developer tab, or `lms server start`)",
    ),
    "vllm": Preset(
        "vllm",
        None,
        "VLLM_API_KEY",
        url_env="VLLM_BASE_URL",
        start_hint="start it with `vllm serve <model>`",
    ),
    "openrouter": Preset(
        "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", vendor_model=True
    ),
    "azure": Preset("azure", None, "AZURE_OPENAI_API_KEY", url_env="AZURE_OPENAI_ENDPOINT"),
}

#: presets whose key is optional (local servers started with or without ``--api-key``)
OPTIONAL_KEY = frozenset({"vllm"})
#: the variable the SDK reads the Azure API version from
AZURE_VERSION_ENV = "OPENAI_API_VERSION"
PROVIDER_KEYS = ("base_url", "api_key_env", "reasoning", "api_version")


@dataclass(frozen=True)
class Endpoint:
    """Where one model's requests go; built without touching the network or the key."""

    provider: str
    model_id: str
    base_url: str | None
    key_env: str | None
    key_required: bool
    start_hint: str | None
    #: None: decided from the model name (``reasoning_model``)
    reasoning: bool | None = None
    api_version: str | None = None

    @property
    def shown_url(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    @property
    def is_local(self) -> bool:
        host = urlparse(self.shown_url).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.endswith(".local")


def resolve(
    provider: str, model_id: str, settings: Mapping[str, Mapping[str, Any]] | None = None
) -> Endpoint:
    """The endpoint for ``provider:model_id``, or ``ModelError("bad_spec")`` saying what is missing."""
    preset = PRESETS[provider]
    own = dict((settings or {}).get(provider) or {})
    unknown = sorted(set(own) - set(PROVIDER_KEYS))
    if unknown:
        raise ModelError(
            "bad_spec",
            f"planloop.toml [providers.{provider}] has unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(PROVIDER_KEYS)}",
        )
    if not model_id or any(ch.isspace() for ch in model_id):
        raise ModelError("bad_spec", f"{provider}: model id {model_id!r} is not valid")
    if preset.vendor_model and "/" not in model_id:
        raise ModelError(
            "bad_spec",
            f"{provider}:{model_id}: OpenRouter models are named vendor/model, "
            "e.g. openrouter:anthropic/claude-sonnet-5-5",
        )
    from_env = os.environ.get(preset.url_env, "").strip() if preset.url_env else ""
    base_url = own.get("base_url") or from_env or None
    base_url = base_url or preset.base_url
    if provider in ("vllm", "azure") and not base_url:
        what = "endpoint" if provider == "azure" else "base URL"
        raise ModelError(
            "bad_spec",
            f"{provider}:{model_id} needs the server's {what}: set {preset.url_env} "
            f"or base_url under [providers.{provider}] in planloop.toml "
            + (
                "(e.g. https://NAME.openai.azure.com)"
                if provider == "azure"
                else "(e.g. http://localhost:8000/v1)"
            ),
        )
    if base_url is not None:
        parsed = urlparse(str(base_url))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ModelError(
                "bad_spec",
                f"{provider}: base URL {base_url!r} is not an http(s) URL",
            )
    key_env = own.get("api_key_env", preset.key_env)
    api_version = own.get("api_version") or os.environ.get(AZURE_VERSION_ENV, "").strip() or None
    if provider == "azure" and not api_version:
        raise ModelError(
            "bad_spec",
            f"azure:{model_id} needs an API version: set {AZURE_VERSION_ENV} (e.g. 2024-10-21) "
            "or api_version under [providers.azure] in planloop.toml",
        )
    reasoning = own.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, bool):
        raise ModelError(
            "bad_spec", f"planloop.toml [providers.{provider}] reasoning must be true or false"
        )
    return Endpoint(
        provider=provider,
        model_id=model_id,
        base_url=str(base_url).rstrip("/") if base_url else None,
        key_env=str(key_env) if key_env else None,
        key_required=bool(key_env) and (provider not in OPTIONAL_KEY or "api_key_env" in own),
        start_hint=preset.start_hint,
        reasoning=reasoning,
        api_version=api_version if provider == "azure" else None,
    )


#: model-name prefixes (after any ``vendor/``) of OpenAI reasoning models, which take
#: ``max_completion_tokens`` and a ``developer`` message instead of ``max_tokens``/``system``
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def reasoning_model(endpoint: Endpoint) -> bool:
    if endpoint.reasoning is not None:
        return endpoint.reasoning
    name = endpoint.model_id.rsplit("/", 1)[-1].lower()
    return name.startswith(REASONING_PREFIXES)

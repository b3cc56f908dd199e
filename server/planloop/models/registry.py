"""Model specs (``anthropic:<model-id>``, ``openai:<model>``, ``ollama:<model>``, …) to models.

The one place a spec string from the CLI, ``PLANLOOP_PLANNER`` / ``PLANLOOP_EXECUTOR``,
``planloop.toml`` or the editor's settings becomes a model, so every front end accepts
the same specs and rejects the same mistakes with the same message. Importing this
module does not import the anthropic SDK.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from planloop.models.anthropic_adapter import AnthropicModel
from planloop.models.anthropic_clouds import CLOUDS, cloud_model
from planloop.models.base import Model, ModelConfig, ModelError
from planloop.models.openai_adapter import OpenAIModel
from planloop.models.pricing import price_table
from planloop.models.providers import PRESETS, resolve
from planloop.models.scripted import ScriptedModel

Role = Literal["planner", "executor"]

#: The planner reasons over the whole goal and codebase, rarely but deeply: the
#: strongest long-horizon agentic model at a sane price.
DEFAULT_PLANNER_SPEC = "anthropic:claude-opus-5-5"
#: The executor makes many short tool turns on one step: fast and cheap, still strong.
DEFAULT_EXECUTOR_SPEC = "anthropic:claude-sonnet-5-5"
#: File (inside ``state_dir``) that keeps scripted models' positions between processes.
SCRIPTED_STATE_FILE = "scripted-state.json"

_ROLES = ("planner", "executor")
#: every spec form, for messages and docs
SPEC_FORMS = (
    "anthropic:<model-id>, openai:<model>, ollama:<model>, lmstudio:<model>, vllm:<model>, "
    "openrouter:<vendor/model>, azure:<deployment>, bedrock:<model-id>, vertex:<model-id>"
)


def default_spec(role: Role) -> str:
    return DEFAULT_PLANNER_SPEC if role == "planner" else DEFAULT_EXECUTOR_SPEC


def make_model(
    spec: str,
    role: Role,
    *,
    config: ModelConfig | None = None,
    state_dir: str | os.PathLike[str] | None = None,
) -> Model:
    """Build the model a spec names, or raise ``ModelError("bad_spec", ...)``.

    ``state_dir`` (e.g. ``<workspace>/.planloop``) is where a scripted model keeps its
    position, so a run continued by another process resumes the script; without it
    the position lives in the returned object only. Nothing here touches the network
    or needs an API key: a missing key is reported on the first call, so the language
    server can start and show its UI without one.
    """
    if role not in _ROLES:
        raise ModelError("bad_spec", f"role must be 'planner' or 'executor', not {role!r}")
    config = config or ModelConfig()
    text = spec.strip() if isinstance(spec, str) else ""
    scheme, sep, rest = text.partition(":")
    rest = rest.strip()
    if sep and scheme in ("anthropic", *PRESETS, *CLOUDS) and rest:
        try:
            price_table(config.prices)
        except ValueError as exc:
            raise ModelError("bad_spec", f"planloop.toml [prices]: {exc}") from None
    if sep and scheme in PRESETS and rest:
        return OpenAIModel(
            resolve(scheme, rest, config.providers),
            role=role,
            max_retries=config.max_retries,
            timeout_s=config.timeout_s,
            price_table=config.prices or None,
        )
    if sep and scheme in CLOUDS and rest:
        return cloud_model(scheme, rest, role=role, config=config)
    if sep and scheme == "anthropic" and rest:
        return AnthropicModel(
            rest,
            role=role,
            max_retries=config.max_retries,
            timeout_s=config.timeout_s,
            price_table=config.prices or None,
        )
    if sep and scheme == "scripted" and rest:
        state_path = Path(state_dir) / SCRIPTED_STATE_FILE if state_dir is not None else None
        return ScriptedModel(rest, role, state_path=state_path, prices=config.prices or None)
    raise ModelError(
        "bad_spec",
        f"{role} model spec {spec!r} is not recognised. Use {SPEC_FORMS} "
        f"(e.g. {default_spec(role)} or ollama:qwen3) or scripted:<path to a script .json>.",
    )

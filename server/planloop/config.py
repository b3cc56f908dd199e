"""Settings: planloop.toml in the workspace, overridden by the front end's own settings.

One pydantic model so the CLI flags, the LSP's initializationOptions/workspace
configuration and the VS Code settings all land in the same validated shape; keys may
be snake_case (toml) or camelCase (editor settings).

Layers, later wins: defaults < the user's own ``config.toml`` (``trust.config_dir()``)
< environment (``PLANLOOP_SANDBOX``, ``PLANLOOP_SANDBOX_NETWORK``,
``PLANLOOP_REPO_MAP_BUDGET_S``; the model and mode
variables are read where they are used) < the folder's ``planloop.toml`` < the front
end's overrides (flags, editor settings). A folder's file is a stranger's text until the
user trusts the folder: its ``TRUSTED_ONLY`` keys are dropped, and named, until then.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from planloop.document.plan import ModeSetting
from planloop.errors import ConfigError
from planloop.trust import TrustStore, user_config_file
from planloop.validation import describe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE = "planloop.toml"


class _Settings(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, validate_assignment=True
    )


class Budgets(_Settings):
    replans: int = Field(default=3, ge=0, le=50)
    usd: float = Field(default=5.0, gt=0)
    executor_turns: int = Field(default=30, ge=1, le=500)
    planner_turns: int = Field(default=15, ge=1, le=200)
    plan_attempts: int = Field(default=3, ge=1, le=10)
    #: input + output tokens a run may use (all roles), for any model, priced or not
    tokens: int | None = Field(default=None, ge=1)


class ProviderSettings(_Settings):
    """``[providers.<name>]``: where a provider's models are served and which variable
    holds the key (the variable's *name*: a key never belongs in a committed file)."""

    base_url: str | None = None
    api_key_env: str | None = None
    #: force (or forbid) reasoning-model requests: max_completion_tokens + developer role
    reasoning: bool | None = None
    api_version: str | None = None
    region: str | None = None
    project_id: str | None = None


PROVIDERS = ("openai", "ollama", "lmstudio", "vllm", "openrouter", "azure", "bedrock", "vertex")


class PolicySettings(_Settings):
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)


SandboxSetting = Literal["auto", "off"]


class McpServerSettings(_Settings):
    """``[mcp.servers.NAME]``: a server of the user's own, or settings for one a project's
    ``.mcp.json`` / ``.vscode/mcp.json`` defines (no command or url: only the gating keys)."""

    type: Literal["stdio", "http"] | None = None
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    #: HTTP headers; use ``${VAR}`` for a token, never the token itself
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    #: believe the server's ``readOnlyHint`` annotations (the planner may call those tools)
    trust: bool = False
    #: tools (globs, bare or ``mcp__SERVER__TOOL``) the planner may call: read-only ones
    planner_tools: list[str] = Field(default_factory=list)
    #: tools (globs) the executor calls without asking a person
    allow: list[str] = Field(default_factory=list)
    start_timeout_s: float | None = Field(default=None, gt=0)
    call_timeout_s: float | None = Field(default=None, gt=0)


class McpSettings(_Settings):
    """``[mcp]``: MCP servers as tools (docs/mcp.md)."""

    enabled: bool = True
    servers: dict[str, McpServerSettings] = Field(default_factory=dict)
    #: server names not to start, wherever they are defined
    disabled: list[str] = Field(default_factory=list)
    #: ``mcp__SERVER__TOOL`` globs the executor calls without asking, for every server
    allow: list[str] = Field(default_factory=list)
    planner_tools: list[str] = Field(default_factory=list)
    #: read the project's .mcp.json and .vscode/mcp.json (after asking once per workspace)
    project_files: bool = True
    start_timeout_s: float = Field(default=10.0, gt=0, le=600)
    call_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    #: seconds a stdio server has to exit once its stdin is closed, before it is terminated
    stop_timeout_s: float = Field(default=2.0, gt=0, le=60)
    #: characters of one tool result the model sees (head and tail kept)
    max_output_chars: int = Field(default=40_000, ge=1000, le=1_000_000)


Role = Literal["planner", "executor"]
ROLES: tuple[Role, ...] = ("planner", "executor")


class Config(_Settings):
    planner: str | None = None
    executor: str | None = None
    #: which of planner/executor the front end gave (flags, editor settings) and what the
    #: files named for them; None: built in code, where a model set counts as given
    _given: frozenset[str] | None = PrivateAttr(default=None)
    _files: dict[Role, str | None] = PrivateAttr(default_factory=dict)
    workspace_checks: list[str] = Field(default_factory=list)
    check_timeout_s: float = Field(default=300.0, gt=0)
    command_timeout_s: float = Field(default=120.0, gt=0)
    #: seconds a model call may stay silent before it fails, and SDK retries (429/529/5xx)
    model_timeout_s: float = Field(default=120.0, gt=0)
    model_retries: int = Field(default=2, ge=0, le=10)
    #: output tokens per model turn; a reply cut off here fails clearly (never half-used)
    max_tokens: int = Field(default=8192, ge=256, le=128_000)
    budgets: Budgets = Field(default_factory=Budgets)
    command_policy: PolicySettings = Field(default_factory=PolicySettings)
    review_plan_first: bool = True
    #: clarifying questions the planner may ask (ask_user) before it submits a plan; 0: the
    #: tool is not offered and the planner states its assumptions instead
    planner_questions: int = Field(default=3, ge=0, le=10)
    #: the planner's repo map, in tokens (0 turns it off, and its repo_map tool too)
    repo_map_tokens: int = Field(default=3000, ge=0, le=50_000)
    #: seconds the repo map may take before the planner's first request goes out; what is
    #: not parsed by then is ranked by cheap signals and parsed in the background
    repo_map_budget_s: float = Field(default=2.0, gt=0, le=3600)
    #: a ripgrep to search with; else PLANLOOP_RG (VS Code sets it to its bundled rg), then
    #: rg on PATH, then the ripgrep wheel's
    rg_path: str | None = None
    #: auto (the planner's horizon decides), split or joint; unset: PLANLOOP_MODE, then auto
    mode: ModeSetting | None = None
    #: in auto, a plan of at most this many steps runs as one joint loop (seed 001: five)
    joint_max_steps: int = Field(default=5, ge=0, le=100)
    #: the project's instruction files (AGENTS.md, CLAUDE.md, ...) in a role's prompt, in
    #: bytes all together; past it a file is cut, with a warning (0 leaves them all out)
    rules_max_bytes: int = Field(default=32_000, ge=0, le=1_000_000)
    #: keep plan versions and plan.md out of .planloop/.gitignore, so a team commits them
    plans_in_repo: bool = False
    #: every command a model caused (executor commands, acceptance checks) runs in the OS
    #: sandbox (bubblewrap on Linux, sandbox-exec on macOS); "off" runs them with the user's
    #: full rights — the risk is yours (docs/security.md)
    sandbox: SandboxSetting = "auto"
    #: let sandboxed commands reach the network (loopback always works)
    sandbox_network: bool = False
    #: more folders sandboxed commands may write, besides the workspace and a private tmp
    sandbox_writable: list[str] = Field(default_factory=list)
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    mcp: McpSettings = Field(default_factory=McpSettings)

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, v: dict[str, ProviderSettings]) -> dict[str, ProviderSettings]:
        unknown = sorted(set(v) - set(PROVIDERS))
        if unknown:
            raise ValueError(
                f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS)}"
            )
        return v

    def provider_settings(self) -> dict[str, dict[str, Any]]:
        """The ``[providers]`` tables as plain dicts, only the keys set (for ``ModelConfig``)."""
        return {name: p.model_dump(exclude_none=True) for name, p in self.providers.items()}

    @field_validator("mode", mode="before")
    @classmethod
    def _blank_mode(cls, v: object) -> object:
        """An editor's blank setting means "not set" (fall back to the file, env, auto)."""
        return None if v == "" else v

    def model_given(self, role: Role) -> str | None:
        """The role's model as the front end gave it for this command (a flag, an editor
        setting), else None: it beats whatever a plan remembers (:func:`choose_model`)."""
        value = self.planner if role == "planner" else self.executor
        return value if self._given is None or role in self._given else None

    def model_setting(self, role: Role) -> str | None:
        """The role's model as the settings name it (the user's config.toml, the folder's
        planloop.toml, then ``PLANLOOP_PLANNER``/``PLANLOOP_EXECUTOR``), else None."""
        files = None if self._given is None else self._files.get(role)
        return files or os.environ.get(f"PLANLOOP_{role.upper()}") or None

    def planner_spec(self) -> str:
        from planloop.models.registry import DEFAULT_PLANNER_SPEC

        return self.planner or os.environ.get("PLANLOOP_PLANNER") or DEFAULT_PLANNER_SPEC

    def executor_spec(self) -> str:
        from planloop.models.registry import DEFAULT_EXECUTOR_SPEC

        return self.executor or os.environ.get("PLANLOOP_EXECUTOR") or DEFAULT_EXECUTOR_SPEC


@dataclass(frozen=True)
class ModelChoice:
    """The model a role runs with, and what the settings named when it was chosen."""

    spec: str
    #: the settings' spec at the time (None: they named none), so a plan can tell a
    #: planloop.toml edited since it was remembered from one that was always there
    setting: str | None


class RememberedModels(BaseModel):
    """The models a plan was planned and last run with (``run.json``, ``question.json``).

    Only the spec strings: never a key. A plan remembers them so a later command without
    model flags runs with the same models, not silently with the defaults."""

    planner_spec: str | None = None
    executor_spec: str | None = None
    planner_setting: str | None = None
    executor_setting: str | None = None

    def remembered(self, role: Role) -> ModelChoice | None:
        spec = self.planner_spec if role == "planner" else self.executor_spec
        setting = self.planner_setting if role == "planner" else self.executor_setting
        return ModelChoice(spec, setting) if spec else None

    def remember(self, choices: dict[Role, ModelChoice]) -> None:
        for role, c in choices.items():
            setattr(self, f"{role}_spec", c.spec)
            setattr(self, f"{role}_setting", c.setting)


def choose_model(config: Config, role: Role, remembered: ModelChoice | None) -> ModelChoice:
    """The model a command on a plan runs ``role`` with, first that applies:

    1. given for this command: a flag, an editor setting;
    2. the plan's remembered model, unless the settings (config.toml, planloop.toml, the
       environment) name another model than they did when it was remembered — a setting
       changed after planning is the user's newer word;
    3. the settings' model, else the built-in default.
    """
    from planloop.models.registry import DEFAULT_EXECUTOR_SPEC, DEFAULT_PLANNER_SPEC

    setting = config.model_setting(role)
    given = config.model_given(role)
    if given:
        return ModelChoice(given, setting)
    if remembered is not None and remembered.setting == setting:
        return remembered
    default = DEFAULT_PLANNER_SPEC if role == "planner" else DEFAULT_EXECUTOR_SPEC
    return ModelChoice(setting or default, setting)


MODES: tuple[ModeSetting, ...] = ("auto", "split", "joint")


def run_mode(config: Config) -> ModeSetting:
    """The mode a new plan is made in: the setting, else ``PLANLOOP_MODE``, else auto."""
    if config.mode is not None:
        return config.mode
    env = os.environ.get("PLANLOOP_MODE", "").strip()
    if not env:
        return "auto"
    for m in MODES:
        if env == m:
            return m
    raise ConfigError(f"PLANLOOP_MODE={env!r} is not one of {', '.join(MODES)}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if v is None:
            continue
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _normalise(d: dict[str, Any]) -> dict[str, Any]:
    """Accept camelCase and snake_case alike by validating each layer on its own."""
    return Config.model_validate(d).model_dump(exclude_unset=True)


#: keys a folder's planloop.toml sets only once the user trusts the folder: each decides
#: where a credential goes or widens what runs (``rg_path`` is a program planloop itself
#: runs, outside any sandbox). ``*`` is any provider.
TRUSTED_ONLY: tuple[tuple[str, ...], ...] = (
    ("providers", "*", "base_url"),
    ("providers", "*", "api_key_env"),
    ("sandbox",),
    ("sandbox_network",),
    ("sandbox_writable",),
    ("command_policy", "allow"),
    ("rg_path",),
    # an MCP server is a program (or a service a token goes to) and its gates: the user's
    ("mcp", "servers"),
    ("mcp", "allow"),
    ("mcp", "planner_tools"),
)


@dataclass
class Settings:
    """The validated settings and what the folder's file set that was ignored (untrusted)."""

    config: Config
    ignored: list[str] = field(default_factory=list)

    def warning(self) -> str | None:
        if not self.ignored:
            return None
        return (
            f"{CONFIG_FILE}: ignoring {', '.join(self.ignored)} until you trust this folder "
            "(these settings send credentials or widen what commands may do; "
            "`planloop trust` if you wrote them)"
        )


def _strip_untrusted(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` less the ``TRUSTED_ONLY`` keys, and their dotted names (normalised keys)."""
    out = _merge({}, data)
    dropped: list[str] = []

    def drop(node: dict[str, Any], path: tuple[str, ...], seen: tuple[str, ...]) -> None:
        head, rest = path[0], path[1:]
        keys = list(node) if head == "*" else [head] if head in node else []
        for key in keys:
            if not rest:
                del node[key]
                dropped.append(".".join((*seen, key)))
            elif isinstance(node[key], dict):
                node[key] = dict(node[key])
                drop(node[key], rest, (*seen, key))

    for path in TRUSTED_ONLY:
        drop(out, path, ())
    return out, sorted(dropped)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read settings: {e}") from e
    raw = raw.get("planloop", raw)
    try:
        return _normalise(raw)
    except ValidationError as e:
        raise ConfigError(f"{path}: invalid settings: {_errors(e)}") from e


def _env_layer() -> dict[str, Any]:
    out: dict[str, Any] = {}
    sandbox = os.environ.get("PLANLOOP_SANDBOX", "").strip()
    if sandbox:
        if sandbox not in ("auto", "off"):
            raise ConfigError(f"PLANLOOP_SANDBOX={sandbox!r} is not one of auto, off")
        out["sandbox"] = sandbox
    network = os.environ.get("PLANLOOP_SANDBOX_NETWORK", "").strip().lower()
    if network:
        if network not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"PLANLOOP_SANDBOX_NETWORK={network!r} is not true or false")
        out["sandbox_network"] = network in ("1", "true", "yes", "on")
    budget = os.environ.get("PLANLOOP_REPO_MAP_BUDGET_S", "").strip()
    if budget:
        try:
            out["repo_map_budget_s"] = float(budget)
        except ValueError:
            raise ConfigError(
                f"PLANLOOP_REPO_MAP_BUDGET_S={budget!r} is not a number of seconds"
            ) from None
    return out


def load_settings(
    root: Path, overrides: dict[str, Any] | None = None, *, trusted: bool | None = None
) -> Settings:
    """Every layer, validated; errors name the file and the key.

    ``trusted``: whether the folder's own file may set ``TRUSTED_ONLY`` keys; None asks
    the user's trust store (an editor that has its own workspace trust passes its answer).
    """
    data: dict[str, Any] = {}
    mine = user_config_file()
    if mine.is_file():
        data = _read_toml(mine)
    data = _merge(data, _env_layer())
    ignored: list[str] = []
    path = root / CONFIG_FILE
    if path.is_file():
        folder = _read_toml(path)
        stripped, untrusted = _strip_untrusted(folder)
        # the trust store is asked only when the answer matters: a folder whose file sets
        # none of those keys needs no trust (and a damaged store file must not stop it)
        if untrusted and not (trusted if trusted is not None else TrustStore().is_trusted(root)):
            folder, ignored = stripped, untrusted
        data = _merge(data, folder)
    files: dict[Role, str | None] = {role: data.get(role) for role in ROLES}
    given: set[str] = set()
    if overrides:
        try:
            normalised = _normalise(overrides)
        except ValidationError as e:
            raise ConfigError(f"invalid settings: {_errors(e)}") from e
        given = {role for role in ROLES if normalised.get(role)}
        data = _merge(data, normalised)
    config = Config.model_validate(data)
    config._given, config._files = frozenset(given), files
    return Settings(config, ignored)


def load_config(
    root: Path, overrides: dict[str, Any] | None = None, *, trusted: bool | None = None
) -> Config:
    """:func:`load_settings`' config, for callers that show no warning of their own."""
    return load_settings(root, overrides, trusted=trusted).config


def _errors(e: ValidationError) -> str:
    return describe(e, top="")

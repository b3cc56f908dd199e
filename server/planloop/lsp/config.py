"""Settings from the command line and the client: one precedence order, later wins.

built-in defaults < environment variables ($PLANLOOP_PLANNER, $PLANLOOP_EXECUTOR,
$PLANLOOP_APPROVAL_TIMEOUT_S) < planloop.toml in the folder < ``planloop serve`` flags
(``--planner``, ``--executor``) < initializationOptions < workspace/configuration
section "planloop" for that folder. The core's ``load_config`` validates the result, so
a bad value gets the same message as in planloop.toml.

Editors send more than planloop's settings under the "planloop" section (VS Code adds
``trace``, extension-only settings such as an interpreter path), so unknown top-level
keys are dropped with a logged warning instead of failing every command; nested values
(``budgets.usd``) are still validated strictly.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_camel

from planloop.config import Config, load_settings
from planloop.errors import PlanloopError
from planloop.lsp.rpc_errors import ConfigProblem

log = logging.getLogger("planloop.lsp")

SECTION = "planloop"
DEFAULT_APPROVAL_TIMEOUT_S = 300.0

#: settings only the language server reads (not part of planloop.toml)
LSP_KEYS = {"approvalTimeoutS", "planloopNotifications", "workspaceTrusted", "mcpServers"}
#: the client's own workspace trust (VS Code's ``workspace.isTrusted``), honoured only in
#: initializationOptions: workspace/configuration may come from a file in the repository
TRUST_OPTION = "workspaceTrusted"
#: MCP servers the client hands over (docs/mcp.md): honoured only in initializationOptions,
#: for the same reason (a repository's settings file must not start a process)
MCP_OPTION = "mcpServers"


@dataclass
class LspSettings:
    approval_timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S
    #: the client's MCP servers (``planloop.mcp_tools.sources.ServerSpec``)
    mcp_servers: list[Any] = dataclasses.field(default_factory=list)


def mcp_servers(raw: Any) -> list[Any]:
    """``mcpServers``: a list of ACP-shaped servers (``name``, ``command``/``args``/``env``
    or ``type: http``, ``url``, ``headers``) or an object by name (the ``.mcp.json``
    shape); a bad entry is a ConfigProblem naming it."""
    from planloop.mcp_tools.sources import client_server

    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = [{**v, "name": k} if isinstance(v, dict) else v for k, v in raw.items()]
    if not isinstance(raw, list):
        raise ConfigProblem(f"{MCP_OPTION} must be a list of servers (or an object by name)")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ConfigProblem(f"{MCP_OPTION}[{i}] must be an object")
        try:
            out.append(client_server(entry))
        except ValueError as e:
            raise ConfigProblem(f"{MCP_OPTION}[{i}]: {e}") from None
    return out


def _known_keys() -> set[str]:
    keys: set[str] = set()
    for name, field in Config.model_fields.items():
        keys.add(name)
        keys.add(field.alias or to_camel(name))
    return keys


def unwrap(options: Any) -> dict[str, Any]:
    """initializationOptions may be the settings themselves or ``{"planloop": {...}}``."""
    if not isinstance(options, dict):
        return {}
    inner = options.get(SECTION)
    if isinstance(inner, dict):
        return inner
    return options


def split(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Overrides for Config; unknown keys are logged and dropped, LSP-only keys skipped."""
    known = _known_keys()
    overrides: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        if value is None or key in LSP_KEYS:
            continue
        if key in known:
            overrides[key] = _strip_nulls(value)
        else:
            dropped.append(key)
    if dropped:
        shown = ", ".join(sorted(dropped))
        log.warning("%s: ignoring unknown planloop setting(s): %s", source, shown)
    return overrides


def lsp_settings(raw: dict[str, Any]) -> LspSettings:
    timeout = raw.get("approvalTimeoutS")
    if timeout is None:
        env = os.environ.get("PLANLOOP_APPROVAL_TIMEOUT_S")
        timeout = env if env else None
    try:
        value = float(timeout) if timeout is not None else DEFAULT_APPROVAL_TIMEOUT_S
    except (TypeError, ValueError):
        raise ConfigProblem(
            f"approvalTimeoutS must be a number of seconds, got {timeout!r}"
        ) from None
    if isinstance(timeout, bool) or not 0 < value <= 86_400:
        raise ConfigProblem(
            f"approvalTimeoutS must be between 0 and 86400 seconds, got {timeout!r}"
        )
    return LspSettings(approval_timeout_s=value)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def build(
    root: Path,
    init_options: Any,
    workspace_section: Any,
    flags: dict[str, Any] | None = None,
) -> tuple[Config, LspSettings]:
    """The folder's Config; ConfigProblem (a clear JSON-RPC error) when invalid.
    ``flags``: the ``planloop serve`` flags that are settings (``LaunchOptions.settings``)."""
    init_raw = unwrap(init_options)
    ws_raw = workspace_section if isinstance(workspace_section, dict) else {}
    init_over = split(init_raw, "initializationOptions")
    ws_over = split(ws_raw, "workspace/configuration")
    lsp = lsp_settings(merge(init_raw, {k: v for k, v in ws_raw.items() if v is not None}))
    # the client's word on trust, or (None) the user's trust store, as on the command line
    client_trust = init_raw.get(TRUST_OPTION)
    trusted = client_trust if isinstance(client_trust, bool) else None
    try:
        settings = load_settings(
            root, merge(merge(flags or {}, init_over), ws_over), trusted=trusted
        )
    except PlanloopError as e:
        raise ConfigProblem(str(e)) from e
    warning = settings.warning()
    if warning:
        log.warning("%s: %s", root, warning)
    lsp.mcp_servers = mcp_servers(init_raw.get(MCP_OPTION))
    return settings.config, lsp


def _strip_nulls(value: Any) -> Any:
    """VS Code reports unset settings as null; null means "not set", not "set to null"."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value

"""Where MCP servers are defined, read into one list of :class:`ServerSpec`.

Users already have these files, so planloop reads them as the tools that wrote them do:

- ``.vscode/mcp.json`` (``servers``; ``${workspaceFolder}``, ``${env:NAME}``),
- ``.mcp.json`` (``mcpServers``, Claude Code and Cursor; ``${VAR}``, ``${VAR:-default}``),
- ``[mcp.servers.NAME]`` in config.toml / planloop.toml (the settings' own layering),
- servers the client hands over (the language server's ``mcpServers``, ACP's session/new).

Precedence, later wins by name: .vscode/mcp.json < .mcp.json < settings < client. A
settings table without ``command``/``url`` only adds its gates (``allow``,
``planner_tools``, ``trust``, timeouts) to a server defined in a file. ``[mcp] disabled``
and ``enabled = false`` drop a server by name. A broken file is a problem that names the
file and line, never an exception: the run goes on without those servers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from planloop.config import McpServerSettings, McpSettings

Transport = Literal["stdio", "http"]
Source = Literal[".vscode/mcp.json", ".mcp.json", "settings", "client"]
PROJECT_FILES: tuple[Source, ...] = (".vscode/mcp.json", ".mcp.json")


@dataclass(frozen=True)
class ServerSpec:
    """One server, as planloop starts it (``env``/``headers`` already expanded)."""

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    source: Source = "settings"
    trust: bool = False
    planner_tools: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    start_timeout_s: float | None = None
    call_timeout_s: float | None = None

    @property
    def from_project(self) -> bool:
        """Defined by a file the repository carries: starting it needs the user's consent."""
        return self.source in PROJECT_FILES

    def describe(self) -> str:
        """What it runs or reaches, for a consent question (no env values, no headers)."""
        if self.transport == "http":
            return f"{self.name}: {self.url}"
        return f"{self.name}: {' '.join([self.command or '', *self.args])}"


@dataclass
class Loaded:
    servers: list[ServerSpec]
    #: one line each, naming the file (and line) or the server
    problems: list[str]


_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_:]*)(?::-(?P<default>[^}]*))?\}")


class _Missing(Exception):
    pass


def expand(text: str, env: Mapping[str, str], workspace: Path | None = None) -> str:
    """``${VAR}``, ``${VAR:-default}``, ``${env:VAR}`` and ``${workspaceFolder}``; an unset
    variable without a default raises :class:`_Missing` (the server is skipped, named)."""

    def one(m: re.Match[str]) -> str:
        name, default = m.group("name"), m.group("default")
        if name == "workspaceFolder" and workspace is not None:
            return str(workspace)
        if name.startswith("env:"):
            name = name[4:]
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise _Missing(name)

    return _VAR.sub(one, text)


def _json_problem(path: Path, e: json.JSONDecodeError) -> str:
    return f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); its MCP servers are not started"


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path}: cannot read it ({e}); its MCP servers are not started")
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        problems.append(_json_problem(path, e))
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}:1: expected a JSON object; its MCP servers are not started")
        return None
    return data


def _line_of(text: str, name: str) -> int:
    """The line where server ``name`` is defined (for a message), 1 if not found."""
    m = re.search(rf'"{re.escape(name)}"\s*:', text)
    return text.count("\n", 0, m.start()) + 1 if m else 1


def _from_entry(
    name: str, entry: Any, source: Source, path: Path, root: Path, problems: list[str]
) -> ServerSpec | None:
    where = f"{path}:{_line_of(path.read_text(encoding='utf-8'), name)}"
    if not isinstance(entry, dict):
        problems.append(f"{where}: MCP server {name!r} is not a JSON object; skipped")
        return None
    if entry.get("disabled") is True or entry.get("enabled") is False:
        return None
    env = dict(os.environ)
    workspace = root if source == ".vscode/mcp.json" else None
    kind = entry.get("type") or ("http" if "url" in entry else "stdio")
    if kind in ("streamable-http", "streamableHttp", "sse"):
        kind = "http"
    try:
        if kind == "http":
            url = entry.get("url")
            if not isinstance(url, str) or not url:
                problems.append(f"{where}: MCP server {name!r} has type http but no url; skipped")
                return None
            headers = _strings(entry.get("headers"), "headers")
            return ServerSpec(
                name=name,
                transport="http",
                url=expand(url, env, workspace),
                headers={k: expand(v, env, workspace) for k, v in headers.items()},
                source=source,
            )
        if kind != "stdio":
            problems.append(f"{where}: MCP server {name!r} has unknown type {kind!r}; skipped")
            return None
        command = entry.get("command")
        if not isinstance(command, str) or not command:
            problems.append(f"{where}: MCP server {name!r} has no command; skipped")
            return None
        args = entry.get("args") or []
        if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
            problems.append(f"{where}: MCP server {name!r}: args must be a list of strings")
            return None
        cwd = entry.get("cwd")
        return ServerSpec(
            name=name,
            transport="stdio",
            command=expand(command, env, workspace),
            args=tuple(expand(a, env, workspace) for a in args),
            env={
                k: expand(v, env, workspace) for k, v in _strings(entry.get("env"), "env").items()
            },
            cwd=expand(cwd, env, workspace) if isinstance(cwd, str) else None,
            source=source,
        )
    except _Missing as m:
        problems.append(
            f"{where}: MCP server {name!r} uses ${{{m}}}, which is not set (and has no "
            f"default: ${{{m}:-value}}); skipped"
        )
    except ValueError as e:
        problems.append(f"{where}: MCP server {name!r}: {e}; skipped")
    return None


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{what} must be an object of strings")
    return {str(k): v for k, v in value.items()}


def project_servers(root: Path, problems: list[str]) -> list[ServerSpec]:
    """The servers the project's own files define (.vscode/mcp.json first, then .mcp.json)."""
    found: list[ServerSpec] = []
    files: tuple[tuple[Source, str], ...] = (
        (".vscode/mcp.json", "servers"),
        (".mcp.json", "mcpServers"),
    )
    for source, key in files:
        path = root / source
        if not path.is_file():
            continue
        data = _read_json(path, problems)
        if data is None:
            continue
        table = data.get(key, {})
        if not isinstance(table, dict):
            problems.append(
                f"{path}:{_line_of(path.read_text(encoding='utf-8'), key)}: "
                f"{key!r} must be an object; its MCP servers are not started"
            )
            continue
        for name, entry in table.items():
            spec = _from_entry(str(name), entry, source, path, root, problems)
            if spec is not None:
                found.append(spec)
    return found


def _from_settings(name: str, s: McpServerSettings, problems: list[str]) -> ServerSpec | None:
    env = dict(os.environ)
    try:
        if s.url or s.type == "http":
            if not s.url:
                problems.append(f"[mcp.servers.{name}]: type http needs a url; skipped")
                return None
            return ServerSpec(
                name=name,
                transport="http",
                url=expand(s.url, env),
                headers={k: expand(v, env) for k, v in s.headers.items()},
            )
        assert s.command is not None
        return ServerSpec(
            name=name,
            transport="stdio",
            command=expand(s.command, env),
            args=tuple(expand(a, env) for a in s.args),
            env={k: expand(v, env) for k, v in s.env.items()},
            cwd=expand(s.cwd, env) if s.cwd else None,
        )
    except _Missing as m:
        problems.append(f"[mcp.servers.{name}]: ${{{m}}} is not set; skipped")
        return None


def _gated(spec: ServerSpec, s: McpServerSettings) -> ServerSpec:
    """The spec with the settings' gates and timeouts (the settings have the last word)."""
    return replace(
        spec,
        trust=s.trust or spec.trust,
        planner_tools=(*spec.planner_tools, *s.planner_tools),
        allow=(*spec.allow, *s.allow),
        start_timeout_s=s.start_timeout_s or spec.start_timeout_s,
        call_timeout_s=s.call_timeout_s or spec.call_timeout_s,
    )


def load_servers(
    root: Path,
    settings: McpSettings,
    client: list[ServerSpec] | None = None,
    *,
    project_files: bool | None = None,
) -> Loaded:
    """Every server to start, in precedence order, with what could not be read."""
    problems: list[str] = []
    if not settings.enabled:
        return Loaded([], [])
    by_name: dict[str, ServerSpec] = {}
    read_files = settings.project_files if project_files is None else project_files
    if read_files:
        for spec in project_servers(root, problems):
            by_name[spec.name] = spec
    for name, s in settings.servers.items():
        if not s.enabled:
            by_name.pop(name, None)
            continue
        if s.command or s.url:
            mine = _from_settings(name, s, problems)
            if mine is None:
                continue
            by_name[name] = _gated(mine, s)
        elif name in by_name:
            by_name[name] = _gated(by_name[name], s)
    for spec in client or []:
        gates = settings.servers.get(spec.name)
        by_name[spec.name] = _gated(spec, gates) if gates is not None else spec
    # a stdio server runs in the workspace (relative paths in its args mean the project's)
    servers = [
        replace(s, cwd=str(root / s.cwd) if s.cwd else str(root)) if s.transport == "stdio" else s
        for n, s in by_name.items()
        if n not in settings.disabled
    ]
    return Loaded(servers, problems)


def client_server(raw: Mapping[str, Any]) -> ServerSpec:
    """A server the client hands over: ACP's ``McpServer`` (``name``, ``command``,
    ``args``, ``env`` as ``[{name, value}]`` or an object; or ``type: http``, ``url``,
    ``headers`` likewise). Raises ValueError naming what is wrong."""
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("an MCP server needs a name")

    def pairs(value: Any, what: str) -> dict[str, str]:
        if value is None:
            return {}
        if isinstance(value, list):
            out: dict[str, str] = {}
            for item in value:
                if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
                    raise ValueError(f"MCP server {name!r}: {what} entries need name and value")
                out[item["name"]] = str(item.get("value", ""))
            return out
        return _strings(value, f"MCP server {name!r}: {what}")

    url = raw.get("url")
    if raw.get("type") in ("http", "sse") or url:
        if not isinstance(url, str) or not url:
            raise ValueError(f"MCP server {name!r}: an http server needs a url")
        return ServerSpec(
            name=name,
            transport="http",
            url=url,
            headers=pairs(raw.get("headers"), "headers"),
            source="client",
        )
    command = raw.get("command")
    if not isinstance(command, str) or not command:
        raise ValueError(f"MCP server {name!r} needs a command (or a url)")
    args = raw.get("args") or []
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise ValueError(f"MCP server {name!r}: args must be a list of strings")
    return ServerSpec(
        name=name,
        transport="stdio",
        command=command,
        args=tuple(args),
        env=pairs(raw.get("env"), "env"),
        cwd=raw.get("cwd") if isinstance(raw.get("cwd"), str) else None,
        source="client",
    )

"""Tool names as the model sees them: ``mcp__SERVER__TOOL``, legal for every model API.

Anthropic and OpenAI accept ``^[a-zA-Z0-9_-]{1,64}$``; MCP allows any string (dots,
slashes, spaces, unicode). Each illegal character becomes ``_``, a name too long is cut
and given a short hash, and a name taken already (two servers' tools that map to the same
text) gets ``_2``, ``_3`` — each with a warning naming both servers. The table maps back,
so the server receives the tool's own name, whatever the model was shown.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from planloop.mcp_port import PREFIX

MAX_NAME = 64
_ILLEGAL = re.compile(r"[^A-Za-z0-9_-]")


def legal(text: str) -> str:
    return _ILLEGAL.sub("_", text) or "_"


def model_name(server: str, tool: str) -> str:
    """The name before clashes are resolved (stable: the same tool, the same name)."""
    name = f"{PREFIX}{legal(server)}__{legal(tool)}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


@dataclass
class NameTable:
    """Model-facing name ↔ (server, tool), built server by server in a stable order."""

    _to: dict[str, tuple[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, server: str, tool: str) -> str:
        base = model_name(server, tool)
        name, n = base, 1
        while name in self._to:
            n += 1
            suffix = f"_{n}"
            name = base[: MAX_NAME - len(suffix)] + suffix
        if name != base:
            other = self._to[base]
            self.warnings.append(
                f"MCP tool {tool!r} of server {server!r} and tool {other[1]!r} of server "
                f"{other[0]!r} both map to {base}; the second is named {name}"
            )
        self._to[name] = (server, tool)
        return name

    def resolve(self, name: str) -> tuple[str, str] | None:
        return self._to.get(name)

    def names(self) -> list[str]:
        return list(self._to)

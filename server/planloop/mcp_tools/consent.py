"""The once-per-workspace question before a project's MCP config starts a process.

A repository can carry a ``.mcp.json`` whose "server" is any command; opening the
folder must not run it. So servers from the project's files start only after a person
said yes to exactly that list (its commands, arguments and URLs, fingerprinted): the
answer is remembered in ``.planloop/mcp-consent.json``, and a changed file asks again.
Servers from the user's own settings or handed over by the client need no question: the
user wrote those.

A repository could commit a ``.planloop/mcp-consent.json`` too, so the answer is stored
as an HMAC of the fingerprint under a key only the user's config directory holds
(``mcp-consent.key``, beside the trusted folders): a planted file proves nothing and the
question is asked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from pathlib import Path

from planloop.fsutil import atomic_write
from planloop.mcp_tools.sources import ServerSpec
from planloop.redaction import redact
from planloop.trust import config_dir

CONSENT_FILE = "mcp-consent.json"
KEY_FILE = "mcp-consent.key"

#: asks a person; True/False is an answer to remember, None: nobody answered now
Ask = Callable[[str], bool | None]


def fingerprint(specs: list[ServerSpec]) -> str:
    shown = sorted(
        [s.name, s.source, s.transport, s.command or "", list(s.args), s.url or ""] for s in specs
    )
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()[:16]


def _question(specs: list[ServerSpec]) -> str:
    listed = "; ".join(s.describe() for s in specs)
    # an argument may hold an expanded ${TOKEN}: the question goes to a prompt or an editor
    return redact(f"start the MCP servers this workspace's config defines: {listed}")


def _key(folder: Path) -> bytes:
    """The user's own key (created on first use), never in a repository."""
    path = folder / KEY_FILE
    try:
        key = bytes.fromhex(path.read_text(encoding="utf-8").strip())
        if len(key) >= 16:
            return key
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    atomic_write(path, key.hex() + "\n")
    return key


class Consent:
    def __init__(self, state_dir: Path, key_dir: Path | None = None) -> None:
        self.path = state_dir / CONSENT_FILE
        #: where the user's key lives: their config directory (tests pass their own)
        self.key_dir = key_dir

    def _seal(self, fp: str, answer: bool) -> str:
        key = _key(self.key_dir or config_dir())
        return hmac.new(key, f"{fp}:{answer}".encode(), hashlib.sha256).hexdigest()

    def _recorded(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def filter(
        self, specs: list[ServerSpec], ask: Ask | None
    ) -> tuple[list[ServerSpec], str | None]:
        """The specs that may start, and why the project's were left out (or None)."""
        project = [s for s in specs if s.from_project]
        if not project:
            return specs, None
        others = [s for s in specs if not s.from_project]
        fp = fingerprint(project)
        seen = self._recorded()
        names = ", ".join(s.name for s in project)
        answered = seen.get("fingerprint") == fp and isinstance(seen.get("allow"), bool)
        if answered and hmac.compare_digest(
            str(seen.get("seal", "")), self._seal(fp, bool(seen["allow"]))
        ):
            if seen["allow"] is True:
                return specs, None
            return others, (
                f"{names}: not started, you declined this workspace's MCP config (delete "
                f"{self.path} to be asked again)"
            )
        answer = ask(_question(project)) if ask is not None else None
        if answer is None:
            return others, (
                f"{names}: not started, this workspace's MCP config needs your consent once "
                "and nobody could answer now (run planloop in a terminal, or define the "
                "servers in your own config.toml)"
            )
        record = {"fingerprint": fp, "allow": answer, "seal": self._seal(fp, answer)}
        atomic_write(self.path, json.dumps(record) + "\n")
        if answer:
            return specs, None
        return others, f"{names}: not started, you declined this workspace's MCP config"

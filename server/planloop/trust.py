"""Which folders the user trusts to configure planloop, remembered outside every repository.

A cloned repository's ``planloop.toml`` is text a stranger wrote. Settings that decide
where a credential goes (a provider's ``base_url``, ``api_key_env``) or widen what a
model's command may do (``sandbox*``, the policy's allow list, the ``rg_path`` planloop
itself runs) apply from a folder's file only once the user trusted that folder — the
way Codex CLI trusts projects and VS Code trusts workspaces. The answer lives in the
user's config directory, never inside the repository: a repository cannot vouch for
itself.

The user's own settings live beside it (``config.toml``): every key applies from there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from planloop.errors import ConfigError
from planloop.fsutil import atomic_write

#: overrides the directory (tests, and users who keep dotfiles elsewhere)
CONFIG_DIR_ENV = "PLANLOOP_CONFIG_DIR"
USER_CONFIG = "config.toml"
TRUST_FILE = "trusted-folders.json"


def config_dir() -> Path:
    """``$PLANLOOP_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/planloop``, else ``~/.config/planloop``."""
    own = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "planloop"


def user_config_file() -> Path:
    return config_dir() / USER_CONFIG


@dataclass(frozen=True)
class TrustDecision:
    folder: Path
    trusted: bool


class TrustStore:
    """The folders a person answered for: trusted, or explicitly not (asked once).

    A folder inherits the answer of its nearest answered ancestor, so trusting a
    monorepo's root covers its packages.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / TRUST_FILE

    def _read(self) -> dict[str, bool]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(
                f"{self.path}: cannot read the trusted folders ({e}); fix or delete the file"
            ) from e
        folders = raw.get("folders") if isinstance(raw, dict) else None
        if not isinstance(folders, dict) or not all(isinstance(v, bool) for v in folders.values()):
            raise ConfigError(
                f'{self.path}: expected {{"folders": {{"/path": true}}}}; fix or delete the file'
            )
        return {str(k): v for k, v in folders.items()}

    def decision(self, folder: Path) -> TrustDecision | None:
        """The answer that covers ``folder``, or None when nobody was ever asked."""
        answers = self._read()
        here = folder.resolve()
        for candidate in (here, *here.parents):
            if str(candidate) in answers:
                return TrustDecision(candidate, answers[str(candidate)])
        return None

    def is_trusted(self, folder: Path) -> bool:
        found = self.decision(folder)
        return bool(found and found.trusted)

    def answer(self, folder: Path, trusted: bool) -> None:
        answers = self._read()
        answers[str(folder.resolve())] = trusted
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"folders": dict(sorted(answers.items()))}, indent=2) + "\n"
        atomic_write(self.path, text)

    def folders(self) -> dict[str, bool]:
        return self._read()

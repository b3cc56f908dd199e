"""Secrets in one place: which variables hold credentials, and how to keep them out.

Every path out of the process — logs, events, plan files, LSP messages, the
environment of the commands the executor runs, git's environment — consults this
module, so adding a provider's key variable here protects all of them at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

#: the credential variables planloop itself reads (the model adapters' keys)
SECRET_ENV: tuple[str, ...] = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "VLLM_API_KEY",
)

#: any variable whose name says it holds a credential, for scrubbing child environments
_SECRET_NAME = re.compile(
    r"(^|_)(API_?KEY|SECRET|SECRETS|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_KEY|KEY)($|_)"
)

#: shorter values are too likely to occur in ordinary text to be worth replacing
_MIN_SECRET_LEN = 8


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name marks it as a credential."""
    upper = name.upper()
    if upper in SECRET_ENV:
        return True
    if upper.startswith("ANTHROPIC_") and ("KEY" in upper or "TOKEN" in upper):
        return True
    return bool(_SECRET_NAME.search(upper))


#: git's configuration given in the environment: ``GIT_CONFIG_COUNT`` pairs of these
_GIT_CONFIG_PAIR = re.compile(r"GIT_CONFIG_(KEY|VALUE)_\d+")
#: git settings whose value may carry a credential (a header, a URL with a token, a proxy)
_GIT_SECRET_SETTING = re.compile(
    r"extraheader|password|passwd|token|secret|credential|insteadof|proxy|key", re.I
)


def scrubbed_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: this process's) without any credential variable."""
    source = os.environ if env is None else env
    out = {
        k: v
        for k, v in source.items()
        if not is_secret_name(k) and k != "GIT_CONFIG_COUNT" and not _GIT_CONFIG_PAIR.fullmatch(k)
    }
    out.update(_git_config_pairs(source))
    return out


def _git_config_pairs(source: Mapping[str, str]) -> dict[str, str]:
    """git's environment configuration, kept whole: ``GIT_CONFIG_KEY_0`` reads like a
    credential's name but only names a setting, and dropping it alone leaves git refusing
    to start ("missing config key"), which silently turned every listing into a walk.
    A pair whose setting may carry a credential is dropped, and the rest renumbered."""
    try:
        count = int(source.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        return {}
    kept: list[tuple[str, str]] = []
    for i in range(max(0, count)):
        key, value = source.get(f"GIT_CONFIG_KEY_{i}"), source.get(f"GIT_CONFIG_VALUE_{i}")
        if key is None or value is None:
            return {}  # git refuses an incomplete list: pass none of it
        if not _GIT_SECRET_SETTING.search(key):
            kept.append((key, value))
    if not kept:
        return {}
    out = {"GIT_CONFIG_COUNT": str(len(kept))}
    for i, (key, value) in enumerate(kept):
        out[f"GIT_CONFIG_KEY_{i}"], out[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return out


def redact(text: str) -> str:
    """Replace the value of every known secret variable in ``text`` with ``***``."""
    for var in SECRET_ENV:
        secret = os.environ.get(var)
        if secret and len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, "***")
    return text

"""Secrets in one place: which variables hold credentials, and how to keep them out.

Every path out of the process — logs, events, plan files, LSP messages, the
environment of the commands the executor runs, git's environment — consults this
module, so adding a provider's key variable here protects all of them at once.
"""

from __future__ import annotations

import os
import re

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


def scrubbed_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: this process's) without any credential variable."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if not is_secret_name(k)}


def redact(text: str) -> str:
    """Replace the value of every known secret variable in ``text`` with ``***``."""
    for var in SECRET_ENV:
        secret = os.environ.get(var)
        if secret and len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, "***")
    return text

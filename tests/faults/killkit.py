"""What the kill and model-error tests share: the real CLI as a process, and reading its record back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLANLOOP = str(Path(sys.executable).with_name("planloop"))


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["COLUMNS"] = "200"
    env["PLANLOOP_MODE"] = "split"  # these scripts were written for the split loop
    env["PLANLOOP_WARM"] = "off"  # the process killed is the command's own (warm: test_warm)
    env.update(extra or {})
    return env


def planloop(
    ws: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """One ``planloop`` command, stdin not a terminal; never a traceback, whatever happened."""
    res = subprocess.run(
        [PLANLOOP, *args],
        cwd=ws,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    return res


def flat(text: str) -> str:
    return " ".join(text.split())

"""Shared fixtures: a real copy of the bundled calculator example and scripted sessions over it."""

from __future__ import annotations

import atexit
import compileall
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "calculator"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcp_fixtures import http_server, refusing_http  # noqa: E402, F401 - real MCP servers
from standin import standin  # noqa: E402, F401 - the Messages API stand-in fixture
from standin_openai import openai_standin  # noqa: E402, F401 - the Chat Completions stand-in

# The default mode is auto; the scripted sessions of the tests were written for the
# planner + executor split, so the whole process (module-scoped fixtures, the CLI and
# language-server children) runs split unless a test sets the mode itself.
os.environ["PLANLOOP_MODE"] = "split"
# A warm planloop (planloop.cli.warm) started by one test's command would outlive it and
# serve the next test's; tests/test_warm.py turns it on, each test with a warm process
# of its own.
os.environ["PLANLOOP_WARM"] = "off"
# Tests that build their environment without PLANLOOP_* run their commands warm: each
# worker's warm process is its own (its socket in a directory of this run's), stopped when
# the worker ends; what they check then holds for a warm command as for a cold one
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="planloop-test-run-")


def _stop_warm_processes(where: str) -> None:
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"serve_warm" in line and where.encode() in line:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    shutil.rmtree(where, ignore_errors=True)


atexit.register(_stop_warm_processes, os.environ["XDG_RUNTIME_DIR"])  # one per worker
# the user's own settings and trusted folders (~/.config/planloop) must not steer a test:
# the whole process and its children (which many tests give an environment without
# PLANLOOP_*) read a config directory of their own instead
os.environ.pop("PLANLOOP_CONFIG_DIR", None)
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="planloop-test-config-")
atexit.register(shutil.rmtree, os.environ["XDG_CONFIG_HOME"], True)  # one per worker


def pytest_configure(config: pytest.Config) -> None:
    """Compile planloop's sources once, before the workers start.

    Hundreds of tests start `planloop` in a child process; where PYTHONDONTWRITEBYTECODE is
    set (it is on the CI machines) each child would compile every module from source again,
    a fifth of its start-up. compileall writes the bytecode whatever that variable says.
    """
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(ROOT / "server" / "planloop", quiet=1)


@pytest.fixture(autouse=True)
def _python_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks run `python -m pytest`: make `python` this interpreter, as the demo does."""
    monkeypatch.setenv(
        "PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    )
    # the example projects need no pytest plugins; not loading this venv's (asyncio, lsp,
    # hypothesis…) makes each check run ten times faster
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PLANLOOP_PLANNER", raising=False)
    monkeypatch.delenv("PLANLOOP_EXECUTOR", raising=False)


@pytest.fixture
def calc_ws(tmp_path: Path) -> Path:
    """A fresh copy of the calculator project (without its demo script)."""
    ws = tmp_path / "calc"
    shutil.copytree(
        EXAMPLE,
        ws,
        ignore=shutil.ignore_patterns("demo.json", "__pycache__", ".pytest_cache", ".planloop"),
    )
    return ws

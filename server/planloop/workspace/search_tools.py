"""The external programs listing and search use, found once and run read-only.

Why a module of its own: which ripgrep runs is decided in one place, in this order: an
explicit path (``PLANLOOP_RG``, or the editor's bundled ``rg`` that VS Code passes to the
server), then ``rg`` on PATH, then the binary of the ``ripgrep`` wheel planloop depends on
(installed beside the Python interpreter); ``git`` from PATH. Every such program runs with
:func:`child_env` (no secrets, git's optional locks off, no inherited ``GIT_DIR``), so a
listing or a search can never write the user's index or see the API key.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from dataclasses import dataclass
from pathlib import Path

from planloop.redaction import scrubbed_env

log = logging.getLogger("planloop.search")


def child_env() -> dict[str, str]:
    """Our environment minus secrets; git's optional locks off so nothing refreshes (writes)
    the user's index while we read it."""
    env = scrubbed_env()
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.pop("RIPGREP_CONFIG_PATH", None)
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        env.pop(k, None)  # a planloop started from a git hook must still read this workspace
    return env


def package_rg() -> Path | None:
    """The ``rg`` of the ``ripgrep`` wheel: installed as a script beside our interpreter."""
    names = ("rg.exe", "rg") if os.name == "nt" else ("rg",)
    dirs = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for d in dict.fromkeys(dirs):
        for n in names:
            p = d / n
            if p.is_file() and os.access(p, os.X_OK):
                return p
    return None


def find_ripgrep(
    explicit: str | None = None,
    *,
    search_path: str | None = None,
    use_package: bool = True,
) -> tuple[str | None, str]:
    """(path to rg or None, where it came from). ``explicit`` or ``PLANLOOP_RG`` first;
    ``PLANLOOP_RG=off`` switches ripgrep off (the fallback tests use it)."""
    env_rg = os.environ.get("PLANLOOP_RG", "").strip()
    if env_rg.lower() in ("off", "none", "0"):
        return None, "PLANLOOP_RG=off"
    for given, where in ((explicit, "rg_path"), (env_rg or None, "PLANLOOP_RG")):
        if given:
            if os.path.isfile(given) and os.access(given, os.X_OK):
                return given, where
            log.warning(
                "ripgrep at %s (%s) is not an executable file; looking elsewhere", given, where
            )
    found = shutil.which("rg", path=search_path)
    if found:
        return found, "PATH"
    if use_package:
        pkg = package_rg()
        if pkg is not None:
            return str(pkg), "the ripgrep package"
    return None, "not found"


@dataclass
class Tools:
    """The external programs a :class:`Searcher` may use; ``None`` means absent."""

    rg: str | None
    git: str | None
    rg_source: str = ""

    @classmethod
    def discover(cls, rg: str | None = None) -> Tools:
        path, source = find_ripgrep(rg)
        return cls(rg=path, git=shutil.which("git"), rg_source=source)


def run_side_by_side(cmds: list[list[str]], cwd: Path, timeout_s: float) -> list[bytes] | None:
    """Run commands side by side (a walk and a stat pass overlap on two cores): their
    outputs, or None unless every one exited 0 in time (a caller then asks another way)."""
    results: list[tuple[int, bytes, bytes] | None] = [None] * len(cmds)

    def one(i: int) -> None:
        results[i] = run_capture(cmds[i], cwd, timeout_s)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(1, len(cmds))]
    for t in threads:
        t.start()
    one(0)
    for t in threads:
        t.join()
    outs = [r[1] for r in results if r is not None and r[0] == 0]
    return outs if len(outs) == len(cmds) else None


def run_capture(cmd: list[str], cwd: Path, timeout_s: float) -> tuple[int, bytes, bytes] | None:
    try:
        done = subprocess.run(
            cmd,
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.returncode, done.stdout, done.stderr

"""An OS sandbox for the commands a model writes: bubblewrap on Linux, Seatbelt on macOS.

Why: ``Workspace.resolve`` guards the file tools, but a shell command can write anywhere
the user can, read ``~/.ssh``, plant a git hook that runs on the user's next commit, or
talk to the network. Those guarantees only hold for commands if the kernel enforces them,
so every command goes through a sandbox that allows writes to the workspace (never its
``.git/`` or ``.planloop/``), a private ``/tmp`` and the paths the user adds, hides the
usual credential files, and cuts the network down to loopback.

This module only builds command lines, environments and profiles and answers "can the
sandbox run here?"; the one place that runs commands (``Workspace.run``) uses it.
Standard library only: it must work wherever planloop itself does.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from planloop.workspace.bwrap import find_bwrap, probe_bwrap, wrap
from planloop.workspace.sandbox_rules import (
    INSTALL_FIX,
    PROTECTED_NAMES,
    SANDBOX_TMP,
    SandboxError,
    SandboxSpec,
    SandboxStatus,
    env_for,
    placeholders,
    unavailable,
)
from planloop.workspace.seatbelt import macos_wrap, probe_seatbelt


@contextmanager
def sandboxed(
    argv: Sequence[str],
    spec: SandboxSpec,
    env: Mapping[str, str],
    *,
    bwrap: str | None = None,
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The (argv, env) to start for one sandboxed command; cleans up after it.

    On Linux ``/tmp`` is a tmpfs of the command's own; on macOS a host temp dir this
    owns (made outside the workspace, removed after). Removes the empty placeholders bwrap
    makes on the host for a missing ``.git``/``.planloop`` — and, first, any a killed run
    left behind (an empty ``.git`` is no repository, and would confuse planloop's own
    git detection). Use it around the whole life of the process, including waiting.
    """
    _remove_empty([spec.root / name for name in PROTECTED_NAMES])
    covered = placeholders(spec)
    tmpdir = Path(tempfile.mkdtemp(prefix="planloop-sbx-")) if sys.platform == "darwin" else None
    try:
        if tmpdir is not None:
            yield macos_wrap(argv, spec, tmpdir), env_for(env, tmpdir)
        else:
            yield wrap(argv, spec, None, bwrap=bwrap), env_for(env, SANDBOX_TMP)
    finally:
        _remove_empty(covered)
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _remove_empty(paths: Sequence[Path]) -> None:
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                path.rmdir()
        except OSError:
            pass


# --- the probe ---------------------------------------------------------------------

_PROBE_CACHE: dict[str, SandboxStatus] = {}


def probe(bwrap: str | None = None, *, root: Path | None = None) -> SandboxStatus:
    """Whether commands can be sandboxed here, by running ``true`` in the sandbox once.

    Never raises: a failure is a status whose ``reason`` is one line and whose ``fix``
    says what to install or allow (or how to accept running unsandboxed). The answer is
    cached per bwrap path for the life of the process: it cannot change without the
    administrator's intervention, and every command would otherwise pay for it.
    """
    try:
        if sys.platform == "darwin" and bwrap is None:
            key = "sandbox-exec"
            if key not in _PROBE_CACHE:
                _PROBE_CACHE[key] = probe_seatbelt()
            return _PROBE_CACHE[key]
        if not sys.platform.startswith("linux") and bwrap is None:
            return unavailable(f"no sandbox backend for {sys.platform}", "")
        exe = bwrap if bwrap is not None else find_bwrap(root)
        if exe is None:
            return unavailable("bubblewrap (bwrap) is not on PATH", INSTALL_FIX)
        if exe not in _PROBE_CACHE:
            _PROBE_CACHE[exe] = probe_bwrap(exe)
        return _PROBE_CACHE[exe]
    except Exception as exc:  # the probe reports; it must never take planloop down
        return unavailable(f"the sandbox probe failed: {type(exc).__name__}: {exc}", "")


# --- explaining a refusal ----------------------------------------------------------

_WRITE_REFUSED = re.compile(r"Read-only file system|\bEROFS\b")
_WRITE_DENIED = re.compile(
    r"Permission denied|\bEACCES\b|Operation not permitted|\bEPERM\b", re.IGNORECASE
)
_WRITE_VERB = re.compile(
    r"cannot (create|remove|touch|move|overwrite|make|open .* for writing)|mkdir|write|"
    r"unable to (create|write|unlink|lock)|could not (create|write|lock|rename)|"
    r"\brm:|\bmv:|\bcp:|\bln:|\btouch:|failed to (create|write|rename)",
    re.IGNORECASE,
)
_NETWORK_REFUSED = re.compile(
    r"Network is unreachable|Temporary failure in name resolution|Could not resolve host|"
    r"Name or service not known|No address associated with hostname|\bENETUNREACH\b|"
    r"\bEAI_AGAIN\b|getaddrinfo (failed|ENOTFOUND)|nodename nor servname",
    re.IGNORECASE,
)


def explain_refusal(output: str, *, network: bool = False) -> str | None:
    """One line to append to a command's output when the sandbox probably refused it.

    A model that sees only "Read-only file system" tends to retry with sudo or chmod;
    naming the rule lets it write elsewhere or report the need instead. ``network``: the
    command ran with the network on, so a network error is not the sandbox's doing.
    """
    wrote = bool(_WRITE_REFUSED.search(output)) or any(
        _WRITE_DENIED.search(line) and _WRITE_VERB.search(line) for line in output.splitlines()
    )
    net = not network and bool(_NETWORK_REFUSED.search(output))
    if wrote and net:
        what = "a write outside the writable workspace or a network access was refused"
    elif wrote:
        what = "a write outside the writable workspace was refused"
    elif net:
        what = "a network access was refused"
    else:
        return None
    rules = (
        "the sandbox allows writes only inside the workspace and /tmp, not to .git/ or .planloop/"
    )
    if not network:
        rules += "; network is off (127.0.0.1 works)"
    return f"[planloop sandbox] {what} ({rules})"


# --- the workspace's setting -------------------------------------------------------


def visible_paths() -> tuple[Path, ...]:
    """Where this interpreter and the PATH's programs live: a checkout or virtualenv under
    the host's ``/tmp`` (CI clones there) must stay visible under the private ``/tmp``."""
    found = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).parent}
    found |= {Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if os.path.isabs(p)}
    return tuple(sorted(p for p in found if p.is_dir()))


@dataclass
class CommandSandbox:
    """A workspace's sandbox setting, and whether it can be kept here.

    Fail closed: with ``auto`` and no working sandbox, :meth:`require` raises instead of
    letting a model's command run with the user's full rights; only ``off``, the user's
    explicit choice, runs commands bare.
    """

    root: Path
    mode: str = "auto"  # "auto" | "off"
    network: bool = False
    writable: tuple[Path, ...] = ()
    #: a bwrap to use instead of PATH's (tests simulate a broken one)
    bwrap: str | None = None
    home: Path | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def status(self) -> SandboxStatus:
        """The probe's answer (cached per process), or "off" when the user turned it off."""
        if not self.enabled:
            return SandboxStatus(
                False, "off", 'sandbox = "off": commands run with your full rights', ""
            )
        return probe(self.bwrap, root=self.root)

    def require(self) -> SandboxStatus:
        """The working sandbox; :class:`SandboxError` (why, and the fix) when there is none."""
        found = self.status()
        if self.enabled and not found.available:
            raise SandboxError(
                f"commands cannot be sandboxed here: {found.reason}. To fix: {found.fix}"
            )
        return found

    def spec(self) -> SandboxSpec:
        return SandboxSpec(
            root=self.root,
            writable=self.writable,
            network=self.network,
            home=self.home,
            readable=visible_paths(),
        )

    def summary(self) -> str:
        """One line for the log and ``status``: what commands run in."""
        found = self.status()
        if not self.enabled:
            return "off (commands run with your full rights)"
        if not found.available:
            return f"unavailable: {found.reason}"
        parts = [found.backend, "network on" if self.network else "network off (loopback only)"]
        if self.writable:
            parts.append("also writable: " + ", ".join(str(p) for p in self.writable))
        return " · ".join(parts)

    @contextmanager
    def command(
        self, argv: Sequence[str], env: Mapping[str, str]
    ) -> Iterator[tuple[list[str], dict[str, str]]]:
        """(argv, env) to start for one command: sandboxed, or as given when ``off``."""
        if not self.enabled:
            yield list(argv), dict(env)
            return
        self.require()
        exe = self.bwrap if self.bwrap is not None else find_bwrap(self.root)
        with sandboxed(argv, self.spec(), env, bwrap=exe) as wrapped:
            yield wrapped

    def explain(self, output: str) -> str | None:
        return explain_refusal(output, network=self.network) if self.enabled else None

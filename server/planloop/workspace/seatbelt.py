"""The Seatbelt profile for ``sandbox-exec`` (macOS): the same rules as the Linux
sandbox, as SBPL text. It cannot run on this project's Linux CI, so its tests read the
generated profile; docs/security.md says so.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from planloop.workspace.sandbox_rules import (
    PROTECTED_NAMES,
    SandboxError,
    SandboxSpec,
    SandboxStatus,
    credential_paths,
    protected_entries,
    real_path,
    unavailable,
)


def _sbpl_str(path: Path | str) -> str:
    """An SBPL string literal: a path with a quote or backslash must not end the string
    early (and so smuggle in rules of its own)."""
    text = str(path)
    if "\x00" in text or "\n" in text:
        raise SandboxError(f"cannot express the path {text!r} in a sandbox profile")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def macos_profile(spec: SandboxSpec, tmpdir: Path) -> str:
    """The Seatbelt (SBPL) profile with the Linux sandbox's rules, for ``sandbox-exec -p``.

    Reads and everything else are allowed by default; writes are denied unless under the
    workspace (minus its protected entries), the temp dir or an extra writable path.
    Every rule is written as one deny with ``require-not`` instead of an allow after a
    deny, so the profile means the same whatever order Seatbelt evaluates rules in.
    Seatbelt matches by path, so a missing ``.git`` needs no placeholder: creating it is
    a write to a denied path.
    """
    root = real_path(spec.root)
    home = real_path(spec.home_dir())
    writable_roots = [root] + [real_path(p) for p in spec.writable]
    protected: list[Path] = []
    for wroot in writable_roots:
        protected += [wroot / name for name in PROTECTED_NAMES]
        ro, _ = protected_entries(wroot, False)
        protected += [p for p in ro if p not in protected]

    def subpaths(paths: Sequence[Path]) -> str:
        return " ".join(f"(subpath {_sbpl_str(p)})" for p in paths)

    allowed_writes = [real_path(tmpdir), *writable_roots[1:]]
    lines = [
        "(version 1)",
        ";; planloop sandbox: generated, do not edit",
        "(allow default)",
        ";; writes: only the workspace (not .git/.planloop), the temp dir, extra paths",
        "(deny file-write*",
        "  (require-not",
        "    (require-any",
        f"      (require-all (subpath {_sbpl_str(root)})",
        *(f"        (require-not (subpath {_sbpl_str(p)}))" for p in protected),
        "      )",
        f"      {subpaths(allowed_writes)}",
        '      (literal "/dev/null") (literal "/dev/tty") (literal "/dev/dtracehelper")',
        '      (subpath "/dev/fd"))))',
        ";; protected entries stay read-only even inside an extra writable path",
        f"(deny file-write* {subpaths(protected)})",
    ]
    creds = credential_paths(home, root)
    if creds:
        literals = " ".join(
            f"(subpath {_sbpl_str(real_path(c))})"
            if real_path(c).is_dir()
            else f"(literal {_sbpl_str(real_path(c))})"
            for c in creds
        )
        lines += [
            ";; credentials: neither readable nor writable",
            f"(deny file-read* file-write* {literals})",
        ]
    if not spec.network:
        lines += [
            ";; network: loopback only",
            '(deny network-outbound (require-not (remote ip "localhost:*")))',
            '(deny network-bind (require-not (local ip "localhost:*")))',
        ]
    return "\n".join(lines) + "\n"


def macos_wrap(argv: Sequence[str], spec: SandboxSpec, tmpdir: Path) -> list[str]:
    """``sandbox-exec`` by its absolute system path: never one found in the workspace."""
    return ["/usr/bin/sandbox-exec", "-p", macos_profile(spec, tmpdir), *argv]


def probe_seatbelt() -> SandboxStatus:
    exe = "/usr/bin/sandbox-exec"
    if not os.path.exists(exe):
        return unavailable("sandbox-exec is missing from /usr/bin", "")
    try:
        done = subprocess.run(
            [exe, "-p", "(version 1)(allow default)", "/usr/bin/true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return unavailable(f"cannot run sandbox-exec: {exc}", "")
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        return unavailable(f"sandbox-exec failed: {err[0] if err else done.returncode}", "")
    return SandboxStatus(True, "sandbox-exec", "sandbox-exec works", "")

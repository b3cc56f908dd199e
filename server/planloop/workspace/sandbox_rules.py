"""What a sandboxed command may touch, whatever enforces it: the workspace writable but
its ``.git`` and ``.planloop`` (by their resolved paths, worktree pointers followed), the
user's credential files hidden, a private temp dir with the tool caches inside it. The
bubblewrap command line (``bwrap.py``) and the Seatbelt profile (``seatbelt.py``) both
read these rules, so the two platforms cannot drift apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from planloop.errors import PlanloopError

#: where the private temporary directory appears inside a Linux sandbox: programs that
#: hard-code ``/tmp`` (and models' ``cat > /tmp/x.py``) must work, not fail read-only
SANDBOX_TMP = Path("/tmp")

#: host directories replaced by fresh ones inside the Linux sandbox: ``/tmp`` because it is
#: shared with every other program, ``/run`` (only when the network is off) because its
#: sockets (docker, dbus, nscd, systemd-resolved) reach daemons outside any namespace
MASKED_TMP = Path("/tmp")
MASKED_RUN = Path("/run")

#: the protected entries of each writable root: git's data (a hook or ``core.fsmonitor``
#: planted there runs on the user's next git command, outside any sandbox) and planloop's
#: own state (checkpoints the user relies on to undo a step)
PROTECTED_NAMES = (".git", ".planloop")

#: credential files and directories under the home directory that no command needs to
#: read; ``.env*`` files directly in the home directory are added when they exist
CREDENTIAL_PATHS = (
    ".ssh",
    ".aws",
    ".config/gh",
    ".netrc",
    ".docker",
    ".kube",
    ".gnupg",
    ".git-credentials",
    ".config/git/credentials",
    ".pypirc",
    ".config/gcloud",
    ".azure",
)

#: variables that point at a credential by socket rather than by file: a socket is a
#: capability (an ssh agent signs for whoever connects), so it leaves the environment
SOCKET_ENV = ("SSH_AUTH_SOCK", "GPG_AGENT_INFO", "DBUS_SESSION_BUS_ADDRESS")

INSTALL_FIX = "install bubblewrap (apt install bubblewrap)"
OFF_FIX = 'or set sandbox = "off" to run commands unsandboxed and accept the risk'
NAMESPACE_FIX = (
    "allow unprivileged user namespaces: on Ubuntu 24.04 either "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for "
    "bwrap (the bwrap-userns-restrict profile); in a container, run it with user "
    "namespaces allowed (e.g. docker --security-opt seccomp=unconfined, or --privileged)"
)

#: bwrap's complaints when the kernel (AppArmor, a container's seccomp) refuses namespaces
NAMESPACE_REFUSED = re.compile(
    r"setting up uid map|No permissions to create (a )?new namespace|"
    r"Failed RTM_NEWADDR|RTM_NEWLINK|Operation not permitted|Permission denied|"
    r"unshare|clone",
    re.IGNORECASE,
)


class SandboxError(PlanloopError):
    """The sandbox cannot be set up for a command; the message says why and what to do."""

    default_kind = "sandbox"


@dataclass(frozen=True)
class SandboxSpec:
    """What one command may touch.

    ``writable`` adds directories a command may write besides the workspace (a shared
    build cache, say); ``readable`` names host paths under ``/tmp`` or ``/run`` that must
    stay visible (read-only) although the sandbox replaces those directories, e.g. a
    virtualenv in ``/tmp``. Everything else on the host is readable already.
    """

    root: Path
    writable: tuple[Path, ...] = ()
    network: bool = False
    home: Path | None = None
    readable: tuple[Path, ...] = field(default=())

    def home_dir(self) -> Path:
        return self.home if self.home is not None else Path.home()


@dataclass(frozen=True)
class SandboxStatus:
    """The answer to "will commands be sandboxed here?", with the fix when they will not."""

    available: bool
    backend: str  # 'bwrap' | 'sandbox-exec' | 'none'
    reason: str
    fix: str


def is_inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def real_path(path: Path) -> Path:
    return Path(os.path.realpath(path))


def gitdirs(gitfile: Path) -> list[Path]:
    """The directories a ``.git`` file (worktree, submodule) points at: its gitdir and the
    common dir that holds the refs and objects; both are the user's real repository."""
    try:
        text = gitfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    match = re.match(r"gitdir:\s*(.+?)\s*$", text.strip().splitlines()[0] if text.strip() else "")
    if not match:
        return []
    gitdir = Path(match.group(1))
    if not gitdir.is_absolute():
        gitdir = gitfile.parent / gitdir
    found = [real_path(gitdir)]
    try:
        common = (gitdir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        common = ""
    if common:
        common_path = Path(common) if Path(common).is_absolute() else gitdir / common
        found.append(real_path(common_path))
    return [p for p in found if p.exists()]


def protected_entries(writable_root: Path, is_workspace: bool) -> tuple[list[Path], list[Path]]:
    """(existing paths to bind read-only, missing entries to cover with a placeholder).

    Each is bound by its resolved path, so a ``.git`` that is a symlink protects what it
    points at. A missing ``.git``/``.planloop`` in the workspace gets an empty read-only
    placeholder: otherwise a command could create one (with a hook, or as a symlink out of
    the workspace) that the user's git or planloop itself would later trust.
    """
    ro: list[Path] = []
    missing: list[Path] = []
    for name in PROTECTED_NAMES:
        entry = writable_root / name
        if entry.is_symlink():
            target = real_path(entry)
            if target.exists():
                ro.append(target)
                if target.is_file() and name == ".git":
                    ro.extend(gitdirs(target))
        elif entry.is_dir():
            ro.append(entry)
        elif entry.exists():
            ro.append(entry)  # a file: the worktree's ``gitdir:`` pointer itself
            if name == ".git":
                ro.extend(gitdirs(entry))
        elif is_workspace:
            missing.append(entry)
    return ro, missing


def placeholders(spec: SandboxSpec) -> list[Path]:
    """The protected entries that do not exist yet and that :func:`wrap` will cover; bwrap
    creates them (empty) on the host as mount points, so the caller removes them after."""
    return protected_entries(real_path(spec.root), True)[1]


def credential_paths(home: Path, root: Path) -> list[Path]:
    found = [home / rel for rel in CREDENTIAL_PATHS]
    if home != root:  # when the home is the workspace, its .env is the project's
        try:
            found += sorted(p for p in home.iterdir() if p.name.startswith(".env"))
        except OSError:
            pass
    return [p for p in found if os.path.lexists(p)]


def warm_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Where warm planloop processes listen (``cli/warm.py``'s ``socket_dir``): a socket
    that runs planloop commands is a capability, covered like the credentials (the warm
    process also refuses any peer in other namespaces, so this is the second lock)."""
    found = [Path(environ.get("TMPDIR") or "/tmp") / f"planloop-{os.getuid()}"]
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        found.append(Path(runtime) / "planloop")
    return [p for p in found if p.is_dir()]


def masked_dirs(spec: SandboxSpec) -> list[Path]:
    return [MASKED_TMP] if spec.network else [MASKED_TMP, MASKED_RUN]


def env_for(env: Mapping[str, str], tmpdir: Path) -> dict[str, str]:
    """``env`` with the temp dir and the tool caches pointed into ``tmpdir``.

    The home directory is read-only inside the sandbox, so pip, uv, npm and friends would
    fail writing ``~/.cache``; a cache per command is slower but keeps the home intact.
    """
    out = {k: v for k, v in env.items() if k not in SOCKET_ENV}
    tmp = str(tmpdir)
    cache = str(tmpdir / ".cache")
    out.update(
        TMPDIR=tmp,
        TMP=tmp,
        TEMP=tmp,
        XDG_CACHE_HOME=cache,
        PIP_CACHE_DIR=f"{cache}/pip",
        npm_config_cache=f"{cache}/npm",
        UV_CACHE_DIR=f"{cache}/uv",
        GOCACHE=f"{cache}/go-build",
        PLANLOOP_SANDBOX="1",
    )
    return out


def unavailable(reason: str, fix: str) -> SandboxStatus:
    return SandboxStatus(False, "none", reason, f"{fix}, {OFF_FIX}" if fix else OFF_FIX)

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
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from planloop.errors import PlanloopError

#: where the private temporary directory appears inside a Linux sandbox: programs that
#: hard-code ``/tmp`` (and models' ``cat > /tmp/x.py``) must work, not fail read-only
SANDBOX_TMP = Path("/tmp")

#: host directories replaced by fresh ones inside the Linux sandbox: ``/tmp`` because it is
#: shared with every other program, ``/run`` (only when the network is off) because its
#: sockets (docker, dbus, nscd, systemd-resolved) reach daemons outside any namespace
_MASKED_TMP = Path("/tmp")
_MASKED_RUN = Path("/run")

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
_SOCKET_ENV = ("SSH_AUTH_SOCK", "GPG_AGENT_INFO", "DBUS_SESSION_BUS_ADDRESS")

INSTALL_FIX = "install bubblewrap (apt install bubblewrap)"
OFF_FIX = 'or set sandbox = "off" to run commands unsandboxed and accept the risk'
NAMESPACE_FIX = (
    "allow unprivileged user namespaces: on Ubuntu 24.04 either "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for "
    "bwrap (the bwrap-userns-restrict profile); in a container, run it with user "
    "namespaces allowed (e.g. docker --security-opt seccomp=unconfined, or --privileged)"
)

#: bwrap's complaints when the kernel (AppArmor, a container's seccomp) refuses namespaces
_NAMESPACE_REFUSED = re.compile(
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


# --- finding bwrap -----------------------------------------------------------------


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def find_bwrap(root: Path | None = None, search_path: str | None = None) -> str | None:
    """The first ``bwrap`` on PATH that is not inside the workspace, resolved.

    A ``bwrap`` inside the workspace could have been written by the model itself: running
    it would hand the sandbox to the code it is meant to contain.
    """
    resolved_root = Path(os.path.realpath(root)) if root is not None else None
    entries = (os.environ.get("PATH", "") if search_path is None else search_path).split(os.pathsep)
    for entry in entries:
        if not entry or not os.path.isabs(entry):
            continue  # a relative PATH entry means "relative to cwd", i.e. the workspace
        candidate = Path(entry) / "bwrap"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        real = Path(os.path.realpath(candidate))
        if resolved_root is not None and (
            _inside(real, resolved_root) or _inside(Path(os.path.realpath(entry)), resolved_root)
        ):
            continue
        return str(real)
    return None


# --- the bwrap command line --------------------------------------------------------


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _gitdirs(gitfile: Path) -> list[Path]:
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
    found = [_real(gitdir)]
    try:
        common = (gitdir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        common = ""
    if common:
        common_path = Path(common) if Path(common).is_absolute() else gitdir / common
        found.append(_real(common_path))
    return [p for p in found if p.exists()]


def _protected(writable_root: Path, is_workspace: bool) -> tuple[list[Path], list[Path]]:
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
            target = _real(entry)
            if target.exists():
                ro.append(target)
                if target.is_file() and name == ".git":
                    ro.extend(_gitdirs(target))
        elif entry.is_dir():
            ro.append(entry)
        elif entry.exists():
            ro.append(entry)  # a file: the worktree's ``gitdir:`` pointer itself
            if name == ".git":
                ro.extend(_gitdirs(entry))
        elif is_workspace:
            missing.append(entry)
    return ro, missing


def placeholders(spec: SandboxSpec) -> list[Path]:
    """The protected entries that do not exist yet and that :func:`wrap` will cover; bwrap
    creates them (empty) on the host as mount points, so the caller removes them after."""
    return _protected(_real(spec.root), True)[1]


def _credential_paths(home: Path, root: Path) -> list[Path]:
    found = [home / rel for rel in CREDENTIAL_PATHS]
    if home != root:  # when the home is the workspace, its .env is the project's
        try:
            found += sorted(p for p in home.iterdir() if p.name.startswith(".env"))
        except OSError:
            pass
    return [p for p in found if os.path.lexists(p)]


def _masked(spec: SandboxSpec) -> list[Path]:
    return [_MASKED_TMP] if spec.network else [_MASKED_TMP, _MASKED_RUN]


def wrap(
    argv: Sequence[str], spec: SandboxSpec, tmpdir: Path, *, bwrap: str | None = None
) -> list[str]:
    """The bwrap command line that runs ``argv`` under ``spec``.

    ``tmpdir`` is a host directory outside the workspace, made for this one command; it
    appears as ``/tmp`` inside. Mount order matters (later mounts cover earlier ones): the
    whole host read-only, fresh ``/dev``, ``/proc``, ``/tmp`` (and ``/run``), then the
    writable roots, then their protected entries read-only, then the credential covers,
    so nothing writable can uncover something protected.
    """
    root = _real(spec.root)
    exe = bwrap or find_bwrap(root)
    if exe is None:
        raise SandboxError(f"bubblewrap (bwrap) is not on PATH; {INSTALL_FIX}, {OFF_FIX}")
    tmp = _real(tmpdir)
    if _inside(tmp, root) or _inside(root, tmp):
        raise SandboxError(f"the sandbox's temp dir {tmp} must be outside the workspace {root}")
    home = _real(spec.home_dir())
    masked = _masked(spec)

    args = [exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc"]
    if not spec.network:
        args.append("--unshare-net")  # a new net namespace: only lo, which bwrap brings up
    if os.geteuid() == 0:
        # as root bwrap would keep the capabilities (CAP_SYS_ADMIN could unmount the
        # read-only covers); unprivileged, the user namespace has none to begin with
        args += ["--cap-drop", "ALL"]
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--bind", str(tmp), str(SANDBOX_TMP)]
    if not spec.network:
        args += ["--tmpfs", str(_MASKED_RUN)]

    # host paths under a masked directory that must still be seen (read-only)
    for path in (home, *(_real(p) for p in spec.readable)):
        if any(path.is_relative_to(m) for m in masked) and path.exists():
            args += ["--ro-bind", str(path), str(path)]

    writable_roots = [root] + [_real(p) for p in spec.writable]
    for i, wroot in enumerate(writable_roots):
        args += ["--bind" if i == 0 else "--bind-try", str(wroot), str(wroot)]
    for i, wroot in enumerate(writable_roots):
        ro, missing = _protected(wroot, i == 0)
        for path in ro:
            args += ["--ro-bind", str(path), str(path)]
        for path in missing:
            args += ["--tmpfs", str(path), "--remount-ro", str(path)]

    for cred in _credential_paths(home, root):
        real = _real(cred)
        if real.is_dir():
            args += ["--tmpfs", str(real), "--remount-ro", str(real)]
        elif real.exists():
            args += ["--ro-bind", "/dev/null", str(real)]
    args += ["--chdir", str(root), "--", *argv]
    return args


def env_for(env: Mapping[str, str], tmpdir: Path) -> dict[str, str]:
    """``env`` with the temp dir and the tool caches pointed into ``tmpdir``.

    The home directory is read-only inside the sandbox, so pip, uv, npm and friends would
    fail writing ``~/.cache``; a cache per command is slower but keeps the home intact.
    """
    out = {k: v for k, v in env.items() if k not in _SOCKET_ENV}
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


@contextmanager
def sandboxed(
    argv: Sequence[str],
    spec: SandboxSpec,
    env: Mapping[str, str],
    *,
    bwrap: str | None = None,
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The (argv, env) to start for one sandboxed command; cleans up after it.

    Owns the per-command temp dir (made outside the workspace, removed after) and removes
    the empty placeholders bwrap left on the host for a missing ``.git``/``.planloop``.
    Use it around the whole life of the process, including waiting for it.
    """
    tmpdir = Path(tempfile.mkdtemp(prefix="planloop-sbx-"))
    covered = placeholders(spec)
    try:
        if sys.platform == "darwin":
            wrapped = macos_wrap(argv, spec, tmpdir)
            yield wrapped, env_for(env, tmpdir)
        else:
            wrapped = wrap(argv, spec, tmpdir, bwrap=bwrap)
            yield wrapped, env_for(env, SANDBOX_TMP)
    finally:
        for path in covered:
            try:
                if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                    path.rmdir()
            except OSError:
                pass
        shutil.rmtree(tmpdir, ignore_errors=True)


# --- macOS -------------------------------------------------------------------------


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
    root = _real(spec.root)
    home = _real(spec.home_dir())
    writable_roots = [root] + [_real(p) for p in spec.writable]
    protected: list[Path] = []
    for wroot in writable_roots:
        protected += [wroot / name for name in PROTECTED_NAMES]
        ro, _ = _protected(wroot, False)
        protected += [p for p in ro if p not in protected]

    def subpaths(paths: Sequence[Path]) -> str:
        return " ".join(f"(subpath {_sbpl_str(p)})" for p in paths)

    allowed_writes = [_real(tmpdir), *writable_roots[1:]]
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
    creds = _credential_paths(home, root)
    if creds:
        literals = " ".join(
            f"(subpath {_sbpl_str(_real(c))})"
            if _real(c).is_dir()
            else f"(literal {_sbpl_str(_real(c))})"
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


# --- the probe ---------------------------------------------------------------------

_PROBE_CACHE: dict[str, SandboxStatus] = {}


def _off(reason: str, fix: str) -> SandboxStatus:
    return SandboxStatus(False, "none", reason, f"{fix}, {OFF_FIX}" if fix else OFF_FIX)


def _probe_bwrap(exe: str) -> SandboxStatus:
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        return _off(f"bubblewrap not found at {exe}", INSTALL_FIX)
    # the flags real commands use, so a kernel that refuses one of them is caught here
    argv = [exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net"]
    argv += ["--unshare-ipc"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "true"]
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return _off(f"{exe} did not finish a trivial sandboxed command in 15 s", "")
    except OSError as exc:
        return _off(f"cannot run {exe}: {exc.strerror or exc}", INSTALL_FIX)
    if done.returncode == 0:
        return SandboxStatus(True, "bwrap", f"bubblewrap works ({exe})", "")
    err = (done.stderr or done.stdout).decode("utf-8", errors="replace").strip()
    first = err.splitlines()[0] if err else f"exit {done.returncode}"
    if _NAMESPACE_REFUSED.search(err):
        return _off(f"bubblewrap cannot create namespaces here: {first}", NAMESPACE_FIX)
    return _off(f"bubblewrap failed a trivial command: {first}", "")


def _probe_seatbelt() -> SandboxStatus:
    exe = "/usr/bin/sandbox-exec"
    if not os.path.exists(exe):
        return _off("sandbox-exec is missing from /usr/bin", "")
    try:
        done = subprocess.run(
            [exe, "-p", "(version 1)(allow default)", "/usr/bin/true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _off(f"cannot run sandbox-exec: {exc}", "")
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        return _off(f"sandbox-exec failed: {err[0] if err else done.returncode}", "")
    return SandboxStatus(True, "sandbox-exec", "sandbox-exec works", "")


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
                _PROBE_CACHE[key] = _probe_seatbelt()
            return _PROBE_CACHE[key]
        if not sys.platform.startswith("linux") and bwrap is None:
            return _off(f"no sandbox backend for {sys.platform}", "")
        exe = bwrap if bwrap is not None else find_bwrap(root)
        if exe is None:
            return _off("bubblewrap (bwrap) is not on PATH", INSTALL_FIX)
        if exe not in _PROBE_CACHE:
            _PROBE_CACHE[exe] = _probe_bwrap(exe)
        return _PROBE_CACHE[exe]
    except Exception as exc:  # the probe reports; it must never take planloop down
        return _off(f"the sandbox probe failed: {type(exc).__name__}: {exc}", "")


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


def _visible_paths() -> tuple[Path, ...]:
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
            readable=_visible_paths(),
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

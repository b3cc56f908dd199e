"""The bubblewrap command line for one command (Linux), and the probe that says whether
bubblewrap can create its namespaces on this machine at all.

Mount order is the whole design: later mounts cover earlier ones, so the host goes in
read-only first and the protected entries last, and nothing writable can uncover them.
"""

from __future__ import annotations

import atexit
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from planloop.workspace.sandbox_rules import (
    INSTALL_FIX,
    MASKED_RUN,
    NAMESPACE_FIX,
    NAMESPACE_REFUSED,
    OFF_FIX,
    SANDBOX_TMP,
    SandboxError,
    SandboxSpec,
    SandboxStatus,
    credential_paths,
    is_inside,
    masked_dirs,
    protected_entries,
    real_path,
    unavailable,
    warm_dirs,
)


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
            is_inside(real, resolved_root)
            or is_inside(Path(os.path.realpath(entry)), resolved_root)
        ):
            continue
        return str(real)
    return None


# --- the command line ---------------------------------------------------------------


def wrap(
    argv: Sequence[str], spec: SandboxSpec, tmpdir: Path | None, *, bwrap: str | None = None
) -> list[str]:
    """The bwrap command line that runs ``argv`` under ``spec``.

    ``tmpdir`` is a host directory outside the workspace, made for this one command, that
    appears as ``/tmp`` inside; None gives a fresh tmpfs there instead, which leaves
    nothing on the host even when planloop is killed mid-command. Mount order matters (later mounts cover earlier ones): the
    whole host read-only, fresh ``/dev``, ``/proc``, ``/tmp`` (and ``/run``), then the
    writable roots, then their protected entries read-only, then the credential covers,
    so nothing writable can uncover something protected.
    """
    root = real_path(spec.root)
    exe = bwrap or find_bwrap(root)
    if exe is None:
        raise SandboxError(f"bubblewrap (bwrap) is not on PATH; {INSTALL_FIX}, {OFF_FIX}")
    tmp = real_path(tmpdir) if tmpdir is not None else None
    if tmp is not None and (is_inside(tmp, root) or is_inside(root, tmp)):
        raise SandboxError(f"the sandbox's temp dir {tmp} must be outside the workspace {root}")
    home = real_path(spec.home_dir())
    masked = masked_dirs(spec)

    args = [exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc"]
    if not spec.network:
        args.append("--unshare-net")  # a new net namespace: only lo, which bwrap brings up
    if os.geteuid() == 0:
        # as root bwrap would keep the capabilities (CAP_SYS_ADMIN could unmount the
        # read-only covers); unprivileged, the user namespace has none to begin with
        args += ["--cap-drop", "ALL"]
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    if tmp is not None:
        args += ["--bind", str(tmp), str(SANDBOX_TMP)]
    else:
        args += ["--tmpfs", str(SANDBOX_TMP)]
    if not spec.network:
        args += ["--tmpfs", str(MASKED_RUN)]

    # host paths under a masked directory that must still be seen (read-only)
    for path in (home, *(real_path(p) for p in spec.readable)):
        if any(path.is_relative_to(m) for m in masked) and path.exists():
            args += ["--ro-bind", str(path), str(path)]

    writable_roots = [root] + [real_path(p) for p in spec.writable]
    for i, wroot in enumerate(writable_roots):
        args += ["--bind" if i == 0 else "--bind-try", str(wroot), str(wroot)]
    for i, wroot in enumerate(writable_roots):
        ro, missing = protected_entries(wroot, i == 0)
        for path in ro:
            args += ["--ro-bind", str(path), str(path)]
        for path in missing:
            args += ["--tmpfs", str(path), "--remount-ro", str(path)]

    for cred in credential_paths(home, root):
        real = real_path(cred)
        if real.is_dir():
            args += ["--tmpfs", str(real), "--remount-ro", str(real)]
        elif real.exists():
            args += ["--ro-bind", "/dev/null", str(real)]
    for warm in warm_dirs(os.environ):
        real = real_path(warm)
        args += ["--tmpfs", str(real), "--remount-ro", str(real)]
    args += ["--chdir", str(root), "--", *argv]
    return args


# --- the probe --------------------------------------------------------------------


#: probes started ahead of the question (see :func:`start_probe`), by bwrap path
_started: dict[str, subprocess.Popen[bytes]] = {}


def _probe_argv(exe: str) -> list[str]:
    # the flags real commands use, so a kernel that refuses one of them is caught here
    argv = [exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net"]
    argv += ["--unshare-ipc"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    return [*argv, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "true"]


def start_probe(root: Path) -> None:
    """Start the probe's trivial sandboxed command now; :func:`probe_bwrap` reads its
    answer when a run first asks. ``planloop run`` calls this before it loads the rest,
    so the kernel's namespace set-up (tens of milliseconds) happens beside Python's
    imports instead of before the first step. Never raises (asked later, the probe runs
    again and reports what fails); a probe nobody asks for is reaped at exit."""
    try:
        exe = find_bwrap(root)
        if exe is None or exe in _started or not os.access(exe, os.X_OK):
            return
        _started[exe] = subprocess.Popen(
            _probe_argv(exe),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except Exception:
        return


def _reap() -> None:
    """End the probes nobody asked for (``--die-with-parent`` would only on our exit)."""
    while _started:
        _, proc = _started.popitem()
        try:
            proc.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


atexit.register(_reap)


def probe_bwrap(exe: str) -> SandboxStatus:
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        return unavailable(f"bubblewrap not found at {exe}", INSTALL_FIX)
    early = _started.pop(exe, None)
    try:
        if early is not None:
            try:
                got_out, got_err = early.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                early.kill()
                early.communicate()
                raise
            done = subprocess.CompletedProcess(early.args, early.returncode, got_out, got_err)
        else:
            done = subprocess.run(
                _probe_argv(exe),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=15,
                check=False,
            )
    except subprocess.TimeoutExpired:
        return unavailable(f"{exe} did not finish a trivial sandboxed command in 15 s", "")
    except OSError as exc:
        return unavailable(f"cannot run {exe}: {exc.strerror or exc}", INSTALL_FIX)
    if done.returncode == 0:
        return SandboxStatus(True, "bwrap", f"bubblewrap works ({exe})", "")
    err = (done.stderr or done.stdout).decode("utf-8", errors="replace").strip()
    first = err.splitlines()[0] if err else f"exit {done.returncode}"
    if NAMESPACE_REFUSED.search(err):
        return unavailable(f"bubblewrap cannot create namespaces here: {first}", NAMESPACE_FIX)
    return unavailable(f"bubblewrap failed a trivial command: {first}", "")

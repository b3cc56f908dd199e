"""Warm start, the command's side: hand the command to a planloop that has loaded itself.

Loading planloop (pydantic and the plan's models, the typed events, rich; a real run's
model SDK, anthropic's alone 2 s) is most of a short command: 0.4 s of the 0.75 s a
one-step ``planloop run`` took on a 100k-file repository whose ``git status`` takes
0.25 s. So a command that finds no warm process starts one beside itself
(:mod:`.warm_server`): it loads every command's modules and waits on a socket. The next
command connects and hands over its three standard streams (as file descriptors),
arguments, folder, environment, umask and the signals it ignores; the warm process forks,
and the child runs the command as a fresh process would, then reports the exit code.
The command the shell sees stays a small process that passes its signals on (Ctrl-C, a
closed terminal, ``kill``, Ctrl-Z and ``fg``) and exits with the child's code, or dies of
the signal the child died of; when it is killed outright, the child kills itself too.

A warm process serves only a command started the same way: the same user, mount, pid
and other namespaces (a sandboxed command never reaches it), interpreter, ``sys.path``,
flags, the environment Python's start-up reads, priority, limits, groups and cgroup (the
fingerprint). ``PLANLOOP_WARM=off`` neither uses nor starts one; ``require`` fails a
command that finds none (for tests and benchmarks).

This module loads only the standard library: the commands that hand over stay small.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import stat
import struct
import sys
import zlib
from collections.abc import Mapping
from types import FrameType
from typing import IO, Any

#: servers that own their standard streams, and the demo (it drives ``main`` itself)
COLD_COMMANDS = frozenset({"serve", "acp", "demo"})
#: the header of a request: the length of its body; the streams travel with it
LENGTH = struct.Struct("!I")
#: how long a command waits for the warm process to take it before it starts cold
ANSWER_TIMEOUT_S = 30.0
#: what Python's start-up, and the loading of planloop's modules, read from the
#: environment (GitPython settles on its git when it loads, the SDKs on their logging)
_STARTUP_PREFIXES = ("PYTHON", "PYDANTIC", "LC_", "GIT_PYTHON")
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "ANTHROPIC_LOG", "OPENAI_LOG"})
#: passed on to the warm process besides those: where things are, never credentials
_PLACES = frozenset({"PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR", "VIRTUAL_ENV"})
#: what a terminal sends to its whole foreground process group: passed on to the child's
#: group (its git and check processes got them too in a cold run); Ctrl-Z stops the
#: child's group, then this process, as the shell expects of a stopped job
_TO_GROUP = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGWINCH, signal.SIGCONT)
#: what is sent to one process (``kill PID``): passed on to the child alone
_TO_CHILD = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
#: the namespaces a peer must share with the warm process
NAMESPACES = ("mnt", "pid", "net", "user", "ipc", "uts", "cgroup")


def setting(environ: Mapping[str, str]) -> str:
    """``off``, ``require`` or ``on`` (the default)."""
    value = environ.get("PLANLOOP_WARM", "").strip().lower()
    if value in ("off", "0", "false", "no"):
        return "off"
    return "require" if value == "require" else "on"


def eligible(argv: list[str], environ: Mapping[str, str]) -> bool:
    supported = hasattr(socket, "SO_PEERCRED") and os.path.isdir("/proc/self/ns")
    return (
        supported
        and bool(argv)
        and argv[0] not in COLD_COMMANDS
        and argv[0].isalpha()
        and setting(environ) != "off"
    )


def _startup(name: str) -> bool:
    return name.startswith(_STARTUP_PREFIXES) or name in _STARTUP_NAMES


def namespaces(pid: int | str = "self") -> list[str]:
    """The namespaces of a process, as the kernel names them; [] when unreadable."""
    try:
        return [os.readlink(f"/proc/{pid}/ns/{name}") for name in NAMESPACES]
    except OSError:
        return []


def fingerprint(environ: Mapping[str, str]) -> str:
    """Everything that makes a fresh process of this command differ from a warm child:
    how Python loads planloop, and what the process runs with."""
    import resource

    limits = [resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n[:7] == "RLIMIT_"]
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            cgroup = f.read()
    except OSError:
        cgroup = ""
    return json.dumps(
        [
            sys.executable,
            sys.version,
            sys.path,
            list(sys.flags),
            sorted((k, str(v)) for k, v in sys._xoptions.items()),
            sys.getfilesystemencoding(),
            sorted((k, v) for k, v in environ.items() if _startup(k)),
            os.getuid(),
            sorted(os.getgroups()),
            os.getpriority(os.PRIO_PROCESS, 0),
            limits,
            cgroup,
            namespaces(),
        ]
    )


def socket_dir(environ: Mapping[str, str]) -> str | None:
    """The user's private directory for the socket, made if missing; None when it is
    not private (someone else's, a symlink, open to others): then no warm start."""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        where = os.path.join(runtime, "planloop")
    else:
        where = os.path.join(environ.get("TMPDIR") or "/tmp", f"planloop-{os.getuid()}")
    try:
        os.mkdir(where, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(where)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return where


def socket_path(environ: Mapping[str, str], print_: str) -> str | None:
    where = socket_dir(environ)
    if where is None:
        return None
    path = os.path.join(where, f"warm-{zlib.crc32(print_.encode()):08x}.sock")
    return path if len(os.fsencode(path)) < 100 else None  # sockaddr_un holds 108 bytes


def peer_uid(sock: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process at the other end (the kernel's word)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def handoff(argv: list[str], environ: Mapping[str, str] = os.environ) -> int | None:
    """Run the command in the warm process: its exit code, or None when there is none
    to run it (none started, another set-up, planloop changed, a standard stream
    closed): then nothing has run and the caller starts cold."""
    if not eligible(argv, environ) or _in_background():
        return None
    print_ = fingerprint(environ)
    path = socket_path(environ, print_)
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    child = _Signals()
    ended: dict[str, Any] | None = None
    try:
        with sock:
            try:
                sock.connect(path)
                if peer_uid(sock)[1] != os.getuid():  # never hand a terminal to a stranger
                    return None
                request = _request(argv, environ, print_, child.ignored())
            except OSError:  # nobody listening, or the folder is gone: a cold start says so
                return None
            child.catch()  # from here on a Ctrl-C is the child's, once it is known
            try:
                socket.send_fds(sock, [LENGTH.pack(len(request))], [0, 1, 2])
                sock.sendall(request)
                sock.settimeout(ANSWER_TIMEOUT_S)
                replies = sock.makefile("rb")
                started = _reply(replies)
            except OSError:  # a closed standard stream, or the warm process left or hung
                child.cold()
                return None
            if started is None or not isinstance(started.get("pid"), int):
                child.cold()  # refused before anything ran
                return None
            sock.settimeout(None)
            child.started(started["pid"])
            ended = _reply(replies)
    finally:
        child.release()
    if ended is not None and isinstance(ended.get("signal"), int):
        # the child died of a signal: so does this process, as the shell would have seen
        signum: int = ended["signal"]
        if signum not in (signal.SIGKILL, signal.SIGSTOP):  # (those have no handler to reset)
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    if ended is None or not isinstance(ended.get("exit"), int):
        sys.stderr.write("planloop: the command's process ended without an exit code\n")
        return 1
    code: int = ended["exit"]
    return code


def _in_background() -> bool:
    """Started in the background of a terminal (``planloop run &``): cold, so a question
    at the terminal stops it until ``fg``, as the terminal does to a background reader (a
    warm child has no terminal of its own to be stopped by)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) != os.getpgrp()
    except OSError:
        return False


class _Signals:
    """This process's signals, passed on to the child once it runs; one that came before
    (while the warm process was asked) is passed on as soon as the child is known, or
    acted on here if the command starts cold after all. A signal this process ignores
    (``nohup``, a script's ``&``) is not passed on, and the child ignores it too."""

    def __init__(self) -> None:
        self.pid = 0
        self.early: list[int] = []
        self.before: dict[int, Any] = {}

    def ignored(self) -> list[int]:
        every = (*_TO_GROUP, *_TO_CHILD, signal.SIGTSTP)
        return [int(s) for s in every if signal.getsignal(s) == signal.SIG_IGN]

    def catch(self) -> None:
        skip = self.ignored()
        for signum in (*_TO_GROUP, *_TO_CHILD):
            if signum not in skip:
                self.before[signum] = signal.signal(signum, self._forward)
        if signal.SIGTSTP not in skip:
            self.before[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, self._stop)

    def started(self, pid: int) -> None:
        self.pid = pid
        for signum in self.early:
            self._forward(signum, None)

    def cold(self) -> None:
        """Nothing ran: the caller starts cold, unless Ctrl-C (or another signal that
        ends a process) came meanwhile, which then acts here as it would have."""
        self.release()
        for signum in self.early:
            if signum not in (signal.SIGWINCH, signal.SIGCONT):
                signal.raise_signal(signum)

    def release(self) -> None:
        for signum, handler in self.before.items():
            signal.signal(signum, handler)
        self.before = {}

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if not self.pid:
            self.early.append(signum)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if signum in _TO_CHILD:
                os.kill(self.pid, signum)
            else:
                os.killpg(self.pid, signum)

    def _stop(self, _signum: int, frame: FrameType | None) -> None:
        if self.pid:
            self._forward(signal.SIGTSTP, frame)
        os.kill(os.getpid(), signal.SIGSTOP)  # as the shell expects of a stopped job


def _request(argv: list[str], environ: Mapping[str, str], print_: str, ignored: list[int]) -> bytes:
    umask = os.umask(0o077)
    os.umask(umask)
    streams = (sys.stdin, sys.stdout, sys.stderr)
    return json.dumps(
        {
            "fingerprint": print_,
            "argv0": sys.argv[0],
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(environ),
            "umask": umask,
            "ignored": ignored,
            "stdio": [
                [getattr(s, "encoding", None), getattr(s, "errors", None), _through(s)]
                for s in streams
            ],
        }
    ).encode()


def _through(stream: object) -> bool:
    """Whether the stream writes through (``python -u``, ``PYTHONUNBUFFERED``)."""
    return bool(getattr(stream, "write_through", False))


def _reply(replies: IO[bytes]) -> dict[str, Any] | None:
    line = replies.readline()
    try:
        got = json.loads(line) if line else None
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def start_beside(argv: list[str], environ: Mapping[str, str] = os.environ) -> None:
    """Start a warm process for the next command, unless one is starting or serving
    (it holds a lock beside its socket), or this interpreter was started with options
    a new one would not repeat. Never fails the command: a warm start is a speed-up."""
    if not eligible(argv, environ) or sys._xoptions or sys.flags.inspect:
        return
    print_ = fingerprint(environ)
    path = socket_path(environ, print_)
    if path is None:
        return
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # held: one is on its way, or serving
    finally:
        os.close(fd)  # closing lets go of the lock just taken, for the warm process
    import subprocess

    env = {k: v for k, v in environ.items() if _startup(k) or k in _PLACES}
    boot = "import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
    boot += "from planloop.cli import serve_warm; serve_warm(sys.argv[2], sys.argv[3])"
    with contextlib.suppress(OSError):
        subprocess.Popen(
            [
                sys.executable,
                *subprocess._args_from_interpreter_flags(),  # type: ignore[attr-defined]
                "-c",
                boot,
                json.dumps(sys.path),
                path,
                print_,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=env,
            start_new_session=True,
        )

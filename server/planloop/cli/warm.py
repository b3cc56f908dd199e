"""Warm start: a command run by a planloop that has already loaded itself.

Loading planloop (pydantic and the plan's models, the typed events, rich) is most of a
short command: 0.4 s of the 0.75 s a one-step ``planloop run`` took on a 100k-file
repository whose ``git status`` takes 0.25 s. So a command that finds no warm process
starts one beside itself; it loads every command's modules and waits on a socket. The
next command connects and hands over its three standard streams (as file descriptors),
arguments, folder, environment and umask; the warm process forks, and the child runs
:func:`planloop.cli.main` as a fresh process would, then reports the exit code. The
command the shell sees stays a small process that passes its signals on (Ctrl-C, a
closed terminal, ``kill``, Ctrl-Z and ``fg``) to the child's process group and exits
with the child's code; when it is killed outright, the child kills itself as well.

What keeps it honest:

- One warm process per user and Python set-up: the interpreter, ``sys.path``, its flags
  and the environment Python's start-up reads. A command started any other way is
  refused by the warm process and starts cold.
- Its socket is in a directory only the user can enter (``$XDG_RUNTIME_DIR/planloop``,
  else ``/tmp/planloop-<uid>``: mode 0700, the user's, not a symlink), and it answers
  only a peer of the same user (``SO_PEERCRED``).
- It holds no secrets: it starts with only what Python's start-up reads, and each
  command's own environment replaces the child's.
- It loads nothing of a workspace's: the child does all of that, as a cold command would.
- When a file it loaded changed (planloop upgraded or edited, a package installed), it
  refuses, exits, and the command starts cold.
- It exits after 15 idle minutes; ``PLANLOOP_WARM=off`` neither uses nor starts one.

This module loads only the standard library: the commands that hand over must stay small.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from types import FrameType
from typing import IO, Any

#: servers that own their standard streams, and the demo (it drives ``main`` itself)
COLD_COMMANDS = frozenset({"serve", "acp", "demo"})
IDLE_S = 15 * 60.0
#: the longest a peer may take to send its request before the warm process moves on
REQUEST_TIMEOUT_S = 10.0
_LENGTH = struct.Struct("!I")
#: what Python's start-up, and the loading of planloop's modules, read from the
#: environment (GitPython settles on its git when it loads)
_STARTUP_PREFIXES = ("PYTHON", "PYDANTIC", "LC_", "GIT_PYTHON")
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE"})
#: passed on to the warm process besides those: where things are, never credentials
_PLACES = frozenset({"PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR", "VIRTUAL_ENV"})
#: passed on to the child and stopped there; Ctrl-Z stops the child, then this process
_FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGWINCH,
    signal.SIGCONT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def enabled(environ: Mapping[str, str]) -> bool:
    wanted = environ.get("PLANLOOP_WARM", "").strip().lower() not in ("off", "0", "false", "no")
    return wanted and hasattr(socket, "SO_PEERCRED") and hasattr(socket, "send_fds")


def eligible(argv: list[str], environ: Mapping[str, str]) -> bool:
    return bool(argv) and argv[0] not in COLD_COMMANDS and argv[0].isalpha() and enabled(environ)


def _startup(name: str) -> bool:
    return name.startswith(_STARTUP_PREFIXES) or name in _STARTUP_NAMES


def fingerprint(environ: Mapping[str, str]) -> str:
    """Everything that makes a fresh interpreter load planloop differently: a warm
    process serves only a command whose fingerprint is its own."""
    return json.dumps(
        [
            sys.executable,
            sys.version,
            sys.path,
            list(sys.flags),
            sorted((k, str(v)) for k, v in sys._xoptions.items()),
            sys.getfilesystemencoding(),
            sorted((k, v) for k, v in environ.items() if _startup(k)),
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


# --- the command the shell started ---------------------------------------------------------


def handoff(argv: list[str], environ: Mapping[str, str] = os.environ) -> int | None:
    """Run the command in the warm process: its exit code, or None when there is none
    to run it (none started, another set-up, planloop changed, a standard stream
    closed): then nothing has run and the caller starts cold."""
    if not eligible(argv, environ):
        return None
    print_ = fingerprint(environ)
    path = socket_path(environ, print_)
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        try:
            sock.connect(path)
            request = _request(argv, environ, print_)
        except OSError:  # nobody listening, or the folder is gone: a cold start says so
            return None
        try:
            socket.send_fds(sock, [_LENGTH.pack(len(request))], [0, 1, 2])
            sock.sendall(request)
        except OSError:  # a closed standard stream, or the warm process just left
            return None
        replies = sock.makefile("rb")
        started = _reply(replies)
        if started is None or not isinstance(started.get("pid"), int):
            return None  # refused before anything ran
        child = started["pid"]
        before = _pass_signals_to(child)
        try:
            ended = _reply(replies)
        finally:
            for signum, handler in before.items():
                signal.signal(signum, handler)
    if ended is None or not isinstance(ended.get("exit"), int):
        sys.stderr.write("planloop: the command's process ended without an exit code\n")
        return 1
    code: int = ended["exit"]
    return code


def _request(argv: list[str], environ: Mapping[str, str], print_: str) -> bytes:
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
            "stdio": [[getattr(s, "encoding", None), getattr(s, "errors", None)] for s in streams],
        }
    ).encode()


def _reply(replies: IO[bytes]) -> dict[str, Any] | None:
    try:
        line = replies.readline()
        got = json.loads(line) if line else None
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) else None


def _pass_signals_to(group: int) -> dict[int, Any]:
    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)

    def stop(_signum: int, frame: FrameType | None) -> None:
        forward(signal.SIGTSTP, frame)
        os.kill(os.getpid(), signal.SIGSTOP)  # as the shell expects of a stopped job

    before: dict[int, Any] = {}
    for signum in _FORWARDED:
        before[signum] = signal.signal(signum, forward)
    before[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, stop)
    return before


def start_beside(argv: list[str], environ: Mapping[str, str] = os.environ) -> None:
    """Start a warm process for the next command, unless one is starting or serving
    (it holds a lock beside its socket). Never fails the command: a warm start is only
    a speed-up."""
    if not eligible(argv, environ):
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
        return  # held: one is on its way, or serving another set-up's commands
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


# --- the warm process -----------------------------------------------------------------------


def serve(
    path: str,
    print_: str,
    *,
    load: Callable[[], None],
    run: Callable[[list[str]], int],
    idle_s: float = IDLE_S,
) -> None:
    """Load (``load``: every command's modules), listen, fork a child per command that
    ``run``s it (the CLI's main and what an exit does first), until idle or stale."""
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another one won the race
    if fingerprint(os.environ) != print_:
        return  # started some other way than the command that asked (never expected)
    _load(load, _PLANLOOP)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket left by a warm process that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.umask(0o077)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    _Server(path, print_, idle_s, lock, listener, load, run).run(grow=True)


#: what a command loads while it runs, besides its own modules (the early staging's
#: module, the sandbox probe, git's reader)
_PLANLOOP = ("planloop.checkpoints.ahead", "planloop.workspace.bwrap", "git")
#: the model SDKs: 2.7 s to load (anthropic's types alone, 2 s), so a successor loads them
#: while the first warm process already serves
_SDKS = ("anthropic", "openai")


def _load(load: Callable[[], None], extra: tuple[str, ...]) -> None:
    """What ``load`` loads and ``extra``, nothing collected meanwhile (it is all kept),
    then set aside from the collector so a child's collections never touch (and copy)
    these pages."""
    import gc
    import importlib

    gc.disable()
    try:
        load()
        for name in extra:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    finally:
        gc.collect()
        gc.freeze()
        gc.enable()


class _Server:
    """The accept loop over one listening socket, which outlives a warm process when it
    hands over to its successor."""

    def __init__(
        self,
        path: str,
        print_: str,
        idle_s: float,
        lock: int,
        listener: socket.socket,
        load: Callable[[], None],
        run: Callable[[list[str]], int],
    ) -> None:
        self.path, self.print_, self.idle_s = path, print_, idle_s
        self.lock, self.listener = lock, listener
        self.load, self.run_command = load, run
        self.ours = os.stat(path).st_ino
        #: a successor still loading: its pid and the pipe it will say "ready" on
        self.successor: tuple[int, int] | None = None

    def run(self, *, grow: bool, loaded: dict[str, int] | None = None) -> None:
        """``loaded``: the stamps of what the process it was forked from had loaded, so a
        file changed since then still counts as changed."""
        loaded = {**_stamp(), **(loaded or {})}
        self.successor = self._successor(loaded) if grow else None
        handed_over = False
        try:
            handed_over = self._loop(loaded)
        finally:
            if not handed_over:  # the last one out takes the socket away
                if self.successor is not None:  # still loading: it would serve nobody
                    with contextlib.suppress(OSError):
                        os.kill(self.successor[0], signal.SIGKILL)
                with contextlib.suppress(OSError):
                    if os.stat(self.path).st_ino == self.ours:
                        os.unlink(self.path)
            self.listener.close()

    def _successor(self, loaded: dict[str, int]) -> tuple[int, int]:
        """A copy of this process that loads the SDKs too, then serves instead of it: its
        pid, and the read end of the pipe it says so on."""
        ready, say = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(ready)
                _load(self.load, _SDKS)
                os.write(say, b"1")
                os.close(say)
                self.run(grow=False, loaded=loaded)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(say)
        return pid, ready

    def _loop(self, loaded: dict[str, int]) -> bool:
        """Serve until idle or stale (False) or until the successor serves (True)."""
        self.listener.setblocking(False)
        while True:
            waits: list[Any] = [self.listener]
            if self.successor is not None:
                waits.append(self.successor[1])
            readable, _, _ = select.select(waits, [], [], self.idle_s)
            if not readable:
                return False
            if self.successor is not None and self.successor[1] in readable:
                took_over = os.read(self.successor[1], 1) == b"1"
                os.close(self.successor[1])
                self.successor = None  # serving now, or failed to load: serve alone
                if took_over:
                    return True
                continue
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                continue  # taken by the successor as it began
            conn.setblocking(True)
            with conn:
                if not self._serve(conn, loaded):
                    return False

    def _serve(self, conn: socket.socket, loaded: dict[str, int]) -> bool:
        """One command; False when the warm process should end (planloop changed)."""
        if not _same_user(conn):
            return True
        got = _read_request(conn)
        if got is None:
            return True
        request, fds = got
        try:
            if request.get("fingerprint") != self.print_:
                _send(conn, {"refused": "another Python set-up"})
                return True
            if _changed(loaded):
                _send(conn, {"refused": "planloop changed since it was loaded"})
                return False
            if os.fork() == 0:  # the child: never returns into the loop
                code = 70
                try:
                    self.listener.close()
                    os.close(self.lock)
                    if self.successor is not None:
                        os.close(self.successor[1])
                    code = _child(conn, request, fds, self.run_command)
                finally:
                    os._exit(code)
            return True
        except OSError:
            return True
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _stamp() -> dict[str, int]:
    """When what was loaded last changed: each of planloop's own files (edited in place
    in a checkout), and the directory of every other loaded module (an upgrade writes new
    files there, which changes the directory; 4,000 files loaded with the SDKs, about 400
    directories). Not the directories of ``sys.path`` themselves: ``python -m`` puts the
    folder it started in there, and every file made or deleted in it would stale this."""
    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    seen: dict[str, int] = {}
    for module in list(sys.modules.values()):
        place = getattr(module, "__file__", None)
        if not isinstance(place, str):
            continue
        if not os.path.abspath(place).startswith(ours):
            place = os.path.dirname(place)
        if place not in seen:
            try:
                seen[place] = os.stat(place).st_mtime_ns
            except OSError:
                seen[place] = -1
    return seen


def _changed(loaded: dict[str, int]) -> bool:
    for place, stamp in loaded.items():
        try:
            now = os.stat(place).st_mtime_ns
        except OSError:
            now = -1
        if now != stamp:
            return True
    return False


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    conn.settimeout(REQUEST_TIMEOUT_S)
    fds: list[int] = []
    try:
        head, fds, _flags, _addr = socket.recv_fds(conn, _LENGTH.size, 3)
        if len(head) != _LENGTH.size or len(fds) != 3:
            raise ValueError("a request without its header or its three streams")
        (size,) = _LENGTH.unpack(head)
        body = bytearray()
        while len(body) < size:
            chunk = conn.recv(min(size - len(body), 1 << 16))
            if not chunk:
                raise ValueError("the request was cut short")
            body += chunk
        request = json.loads(body)
        if not isinstance(request, dict):
            raise ValueError("a request that is not an object")
        return request, fds
    except (OSError, ValueError):
        for fd in fds:
            os.close(fd)
        return None


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _child(
    conn: socket.socket, request: dict[str, Any], fds: list[int], run: Callable[[list[str]], int]
) -> int:
    """Become the command's process: its streams, folder, environment and umask, a
    process group of its own for its signals, then planloop's main."""
    import threading

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    conn.settimeout(None)
    _send(conn, {"pid": os.getpid()})
    finished = threading.Event()

    def watch() -> None:  # the command killed outright: so is its work, as in a cold start
        with contextlib.suppress(OSError):
            conn.recv(1)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="planloop-warm-watch").start()
    stdio = request.get("stdio") or [[None, None]] * 3
    streams = []
    for fd, (encoding, errors) in enumerate(stdio):
        mode = "r" if fd == 0 else "w"
        line = fd == 2 or (fd == 1 and os.isatty(1))
        stream = open(  # noqa: SIM115 - the process's own streams, never closed
            fd, mode, buffering=1 if line else -1, encoding=encoding, errors=errors, closefd=False
        )
        streams.append(stream)
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc, assignment]
    argv = [str(a) for a in request.get("argv", [])]
    sys.argv = [str(request.get("argv0", "planloop")), *argv]
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request.get("env", {})).items()})
    # what the standard library settled from the warm process's environment: the time
    # zone, and the temporary directory (if anything asked for it while loading)
    time.tzset()
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None  # type: ignore[attr-defined]
    os.umask(int(request.get("umask", 0o022)))
    try:
        os.chdir(str(request.get("cwd", "/")))
    except OSError as e:
        sys.stderr.write(f"planloop: the folder the command was started in is gone ({e})\n")
        code = 1
    else:
        code = run(argv)
    finished.set()
    with contextlib.suppress(OSError):
        _send(conn, {"exit": code})
    return code

"""Warm start, the warm process's side: load once, fork a child per command.

Started by a cold command (:func:`.warm.start_beside`) with only what Python's start-up
reads from the environment (no credentials: each command brings its own, read by the
child that runs it). It loads every command's modules, listens on its socket, and forks
a successor that loads the model SDKs too (2.7 s) and takes the socket over when done,
so no command waits for them. For each connection it checks the peer (the same user,
and the same namespaces: a command inside the sandbox is never served), takes the
header and the three streams, and forks; the child reads the request, becomes the
command (streams, folder, environment, umask, signals, a process group of its own) and
runs it. The warm process stays the child's parent until it ends, so the child's
process group is never orphaned (Ctrl-Z still stops it, and nothing is hung up behind
its back), and it tells the command when its child died of a signal.

It refuses and ends when a file it loaded changed (an upgrade, an edit), and ends after
15 minutes without a command; either way it first lets go of its socket and lock, then
waits for its running children. ``<socket>.pid`` names the process serving (``kill``
it to stop warm starts now), and says ``sdks`` once the successor serves.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from planloop.cli.warm import LENGTH, fingerprint, namespaces, peer_uid

IDLE_S = 15 * 60.0
#: how long a peer may take to send its request's header, and then its body
REQUEST_TIMEOUT_S = 10.0
#: what a command loads while it runs, besides its own modules (the early staging's
#: module, the sandbox probe, git's reader)
_PLANLOOP = ("planloop.checkpoints.ahead", "planloop.workspace.bwrap", "git")
#: the model SDKs: 2.7 s to load (anthropic's types alone, 2 s), loaded by the successor
_SDKS = ("anthropic", "openai")

Run = Callable[[list[str]], int]


def serve(path: str, print_: str, *, load: Callable[[], None], run: Run) -> None:
    """Load (``load``: every command's modules), listen, serve until idle or stale."""
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if not _take(lock) or fingerprint(os.environ) != print_:
        return  # another one won the race, or this one was started some other way
    _load(load, _PLANLOOP)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket left by a warm process that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.umask(0o077)
    listener.bind(path)
    listener.listen(16)
    _Server(path, print_, lock, listener, load, run).run(grow=True)


def _take(lock: int, wait_s: float = 2.0) -> bool:
    """The lock, waiting a little: a cold command holds it for a moment to see that
    nobody does before it starts this process."""
    end = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() > end:
                return False
            time.sleep(0.05)


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
    """The accept loop over one listening socket, which outlives the first warm process
    when it hands over to its successor."""

    def __init__(
        self,
        path: str,
        print_: str,
        lock: int,
        listener: socket.socket,
        load: Callable[[], None],
        run: Run,
    ) -> None:
        self.path, self.print_, self.lock, self.listener = path, print_, lock, listener
        self.load, self.run_command = load, run
        self.ours = os.stat(path).st_ino
        self.here = namespaces()
        #: a successor still loading: its pid and the pipe it will say "ready" on
        self.successor: tuple[int, int] | None = None
        #: the running commands' children, each with its connection to the command
        self.children: dict[int, socket.socket] = {}

    def run(self, *, grow: bool, loaded: dict[str, tuple[int, ...]] | None = None) -> None:
        """``loaded``: the stamps of what the process it was forked from had loaded, so a
        file changed since then still counts as changed."""
        loaded = {**_stamp(), **(loaded or {})}
        self._say(sdks=not grow)
        if grow:
            self.successor = self._successor(loaded)
        handed_over = self._loop(loaded)
        if self.successor is not None:  # still loading: it would serve nobody
            with contextlib.suppress(OSError):
                os.kill(self.successor[0], signal.SIGKILL)
        if not handed_over:  # the last one out takes the socket away
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self.ours:
                    os.unlink(self.path)
                    os.unlink(self.path + ".pid")
        self.listener.close()
        os.close(self.lock)  # a new warm process may start while these children finish
        while self.children:
            self._reap(block=True)

    def _say(self, *, sdks: bool) -> None:
        """``<socket>.pid``: which process serves, and whether it has the SDKs loaded."""
        text = f"{os.getpid()}\n{'sdks' if sdks else 'loading'}\n"
        with contextlib.suppress(OSError):
            tmp = f"{self.path}.pid.{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path + ".pid")

    def _successor(self, loaded: dict[str, tuple[int, ...]]) -> tuple[int, int]:
        """A copy of this process that loads the SDKs too, then serves instead of it: its
        pid, and the read end of the pipe it says so on."""
        ready, say = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(ready)
                for conn in self.children.values():  # the first one's commands, not ours
                    conn.close()
                self.children = {}
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

    def _loop(self, loaded: dict[str, tuple[int, ...]]) -> bool:
        """Serve until idle or stale (False) or until the successor serves (True)."""
        self.listener.setblocking(False)
        last = time.monotonic()
        while True:
            self._reap(block=False)
            if self.children:
                last = time.monotonic()  # idle means no command running, either
            elif time.monotonic() - last > IDLE_S:
                return False
            waits: list[Any] = [self.listener]
            if self.successor is not None:
                waits.append(self.successor[1])
            readable, _, _ = select.select(waits, [], [], 1.0)
            if self.successor is not None and self.successor[1] in readable:
                took_over = os.read(self.successor[1], 1) == b"1"
                os.close(self.successor[1])
                self.successor = None  # serving now, or it failed to load: serve alone
                if took_over:
                    return True
            if self.listener not in readable:
                continue
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                continue  # taken by the successor as it began
            last = time.monotonic()
            if not self._serve(conn, loaded):
                return False

    def _serve(self, conn: socket.socket, loaded: dict[str, tuple[int, ...]]) -> bool:
        """One command; False when the warm process should end (planloop changed)."""
        conn.setblocking(True)
        fds: list[int] = []
        try:
            pid, uid = peer_uid(conn)
            if uid != os.getuid() or namespaces(pid) != self.here or not self.here:
                conn.close()  # another user, or a sandboxed command: never served
                return True
            conn.settimeout(REQUEST_TIMEOUT_S)
            head, fds, _flags, _addr = socket.recv_fds(conn, LENGTH.size, 3)
            if len(head) != LENGTH.size or len(fds) != 3:
                conn.close()
                return True
            if _changed(loaded):
                _send(conn, {"refused": "planloop changed since it was loaded"})
                conn.close()
                return False
            (size,) = LENGTH.unpack(head)
            child = os.fork()
            if child == 0:  # never returns into the loop
                code = 70
                try:
                    self.listener.close()
                    os.close(self.lock)
                    if self.successor is not None:
                        os.close(self.successor[1])
                    for other in self.children.values():
                        other.close()
                    code = _child(conn, size, fds, self.print_, self.run_command)
                finally:
                    os._exit(code)
            self.children[child] = conn
            return True
        except OSError:
            conn.close()
            return True
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _reap(self, *, block: bool) -> None:
        """Collect ended children; one that died of a signal is reported to its command,
        which then dies of it too."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                if os.WIFSIGNALED(status):
                    with contextlib.suppress(OSError):
                        _send(conn, {"signal": os.WTERMSIG(status)})
                conn.close()
            if block:
                return


def _stamp() -> dict[str, tuple[int, ...]]:
    """What was loaded, as it is now: each of planloop's own files (edited in place in
    a checkout), and the directory of every other loaded module (an upgrade writes new
    files there, which changes the directory; 4,000 files loaded with the SDKs, about
    300 directories). Not the directories of ``sys.path`` themselves: ``python -m`` puts
    the folder it started in there, and every file made or deleted in it would count."""
    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    seen: dict[str, tuple[int, ...]] = {}
    for module in list(sys.modules.values()):
        place = getattr(module, "__file__", None)
        if not isinstance(place, str):
            continue
        if not os.path.abspath(place).startswith(ours):
            place = os.path.dirname(place)
        if place not in seen:
            seen[place] = _state(place)
    return seen


def _state(place: str) -> tuple[int, ...]:
    try:
        st = os.stat(place)
    except OSError:
        return ()
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def _changed(loaded: dict[str, tuple[int, ...]]) -> bool:
    return any(_state(place) != state for place, state in loaded.items())


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _read_body(conn: socket.socket, size: int) -> dict[str, Any] | None:
    body = bytearray()
    while len(body) < size:
        chunk = conn.recv(min(size - len(body), 1 << 16))
        if not chunk:
            return None
        body += chunk
    try:
        request = json.loads(body)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None


def _child(conn: socket.socket, size: int, fds: list[int], print_: str, run: Run) -> int:
    """Become the command's process (its streams, folder, environment, umask, signals,
    a process group of its own), then run it. The request is read here, not by the
    warm process: a command's environment (its API keys) never enters that one."""
    request = _read_body(conn, size)
    if request is None or request.get("fingerprint") != print_:
        with contextlib.suppress(OSError):
            _send(conn, {"refused": "another Python set-up"})
        return 0
    _signals([int(s) for s in request.get("ignored", [])])
    os.setpgid(0, 0)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    conn.settimeout(None)
    try:
        _send(conn, {"pid": os.getpid()})
    except OSError:
        return 0  # the command gave up waiting and started cold: nothing runs here
    finished = threading.Event()

    def watch() -> None:  # the command killed outright: so is its work, as in a cold start
        with contextlib.suppress(OSError):
            conn.recv(1)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="planloop-warm-watch").start()
    _streams(request.get("stdio") or [[None, None, False]] * 3)
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


def _signals(ignored: list[int]) -> None:
    """Every signal as a fresh interpreter has it (SIGINT raises KeyboardInterrupt,
    SIGPIPE and SIGXFSZ ignored, the rest the system's default), then those the command
    ignored (``nohup``, a script's ``&``) ignored here too."""
    fresh: dict[int, Any] = {signal.SIGINT: signal.default_int_handler}
    fresh[signal.SIGPIPE] = fresh[signal.SIGXFSZ] = signal.SIG_IGN
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            signal.signal(
                signum, signal.SIG_IGN if signum in ignored else fresh.get(signum, signal.SIG_DFL)
            )


def _streams(stdio: list[list[Any]]) -> None:
    """``sys.stdin``/``stdout``/``stderr`` over the command's descriptors, made as the
    interpreter makes them: ``\\n`` untranslated, stdout line-buffered on a terminal,
    stderr always, both written through with ``-u``."""
    import io

    made = []
    for fd, (encoding, errors, through) in enumerate(stdio[:3]):
        buffer: Any
        if fd == 0:
            buffer = io.BufferedReader(io.FileIO(fd, "rb", closefd=False))
        else:
            buffer = io.BufferedWriter(io.FileIO(fd, "wb", closefd=False))
        made.append(
            io.TextIOWrapper(
                buffer,
                encoding=encoding,
                errors=errors,
                newline="\n",
                line_buffering=fd == 2 or (fd == 1 and os.isatty(1)),
                write_through=bool(through),
            )
        )
    sys.stdin, sys.stdout, sys.stderr = made
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = made  # type: ignore[misc]

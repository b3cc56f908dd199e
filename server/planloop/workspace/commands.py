"""Running one shell command the model asked for: a child process bounded in time and output.

Why a module of its own: a command is the one thing a model does that the workspace's path
checks cannot confine, so how it becomes a process is the seam an OS sandbox plugs into.
:func:`child_process` decides *what* runs (argv and environment: no API key in it, git's
optional locks off); :func:`run_command` decides *how* (own process group, output kept
head and tail, the whole group killed on timeout, cancel, or leftovers). ``files.py``'s
``Workspace.run`` records its write-ahead and calls :func:`run_command`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from planloop.cancel import CancelToken
from planloop.errors import PlanloopError
from planloop.redaction import scrubbed_env
from planloop.workspace.sandbox import CommandSandbox

#: how long a process group gets between SIGTERM and SIGKILL
KILL_GRACE_S = 1.0


class CommandError(PlanloopError):
    """A command that could not be started; the message is meant for the model and user."""

    default_kind = "workspace"


@dataclass
class CommandResult:
    command: str
    exit_code: int | None
    output: str
    timed_out: bool
    cancelled: bool
    truncated: bool
    duration_s: float
    #: the limit the command ran under, so a timeout can be reported as "after N s"
    timeout_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    @property
    def status(self) -> str:
        """``exit 1``, ``timed out after 5 s``, ``cancelled``: the first thing anyone asks."""
        if self.timed_out:
            limit = self.timeout_s if self.timeout_s is not None else self.duration_s
            return f"timed out after {limit:g} s"
        if self.cancelled:
            return "cancelled"
        if self.exit_code is not None and self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        return f"exit {self.exit_code}"


def child_env() -> dict[str, str]:
    """The environment for commands: ours minus anything secret, plus PLANLOOP=1.

    Commands run code the model wrote; they must never see the API key. Git's optional
    locks are off so that a ``git status`` cannot refresh (write) the user's index.
    """
    env = scrubbed_env()
    env["PLANLOOP"] = "1"
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_PAGER", "cat")
    env.setdefault("PAGER", "cat")
    return env


class ChildProcess(NamedTuple):
    """What a command becomes: the argv to execute and the environment it gets."""

    argv: list[str]
    env: dict[str, str]


def child_process(command: str) -> ChildProcess:
    """``bash -c command`` with :func:`child_env`: the one place a sandbox wraps."""
    bash = shutil.which("bash") or "/bin/bash"
    return ChildProcess([bash, "-c", command], child_env())


# --- output capture ----------------------------------------------------------------


class _HeadTail:
    """Keeps the first and last bytes of a stream: the command line and the verdict."""

    def __init__(self, limit: int) -> None:
        self._head_cap = max(limit // 2, 0)
        self._tail_cap = max(limit - self._head_cap, 0)
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0
        self._lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        with self._lock:
            self.total += len(chunk)
            room = self._head_cap - len(self._head)
            if room > 0:
                self._head += chunk[:room]
                chunk = chunk[room:]
            if chunk and self._tail_cap:
                self._tail += chunk
                excess = len(self._tail) - self._tail_cap
                if excess > 0:
                    del self._tail[:excess]

    def text(self) -> tuple[str, bool]:
        with self._lock:
            kept = len(self._head) + len(self._tail)
            cut = self.total - kept
            head = self._head.decode("utf-8", errors="replace")
            tail = self._tail.decode("utf-8", errors="replace")
        if cut <= 0:
            return head + tail, False
        return f"{head}\n[… {cut} bytes cut …]\n{tail}", True


def _pump(fd: int, sink: _HeadTail) -> None:
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            sink.feed(chunk)
    except OSError:
        return
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


# --- the process group -------------------------------------------------------------


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tree(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux's ``/proc/PID/task/*/children``; elsewhere none).

    A sandboxed command runs in a session and PID namespace of its own, so killing the
    process group stops only the sandbox's launcher; the kernel then kills the namespace,
    but not synchronously. Knowing the tree lets a timeout or a cancel wait until every
    process of it is gone before it reports the command ended.
    """
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                text = Path(f"/proc/{parent}/task/{tid}/children").read_text()
            except OSError:
                continue
            kids = [int(k) for k in text.split()]
            found += kids
            todo += kids
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _finish_tree(pids: list[int]) -> None:
    """SIGKILL what is left of a killed command's tree and wait (bounded) until it is gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + KILL_GRACE_S
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


# --- running -----------------------------------------------------------------------


def run_command(
    command: str,
    *,
    cwd: Path,
    timeout_s: float = 120,
    cancel: CancelToken | None = None,
    max_output: int = 200_000,
    sandbox: CommandSandbox | None = None,
) -> CommandResult:
    """Run :func:`child_process` of ``command`` in ``cwd``, in its own process group,
    bounded in time and output, inside ``sandbox`` (default: the workspace's ``auto``
    sandbox, which refuses with :class:`SandboxError` where it cannot run).

    The whole group is killed on timeout or cancel, and whatever it left running when
    it finished too: a command the model wrote must not leave processes behind.
    """
    if not command.strip():
        raise CommandError("empty command")
    start = time.monotonic()
    if cancel is not None and cancel.cancelled:
        return CommandResult(command, None, "", False, True, False, 0.0, timeout_s)
    child = child_process(command)
    sandbox = sandbox if sandbox is not None else CommandSandbox(cwd)
    with sandbox.command(child.argv, child.env) as (argv, env):
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise CommandError(f"cannot start bash for {command!r}: {exc}") from exc
        assert proc.stdout is not None
        pgid = proc.pid
        sink = _HeadTail(max_output)
        # the reader owns the pipe's fd from here on (and closes it at EOF)
        fd = os.dup(proc.stdout.fileno())
        proc.stdout.close()
        reader = threading.Thread(target=_pump, args=(fd, sink), daemon=True)
        reader.start()

        wake = threading.Event()

        def wait_then_wake() -> None:
            proc.wait()
            wake.set()

        waiter = threading.Thread(target=wait_then_wake, daemon=True)
        waiter.start()
        unregister = cancel.on_cancel(wake.set) if cancel is not None else (lambda: None)
        try:
            wake.wait(timeout_s)
        finally:
            unregister()

        timed_out = cancelled = False
        if proc.poll() is None:
            cancelled = cancel is not None and cancel.cancelled
            timed_out = not cancelled
            tree = _tree(proc.pid)
            _signal_group(pgid, signal.SIGTERM)
            try:
                proc.wait(KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(pgid, signal.SIGKILL)
            proc.wait()
            _finish_tree(tree)
        elif _group_alive(pgid):
            # leftovers of a finished command (``server &``): stop them the same way
            _signal_group(pgid, signal.SIGTERM)
            reader.join(KILL_GRACE_S)
            _signal_group(pgid, signal.SIGKILL)
        # a child that escaped the group (setsid) may hold the pipe open: do not wait forever
        reader.join(KILL_GRACE_S)
        output, truncated = sink.text()
        exit_code = None if (timed_out or cancelled) else proc.returncode
    note = sandbox.explain(output)
    if note:
        output = f"{output}\n{note}" if output and not output.endswith("\n") else output + note
    return CommandResult(
        command=command,
        exit_code=exit_code,
        output=output,
        timed_out=timed_out,
        cancelled=cancelled,
        truncated=truncated,
        duration_s=round(time.monotonic() - start, 3),
        timeout_s=timeout_s,
    )

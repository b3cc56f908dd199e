"""Warm start (planloop.cli.warm): commands handed to a planloop that has loaded itself.

Real processes throughout: the console entry (``python -m planloop.cli``) starts the warm
process, later commands hand over to it, and what is checked is what a user would see
(output, exit codes, files, the terminal) plus where the work really ran: the process
running a step's check descends from the warm process, not from the command.
Each test has its own runtime directory, so its warm process serves it alone, and is
killed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import report, script, step, submit, write
from planloop.cli import warm
from test_terminal_approval import Terminal

CLI = [sys.executable, "-m", "planloop.cli"]
GOAL = "Leave a note"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def warm_pids(run: Path) -> list[int]:
    """The warm processes serving this test (their command line names its socket)."""
    return [p for p in _pids() if "serve_warm" in _cmdline(p) and str(run) in _cmdline(p)]


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        pid = _parent(pid)
        chain.append(pid)
    return chain


def running(marker: str, timeout: float = 60.0) -> int:
    """The pid of the process whose command line holds ``marker``, once it runs."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in _pids():
            line = _cmdline(p)
            if marker in line and "bwrap" not in line and " -c " not in line[:40]:
                return p
        time.sleep(0.05)
    raise AssertionError(f"nothing ran {marker!r}")


def gone(pid: int, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _cmdline(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    yield run
    for pid in warm_pids(run):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def env_for(run: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PLANLOOP_WARM": "on", "XDG_RUNTIME_DIR": str(run), **extra}


def wait_warm(run: Path, timeout: float = 90.0) -> Path:
    """The warm process's socket, once it listens and its successor (loading the SDKs
    meanwhile) has taken over: one warm process left, so a test's command is the child of
    the one that stays."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        socks = list((run / "planloop").glob("warm-*.sock"))
        if socks and len(warm_pids(run)) == 1:
            time.sleep(0.2)
            if len(warm_pids(run)) == 1:
                return socks[0]
        time.sleep(0.05)
    raise AssertionError("no warm process started")


def planned(
    ws: Path, tmp: Path, env: dict[str, str], check: str, *, yes: bool = True
) -> dict[str, str]:
    """A plan of one step (a note written, then ``check`` run), made by a cold command
    that starts the warm process; the environment naming the scripted models."""
    s = script(
        tmp,
        [submit(GOAL, [step("note", checks=[{"kind": "command", "command": check}])])],
        [write("note.txt", "hello\n"), report(True)],
    )
    env = {**env, "PLANLOOP_PLANNER": f"scripted:{s}", "PLANLOOP_EXECUTOR": f"scripted:{s}"}
    # started in the folder, as the commands after it are: ``python -m`` puts the folder
    # on sys.path, so a warm process started elsewhere has another set-up
    approve = ["--yes"] if yes else []
    done = subprocess.run([*CLI, "plan", GOAL, *approve], cwd=ws, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    return env


def test_a_run_is_handed_to_the_warm_process_with_its_streams_folder_and_environment(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    """The command starts a warm process; the next one runs there (the step's check is
    its descendant, not the command's), with the command's folder (no --workspace),
    environment (the models are named only there) and streams, and its exit code."""
    env = planned(calc_ws, tmp_path, env_for(run_dir), "sleep 3.1416")
    wait_warm(run_dir)
    cmd = subprocess.Popen(
        [*CLI, "run", "--color", "never"],
        cwd=calc_ws,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    check = running("sleep 3.1416")
    chain = ancestors(check)
    assert cmd.pid not in chain, "the check ran under the command itself: a cold start"
    assert set(chain) & set(warm_pids(run_dir)), chain
    out, err = cmd.communicate(timeout=120)
    assert cmd.returncode == 0, out + err
    assert "every step passed" in out
    assert (calc_ws / "note.txt").read_text() == "hello\n"


def test_what_a_warm_command_prints_and_exits_with_is_what_a_cold_one_does(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    """Errors on stderr and their exit code, argparse's usage errors (its SystemExit),
    --help on stdout: the same with and without the warm process."""
    env = planned(calc_ws, tmp_path, env_for(run_dir), "true")
    wait_warm(run_dir)
    elsewhere = tmp_path / "no-plan-here"
    elsewhere.mkdir()
    cases = [
        ["status", "--workspace", str(elsewhere)],
        ["run", "--no-such-flag"],
        ["run", "--help"],
        ["show", "--workspace", str(calc_ws)],
    ]
    for argv in cases:
        got = {}
        for mode in ("on", "off"):
            done = subprocess.run(
                [*CLI, *argv], cwd=calc_ws, env={**env, "PLANLOOP_WARM": mode}, capture_output=True
            )
            got[mode] = (done.returncode, done.stdout, done.stderr)
        assert got["on"] == got["off"], argv
    assert got["on"][0] == 0 and b"note" in got["on"][1]


def test_ctrl_c_reaches_the_warm_child_and_its_commands_as_it_would_a_cold_run(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    """The same interrupted run, warm and cold (each in its own copy of the folder): the
    check is stopped, the exit code and what the run's state says afterwards are the same."""
    cold_ws = tmp_path / "cold"
    shutil.copytree(calc_ws, cold_ws)
    seen = {}
    for mode, ws in (("on", calc_ws), ("off", cold_ws)):
        env = planned(ws, tmp_path, env_for(run_dir, PLANLOOP_WARM=mode), "sleep 27.1828")
        if mode == "on":
            wait_warm(run_dir)
        cmd = subprocess.Popen(
            [*CLI, "run", "--color", "never"],
            cwd=ws,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        check = running("sleep 27.1828")
        assert (cmd.pid in ancestors(check)) == (mode == "off")
        cmd.send_signal(signal.SIGINT)
        cmd.communicate(timeout=60)
        assert gone(check), f"the check outlived Ctrl-C ({mode})"
        status = subprocess.run(
            [*CLI, "status", "--json"], cwd=ws, env=env, capture_output=True, text=True
        )
        seen[mode] = (cmd.returncode, json.loads(status.stdout)["state"])
    assert seen["on"] == seen["off"], seen
    assert seen["on"][0] != 0 and seen["on"][1] != "running"


def test_a_command_killed_outright_takes_its_warm_child_with_it(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    env = planned(calc_ws, tmp_path, env_for(run_dir), "sleep 31.4159")
    wait_warm(run_dir)
    cmd = subprocess.Popen(
        [*CLI, "run"], cwd=calc_ws, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    check = running("sleep 31.4159")
    serving = set(warm_pids(run_dir))
    child = next(p for p in ancestors(check) if _parent(p) in serving)
    cmd.kill()
    cmd.wait(10)
    assert gone(child), "the warm child kept running after its command was killed"
    assert set(warm_pids(run_dir)) & serving, "the warm process itself must stay"


def test_a_terminal_prompt_is_answered_through_the_warm_child(
    calc_ws: Path, tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdin, stdout and stderr are the terminal's own descriptors in the warm child: its
    approval prompt is seen and answered there, and the exit code comes back."""
    env = planned(calc_ws, tmp_path, env_for(run_dir), "true", yes=False)
    for k in ("PLANLOOP_WARM", "XDG_RUNTIME_DIR", "PLANLOOP_PLANNER", "PLANLOOP_EXECUTOR"):
        monkeypatch.setenv(k, env[k])
    wait_warm(run_dir)
    term = Terminal([*CLI, "run", "--all"], calc_ws)
    term.expect("Approve?")
    serving = warm_pids(run_dir)
    assert any(_parent(p) in serving for p in _pids()), "the prompt is not the warm child's"
    term.type("n")
    term.expect("Feedback for the planner")
    term.type("")
    assert term.finish() == 4, term.seen
    assert "rejected" in term.seen


def test_a_changed_planloop_file_sends_the_command_cold_and_ends_the_warm_process(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    env = planned(calc_ws, tmp_path, env_for(run_dir), "true")
    wait_warm(run_dir)
    serving = warm_pids(run_dir)
    assert serving
    touched = Path(warm.__file__).with_name("eval_command.py")
    before = touched.stat()
    os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    try:
        done = subprocess.run(
            [*CLI, "run", "--color", "never"], cwd=calc_ws, env=env, capture_output=True, text=True
        )
    finally:
        os.utime(touched, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert done.returncode == 0 and "every step passed" in done.stdout, done.stderr
    assert all(gone(p) for p in serving), "a stale warm process kept serving"


def test_off_neither_uses_nor_starts_a_warm_process(calc_ws: Path, run_dir: Path) -> None:
    env = env_for(run_dir, PLANLOOP_WARM="off")
    done = subprocess.run([*CLI, "status"], cwd=calc_ws, env=env, capture_output=True)
    assert done.returncode != 0  # no plan there
    time.sleep(1.0)
    assert not warm_pids(run_dir)
    assert not list(run_dir.glob("planloop/*.sock"))


def test_the_socket_directory_must_be_the_users_alone(tmp_path: Path) -> None:
    made = warm.socket_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert made == str(tmp_path / "planloop")
    assert (tmp_path / "planloop").stat().st_mode & 0o777 == 0o700
    (tmp_path / "planloop").chmod(0o755)
    assert warm.socket_dir({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = tmp_path / "linked"
    link.mkdir()
    (link / "planloop").symlink_to(elsewhere)
    assert warm.socket_dir({"XDG_RUNTIME_DIR": str(link)}) is None
    # no runtime directory: one of the user's own under TMPDIR
    assert warm.socket_dir({"TMPDIR": str(tmp_path)}) == str(tmp_path / f"planloop-{os.getuid()}")


@pytest.mark.skipif(os.getuid() != 0, reason="needs another user to connect as")
def test_a_peer_of_another_user_is_never_served(calc_ws: Path, tmp_path: Path) -> None:
    """Even with the directory and the socket opened up, the warm process answers only
    its own user (SO_PEERCRED), and goes on serving it."""
    run_dir = Path(tempfile.mkdtemp(prefix="planloop-warm-peer-"))  # reachable by others
    try:
        _peer_is_refused(calc_ws, tmp_path, run_dir)
    finally:
        for pid in warm_pids(run_dir):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(run_dir, ignore_errors=True)


def _peer_is_refused(calc_ws: Path, tmp_path: Path, run_dir: Path) -> None:
    env = planned(calc_ws, tmp_path, env_for(run_dir), "true")
    sock = wait_warm(run_dir)
    run_dir.chmod(0o711)
    sock.parent.chmod(0o711)
    sock.chmod(0o666)
    answer_r, answer_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # another user, connecting and sending a well-formed request
        try:
            os.close(answer_r)
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock))
            body = json.dumps({"argv": ["status"], "fingerprint": ""}).encode()
            socket.send_fds(s, [struct.pack("!I", len(body))], [0, 1, 2])
            s.sendall(body)
            s.settimeout(20)
            try:
                os.write(answer_w, b"got:" + s.recv(100))
            except ConnectionResetError:  # closed unread: refused too
                os.write(answer_w, b"got:")
        except BaseException as e:
            os.write(answer_w, f"error: {e}".encode())
        finally:
            os._exit(0)
    os.close(answer_w)
    os.waitpid(pid, 0)
    with os.fdopen(answer_r, "rb") as f:
        assert f.read() == b"got:", "the warm process answered another user"
    mine = socket.socket(socket.AF_UNIX)
    mine.connect(str(sock))  # still listening for its own user
    mine.close()
    again = subprocess.run(
        [*CLI, "status", "--color", "never"], cwd=calc_ws, env=env, capture_output=True
    )
    assert again.returncode == 0

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
def run_dir() -> Iterator[Path]:
    """A runtime directory of the test's own: short, as a socket's path must be (pytest's
    own temporary paths under xdist are too long for one)."""
    run = Path(tempfile.mkdtemp(prefix="plw-"))
    yield run
    for pid in warm_pids(run):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(run, ignore_errors=True)


def env_for(run: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PLANLOOP_WARM": "on", "XDG_RUNTIME_DIR": str(run), **extra}


def wait_warm(run: Path, timeout: float = 90.0) -> tuple[Path, int]:
    """The warm process's socket and pid, once its successor (which loads the SDKs) serves:
    the process a test's commands are then children of."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for sock in (run / "planloop").glob("warm-*.sock"):
            try:
                pid, state = Path(f"{sock}.pid").read_text().split()
            except (OSError, ValueError):
                continue
            if state == "sdks" and _cmdline(int(pid)):
                return sock, int(pid)
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


def start_run(ws: Path, env: dict[str, str], **streams: int) -> subprocess.Popen[str]:
    """``planloop run`` started in ``ws``, its output read through pipes (stderr apart,
    unless ``streams`` say otherwise)."""
    return subprocess.Popen(
        [*CLI, "run", "--color", "never"],
        cwd=ws,
        env=env,
        text=True,
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams},
    )


def test_a_run_is_handed_to_the_warm_process_with_its_streams_folder_and_environment(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    """The command starts a warm process; the next one runs there (the step's check is
    its descendant, not the command's), with the command's folder (no --workspace),
    environment (the models are named only there) and streams, and its exit code."""
    env = planned(calc_ws, tmp_path, env_for(run_dir), "sleep 3.1416")
    wait_warm(run_dir)
    cmd = start_run(calc_ws, env)
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
        for mode in ("require", "off"):  # require: a cold start would fail the command
            done = subprocess.run(
                [*CLI, *argv], cwd=calc_ws, env={**env, "PLANLOOP_WARM": mode}, capture_output=True
            )
            got[mode] = (done.returncode, done.stdout, done.stderr)
        assert got["require"] == got["off"], argv
    assert got["require"][0] == 0 and b"note" in got["require"][1]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_a_signal_reaches_the_warm_child_and_its_commands_as_it_would_a_cold_run(
    calc_ws: Path, tmp_path: Path, run_dir: Path, signum: int
) -> None:
    """The same interrupted run, warm and cold (each in its own copy of the folder): the
    check is stopped, the exit code (a signal's death included) and what the run's state
    says afterwards are the same."""
    cold_ws = tmp_path / "cold"
    shutil.copytree(calc_ws, cold_ws)
    seen = {}
    for mode, ws in (("on", calc_ws), ("off", cold_ws)):
        env = planned(ws, tmp_path, env_for(run_dir, PLANLOOP_WARM=mode), "sleep 27.1828")
        if mode == "on":
            wait_warm(run_dir)
        cmd = start_run(ws, env, stderr=subprocess.STDOUT)
        check = running("sleep 27.1828")
        assert (cmd.pid in ancestors(check)) == (mode == "off")
        cmd.send_signal(signum)
        cmd.communicate(timeout=60)
        assert gone(check), f"the check outlived the signal ({mode})"
        status = subprocess.run(
            [*CLI, "status", "--json"], cwd=ws, env=env, capture_output=True, text=True
        )
        seen[mode] = (cmd.returncode, json.loads(status.stdout)["state"])
    assert seen["on"] == seen["off"], seen
    assert seen["on"][0] != 0
    if signum == signal.SIGINT:  # handled: the run ends its step and says so
        assert seen["on"][1] != "running"


def test_a_command_killed_outright_takes_its_warm_child_with_it(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    env = planned(calc_ws, tmp_path, env_for(run_dir), "sleep 31.4159")
    _, serving = wait_warm(run_dir)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    cmd = start_run(calc_ws, {**env, "PLANLOOP_WARM": "require"}, **quiet)
    check = running("sleep 31.4159")
    child = next(p for p in ancestors(check) if _parent(p) == serving)
    cmd.kill()
    cmd.wait(10)
    assert gone(child), "the warm child kept running after its command was killed"
    assert _cmdline(serving), "the warm process itself must stay"


def test_a_warm_child_that_dies_of_a_signal_takes_its_command_with_it(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    """The child SIGKILLs itself mid-step (PLANLOOP_FAULT): the warm process reports it and
    the command dies of the same signal, as a cold run's process would have."""
    cold_ws = tmp_path / "cold"
    shutil.copytree(calc_ws, cold_ws)
    codes = {}
    for mode, ws in (("require", calc_ws), ("off", cold_ws)):
        env = planned(ws, tmp_path, env_for(run_dir), "true")
        if mode == "require":
            wait_warm(run_dir)
        done = subprocess.run(
            [*CLI, "run"],
            cwd=ws,
            env={**env, "PLANLOOP_WARM": mode, "PLANLOOP_FAULT": "tool@1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        codes[mode] = done.returncode
        assert "Traceback" not in done.stderr, done.stderr
    assert codes["require"] == codes["off"] == -signal.SIGKILL


def test_a_terminal_prompt_is_answered_through_the_warm_child(
    calc_ws: Path, tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdin, stdout and stderr are the terminal's own descriptors in the warm child: its
    approval prompt is seen and answered there, and the exit code comes back."""
    env = planned(calc_ws, tmp_path, env_for(run_dir), "true", yes=False)
    for k in ("PLANLOOP_WARM", "XDG_RUNTIME_DIR", "PLANLOOP_PLANNER", "PLANLOOP_EXECUTOR"):
        monkeypatch.setenv(k, env[k])
    _, serving = wait_warm(run_dir)
    monkeypatch.setenv("PLANLOOP_WARM", "require")
    term = Terminal([*CLI, "run", "--all"], calc_ws)
    term.expect("Approve?")
    assert [p for p in _pids() if _parent(p) == serving], "the prompt is not the warm child's"
    term.type("n")
    term.expect("Feedback for the planner")
    term.type("")
    assert term.finish() == 4, term.seen
    assert "rejected" in term.seen


def test_a_changed_install_sends_the_command_cold_and_ends_the_warm_process(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    """A package installed where a loaded module lives (here a private directory on
    PYTHONPATH, whose sitecustomize every interpreter loads): the warm process refuses,
    ends, and the command runs cold. Nothing shared is touched, so other tests' warm
    processes stay as they are."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("")
    env = planned(calc_ws, tmp_path, env_for(run_dir, PYTHONPATH=str(site)), "true")
    wait_warm(run_dir)
    serving = warm_pids(run_dir)
    (site / "installed_later.py").write_text("")  # the directory changed
    done = subprocess.run(
        [*CLI, "run", "--color", "never"], cwd=calc_ws, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "every step passed" in done.stdout, done.stderr
    assert all(gone(p) for p in serving), "a stale warm process kept serving"


def test_what_is_stamped_is_each_of_planloops_files_and_every_other_modules_directory(
    tmp_path: Path,
) -> None:
    """A checkout's file edited in place changes only that file; an upgrade elsewhere
    writes files into the package's directory: so each is stamped as it changes."""
    import json as some_library

    from planloop.cli import warm_server

    stamps = warm_server._stamp()
    assert str(Path(warm.__file__)) in stamps
    assert os.path.dirname(some_library.__file__) in stamps
    assert some_library.__file__ not in stamps
    edited = tmp_path / "module.py"
    edited.write_text("A = 1\n")
    loaded = {str(edited): warm_server._state(str(edited))}
    assert not warm_server._changed(loaded)
    time.sleep(0.01)
    edited.write_text("A = 2\n")
    assert warm_server._changed(loaded)


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
    sock, _ = wait_warm(run_dir)
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
            try:
                body = json.dumps({"argv": ["status"], "fingerprint": ""}).encode()
                socket.send_fds(s, [struct.pack("!I", len(body))], [0, 1, 2])
                s.sendall(body)
                s.settimeout(20)
                os.write(answer_w, b"got:" + s.recv(100))
            except (ConnectionResetError, BrokenPipeError):  # closed on it: refused too
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


def _knock(sock: Path) -> str:
    """Python code that connects to ``sock`` and asks it to run ``planloop status`` as a
    command would, then prints what came back."""
    return (
        "import json, socket, struct, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    s.connect({str(sock)!r})\n"
        "    body = json.dumps({'argv': ['status']}).encode()\n"
        "    socket.send_fds(s, [struct.pack('!I', len(body))], [0, 1, 2])\n"
        "    s.sendall(body)\n"
        "    s.settimeout(20)\n"
        "    print('answer:', s.recv(100))\n"
        "except OSError as e:\n"
        "    print('answer:', type(e).__name__)\n"
    )


def test_a_peer_in_other_namespaces_is_never_served(
    calc_ws: Path, tmp_path: Path, run_dir: Path
) -> None:
    """A sandboxed command is the same user: what refuses it is that it lives in other
    namespaces (here bubblewrap's, with the socket left in view on purpose)."""
    planned(calc_ws, tmp_path, env_for(run_dir), "true")
    sock, serving = wait_warm(run_dir)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("no bubblewrap here")
    inside = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid"]
    done = subprocess.run(
        [*inside, "--", sys.executable, "-c", _knock(sock)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    refusals = ("answer: b''", "answer: ConnectionResetError", "answer: BrokenPipeError")
    assert done.stdout.strip() in refusals, done.stdout
    assert _cmdline(serving), "refusing must not end the warm process"
    outside = subprocess.run([sys.executable, "-c", _knock(sock)], capture_output=True, text=True)
    assert '"pid"' in outside.stdout or "refused" in outside.stdout, outside.stdout


def test_the_sandbox_covers_the_warm_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second lock: a model command does not even see the directories warm processes
    listen in, network or not (the network sandbox leaves /run in view)."""
    from planloop.workspace.bwrap import wrap
    from planloop.workspace.sandbox_rules import SandboxSpec

    if shutil.which("bwrap") is None:
        pytest.skip("no bubblewrap here")
    # outside /tmp, which the sandbox replaces anyway
    runtime = Path(tempfile.mkdtemp(prefix="planloop-warm-runtime-", dir="/var/tmp"))
    try:
        (runtime / "planloop").mkdir(mode=0o700)
        (runtime / "planloop" / "warm-0.sock").write_text("")
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        ws = tmp_path / "ws"
        ws.mkdir()
        for network in (False, True):
            spec = SandboxSpec(root=ws, network=network)
            argv = wrap(["ls", "-A", str(runtime / "planloop")], spec, None)
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and done.stdout == "", (network, done.stdout, done.stderr)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)

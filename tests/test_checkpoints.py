"""Checkpoints against real git: the user's repository stays byte-identical, every revert
restores exactly its files or reports a conflict, and bad states fail clearly.

Helpers here (``ugit``, ``make_user_repo``, ``user_repo_fingerprint``, ``tree_state``) are
shared with test_checkpoints_property.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import planloop.checkpoints.store
from planloop.checkpoints.store import CheckpointError, CheckpointStore, FileDiff
from planloop.document.plan import FileChange
from planloop.errors import PlanloopError

# --- helpers --------------------------------------------------------------------------------

USER_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "User",
    "GIT_AUTHOR_EMAIL": "user@example.com",
    "GIT_COMMITTER_NAME": "User",
    "GIT_COMMITTER_EMAIL": "user@example.com",
}


def ugit(repo: Path, *args: str, check: bool = True) -> str:
    """Run git as the user would, in their repository."""
    r = subprocess.run(
        ["git", "-C", str(repo), *args], env=USER_ENV, capture_output=True, text=True
    )
    if check and r.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def shadow_git(store: CheckpointStore, *args: str) -> str:
    """Inspect the shadow repository directly (read-only commands)."""
    r = subprocess.run(
        ["git", f"--git-dir={store.shadow_dir}", *args],
        env=USER_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout


HOOK_NAMES = ("pre-commit", "post-checkout", "post-commit", "pre-auto-gc", "post-index-change")


def make_user_repo(root: Path, case: str, tripwire: Path) -> None:
    """A real user repository in state ``case`` (one of DIRTY_CASES, or 'all')."""
    root.mkdir(parents=True, exist_ok=True)
    ugit(root, "init", "-q", "-b", "main")
    (root / "a.py").write_text("def a():\n    return 1\n")
    (root / "b.py").write_text("B = 2\n")
    (root / "lib").mkdir()
    (root / "lib" / "c.py").write_text("C = 3\n")
    (root / ".gitignore").write_text("*.log\n")
    ugit(root, "add", "-A")
    ugit(root, "commit", "-qm", "one")
    ugit(root, "checkout", "-qb", "other")
    (root / "a.py").write_text("def a():\n    return 'other'\n")
    ugit(root, "commit", "-qam", "other change")
    ugit(root, "checkout", "-q", "main")
    (root / "a.py").write_text("def a():\n    return 'main'\n")
    ugit(root, "commit", "-qam", "main change")
    ugit(root, "config", "user.name", "User")
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("secret.env\n")
    (root / "secret.env").write_text("TOKEN=do-not-capture\n")
    # Tripwire hooks: if anything ran a hook in the user's repository, we would know.
    for name in HOOK_NAMES:
        hook = root / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\necho {name} >> '{tripwire}'\n")
        hook.chmod(0o755)
    cases = DIRTY_CASES if case == "all" else (case,)
    if "stash" in cases:
        (root / "b.py").write_text("B = 'stashed'\n")
        ugit(root, "stash", "push", "-q", "-m", "user stash")
    if "detached_head" in cases:
        ugit(root, "checkout", "-q", "--detach", "main")
    if "merge_in_progress" in cases:
        ugit(root, "merge", "other", check=False)  # conflicts in a.py
        assert (root / ".git" / "MERGE_HEAD").exists()
    if "staged" in cases:
        (root / "b.py").write_text("B = 'staged'\n")
        ugit(root, "add", "b.py")
    if "unstaged" in cases:
        (root / "lib" / "c.py").write_text("C = 'unstaged'\n")
    if "untracked" in cases:
        (root / "new.txt").write_text("untracked\n")
        (root / "untracked_dir").mkdir()
        (root / "untracked_dir" / "u.py").write_text("U = 1\n")
    tripwire.unlink(missing_ok=True)  # the setup itself ran post-checkout


DIRTY_CASES = (
    "staged",
    "unstaged",
    "untracked",
    "stash",
    "detached_head",
    "merge_in_progress",
)


def _digest_dir(d: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d).as_posix()
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = "link:" + os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            out[rel] = f"{oct(st.st_mode)}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
        else:
            out[rel] = "dir"
    return out


def user_repo_fingerprint(root: Path) -> dict[str, object]:
    """Everything the user's repository is: named parts first (for readable failures),
    then a digest of every file under .git (objects, logs, MERGE_HEAD, ...)."""
    dotgit = root / ".git"
    return {
        "HEAD": (dotgit / "HEAD").read_bytes(),
        "refs": ugit(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "index_sha": hashlib.sha256((dotgit / "index").read_bytes()).hexdigest(),
        "stash": ugit(root, "stash", "list"),
        "config": (dotgit / "config").read_bytes(),
        "hooks": _digest_dir(dotgit / "hooks"),
        "info_exclude": (dotgit / "info" / "exclude").read_bytes(),
        "all_files": _digest_dir(dotgit),
    }


def tree_state(root: Path, skip: tuple[str, ...] = (".git", ".planloop")) -> dict[str, object]:
    """Workspace files → (kind, content/target, exec bit); directories as 'dir'."""
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirs[:] = [d for d in dirs if not (rel_dir == Path(".") and d in skip)]
        for name in dirs:
            p = Path(dirpath) / name
            rel = (rel_dir / name).as_posix()
            out[rel] = ("link", os.readlink(p)) if p.is_symlink() else "dir"
        for name in files:
            p = Path(dirpath) / name
            rel = (rel_dir / name).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            else:
                out[rel] = ("file", p.read_bytes(), bool(p.stat().st_mode & stat.S_IXUSR))
    return out


def by_path(diffs: list[FileDiff]) -> dict[str, FileDiff]:
    return {d.path: d for d in diffs}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


# --- the user's repository is never written --------------------------------------------------


@pytest.mark.parametrize("case", [*DIRTY_CASES, "all"])
def test_dirty_user_repo_is_never_written(tmp_path: Path, case: str) -> None:
    root = tmp_path / "repo"
    tripwire = tmp_path / "hook-ran"
    make_user_repo(root, case, tripwire)
    before_fp = user_repo_fingerprint(root)
    before_tree = tree_state(root)

    with CheckpointStore(root) as store:
        c1 = store.snapshot("before s1", ref="refs/planloop/p1/s1/before")
        # The checkpoint holds the dirty work tree as it is, not the user's index or HEAD.
        assert store.file_at(c1, "a.py") == (root / "a.py").read_bytes()
        assert store.file_at(c1, "b.py") == (root / "b.py").read_bytes()
        assert store.file_at(c1, "secret.env") is None  # the user's info/exclude
        if case in ("untracked", "all"):
            assert store.file_at(c1, "untracked_dir/u.py") == b"U = 1\n"

        (root / "a.py").write_text("def a():\n    return 'step'\n")
        (root / "lib" / "c.py").unlink()
        (root / "b.py").rename(root / "b_renamed.py")
        (root / "added.py").write_text("ADDED = True\n")
        c2 = store.snapshot("after s1", ref="refs/planloop/p1/s1/after")

        changes = {c.path: c for c in store.changes(c1, c2)}
        assert changes["lib/c.py"].status == "deleted"
        assert changes["added.py"].status == "added"
        assert changes["b_renamed.py"].status == "renamed"
        assert changes["b_renamed.py"].old_path == "b.py"
        assert "return 'step'" in by_path(store.diff(c1, c2))["a.py"].patch

        result = store.revert(c1, c2)
        assert sorted(result.restored) == sorted(
            ["a.py", "lib/c.py", "b.py", "b_renamed.py", "added.py"]
        )
        assert result.conflicts == []
        assert tree_state(root) == before_tree

        store.snapshot("after revert")
        store.clean(["refs/planloop/p1/"])
        assert store.disk_usage() > 0

    assert user_repo_fingerprint(root) == before_fp
    assert not tripwire.exists(), "a hook of the user's repository ran"


def test_inherited_git_env_pointing_at_user_repo_is_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """planloop started from a git hook inherits GIT_DIR & co; they must not leak into the
    shadow's git processes, and neither may the API key. A `git` wrapper first on PATH
    records what every git process really received."""
    root = tmp_path / "repo"
    tripwire = tmp_path / "hook-ran"
    make_user_repo(root, "all", tripwire)
    fp = user_repo_fingerprint(root)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "git-calls.txt"
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    wrapper = bindir / "git"
    # one write per call: git processes may run side by side (a background copy), and
    # O_APPEND keeps one write whole, not a sequence of them
    wrapper.write_text(
        "#!/bin/sh\n"
        f'rec="$(echo "ARGS $*"; env | grep -E \'^(GIT_DIR|GIT_INDEX_FILE|GIT_WORK_TREE|'
        f"GIT_OBJECT_DIRECTORY|ANTHROPIC_API_KEY)='; echo END)\"\n"
        f"printf '%s\\n' \"$rec\" >> '{record}'\n"
        f'exec {real_git} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    dotgit = root / ".git"
    monkeypatch.setenv("GIT_DIR", str(dotgit))
    monkeypatch.setenv("GIT_WORK_TREE", str(root))
    monkeypatch.setenv("GIT_INDEX_FILE", str(dotgit / "index"))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(dotgit / "objects"))
    monkeypatch.setenv("GIT_NAMESPACE", "evil")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.hookspath'='/nonexistent'")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value")

    with CheckpointStore(root) as store:
        c1 = store.snapshot("one")
        (root / "a.py").write_text("changed\n")
        c2 = store.snapshot("two")
        assert [d.path for d in store.diff(c1, c2)] == ["a.py"]
        assert store.file_at(c1, "a.py") != b"changed\n"
        assert store.revert(c1, c2).restored == ["a.py"]
        store.clean([])
        shadow = str(store.shadow_dir)

    calls = record.read_text().split("END\n")
    calls = [c for c in calls if c.strip()]
    assert len(calls) >= 5
    for call in calls:  # (the shadow is initialised in a sibling temp dir, then renamed)
        env = dict(line.split("=", 1) for line in call.splitlines()[1:])
        assert env["GIT_DIR"].startswith(shadow), call
        # the shadow's index, or (a diff of two trees) a file there that never exists
        unread = call.split()[3] == "diff-tree"
        assert env["GIT_INDEX_FILE"] == env["GIT_DIR"] + ("/no-index" if unread else "/index"), call
        assert env["GIT_OBJECT_DIRECTORY"] == env["GIT_DIR"] + "/objects", call
        assert env["GIT_WORK_TREE"] == str(root), call
        assert env.get("ANTHROPIC_API_KEY", "") == "", call
    assert sum(f"--git-dir={shadow} " in c for c in calls) >= 5
    monkeypatch.undo()
    assert user_repo_fingerprint(root) == fp
    assert not tripwire.exists()


def test_non_git_workspace_works_and_creates_no_git_dir(ws: Path) -> None:
    (ws / "main.py").write_text("print('hi')\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "main.py").write_text("print('bye')\n")
        c2 = store.snapshot("two")
        assert store.changes(c1, c2) == [
            FileChange(path="main.py", status="modified", added=1, removed=1)
        ]
        assert store.revert(c1, c2).restored == ["main.py"]
    assert (ws / "main.py").read_text() == "print('hi')\n"
    assert not (ws / ".git").exists()
    assert (ws / ".planloop" / ".gitignore").read_text() == "*\n"


# --- what a checkpoint holds ----------------------------------------------------------------


def test_ignored_node_modules_2k_files_not_captured(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    ugit(root, "init", "-q")
    (root / ".git" / "info" / "exclude").write_text("local-only/\n")
    exclude_bytes = (root / ".git" / "info" / "exclude").read_bytes()
    (root / ".gitignore").write_text("node_modules/\n")
    for i in range(2000):
        d = root / "node_modules" / f"dep{i // 100}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"i{i}.js").write_text("x\n")
    (root / "src").mkdir()
    (root / "src" / ".gitignore").write_text("*.log\n")  # nested .gitignore
    (root / "src" / "app.py").write_text("APP = 1\n")
    (root / "src" / "debug.log").write_text("noise\n")
    (root / "local-only").mkdir()
    (root / "local-only" / "notes.md").write_text("mine\n")
    with CheckpointStore(root) as store:
        c = store.snapshot("one")
        files = shadow_git(store, "ls-tree", "-r", "--name-only", c).split()
    assert sorted(files) == [".gitignore", "src/.gitignore", "src/app.py"]
    assert (root / ".git" / "info" / "exclude").read_bytes() == exclude_bytes


@contextlib.contextmanager
def git_commands(store: CheckpointStore) -> Iterator[list[str]]:
    """The git subcommands the store's shadow runs meanwhile, in order."""
    ran: list[str] = []
    real_run = store._shadow.run

    def recording(args: list[str], **kw: Any) -> tuple[int, bytes, str]:
        ran.append(args[0])
        return real_run(args, **kw)

    store._shadow.run = recording  # type: ignore[method-assign]
    try:
        yield ran
    finally:
        store._shadow.run = real_run  # type: ignore[method-assign]


def test_a_snapshot_of_named_paths_stages_only_them_as_a_full_scan_would(
    tmp_path: Path,
) -> None:
    """The after-checkpoint of a step that wrote only through the file tools: the named
    paths are read again (changed, new, deleted, ignored, never existed, planloop's own),
    nothing else is, and a nested repository among them falls back to the whole scan."""
    root = tmp_path / "repo"
    root.mkdir()
    ugit(root, "init", "-q")
    (root / ".gitignore").write_text("*.log\n")
    (root / "a.py").write_text("A = 1\n")
    (root / "b.py").write_text("B = 1\n")
    (root / "c.py").write_text("C = 1\n")
    with CheckpointStore(root) as store:
        c1 = store.snapshot("one")
        (root / "a.py").write_text("A = 2\n")
        (root / "b.py").unlink()
        (root / "n.py").write_text("N = 1\n")
        (root / "x.log").write_text("noise\n")
        (root / "c.py").write_text("C = 2\n")  # changed, but not named
        named = ["a.py", "b.py", "n.py", "x.log", "never.py", ".planloop/state.json"]
        c2 = store.snapshot("two", paths=named)
        assert [(f.path, f.status) for f in store.changes(c1, c2)] == [
            ("a.py", "modified"),
            ("b.py", "deleted"),
            ("n.py", "added"),
        ]
        assert store.file_at(c2, "c.py") == b"C = 1\n"
        # a full scan later finds c.py: the named snapshot left the index consistent
        c3 = store.snapshot("three")
        assert [f.path for f in store.changes(c2, c3)] == ["c.py"]
        # only paths the index tracks (the usual edit): one index update, the same result
        (root / "a.py").write_text("A = 4\n")
        (root / "n.py").unlink()
        with git_commands(store) as ran:
            c3b = store.snapshot("three-b", paths=["a.py", "n.py", "never.py"])
        assert "update-index" in ran and "add" not in ran  # no walk of the directories
        assert [(f.path, f.status) for f in store.changes(c3, c3b)] == [
            ("a.py", "modified"),
            ("n.py", "deleted"),
        ]
        (root / "y.log").write_text("ignored, existing, named alone\n")
        c3c = store.snapshot("three-c", paths=["y.log"])
        assert store.changes(c3b, c3c) == []
        # a nested repository written into: the whole scan, which knows to leave it out
        inner = root / "inner"
        inner.mkdir()
        ugit(inner, "init", "-q")
        (inner / "f.py").write_text("F = 1\n")
        (root / "a.py").write_text("A = 3\n")
        c4 = store.snapshot("four", paths=["inner", "a.py"])
        files = shadow_git(store, "ls-tree", "-r", "--name-only", c4).split()
        assert "a.py" in files and not any(f.startswith("inner") for f in files)
        assert store.file_at(c4, "a.py") == b"A = 3\n"


def test_a_staging_begun_at_start_up_stands_for_the_first_scan_only_when_vouched_for(
    tmp_path: Path,
) -> None:
    """``planloop run`` stages the work tree while Python loads: the first snapshot uses
    that index only when its caller vouches nothing was written since (a change made
    after the staging is then not in it, which is how the test sees the staging used);
    without the vouch, and for every later snapshot or after a revert, it scans."""
    from planloop.checkpoints import ahead

    root = tmp_path / "repo"
    root.mkdir()
    ugit(root, "init", "-q")
    (root / "a.py").write_text("A = 1\n")
    ahead.stage_ahead(root, always=True)  # no plan was made here: nothing is created
    assert (
        not (root / ".planloop").exists() and ahead.take(root / ".planloop" / "shadow.git") is None
    )
    (root / ".planloop").mkdir()
    told: list[tuple[str, bool]] = []

    trees: list[str] = []

    def staged_then(change: str) -> CheckpointStore:
        ahead.stage_ahead(root, always=True)
        staged = ahead._staged[root.resolve() / ".planloop" / "shadow.git"]
        assert staged.wait(30).ok and len(staged.tree) == 40
        trees.append(staged.tree)
        (root / "a.py").write_text(change)  # after the staging: only a scan sees it
        store = CheckpointStore(root)
        store.on_progress = lambda m, done: told.append((m, done))
        return store

    with staged_then("A = 2\n") as store:
        c1 = store.snapshot("one", untouched_since_start=True)
        assert store.file_at(c1, "a.py") == b"A = 1\n"  # the staged index, not a new scan
        assert shadow_git(store, "rev-parse", f"{c1}^{{tree}}").strip() == trees[0]
        assert told[0] == ("first checkpoint: recording the workspace…", False) and told[1][1]
        c2 = store.snapshot("two", untouched_since_start=True)  # consumed: a scan
        assert store.file_at(c2, "a.py") == b"A = 2\n"
    with staged_then("A = 3\n") as store:
        c3 = store.snapshot("three")  # nobody vouched: a scan
        assert store.file_at(c3, "a.py") == b"A = 3\n"
        assert ahead.take(store.shadow_dir) is None  # and the staging is gone
    with staged_then("A = 3\n") as store:  # staged as c3 holds it
        assert store.revert(c2, c3).restored == ["a.py"]  # the work tree moved: stale
        c4 = store.snapshot("four", untouched_since_start=True)
        assert store.file_at(c4, "a.py") == b"A = 2\n"


def test_whitelisting_gitignore_cannot_pull_planloop_dir_into_checkpoints(ws: Path) -> None:
    (ws / ".gitignore").write_text("*\n!*/\n!*.*\n!.planloop\n!.planloop/**\n")
    (ws / "app.py").write_text("APP = 1\n")
    (ws / "Makefile").write_text("all:\n")  # no dot: ignored by the whitelist
    with CheckpointStore(ws) as store:
        store.snapshot("one")  # leaves state files in .planloop/
        (ws / ".planloop" / ".gitignore").unlink()  # its "*" would hide them anyway
        c = store.snapshot("two")
        files = shadow_git(store, "ls-tree", "-r", "--name-only", c).split()
    assert sorted(files) == [".gitignore", "app.py"]


def test_nested_repos_and_gitfile_submodule_excluded_and_untouched(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    ugit(root, "init", "-q")
    (root / "top.py").write_text("TOP = 1\n")
    nested = root / "vendor" / "lib"
    nested.mkdir(parents=True)
    ugit(nested, "init", "-q")
    (nested / "f.txt").write_text("nested\n")
    ugit(nested, "add", "f.txt")
    ugit(nested, "commit", "-qm", "nested")
    unborn = root / "fresh"  # a `git init` with no commit yet
    unborn.mkdir()
    ugit(unborn, "init", "-q")
    (unborn / "g.txt").write_text("fresh\n")
    # A submodule-style checkout: .git is a *file* pointing at a git dir elsewhere.
    sub = root / "sub"
    ugit(tmp_path, "init", "-q", f"--separate-git-dir={tmp_path / 'sub-gitdir'}", str(sub))
    (sub / "s.txt").write_text("sub\n")
    nested_fps = {p: _digest_dir(p / ".git") for p in (nested, unborn)}
    nested_fps[sub] = _digest_dir(tmp_path / "sub-gitdir")
    sub_gitfile = (sub / ".git").read_bytes()

    with CheckpointStore(root) as store:
        c1 = store.snapshot("one")
        assert store.nested_repos == ["fresh", "sub", "vendor/lib"]
        listing = shadow_git(store, "ls-tree", "-r", c1)
        assert "160000" not in listing  # no gitlinks
        assert sorted(shadow_git(store, "ls-tree", "-r", "--name-only", c1).split()) == ["top.py"]
        (nested / "f.txt").write_text("changed inside the nested repo\n")
        (root / "top.py").write_text("TOP = 2\n")
        c2 = store.snapshot("two")
        assert [d.path for d in store.diff(c1, c2)] == ["top.py"]
        assert store.revert(c1, c2).restored == ["top.py"]
        assert (nested / "f.txt").read_text() == "changed inside the nested repo\n"
        assert store.file_at(c2, "vendor/lib/f.txt") is None

        # Once it is no longer a repository, the directory is captured like any other.
        import shutil

        shutil.rmtree(unborn / ".git")
        c3 = store.snapshot("three")
        assert store.nested_repos == ["sub", "vendor/lib"]
        assert store.file_at(c3, "fresh/g.txt") == b"fresh\n"

    assert {p: _digest_dir(p / ".git") for p in (nested,)} == {nested: nested_fps[nested]}
    assert _digest_dir(tmp_path / "sub-gitdir") == nested_fps[sub]
    assert (sub / ".git").read_bytes() == sub_gitfile
    assert ugit(nested, "status", "--porcelain") == " M f.txt\n"


def test_symlink_pointing_outside_is_stored_as_link_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside secret\n")
    secret_stat = (outside / "secret.txt").stat()
    os.symlink(outside / "secret.txt", root / "link")
    os.symlink(outside, root / "linkdir")
    os.symlink("../outside/secret.txt", root / "rel-link")
    with CheckpointStore(root) as store:
        c1 = store.snapshot("one")
        listing = shadow_git(store, "ls-tree", "-r", c1)
        assert "120000" in listing
        assert "secret.txt" not in shadow_git(store, "ls-tree", "-r", "--name-only", c1)
        assert store.file_at(c1, "link") == os.fsencode(outside / "secret.txt")
        assert store.file_at(c1, "linkdir/secret.txt") is None
        # The step deletes one link and retargets another; revert puts both links back.
        (root / "link").unlink()
        (root / "rel-link").unlink()
        os.symlink("elsewhere", root / "rel-link")
        c2 = store.snapshot("two")
        res = store.revert(c1, c2)
        assert sorted(res.restored) == ["link", "rel-link"]
    assert os.readlink(root / "link") == str(outside / "secret.txt")
    assert os.readlink(root / "rel-link") == "../outside/secret.txt"
    assert (outside / "secret.txt").read_text() == "outside secret\n"
    assert (outside / "secret.txt").stat().st_mtime_ns == secret_stat.st_mtime_ns
    assert sorted(os.listdir(outside)) == ["secret.txt"]


def test_revert_through_symlinked_parent_dir_is_a_conflict_never_writes_outside(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("v1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    with CheckpointStore(root) as store:
        c1 = store.snapshot("one")
        (root / "pkg" / "mod.py").write_text("v2\n")
        c2 = store.snapshot("two")
        # Someone swaps pkg/ for a symlink to a directory outside holding the after-content.
        (root / "pkg" / "mod.py").rename(outside / "mod.py")
        (root / "pkg").rmdir()
        os.symlink(outside, root / "pkg")
        res = store.revert(c1, c2)
    assert res.restored == []
    assert [c.path for c in res.conflicts] == ["pkg/mod.py"]
    assert "symlink" in res.conflicts[0].reason
    assert (outside / "mod.py").read_text() == "v2\n"


def test_binary_file_diff_and_revert_byte_for_byte(ws: Path) -> None:
    blob = bytes(range(256)) * 8
    (ws / "img.bin").write_bytes(blob)
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "img.bin").write_bytes(blob[::-1] + b"\0tail")
        c2 = store.snapshot("two")
        d = by_path(store.diff(c1, c2))["img.bin"]
        assert d.binary and d.added == 0 and d.removed == 0
        assert "Binary files" in d.patch
        assert d.to_change().binary
        assert store.file_at(c1, "img.bin") == blob
        assert store.revert(c1, c2).restored == ["img.bin"]
    assert (ws / "img.bin").read_bytes() == blob


def test_crlf_and_gitattributes_filters_round_trip_exact_bytes(ws: Path) -> None:
    (ws / ".gitattributes").write_text("* text=auto eol=crlf\n*.dat filter=lfs diff=lfs\n")
    mixed = b"one\r\ntwo\nthree\r\n"
    (ws / "mixed.txt").write_bytes(mixed)
    (ws / "x.dat").write_bytes(b"not an lfs pointer\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        assert store.file_at(c1, "mixed.txt") == mixed
        (ws / "mixed.txt").write_bytes(b"replaced\n")
        (ws / "x.dat").write_bytes(b"other\n")
        c2 = store.snapshot("two")
        assert sorted(store.revert(c1, c2).restored) == ["mixed.txt", "x.dat"]
    assert (ws / "mixed.txt").read_bytes() == mixed
    assert (ws / "x.dat").read_bytes() == b"not an lfs pointer\n"


def test_empty_file_exec_bit_and_typechange(ws: Path) -> None:
    (ws / "empty").write_bytes(b"")
    (ws / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ws / "target.txt").write_text("t\n")
    (ws / "becomes-link").write_text("a file first\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        assert store.file_at(c1, "empty") == b""
        (ws / "run.sh").chmod(0o755)
        (ws / "becomes-link").unlink()
        os.symlink("target.txt", ws / "becomes-link")
        (ws / "empty").write_text("no longer empty\n")
        c2 = store.snapshot("two")
        diffs = by_path(store.diff(c1, c2))
        assert diffs["run.sh"].old_mode == "100644" and diffs["run.sh"].new_mode == "100755"
        assert diffs["becomes-link"].status == "typechange"
        assert "deleted file mode 100644" in diffs["becomes-link"].patch
        assert "new file mode 120000" in diffs["becomes-link"].patch
        assert diffs["empty"].added == 1
        res = store.revert(c1, c2)
        assert sorted(res.restored) == ["becomes-link", "empty", "run.sh"]
    assert (ws / "empty").read_bytes() == b""
    assert not os.stat(ws / "run.sh").st_mode & stat.S_IXUSR
    assert not (ws / "becomes-link").is_symlink()
    assert (ws / "becomes-link").read_text() == "a file first\n"


# --- diffs ----------------------------------------------------------------------------------


def test_diff_counts_renames_and_path_filter(ws: Path) -> None:
    body = "".join(f"line {i}\n" for i in range(40))
    (ws / "old_name.py").write_text(body)
    (ws / "keep.py").write_text("a\nb\nc\n")
    (ws / "docs").mkdir()
    (ws / "docs" / "x.md").write_text("x\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "old_name.py").rename(ws / "new_name.py")
        with (ws / "new_name.py").open("a") as f:
            f.write("one more\n")
        (ws / "keep.py").write_text("a\nB\nc\nd\n")
        (ws / "docs" / "x.md").unlink()
        c2 = store.snapshot("two")
        assert store.changes(c1, c2) == [
            FileChange(path="docs/x.md", status="deleted", added=0, removed=1),
            FileChange(path="keep.py", status="modified", added=2, removed=1),
            FileChange(path="new_name.py", status="renamed", old_path="old_name.py", added=1),
        ]
        only = store.diff(c1, c2, ["new_name.py"])
        assert [(d.path, d.old_path, d.status) for d in only] == [
            ("new_name.py", "old_name.py", "renamed")
        ]
        assert "+one more" in only[0].patch
        assert [d.path for d in store.diff(c1, c2, ["docs"])] == ["docs/x.md"]
        assert [d.path for d in store.diff(c1, c2, [str(ws / "keep.py")])] == ["keep.py"]
        assert store.diff(c1, c2, ["nothing-here"]) == []
        assert store.diff(c1, c1) == []


def test_comparing_checkpoints_reads_no_index_and_keeps_the_work_trees_attributes(
    ws: Path,
) -> None:
    """git would load the bare shadow's whole index for every diff, only to look for
    .gitattributes (15 ms of 19 on a 100k-entry index): diffs run on an empty index, so
    an unreadable index does not stop them, and the work tree's .gitattributes still
    decide what is binary."""
    (ws / ".gitattributes").write_text("marked.txt -diff\n")
    (ws / "marked.txt").write_text("x\ny\n")
    (ws / "plain.txt").write_text("x\ny\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "marked.txt").write_text("x\nz\n")
        (ws / "plain.txt").write_text("x\nz\n")
        c2 = store.snapshot("two")
        index = store._shadow.shadow_dir / "index"
        kept = index.read_bytes()
        index.write_bytes(b"not an index")  # git refuses this index outright
        try:
            fresh = CheckpointStore(ws)  # nothing remembered from the snapshot
            changes = {c.path: (c.added, c.removed) for c in fresh.changes(c1, c2)}
            patches = {d.path: d.patch for d in fresh.diff(c1, c2)}
            fresh.close()
        finally:
            index.write_bytes(kept)
    assert changes == {"marked.txt": (0, 0), "plain.txt": (1, 1)}
    assert "Binary files" in patches["marked.txt"] and "+z" in patches["plain.txt"]
    assert not (store._shadow.shadow_dir / "no-index").exists()


def test_diff_falls_back_to_one_diff_per_file_with_the_same_patches(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When one diff's sections cannot be matched to its files (never seen, but guarded),
    each file is diffed alone; the caller cannot tell the difference."""
    (ws / "old_name.py").write_text("".join(f"line {i}\n" for i in range(40)))
    (ws / "keep.py").write_text("a\n")
    (ws / "link").symlink_to("keep.py")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "old_name.py").rename(ws / "new_name.py")
        (ws / "keep.py").write_text("b\n")
        (ws / "link").unlink()
        (ws / "link").write_text("a file now\n")  # a typechange: two sections, one file
        (ws / "added.txt").write_text("new\n")
        c2 = store.snapshot("two")
        together = store.diff(c1, c2)
        monkeypatch.setattr(planloop.checkpoints.store, "split_patches", lambda out, entries: None)
        assert store.diff(c1, c2) == together
    assert {d.status for d in together} == {"renamed", "modified", "typechange", "added"}


# --- reverts --------------------------------------------------------------------------------


def test_revert_after_user_edited_same_file_is_conflict_and_file_untouched(ws: Path) -> None:
    (ws / "a.py").write_text("original a\n")
    (ws / "b.py").write_text("original b\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "a.py").write_text("step a\n")
        (ws / "b.py").write_text("step b\n")
        c2 = store.snapshot("two")
        (ws / "a.py").write_text("the user's own edit\n")
        mtime = (ws / "a.py").stat().st_mtime_ns
        res = store.revert(c1, c2)
    assert res.restored == ["b.py"]
    assert [(c.path, c.reason) for c in res.conflicts] == [
        ("a.py", "changed since the step's after-checkpoint")
    ]
    assert (ws / "a.py").read_text() == "the user's own edit\n"
    assert (ws / "a.py").stat().st_mtime_ns == mtime
    assert (ws / "b.py").read_text() == "original b\n"


def test_revert_of_added_deleted_renamed_files_restores_before_state(ws: Path) -> None:
    (ws / "gone.py").write_text("will be deleted\n")
    (ws / "moved.py").write_text("".join(f"row {i}\n" for i in range(30)))
    (ws / "pkg").mkdir()
    (ws / "pkg" / "keep.py").write_text("keep\n")
    before = tree_state(ws)
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "gone.py").unlink()
        (ws / "moved.py").rename(ws / "pkg" / "moved.py")
        (ws / "brand" / "new" / "dirs").mkdir(parents=True)
        (ws / "brand" / "new" / "dirs" / "n.py").write_text("new\n")
        (ws / "pkg" / "keep.py").write_text("changed\n")
        c2 = store.snapshot("two")
        kinds = {c.path: c.status for c in store.changes(c1, c2)}
        assert kinds == {
            "gone.py": "deleted",
            "pkg/moved.py": "renamed",
            "brand/new/dirs/n.py": "added",
            "pkg/keep.py": "modified",
        }
        res = store.revert(c1, c2)
        assert res.conflicts == []
        assert sorted(res.restored) == sorted(
            ["gone.py", "moved.py", "pkg/moved.py", "brand/new/dirs/n.py", "pkg/keep.py"]
        )
        assert tree_state(ws) == before  # the directories the step made are gone too
        again = store.revert(c1, c2)
    assert again.restored == [] and again.conflicts == []
    assert sorted(again.already_reverted) == sorted(res.restored)


def test_revert_with_paths_touches_only_those_files(ws: Path) -> None:
    for name in ("a.py", "b.py", "c.py", "orig.py"):
        (ws / name).write_text("".join(f"{name} {i}\n" for i in range(20)))
    (ws / "untouched.txt").write_text("not part of any step\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        for name in ("a.py", "b.py", "c.py"):
            (ws / name).write_text("step\n")
        (ws / "orig.py").rename(ws / "renamed.py")
        c2 = store.snapshot("two")
        others = {p: (ws / p).stat().st_mtime_ns for p in ("b.py", "c.py", "untouched.txt")}
        res = store.revert(c1, c2, ["a.py", "renamed.py", "not-in-step.py"])
        assert sorted(res.restored) == ["a.py", "orig.py", "renamed.py"]
        assert res.not_in_step == ["not-in-step.py"]
    assert (ws / "a.py").read_text().startswith("a.py 0\n")
    assert (ws / "orig.py").exists() and not (ws / "renamed.py").exists()
    for p, mtime in others.items():
        assert (ws / p).stat().st_mtime_ns == mtime
    assert (ws / "b.py").read_text() == "step\n"


def test_file_deleted_then_recreated(ws: Path) -> None:
    (ws / "f.txt").write_text("v1\n")
    (ws / "same.txt").write_text("same\n")
    with CheckpointStore(ws) as store:
        c0 = store.snapshot("start")
        (ws / "f.txt").unlink()
        (ws / "same.txt").unlink()
        c1 = store.snapshot("step 1 deleted them")
        (ws / "f.txt").write_text("v2\n")
        (ws / "same.txt").write_text("same\n")
        c2 = store.snapshot("step 2 recreated them")
        assert [(c.path, c.status) for c in store.changes(c0, c1)] == [
            ("f.txt", "deleted"),
            ("same.txt", "deleted"),
        ]
        assert [(c.path, c.status) for c in store.changes(c1, c2)] == [
            ("f.txt", "added"),
            ("same.txt", "added"),
        ]
        # Undoing step 1 now: f.txt exists again with other content → conflict, untouched;
        # same.txt is already back as it was.
        res = store.revert(c0, c1)
        assert [(c.path, c.reason) for c in res.conflicts] == [
            ("f.txt", "created again since the step deleted it")
        ]
        assert res.already_reverted == ["same.txt"]
        assert (ws / "f.txt").read_text() == "v2\n"
        # Undo step 2, then step 1: back to the start.
        assert sorted(store.revert(c1, c2).restored) == ["f.txt", "same.txt"]
        assert sorted(store.revert(c0, c1).restored) == ["f.txt", "same.txt"]
    assert (ws / "f.txt").read_text() == "v1\n"


def test_revert_when_a_directory_replaced_a_file(ws: Path) -> None:
    (ws / "thing").write_text("a file\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "thing").unlink()
        (ws / "thing").mkdir()
        (ws / "thing" / "inner.py").write_text("inner\n")
        c2 = store.snapshot("two")
        res = store.revert(c1, c2)
    assert sorted(res.restored) == ["thing", "thing/inner.py"]
    assert (ws / "thing").read_text() == "a file\n"


# --- bad states of the shadow repository ----------------------------------------------------


def test_stale_index_lock_from_killed_run_is_removed_with_warning(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (ws / "a.txt").write_text("a\n")
    with CheckpointStore(ws) as store:
        store.snapshot("one")
        lock = store.shadow_dir / "index.lock"
        lock.write_bytes(b"half-written index from a killed git add")
        old = time.time() - 3600
        os.utime(lock, (old, old))
        (ws / "a.txt").write_text("b\n")
        with caplog.at_level(logging.WARNING, logger="planloop.checkpoints"):
            c2 = store.snapshot("two")
        assert not lock.exists()
        assert store.file_at(c2, "a.txt") == b"b\n"
    assert any("stale lock" in r.getMessage() for r in caplog.records)


def test_damaged_shadow_index_is_rebuilt_not_fatal(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The shadow's index is only a cache of file stats: garbage there costs one full
    re-hash, not the checkpoints."""
    (ws / "a.txt").write_text("a\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (store.shadow_dir / "index").write_bytes(b"DIRC garbage garbage garbage")
        (ws / "a.txt").write_text("b\n")
        with caplog.at_level(logging.WARNING, logger="planloop.checkpoints"):
            c2 = store.snapshot("two")
        assert [c.path for c in store.changes(c1, c2)] == ["a.txt"]
    assert any("rebuilding" in r.getMessage() for r in caplog.records)


def test_concurrent_snapshots_from_two_stores_and_threads_serialise(ws: Path) -> None:
    import threading

    (ws / "a.txt").write_text("a\n")
    stores = [CheckpointStore(ws), CheckpointStore(ws)]
    stores[0].snapshot("init")
    results: list[str] = []
    errors: list[BaseException] = []

    def work(store: CheckpointStore, n: int) -> None:
        try:
            for i in range(4):
                (ws / f"t{n}.txt").write_text(f"{n} {i}\n")
                results.append(store.snapshot(f"t{n} {i}"))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(stores[i % 2], i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 16
    for s in stores:
        s.close()


def test_shadow_busy_while_another_process_holds_the_lock(tmp_path: Path, ws: Path) -> None:
    """A live holder (another planloop, or a git it started) is waited for, then reported;
    its index.lock is not mistaken for a stale one."""
    (ws / "a.txt").write_text("a\n")
    store = CheckpointStore(ws, lock_timeout_s=0.3)
    store.snapshot("one")
    lock = store.shadow_dir / "index.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(store.shadow_dir / 'planloop.lock')!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            f"open({str(lock)!r}, 'w').close()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(CheckpointError, match="busy"):
            store.snapshot("two")
        assert lock.exists()
    finally:
        holder.kill()
        holder.wait()
    c = store.snapshot("three")  # the holder is gone: its lock is stale now
    assert not lock.exists()
    assert store.file_at(c, "a.txt") == b"a\n"
    store.close()


def test_corrupt_shadow_garbage_head_clear_error_workspace_untouched_and_reset(ws: Path) -> None:
    (ws / "a.txt").write_text("a\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
    (ws / ".planloop" / "shadow.git" / "HEAD").write_bytes(b"\x00garbage\xff\n")
    state = tree_state(ws)
    mtimes = {p: p.stat().st_mtime_ns for p in ws.iterdir() if p.name != ".planloop"}
    store = CheckpointStore(ws)
    with pytest.raises(CheckpointError) as err:
        store.snapshot("two")
    msg = str(err.value)
    assert "shadow.git" in msg and "damaged" in msg
    assert "planloop clean --reset-shadow" in msg and "delete" in msg
    with pytest.raises(CheckpointError, match="damaged"):
        store.diff(c1, c1)
    assert tree_state(ws) == state
    assert {p: p.stat().st_mtime_ns for p in ws.iterdir() if p.name != ".planloop"} == mtimes
    moved = store.reset_shadow()
    assert moved is not None and moved.name.startswith("shadow.git.broken-") and moved.exists()
    c2 = store.snapshot("fresh start")
    assert store.file_at(c2, "a.txt") == b"a\n"
    store.close()


def test_corrupt_shadow_missing_and_garbage_objects_raise_clear_error(ws: Path) -> None:
    (ws / "a.txt").write_text("first version\n")
    (ws / "b.txt").write_text("b first\n")
    with CheckpointStore(ws) as store:
        c1 = store.snapshot("one")
        (ws / "a.txt").write_text("second version\n")
        (ws / "b.txt").write_text("b second\n")
        c2 = store.snapshot("two")
        objects = store.shadow_dir / "objects"
        sha_a = store.diff(c1, c2)[0].patch.split("index ")[1][:7]  # a.txt's old blob
        old_a = [p for p in objects.glob(f"{sha_a[:2]}/{sha_a[2:]}*")]
        assert len(old_a) == 1
        old_a[0].unlink()  # a missing object
    state = tree_state(ws)
    with CheckpointStore(ws) as store:
        with pytest.raises(CheckpointError, match="damaged"):
            store.file_at(c1, "a.txt")
        with pytest.raises(CheckpointError, match="damaged"):
            store.diff(c1, c2)
        with pytest.raises(CheckpointError, match="damaged"):
            store.revert(c1, c2)
        old_b = shadow_git(store, "rev-parse", f"{c1}:b.txt").strip()
        path_b = store.shadow_dir / "objects" / old_b[:2] / old_b[2:]
        path_b.chmod(0o644)
        path_b.write_bytes(b"not a zlib stream at all")  # a garbage object
        with pytest.raises(CheckpointError, match="damaged"):
            store.file_at(c1, "b.txt")
    assert tree_state(ws) == state


def test_checkpoints_module_exports_what_callers_import() -> None:
    """The store is split over several modules; callers still import from one."""
    for name in (
        "CheckpointStore",
        "CheckpointError",
        "FileDiff",
        "RevertResult",
        "Conflict",
        "CheckpointInfo",
    ):
        assert name in planloop.checkpoints.store.__all__ and hasattr(
            planloop.checkpoints.store, name
        )
    assert issubclass(CheckpointError, PlanloopError)
    assert CheckpointError("x").kind == "checkpoint"


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_unknown_checkpoint_bad_path_bad_ref_and_no_shadow(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.txt").write_text("a\n")
    store = CheckpointStore(root)
    with pytest.raises(CheckpointError, match="no checkpoints yet"):
        store.diff("abc", "def")
    assert store.disk_usage() == 0 and store.clean([]) == 0 and store.list_checkpoints() == []
    c = store.snapshot("one")
    for bad in ("", "deadbeef" * 5, "no-such-ref", "--output=/tmp/x"):
        with pytest.raises(CheckpointError, match="no such checkpoint"):
            store.diff(bad, c)
    for bad_path in ("../outside.txt", "/etc/passwd", "a/../../x", ""):
        with pytest.raises(CheckpointError, match=r"outside the workspace|bad path"):
            store.file_at(c, bad_path)
    with pytest.raises(CheckpointError, match="bad checkpoint ref"):
        store.snapshot("x", ref="refs/planloop/a..b")
    with pytest.raises(CheckpointError, match="refs/planloop/"):
        store.snapshot("x", ref="refs/heads/main")
    assert store.resolve(c[:10]) == c
    assert store.file_at(c, "missing.txt") is None
    assert store.file_at(c, str(root / "a.txt")) == b"a\n"
    store.close()
    with pytest.raises(CheckpointError, match="not a directory"):
        CheckpointStore(root / "a.txt")


# --- disk -----------------------------------------------------------------------------------


def test_clean_drops_other_refs_and_frees_bytes(ws: Path) -> None:
    with CheckpointStore(ws) as store:
        for i in range(3):  # a finished plan with sizeable, incompressible content
            (ws / "big.bin").write_bytes(os.urandom(200_000))
            store.snapshot(f"p1 {i}", ref=f"refs/planloop/pln_old/s{i}/after")
        (ws / "big.bin").unlink()
        (ws / "small.txt").write_text("kept\n")
        k1 = store.snapshot("p2 before", ref="refs/planloop/pln_new/s1/before")
        (ws / "small.txt").write_text("kept too\n")
        k2 = store.snapshot("p2 after", ref="refs/planloop/pln_new/s1/after")
        used = store.disk_usage()
        freed = store.clean(["refs/planloop/pln_new/"])
        assert freed > 400_000
        assert store.disk_usage() == used - freed
        assert sorted(store.refs()) == [
            "refs/planloop/pln_new/s1/after",
            "refs/planloop/pln_new/s1/before",
        ]
        assert [c.path for c in store.changes(k1, k2)] == ["small.txt"]
        assert store.file_at(k1, "small.txt") == b"kept\n"
        infos = {i.message for i in store.list_checkpoints("refs/planloop/pln_new/")}
        assert infos == {"p2 before", "p2 after"}


def _content_in_objects_17(n: int) -> list[bytes]:
    """Contents whose blobs land in objects/17/: git gc --auto estimates the loose object
    count from that one directory, so this makes its decision deterministic."""
    found: list[bytes] = []
    i = 0
    while len(found) < n:
        data = b"content %d\n" % i
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().startswith("17"):
            found.append(data)
        i += 1
    return found


def test_gc_auto_policy_runs_every_gc_every_snapshots(ws: Path) -> None:
    blobs = _content_in_objects_17(3)
    with CheckpointStore(ws, gc_every=3, gc_detach=False) as store:
        store.snapshot("first")  # the first snapshot's gc check resets the count
        subprocess.run(
            ["git", "config", "--file", str(store.shadow_dir / "config"), "gc.auto", "1"],
            check=True,
        )
        pack_dir = store.shadow_dir / "objects" / "pack"
        for i, data in enumerate(blobs):
            (ws / f"f{i}.txt").write_bytes(data)
            last = store.snapshot(f"s{i}")
            if i < 2:  # over git's threshold already, but not yet our turn to check
                assert not list(pack_dir.glob("*.pack"))
        assert list(pack_dir.glob("*.pack")), "git gc --auto did not run after 3 snapshots"
        assert not list((store.shadow_dir / "objects" / "17").glob("*"))
        assert store.file_at(last, "f2.txt") == blobs[2]


def test_git_missing_is_one_clear_error(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shadow runs git as a plain process: no git to run is a CheckpointError that
    says so, at the creation of the repository as at any later command."""
    from planloop.checkpoints import shadow_repo

    monkeypatch.setattr(shadow_repo, "GIT", str(ws / "no-such-git"))
    with CheckpointStore(ws) as store, pytest.raises(CheckpointError, match="git was not found"):
        store.snapshot("one")
    monkeypatch.undo()
    with CheckpointStore(ws) as store:
        store.snapshot("one")
    monkeypatch.setattr(shadow_repo, "GIT", str(ws / "no-such-git"))
    with CheckpointStore(ws) as store, pytest.raises(CheckpointError, match="git was not found"):
        store.snapshot("two")


def test_a_missing_shadow_config_is_written_again_not_reported_as_damage(ws: Path) -> None:
    with CheckpointStore(ws) as store:
        first = store.snapshot("one")
        config = store.shadow_dir / "config"
    config.unlink()
    with CheckpointStore(ws) as store:
        (ws / "later.txt").write_text("later\n")
        second = store.snapshot("two")
        assert store.file_at(second, "later.txt") == b"later\n"
        assert store.file_at(first, "later.txt") is None
    assert "configVersion" in config.read_text()

"""The first checkpoint in a git repository borrows what the user's git already has:
its objects (read-only, as an alternate) and a copy of its index (so unchanged files are
not hashed again). These tests hold that path to the same promises as any other: the
user's .git is never written, checkpoints stay readable when the user's objects vanish
(or say exactly what was lost), and odd repositories (shallow, partial, split or locked
index, submodules) work or fall back to hashing the tree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from planloop.checkpoints.store import CheckpointError, CheckpointStore
from test_checkpoints import USER_ENV, git_commands, make_user_repo, ugit, user_repo_fingerprint


def own_objects(store: CheckpointStore, shas: list[str]) -> dict[str, bool]:
    """sha → whether the shadow itself stores it (the user's objects hidden)."""
    r = subprocess.run(
        ["git", f"--git-dir={store.shadow_dir}", "cat-file", "--batch-check"],
        input="\n".join(shas) + "\n",
        env={**USER_ENV, "GIT_ALTERNATE_OBJECT_DIRECTORIES": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return {ln.split()[0]: not ln.endswith("missing") for ln in r.stdout.splitlines()}


def blob(repo: Path, rev_path: str) -> str:
    return ugit(repo, "rev-parse", rev_path).strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    make_user_repo(root, "all", tmp_path / "hook-ran")
    return root


def test_first_checkpoint_borrows_objects_and_index(repo: Path) -> None:
    before = user_repo_fingerprint(repo)
    store = CheckpointStore(repo)
    sha = store.snapshot("first")
    # tracked, unchanged files: read through the user's objects, not stored again
    lib_c = blob(repo, "main:a.py")
    assert (store.shadow_dir / "planloop-borrow").read_text().strip() == str(
        (repo / ".git" / "objects").resolve()
    )
    assert store.file_at(sha, "a.py") == (repo / "a.py").read_bytes()
    assert store.file_at(sha, "new.txt") == b"untracked\n"
    assert store.file_at(sha, "secret.env") is None  # the user's info/exclude still holds
    mine = own_objects(store, [blob(repo, "HEAD:lib/c.py"), lib_c])
    assert not any(mine.values()), "a tracked, unchanged file was stored a second time"
    # every tree is the shadow's own: a pruned user tree cannot make a checkpoint unreadable
    # (copied just after the first checkpoint returns, off its critical path)
    store.wait_for_background()
    trees = subprocess.run(
        [
            "git",
            f"--git-dir={store.shadow_dir}",
            "ls-tree",
            "-r",
            "-d",
            "--format=%(objectname)",
            sha,
        ],
        env=USER_ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    root_tree = subprocess.run(
        ["git", f"--git-dir={store.shadow_dir}", "rev-parse", f"{sha}^{{tree}}"],
        env=USER_ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert all(own_objects(store, [root_tree, *trees]).values())
    store.close()
    assert user_repo_fingerprint(repo) == before


def step(store: CheckpointStore, repo: Path) -> tuple[str, str]:
    """A step that edits a tracked file and adds one; its before/after checkpoints."""
    b = store.snapshot("before", "refs/planloop/p/s/before")
    (repo / "b.py").write_text("B = 'step'\n")
    (repo / "lib" / "d.py").write_text("D = 4\n")
    a = store.snapshot("after", "refs/planloop/p/s/after")
    return b, a


def test_checkpoints_survive_the_users_objects_vanishing(repo: Path, tmp_path: Path) -> None:
    store = CheckpointStore(repo)
    b, a = step(store, repo)
    store.close()
    # the user re-clones: a new, unrelated object store in the same place
    shutil.rmtree(repo / ".git")
    ugit(repo, "init", "-q", "-b", "main")
    store = CheckpointStore(repo)
    diffs = {d.path: d for d in store.diff(b, a)}
    assert set(diffs) == {"b.py", "lib/d.py"}
    assert "+B = 'step'" in diffs["b.py"].patch
    assert store.file_at(b, "b.py") == b"B = 'staged'\n"  # both sides of a change are kept
    # a file no step changed was only ever borrowed: the error says what was lost and why
    with pytest.raises(CheckpointError) as err:
        store.file_at(b, ".gitignore")
    assert err.value.kind == "checkpoint_objects_missing"
    assert "borrowed from your repository's objects" in err.value.message
    assert "git gc" in err.value.message
    # the step can still be undone, byte for byte
    result = store.revert(b, a)
    assert not result.conflicts
    assert (repo / "b.py").read_text() == "B = 'staged'\n"
    assert not (repo / "lib" / "d.py").exists()
    # and new checkpoints work (the tree is hashed again)
    c = store.snapshot("later")
    assert store.file_at(c, ".gitignore") == b"*.log\n"
    store.close()


def test_users_git_deleted_entirely(repo: Path) -> None:
    store = CheckpointStore(repo)
    b, a = step(store, repo)
    shutil.rmtree(repo / ".git")
    assert [d.path for d in store.diff(b, a)] == ["b.py", "lib/d.py"]
    c = store.snapshot("no git any more")
    assert store.file_at(c, "a.py") == (repo / "a.py").read_bytes()
    store.close()


def test_shallow_clone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_user_repo(src, "staged", tmp_path / "hook-ran")
    ugit(src, "commit", "-qm", "staged")
    dest = tmp_path / "shallow"
    ugit(tmp_path, "clone", "-q", "--depth", "1", f"file://{src}", str(dest))
    assert (dest / ".git" / "shallow").exists()
    before = user_repo_fingerprint(dest)
    store = CheckpointStore(dest)
    b, a = step(store, dest)
    assert [d.path for d in store.diff(b, a)] == ["b.py", "lib/d.py"]
    assert store.file_at(b, "a.py") == (dest / "a.py").read_bytes()
    store.close()
    (dest / "b.py").write_text("B = 'staged'\n")
    (dest / "lib" / "d.py").unlink()
    assert user_repo_fingerprint(dest) == before


def test_partial_clone_hashes_the_tree_and_never_fetches(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_user_repo(src, "staged", tmp_path / "hook-ran")
    ugit(src, "commit", "-qm", "staged")
    ugit(src, "config", "uploadpack.allowFilter", "true")
    dest = tmp_path / "partial"
    ugit(tmp_path, "clone", "-q", "--filter=blob:none", f"file://{src}", str(dest))
    assert list((dest / ".git" / "objects" / "pack").glob("*.promisor"))
    before = user_repo_fingerprint(dest)
    store = CheckpointStore(dest)
    sha = store.snapshot("first")
    assert store.file_at(sha, "b.py") == b"B = 'staged'\n"
    assert store._shadow.read_state().get("seeded_index") is None  # no index copy
    store.close()
    assert user_repo_fingerprint(dest) == before


def test_locked_index_is_read_not_waited_for(repo: Path) -> None:
    lock = repo / ".git" / "index.lock"
    lock.write_bytes(b"another git is writing")
    before = user_repo_fingerprint(repo)
    store = CheckpointStore(repo)
    sha = store.snapshot("first")
    assert store.file_at(sha, "lib/c.py") == b"C = 'unstaged'\n"
    store.close()
    assert lock.read_bytes() == b"another git is writing"
    assert user_repo_fingerprint(repo) == before


def test_split_index_falls_back_to_hashing(repo: Path) -> None:
    ugit(repo, "update-index", "--split-index")
    assert list((repo / ".git").glob("sharedindex.*"))
    before = user_repo_fingerprint(repo)
    store = CheckpointStore(repo)
    sha = store.snapshot("first")
    assert store.file_at(sha, "a.py") == (repo / "a.py").read_bytes()
    assert store._shadow.read_state().get("seeded_index") is None
    store.close()
    assert user_repo_fingerprint(repo) == before


def test_submodule_in_the_users_index_is_left_out(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    make_user_repo(sub, "staged", tmp_path / "hook-ran")
    ugit(sub, "commit", "-qm", "s")
    root = tmp_path / "ws"
    make_user_repo(root, "staged", tmp_path / "hook-ran")
    ugit(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor/sub")
    ugit(root, "commit", "-qm", "add submodule")
    store = CheckpointStore(root)
    sha = store.snapshot("first")
    assert store.file_at(sha, "vendor/sub") is None
    assert store.file_at(sha, "vendor/sub/a.py") is None
    assert "vendor/sub" in store.nested_repos
    store.close()


def test_a_subdirectory_of_a_repository_is_not_seeded(repo: Path) -> None:
    store = CheckpointStore(repo / "lib")
    sha = store.snapshot("first")
    assert not (store.shadow_dir / "planloop-borrow").exists()
    assert store.file_at(sha, "c.py") == b"C = 'unstaged'\n"
    store.close()


def test_first_checkpoint_reports_progress(repo: Path) -> None:
    store = CheckpointStore(repo)
    seen: list[tuple[str, bool]] = []
    store.on_progress = lambda message, finished: seen.append((message, finished))
    store.snapshot("first")
    assert seen[0] == ("first checkpoint: recording the workspace…", False)
    assert seen[1][1] and seen[1][0].startswith("first checkpoint in ")
    assert "borrowing your git's objects and index" in seen[1][0]
    store.snapshot("second")
    assert len(seen) == 2  # later snapshots are incremental: no progress to report
    store.close()


def committed_tree(repo: Path) -> Path:
    """A user repository whose one commit holds a folder: its trees are the user's."""
    (repo / "keep").mkdir(parents=True)
    (repo / "keep" / "k.py").write_text("K = 1\n")
    (repo / "b.py").write_text("B = 1\n")
    ugit(repo, "init", "-q", "-b", "main")
    ugit(repo, "add", "-A")
    ugit(repo, "commit", "-qm", "one")
    return repo


def test_first_checkpoints_trees_copied_inline_when_the_background_never_ran(
    tmp_path: Path,
) -> None:
    """A process killed before the background copy ends: the next snapshot copies the
    first checkpoint's trees itself, so they never stay borrowed."""
    repo = committed_tree(tmp_path / "ws")
    store = CheckpointStore(repo)
    store._start_background = lambda: None  # type: ignore[method-assign]  # "killed"
    first = store.snapshot("first")
    listing = store._shadow.out(["ls-tree", "-r", "-d", "--format=%(objectname)", first])
    trees = listing.decode().split()  # read through the borrowed objects
    assert trees and not all(own_objects(store, trees).values())  # some still only the user's
    store.close()
    again = CheckpointStore(repo)
    (repo / "b.py").write_text("B = 'later'\n")
    again.snapshot("second")
    assert all(own_objects(again, trees).values())
    assert not again._shadow.trees_due
    again.close()


def test_the_plans_staging_copies_the_first_checkpoints_trees_the_runs_leaves_them(
    tmp_path: Path,
) -> None:
    """``plan`` stages in a child while the planner works, and there nobody waits: it also
    copies the first checkpoint's trees out of the user's store and takes git's first gc
    look, so the first run does neither. A run's staging, which the run may wait for,
    leaves the trees to the background copy after the first snapshot."""
    from planloop.checkpoints import ahead

    for copy_trees in (True, False):
        repo = committed_tree(tmp_path / f"ws-{copy_trees}")
        got = ahead._stage(repo.resolve(), copy_trees)
        assert got["ok"] and isinstance(got["tree"], str)
        store = CheckpointStore(repo)
        listing = store._shadow.out(["ls-tree", "-r", "-d", "--format=%(objectname)", got["tree"]])
        trees = [got["tree"], *listing.decode().split()]
        state = store._shadow.read_state()
        if copy_trees:
            assert all(own_objects(store, trees).values())
            assert not state.get("trees_due") and state.get("gc_checked")
        else:
            assert not all(own_objects(store, trees).values())
            assert state.get("trees_due") == got["tree"] and not state.get("gc_checked")
        store.close()


def test_a_steps_change_list_is_the_one_read_while_its_objects_were_stored(repo: Path) -> None:
    """Storing both sides of an edit-only step's change reads the change as its change
    list does (``diff-tree -M --numstat``); the change list right after is those rows,
    not a second git process, and exactly what a store that never saw the snapshot
    reads from git. A whole scan reads only the plain listing (no contents)."""
    store = CheckpointStore(repo)
    b = store.snapshot("before", "refs/planloop/p/s/before")
    (repo / "b.py").write_text("B = 'step'\nmore\n")
    (repo / "lib" / "c.py").rename(repo / "lib" / "moved.py")  # a rename, found by -M
    (repo / "lib" / "d.py").write_text("D = 4\n")
    wrote = ["b.py", "lib/c.py", "lib/moved.py", "lib/d.py"]  # an edit-only step's paths
    a = store.snapshot("after", "refs/planloop/p/s/after", paths=wrote)
    with git_commands(store) as ran:
        mine = store.changes(b, a)
    assert "diff-tree" not in ran
    fresh = CheckpointStore(repo)
    assert mine == fresh.changes(b, a)
    assert {(c.path, c.status) for c in mine} == {
        ("b.py", "modified"),
        ("lib/moved.py", "renamed"),
        ("lib/d.py", "added"),
    }
    with git_commands(store) as ran:
        assert store.changes(a, b) == fresh.changes(a, b)  # the other way round: from git
    assert "diff-tree" in ran
    (repo / "b.py").write_text("B = 'scanned'\n")
    c = store.snapshot("scan")  # a whole scan: its change list is asked of git
    with git_commands(store) as ran:
        assert [x.path for x in store.changes(a, c)] == ["b.py"]
    assert "diff-tree" in ran
    fresh.close()
    store.close()


def test_an_edit_only_snapshot_after_the_users_objects_vanish_still_keeps_its_change(
    repo: Path,
) -> None:
    """The change list's rows read both sides' contents; when the old side is gone with
    the user's objects they cannot be read, and the plain listing still says what to
    keep: the snapshot succeeds and the step's new contents are the shadow's own."""
    store = CheckpointStore(repo)
    b = store.snapshot("before", "refs/planloop/p/s/before")
    shutil.rmtree(repo / ".git" / "objects")  # b.py's old contents were only borrowed
    (repo / "b.py").write_text("B = 'after the loss'\n")
    a = store.snapshot("after", "refs/planloop/p/s/after", paths=["b.py"])
    assert store.file_at(a, "b.py") == b"B = 'after the loss'\n"
    new = blob_in_shadow(store, a, "b.py")
    assert own_objects(store, [new]) == {new: True}
    assert store._shadow.last_diff is None or store._shadow.last_diff[:2] != (b, a)
    store.close()


def blob_in_shadow(store: CheckpointStore, commit: str, path: str) -> str:
    return store._shadow.out(["rev-parse", f"{commit}:{path}"]).decode().strip()

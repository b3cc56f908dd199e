"""Undoing one step: put the files that changed between two checkpoints back as they were.

Revert restores exactly the files that changed between two checkpoints, writing blobs
itself (no ``git checkout``/``reset``/``clean``, which would touch more than the step's
files): files the step added are deleted, deleted files are recreated, renames are undone.
A file whose current state differs from the after-checkpoint is a conflict, reported and
left alone: the user (or a later step) changed it, and their change wins. Nothing is
written through a symlinked directory, into ``.git`` or ``.planloop``, or outside the root.
Symlinks are restored as links, never followed; every write goes to a temporary name
beside the target and is renamed over it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from planloop.checkpoints.diff import Entry, State

if TYPE_CHECKING:  # the caller hands a repository in; loading gitpython is its business
    import git


@dataclass
class Conflict:
    path: str
    reason: str


@dataclass
class RevertResult:
    """``restored``: files written back or deleted. ``already_reverted``: files that were
    already in their before-state. ``not_in_step``: requested paths the step did not change."""

    restored: list[str]
    conflicts: list[Conflict]
    already_reverted: list[str] = field(default_factory=list)
    not_in_step: list[str] = field(default_factory=list)


def revert_entries(
    root: Path, entries: list[Entry], before_commit: str, repo: Callable[[], git.Repo]
) -> RevertResult:
    """Revert the changes ``entries`` (before → after) in the work tree at ``root``.
    ``repo`` opens the shadow for reading blobs, only once something is written."""
    ops: dict[str, tuple[State, State]] = {}  # path -> (before-state, after-state)
    for e in entries:
        if e.status == "R":
            ops[e.old_path] = (e.before, None)
            ops[e.path] = (None, e.after)
        else:
            ops[e.path] = (e.before, e.after)
    # Deletions first, deepest first, so a directory the step created can go before a file
    # the step removed is written back at the same path.
    dels = sorted((p for p, (bs, _) in ops.items() if bs is None), key=_depth, reverse=True)
    puts = sorted((p for p, (bs, _) in ops.items() if bs is not None), key=_depth)
    undo = _Undo(str(root), before_commit, repo)
    for p in dels + puts:
        undo.one(p, *ops[p])
    return undo.result


class _Undo:
    def __init__(self, root: str, before_commit: str, repo: Callable[[], git.Repo]) -> None:
        self.root = root
        self.before_commit = before_commit
        self.repo = repo
        self.result = RevertResult(restored=[], conflicts=[])

    def one(self, rel: str, before: State, after: State) -> None:
        result = self.result
        parts = rel.split("/")
        if ".git" in parts or parts[0] == ".planloop" or ".." in parts:
            result.conflicts.append(Conflict(rel, "planloop never writes inside .git or .planloop"))
            return
        problem = self._parent_problem(rel, create=False)
        if problem:
            result.conflicts.append(Conflict(rel, problem))
            return
        cur = self._current(rel)
        if cur == before:
            result.already_reverted.append(rel)
            return
        if cur != after:
            result.conflicts.append(Conflict(rel, _conflict_reason(cur, after)))
            return
        path = os.path.join(self.root, rel)
        if before is None:
            os.unlink(path)
            self._prune_dirs(rel)
        else:
            problem = self._parent_problem(rel, create=True)
            if problem:
                result.conflicts.append(Conflict(rel, problem))
                return
            self._write_blob(path, *before)
        result.restored.append(rel)

    def _current(self, rel: str) -> State | str:
        """A path's state on disk: (mode, sha), None when absent, or 'dir'/'other'."""
        p = os.path.join(self.root, rel)
        try:
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(st.st_mode):
            return ("120000", _blob_sha(os.fsencode(os.readlink(p))))
        if stat.S_ISREG(st.st_mode):
            mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
            return (mode, _file_sha(p, st.st_size))
        return "dir" if stat.S_ISDIR(st.st_mode) else "other"

    def _parent_problem(self, rel: str, *, create: bool) -> str | None:
        """Why the directories leading to ``rel`` cannot be used safely, or None. Never lets
        a write go through a symlinked directory (inside or outside the workspace)."""
        parts = rel.split("/")
        cur = self.root
        for i, part in enumerate(parts[:-1]):
            cur = os.path.join(cur, part)
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                if not create:
                    return None
                os.mkdir(cur)
                continue
            if stat.S_ISLNK(st.st_mode):
                return f"{'/'.join(parts[: i + 1])} is a symlink now; refusing to write through it"
            if not stat.S_ISDIR(st.st_mode):
                return f"{'/'.join(parts[: i + 1])} is a file now, where a directory was"
        return None

    def _write_blob(self, path: str, mode: str, sha: str) -> None:
        """Write beside the target and rename over it: atomic, and a symlink at the target
        is replaced, never followed."""
        data = self.repo().odb.stream(bytes.fromhex(sha)).read()
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f".{name}.planloop-{os.getpid()}-{threading.get_ident()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        try:
            if mode == "120000":
                os.symlink(os.fsdecode(data), tmp)
            else:
                perm = 0o777 if mode == "100755" else 0o666
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                fd = os.open(tmp, flags, perm)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _prune_dirs(self, rel: str) -> None:
        """Remove directories emptied by deleting a file the step added, unless the
        before-checkpoint has them (then they stay, even if empty)."""
        tree = self.repo().commit(self.before_commit).tree
        parts = rel.split("/")[:-1]
        while parts:
            d = "/".join(parts)
            try:
                if (tree / d).type == "tree":
                    return
            except KeyError:
                pass
            try:
                os.rmdir(os.path.join(self.root, d))
            except OSError:
                return
            parts.pop()


def _depth(path: str) -> int:
    return path.count("/")


def _blob_sha(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def _file_sha(path: str, size: int) -> str:
    h = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _conflict_reason(cur: State | str, after: State) -> str:
    if cur is None:
        return "deleted since the step's after-checkpoint"
    if after is None:
        return "created again since the step deleted it"
    if cur == "dir":
        return "a directory is there now"
    if cur == "other":
        return "not a regular file or symlink now"
    assert isinstance(cur, tuple)
    if cur[1] == after[1]:
        return "its mode changed since the step's after-checkpoint"
    return "changed since the step's after-checkpoint"

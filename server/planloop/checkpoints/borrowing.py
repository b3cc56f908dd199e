"""Starting the shadow from what the user's repository already knows, and not depending on it.

Why a module of its own: a first checkpoint of a 100,000-file repository should cost about a
``git status``, not a hash of every file; so a new shadow borrows, reading only, from the
user's git (:func:`seed`): its object directory becomes the shadow's read-only alternate
(unchanged files are not stored a second time) and a copy of its index the shadow's first
index (its stat data lets the first ``git add`` skip hashing unchanged files). What is
borrowed must never become what a checkpoint depends on: :class:`BorrowedObjects` copies
into the shadow's own store every tree of the first checkpoint (in the background, off the
critical path) and both sides of every changed file, so a pruned or re-cloned user
repository cannot make a step's diff or revert unreadable. The user's ``.git`` is read,
never written; the only other thing read from it is ``info/exclude`` (:func:`user_exclude`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, NoReturn, Protocol

from planloop.checkpoints.diff import Entry, parse_entries
from planloop.fsutil import atomic_write

log = logging.getLogger("planloop.checkpoints")

#: the file in the shadow naming the user's object directory it borrows from
BORROW_FILE = "planloop-borrow"
_GITLINK_RE = re.compile(rb"(?:^|\0)160000 [0-9a-f]+ \d\t([^\0]+)")
_OWN_ENTRY_RE = re.compile(
    rb"(?:^|\0)\d{6} [0-9a-f]+ \d\t(\.[Pp][Ll][Aa][Nn][Ll][Oo][Oo][Pp]/[^\0]*)"
)


class ShadowGit(Protocol):
    """What borrowing needs of the shadow repository (``ShadowRepo`` provides it)."""

    shadow_dir: Path

    def run(
        self,
        args: list[str],
        *,
        input: bytes | None = None,
        hold_lock: bool = True,
        literal: bool = True,
        borrowed: bool = True,
        index: bool = True,
    ) -> tuple[int, bytes, str]: ...
    def out(self, args: list[str], what: str | None = None, *, index: bool = True) -> bytes: ...
    def stdin(self, args: list[str], text: str) -> bytes: ...
    def fail(self, what: str, detail: str) -> NoReturn: ...
    def read_state(self) -> dict[str, Any]: ...
    def write_state(self, **changes: Any) -> None: ...
    def write_excludes(self, nested: list[str]) -> None: ...
    def exclusive(self, *, create: bool = False) -> contextlib.AbstractContextManager[None]: ...


class BorrowedObjects:
    """Keeps a seeded shadow's checkpoints readable whatever happens to the user's objects."""

    def __init__(self, shadow: ShadowGit) -> None:
        self._shadow = shadow
        #: the due tree this process's background copy is storing (None: no copy running)
        self.copying: str | None = None
        #: the last snapshot's change as read here: (tree before, tree after, its rows),
        #: the same rows ``CheckpointStore.changes`` asks git for right after a step
        self.last_diff: tuple[str, str, list[Entry]] | None = None

    def prepare_seeded_index(self) -> None:
        """A copy of the user's index may hold what the shadow never captures: submodules
        (gitlinks) and anything under ``.planloop/``. Drop them from the copy, index only."""
        out = self._shadow.out(["ls-files", "-s", "-z"])
        # substring tests first (memchr speed), the regexes only when one may match: a
        # pattern starting with an alternation is tried at every byte of 100k entries
        gitlinks = (
            [os.fsdecode(n) for n in _GITLINK_RE.findall(out)]
            if out.startswith(b"160000 ") or b"\x00160000 " in out
            else []
        )
        own = (
            [os.fsdecode(n) for n in _OWN_ENTRY_RE.findall(out)]
            if b"\t.planloop/" in out.lower()
            else []
        )
        # index format 4 (prefix-compressed paths) takes about half the user's v2 on disk
        self._shadow.out(["update-index", "--index-version", "4"])
        if gitlinks or own:
            self._shadow.stdin(
                ["update-index", "--force-remove", "-z", "--stdin"],
                "\0".join(gitlinks + own) + "\0",
            )
        if gitlinks:
            nested = sorted(set(self._shadow.read_state().get("nested", [])) | set(gitlinks))
            self._shadow.write_state(nested=nested)
            self._shadow.write_excludes(nested)
        self._shadow.write_state(seeded_index="used", localize_trees=True)

    def localize_changes(self, tree: str, state: dict[str, Any], *, rows: bool = False) -> None:
        """Copy into the shadow what it must never lose with the user's objects: after the
        first snapshot every tree object (a tree the user's gc may prune would make a whole
        checkpoint unreadable), and on every snapshot both sides of each changed file, so a
        step's diff and its revert stay readable whatever happens to the user's
        repository. Only file contents unchanged since the first checkpoint stay borrowed.

        ``rows``: read the change as ``CheckpointStore.changes`` does (renames, line counts)
        and keep it (:attr:`last_diff`), for a step's after-checkpoint whose change list
        is asked for next. Only there: those rows read every changed file's contents,
        which a snapshot after a pull of thousands of files should not pay, and which
        fail when a file's old contents are gone from the user's store (the plain
        listing then still says what to copy)."""
        wanted: list[str] = []
        due = self._shadow.read_state().get("trees_due")
        if not isinstance(due, str) or not due or due == self.copying:
            due = None  # none due, or this process's background copy is on it
        if due:
            wanted = self._trees_of(due)  # the background copy never finished: now, inline
        if state.get("localize_trees") or self._shadow.read_state().get("localize_trees"):
            # the first checkpoint's trees are copied after it returns (see
            # localize_due_trees), so a first checkpoint costs about a git status
            self._shadow.write_state(trees_due=tree)
        last = state.get("last_tree")
        if isinstance(last, str) and last and last != tree:
            entries = self._rows(last, tree) if rows else None
            if entries is None:
                entries = self._listing(last, tree)
            for e in entries:
                for mode, sha in ((e.old_mode, e.old_sha), (e.new_mode, e.new_sha)):
                    if mode not in ("000000", "160000") and sha.strip("0"):
                        wanted.append(sha)
        copied = self._copy_local(wanted)
        if copied:
            log.info("stored %d borrowed objects in the checkpoint repository", copied)
        changes: dict[str, Any] = {"last_tree": tree, "localize_trees": False}
        if due:
            changes["trees_due"] = None
        self._shadow.write_state(**changes)

    def _rows(self, last: str, tree: str) -> list[Entry] | None:
        """The change as the step's change list reads it, kept in :attr:`last_diff`;
        None when git cannot read a side (gone from the user's store)."""
        rc, out, _ = self._shadow.run(
            ["diff-tree", "-r", "-M", "-z", "--raw", "--numstat", "--no-ext-diff", last, tree],
            index=False,
        )
        if rc != 0:
            return None
        entries = parse_entries(out)
        self.last_diff = (last, tree, entries)
        return entries

    def _listing(self, last: str, tree: str) -> list[Entry]:
        """Which files changed, both sides' blobs: trees only, no contents read."""
        rc, out, _ = self._shadow.run(
            ["diff-tree", "-r", "-z", "--no-renames", "--raw", last, tree], index=False
        )
        return parse_entries(out) if rc == 0 else []

    @property
    def trees_due(self) -> bool:
        """The first checkpoint's trees still wait to be copied (see :meth:`localize_due_trees`)."""
        return bool(self._shadow.read_state().get("trees_due"))

    def localize_due_trees(self) -> None:
        """Copy the first checkpoint's tree objects into the shadow's own store (a tree the
        user's gc prunes would make that whole checkpoint unreadable). Called off the
        critical path; a crash before it ends leaves ``trees_due`` set and the next
        snapshot does it inline.

        The lock is held only to read and clear ``trees_due``: copying objects (a new pack
        beside the others) cannot disturb a snapshot, and a quick step's after-checkpoint
        would otherwise wait for the whole copy. That snapshot leaves the due trees to
        this copy (:attr:`copying`) instead of copying them again inline."""
        with self._shadow.exclusive():
            due = self._shadow.read_state().get("trees_due")
            if not isinstance(due, str) or not due:
                return
            self.copying = due
        try:
            copied = self._copy_local(self._trees_of(due))
            if copied:
                log.info("stored %d borrowed tree objects in the checkpoint repository", copied)
            with self._shadow.exclusive():
                if self._shadow.read_state().get("trees_due") == due:
                    self._shadow.write_state(trees_due=None)
        finally:
            self.copying = None

    def _trees_of(self, tree: str) -> list[str]:
        rc, out, _ = self._shadow.run(["ls-tree", "-r", "-d", "-z", tree])
        if rc != 0:  # that tree is gone already: nothing left to save
            return []
        return [tree] + [
            e.split(b" ", 3)[2].split(b"\t", 1)[0].decode() for e in out.split(b"\0") if e
        ]

    def _absent(self, shas: list[str], *, borrowed: bool) -> list[str]:
        rc, out, err = self._shadow.run(
            ["cat-file", "--batch-check"], input=_lines(shas), borrowed=borrowed
        )
        if rc != 0:
            self._shadow.fail("git cat-file", err)
        return [ln.split(b" ")[0].decode() for ln in out.splitlines() if ln.endswith(b" missing")]

    def _copy_local(self, shas: list[str]) -> int:
        """Copy the objects among ``shas`` that only the user's store has into the shadow's
        own (``git hash-object -w`` would find them in the user's store and write nothing
        here)."""
        shas = list(dict.fromkeys(shas))
        if not shas:
            return 0
        missing = self._absent(shas, borrowed=False)  # not in the shadow's own store
        if not missing:
            return 0
        rc, err = self._pack(missing)
        if rc != 0:
            # some are in neither store any more (the user's gc came first): pack the rest
            gone = set(self._absent(missing, borrowed=True))
            missing = [m for m in missing if m not in gone]
            if not missing:
                return 0
            rc, err = self._pack(missing)
        if rc != 0:
            self._shadow.fail("git pack-objects", err)
        return len(missing)

    def _pack(self, shas: list[str]) -> tuple[int, str]:
        """One pack of ``shas`` in the shadow's own store: pack-objects reads them through
        the alternate (it packs borrowed objects unless told --local) and writes only here;
        git's exit code and complaint (an object it cannot find fails it whole)."""
        pack = str(self._shadow.shadow_dir / "objects" / "pack" / "pack")
        rc, _, err = self._shadow.run(
            ["pack-objects", "-q", "--window=10", pack], input=_lines(shas)
        )
        return rc, err


def _lines(shas: list[str]) -> bytes:
    return ("\n".join(shas) + "\n").encode()


def user_git_dirs(root: Path) -> tuple[Path, Path] | None:
    """(git dir, common dir) of the repository whose work tree is exactly ``root``, read
    only; None when ``root`` is not the top of a git work tree."""
    dotgit = root / ".git"
    try:
        if dotgit.is_dir():
            return dotgit, dotgit
        if dotgit.is_file():
            line = dotgit.read_text(errors="replace").strip()
            if not line.startswith("gitdir:"):
                return None
            gd = Path(line[len("gitdir:") :].strip())
            gd = gd if gd.is_absolute() else (root / gd)
            common = gd
            if (gd / "commondir").is_file():
                c = Path((gd / "commondir").read_text().strip())
                common = c if c.is_absolute() else gd / c
            return gd, common.resolve()
    except OSError:
        return None
    return None


def seed(gitdir: Path, root: Path) -> None:
    """Start a new shadow from what the user's git already knows, reading it only: its
    object directory becomes our read-only alternate (unchanged files are not stored a
    second time) and a copy of its index our first index (its stat data lets the first
    ``git add`` skip hashing every unchanged file). A case where the copy cannot be used
    as is (split or sparse index, partial clone) still borrows objects and hashes the
    tree once; a damaged user repository makes a plain shadow, never an error."""
    found = user_git_dirs(root)
    if found is None:
        return
    gd, common = found
    objects = common / "objects"
    if not (objects / "pack").is_dir() and not objects.is_dir():
        return
    import git  # the user's config, includes and all; only when a shadow is made

    try:
        cfg = git.GitConfigParser(str(common / "config"), read_only=True)
        fmt = str(cfg.get_value("extensions", "objectformat", default="sha1")).lower()
        partial = (
            bool(cfg.get_value("extensions", "partialclone", default=""))
            or any(objects.joinpath("pack").glob("*.promisor"))
            or any(
                str(cfg.get_value(sec, "promisor", default="false")).lower() == "true"
                for sec in cfg.sections()
                if sec.startswith("remote ")
            )
        )
        sparse = str(cfg.get_value("core", "sparsecheckout", default="false")).lower() == "true"
    except Exception as e:  # an unreadable config: the shadow simply stores everything
        log.info("not borrowing from %s: cannot read its config (%s)", common, e)
        return
    if fmt != "sha1":
        log.info("not borrowing from %s: object format %s", common, fmt)
        return
    atomic_write(gitdir / BORROW_FILE, str(objects.resolve()) + "\n")
    why = None
    if not (gd / "index").is_file():
        why = "it has no index"
    elif any(gd.glob("sharedindex.*")):
        why = "its index is split"
    elif sparse:
        why = "it is a sparse checkout"
    elif partial:
        why = "it is a partial clone (the index names contents that are not on disk)"
    if why is not None:
        log.info("the first checkpoint hashes the whole workspace: %s", why)
        return
    if (gd / "index.lock").exists():
        log.info("another git process holds %s; reading the last complete index", gd / "index.lock")
    try:
        shutil.copyfile(gd / "index", gitdir / "index")
    except OSError as e:
        log.info("the first checkpoint hashes the whole workspace: cannot copy the index (%s)", e)
        return
    state = {"seeded_index": "fresh"}
    atomic_write(gitdir / "planloop-state.json", json.dumps(state))


def user_exclude(root: Path) -> str:
    """The user's ``.git/info/exclude``, read only (a worktree's lives in the common dir)."""
    dirs = user_git_dirs(root)
    if dirs is None:
        return ""
    try:
        return (dirs[1] / "info" / "exclude").read_text(errors="surrogateescape")
    except OSError:
        return ""

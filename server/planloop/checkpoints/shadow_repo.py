"""The shadow repository: a git dir of planloop's own whose work tree is the workspace.

Why a shadow repository: git already is a fast, content-addressed, deduplicating store with
a stat cache, rename detection and a diff engine. Peers that checkpoint *through the user's
own repository* (stash, reset, renaming ``.git``) have destroyed work; so the shadow is a
separate git dir, ``<root>/.planloop/shadow.git``, with its own index, whose work tree is
the workspace. Every git process planloop starts gets ``--git-dir``/``--work-tree`` and a
full environment (GIT_DIR, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, ... all pointing into the
shadow, system and global config switched off), so repository discovery never happens and
the user's ``.git`` is never opened for writing. The only thing read from it is
``.git/info/exclude`` (copied into the shadow's own ``info/exclude``).

What :meth:`ShadowRepo.write_tree` captures (the whole tree, untracked files included):

- ``.gitignore`` files are honoured, nested ones too, and the user's ``.git/info/exclude``.
  Ignore rules from directories *above* the workspace root are not seen.
- ``.git/`` (git never adds it) and ``/.planloop/`` are excluded, the latter by an exclude
  pathspec that outranks every ignore file (a whitelisting ``.gitignore`` cannot undo it).
- **Nested repositories** (any directory with its own ``.git`` directory or file: embedded
  clones, submodules, worktrees) are *excluded entirely*: their files are neither captured
  nor reverted, and planloop never reads or writes inside them. Why: git can only record
  them as gitlinks (a commit id, not files), which cannot be diffed or restored, and
  descending into them is how peers ended up renaming or corrupting nested ``.git`` dirs.
  They are found by ``git add`` itself (no extra tree walk), dropped from the shadow index,
  listed in the shadow's ``info/exclude`` and reported by :attr:`ShadowRepo.nested_repos`
  and a log warning. When a nested ``.git`` disappears, the directory is captured again.
- Content is stored byte for byte: the shadow's ``info/attributes`` switches off text/eol
  conversion, filters (LFS, ...) and ident, so a revert can write back exactly what was
  there. Symlinks are stored as links (their target text), never followed.

Split by job: the shadow's config and every git child's environment are
``shadow_config.py``'s (needs git ≥ 2.32); the writer lock, stale locks, and what is said
when the shadow is damaged (a :class:`CheckpointError` naming the way to start fresh,
:meth:`ShadowRepo.move_aside`) are ``integrity.py``'s; starting from the user's
repository and keeping borrowed contents readable are ``borrowing.py``'s. This module runs
git on the shadow, captures the work tree, and keeps gc and planloop's state beside git's.

Disk: git shares objects across checkpoints; a first snapshot writes loose objects, and
``git gc --auto`` (detached, git's own policy) packs them; it runs after the first snapshot
and then every ``gc_every`` snapshots (:meth:`ShadowRepo.note_snapshot`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from planloop.checkpoints.borrowing import BORROW_FILE, BorrowedObjects, seed, user_exclude
from planloop.checkpoints.diff import Entry
from planloop.checkpoints.integrity import (
    MISSING_RE,
    CheckpointError,
    WriterLock,
    move_aside,
    raise_damaged,
)
from planloop.checkpoints.shadow_config import CONFIG_VERSION, configure, git_env
from planloop.fsutil import atomic_write, atomic_write_bytes

if TYPE_CHECKING:
    import git

# One logger for the whole checkpoint subsystem, whichever module does the work.
log = logging.getLogger("planloop.checkpoints")

#: the git every process on the shadow runs: the one gitpython's readers use too
GIT = os.environ.get("GIT_PYTHON_GIT_EXECUTABLE") or "git"

_EMBEDDED_RE = re.compile(r"^warning: adding embedded git repository: (.+)$", re.M)
_UNBORN_RE = re.compile(r"^error: '(.+)/' does not have a commit checked out$", re.M)
_INDEX_BROKEN = (
    "index file corrupt",
    "bad signature",
    "index file smaller",
    "bad index",
    "index file open failed",  # a split index whose shared part is gone
)


class ShadowRepo:
    """Runs git on the shadow repository of one workspace, creating it when first needed.

    Callers hold :attr:`mutex` around anything that spans several git calls; writers also
    hold :meth:`exclusive`, which takes the mutex itself.
    """

    def __init__(
        self,
        root: Path,
        shadow_dir: Path,
        *,
        gc_every: int = 25,
        gc_detach: bool = True,
        lock_timeout_s: float = 30.0,
        stale_lock_s: float = 60.0,
    ) -> None:
        self.root = root
        self.shadow_dir = shadow_dir
        self.gc_every = gc_every
        self.gc_detach = gc_detach
        self.mutex = threading.RLock()
        self._lock = WriterLock(shadow_dir, timeout_s=lock_timeout_s, stale_s=stale_lock_s)
        self._repo: git.Repo | None = None
        self._ready = False
        self._borrowed: str | None = None
        self._borrow = BorrowedObjects(self)

    @property
    def exists(self) -> bool:
        return (self.shadow_dir / "HEAD").exists()

    @property
    def borrowed(self) -> str | None:
        """The user's object directory this shadow reads unchanged files' contents from
        (never writes), or None when it stores everything itself."""
        if self._borrowed is None:
            try:
                self._borrowed = (self.shadow_dir / BORROW_FILE).read_text().strip()
            except OSError:
                self._borrowed = ""
        return self._borrowed or None

    def close(self) -> None:
        """Stop gitpython's long-lived ``cat-file`` helper; it restarts when next needed."""
        with self.mutex:
            if self._repo is not None:
                self._repo.close()
                self._repo = None

    # --- running git ------------------------------------------------------------------------

    def run(
        self,
        args: list[str],
        *,
        input: bytes | None = None,
        hold_lock: bool = True,
        literal: bool = True,
        borrowed: bool = True,
        index: bool = True,
    ) -> tuple[int, bytes, str]:
        """Run git on the shadow; (exit code, stdout bytes, stderr text). ``hold_lock=False``
        for a git that may outlive the lock (a detached gc) and must not keep it held;
        ``borrowed=False`` hides the user's objects (to see what the shadow holds itself);
        ``input``: git's stdin; ``index=False`` for a git that compares trees: the shadow
        is bare, so git would load the whole index (100k entries: 15 ms of a 19 ms
        ``diff-tree``) only to look for ``.gitattributes`` files, which it reads from the
        work tree anyway.

        A plain subprocess, not gitpython's: the early staging's child process runs only
        this, and importing gitpython (and its ``git version`` probe) was most of its
        start-up."""
        cmd = [
            GIT,
            f"--git-dir={self.shadow_dir}",
            f"--work-tree={self.root}",
            *args,
        ]
        fd = self._lock.fd
        pass_fds = (fd,) if hold_lock and fd is not None else ()
        env = {
            **os.environ,
            "LANGUAGE": "C",  # git's messages are matched in English
            "LC_ALL": "C",
            **git_env(self.shadow_dir, self.root, self.borrowed if borrowed else None),
        }
        if not index:  # a file that never exists: an empty index, never written
            env["GIT_INDEX_FILE"] = str(self.shadow_dir / "no-index")
        if not literal:  # pathspec magic wanted: callers give it explicitly, paths stay literal
            env["GIT_LITERAL_PATHSPECS"] = "0"
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.root,
                env=env,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                pass_fds=pass_fds,
                check=False,
            )
        except FileNotFoundError as e:
            if not self.root.is_dir():
                raise CheckpointError(f"the workspace {self.root} is gone") from e
            raise CheckpointError(f"git was not found ({e}); checkpoints need git ≥ 2.32") from e
        err = proc.stderr.decode("utf-8", "surrogateescape")
        return proc.returncode, proc.stdout, err.removesuffix("\n")

    def out(self, args: list[str], what: str | None = None, *, index: bool = True) -> bytes:
        """git's stdout; a failure is reported as damage of the shadow."""
        rc, out, err = self.run(args, index=index)
        if rc != 0:
            self.fail(what or f"git {args[0]}", err)
        return out

    def stdin(self, args: list[str], text: str) -> bytes:
        rc, out, err = self.run(args, input=os.fsencode(text))
        if rc != 0:
            self.fail(f"git {args[0]}", err)
        return out

    def fail(self, what: str, detail: str) -> NoReturn:
        raise_damaged(self.shadow_dir, self.borrowed, what, detail)

    def gitpython(self) -> git.Repo:
        """gitpython on the shadow, for reading objects without a git process per read."""
        if self._repo is None:
            import git  # only readers need it; see run()

            self.open()
            try:
                repo = git.Repo(str(self.shadow_dir))
            except Exception as e:
                self.fail("opening", str(e))
            repo.git.update_environment(**git_env(self.shadow_dir, self.root, self.borrowed))
            self._repo = repo
        return self._repo

    # --- creation and configuration ---------------------------------------------------------

    def open(self, *, create: bool = False) -> None:
        """Check once per store that git can read the shadow (and its config is current)."""
        if self._ready:
            return
        if not self.exists:
            if not create:
                raise CheckpointError(
                    f"no checkpoints yet: {self.shadow_dir} does not exist (a snapshot creates it)"
                )
            self._create()
        try:
            version = _config_version(self.shadow_dir / "config")
        except OSError as e:
            self.fail("reading the configuration", str(e))
        if version != CONFIG_VERSION:
            configure(self.shadow_dir)
        rc, _, err = self.run(["rev-parse", "--git-dir"])
        if rc != 0:
            self.fail("opening", err)
        self._ready = True

    def _create(self) -> None:
        """Initialise in a temporary directory, then rename into place: a crash mid-way
        leaves no half-made shadow behind."""
        parent = self.shadow_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        if parent == self.root / ".planloop" and not (parent / ".gitignore").exists():
            atomic_write(parent / ".gitignore", "*\n")
        tmp = Path(tempfile.mkdtemp(prefix=self.shadow_dir.name + ".init-", dir=parent))
        try:
            # `git init --bare` refuses to run when GIT_WORK_TREE is inherited (a planloop
            # started from a git hook); so init with our own GIT_DIR/GIT_WORK_TREE and make
            # the repository bare in configure().
            env = {**os.environ, **git_env(tmp, self.root), "GIT_TEMPLATE_DIR": ""}
            try:
                made = subprocess.run(
                    [GIT, "init", "--quiet"],
                    cwd=tmp,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    check=False,
                )
            except FileNotFoundError as e:
                raise CheckpointError(
                    f"git was not found ({e}); checkpoints need git ≥ 2.32"
                ) from e
            if made.returncode != 0:
                raise CheckpointError(
                    "cannot create the checkpoint repository: "
                    + made.stderr.decode("utf-8", "replace").strip()
                )
            configure(tmp)
            seed(tmp, self.root)
            try:
                os.rename(tmp, self.shadow_dir)
            except OSError:
                if not self.exists:  # another process won the race otherwise
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def move_aside(self) -> Path | None:
        """Rename a (damaged) shadow aside so the next snapshot starts fresh (see
        :func:`~planloop.checkpoints.integrity.move_aside`); where it went, or None."""
        with self.mutex:
            self.close()
            self._ready = False
            dest = move_aside(self.shadow_dir)
            if dest is not None:
                self._borrowed = None
            return dest

    # --- locking ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self, *, create: bool = False) -> Iterator[None]:
        """Hold the cross-process writer lock (re-entrant within this store); creates the
        shadow first when ``create``, since the lock file lives inside it."""
        with self.mutex:
            if self._lock.fd is None and not self.exists:
                if not create:
                    raise CheckpointError(
                        f"no checkpoints yet: {self.shadow_dir} does not exist "
                        "(a snapshot creates it)"
                    )
                self.open(create=True)
            with self._lock.hold():
                yield

    # --- gc ---------------------------------------------------------------------------------

    def note_snapshot(self) -> None:
        """Count a snapshot; start ``git gc --auto`` after the first and every ``gc_every``."""
        state = self.read_state()
        n = int(state.get("snapshots_since_gc", 0)) + 1
        first = not state.get("gc_checked")
        if first or n >= self.gc_every:
            detach = "true" if self.gc_detach else "false"
            rc, _, err = self.run(
                ["-c", f"gc.autoDetach={detach}", "gc", "--auto", "--quiet"], hold_lock=False
            )
            if rc != 0:
                log.warning("git gc --auto on %s failed: %s", self.shadow_dir, err.strip())
            n = 0
        self.write_state(snapshots_since_gc=n, gc_checked=True)

    def prune_now(self) -> None:
        """Delete every object no ref reaches, now (reflogs would keep them otherwise)."""
        self.out(["reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all"])
        self.out(["-c", "gc.autoDetach=false", "gc", "--prune=now", "--quiet"])
        self.write_state(snapshots_since_gc=0)

    def wait_for_gc(self, timeout_s: float = 600.0) -> None:
        """Block until a background ``git gc`` of the shadow has finished."""
        pidfile = self.shadow_dir / "gc.pid"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                pass
            time.sleep(0.1)

    # --- planloop's own state beside git's ---------------------------------------------------

    def _state_path(self) -> Path:
        return self.shadow_dir / "planloop-state.json"

    def read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_path().read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_state(self, **changes: Any) -> None:
        state = self.read_state()
        state.update(changes)
        atomic_write(self._state_path(), json.dumps(state, indent=1, sort_keys=True))

    @property
    def nested_repos(self) -> list[str]:
        """Nested repositories excluded from checkpoints (workspace-relative paths)."""
        return list(self.read_state().get("nested", []))

    # --- capturing the work tree -------------------------------------------------------------

    def write_tree(self, paths: list[str] | None = None) -> tuple[str, list[str]]:
        """Stage the whole workspace in the shadow index and write it as a tree; the tree's
        sha and git's complaints about files it could not read (those are left out).

        ``paths``: only these changed since the index was last staged (a step that wrote
        through planloop's own file tools and ran no command); they are staged on top of
        it, which costs a few files rather than a scan of the whole tree."""
        state = self.read_state()
        warnings = self.stage(paths)
        rc, out, err = self.run(["write-tree"])
        if rc != 0 and self.borrowed is not None and MISSING_RE.search(err):
            # the user's objects lost what the index points at (gc, a re-clone, .git gone):
            # hash the whole tree again rather than fail every snapshot from now on
            log.warning(
                "contents borrowed from %s are gone (%s); re-hashing the workspace",
                self.borrowed,
                " ".join(err.split()),
            )
            self._drop_index()
            warnings = self._add_all()
            rc, out, err = self.run(["write-tree"])
        if rc != 0:
            self.fail("git write-tree", err)
        tree = out.decode().strip()
        if self.borrowed is not None:
            self._borrow.localize_changes(tree, state, rows=paths is not None)
        return tree, warnings

    def stage(self, paths: list[str] | None = None) -> list[str]:
        """Bring the shadow index up to the workspace (all of it, or only ``paths``);
        git's complaints about files it could not read. ``[]`` trusts the index as it is:
        the caller knows it was staged whole since anything could have changed."""
        self._sync_excludes()
        if self.read_state().get("seeded_index") == "fresh":
            self._borrow.prepare_seeded_index()
            paths = None  # a borrowed index is the user's: it needs the whole scan once
        return self._add_all() if paths is None else self._add_paths(paths)

    # --- borrowing the user's objects (see borrowing.py) ------------------------------------

    @property
    def last_diff(self) -> tuple[str, str, list[Entry]] | None:
        """The last snapshot's change, as read while storing its objects (see
        :attr:`BorrowedObjects.last_diff`); None where nothing is borrowed."""
        return self._borrow.last_diff

    @property
    def trees_due(self) -> bool:
        return self._borrow.trees_due

    def localize_due_trees(self) -> None:
        """Copy the first checkpoint's tree objects into the shadow's own store, off the
        critical path (see :meth:`BorrowedObjects.localize_due_trees`)."""
        self._borrow.localize_due_trees()

    def _drop_index(self) -> None:
        (self.shadow_dir / "index").unlink(missing_ok=True)
        for p in self.shadow_dir.glob("sharedindex.*"):
            p.unlink(missing_ok=True)

    def _sync_excludes(self) -> None:
        nested = self.read_state().get("nested", [])
        alive = [n for n in nested if os.path.lexists(self.root / n / ".git")]
        if alive != nested:
            for gone in set(nested) - set(alive):
                log.info("%s is no longer a repository; its files are captured again", gone)
            self.write_state(nested=alive)
        self.write_excludes(alive)

    def write_excludes(self, nested: list[str]) -> None:
        # The user's patterns first: in one exclude file the last match wins, so a stray
        # "!.planloop" there cannot re-include our own directories.
        lines = [
            "# written by planloop on every snapshot; edit the workspace's ignores instead",
            "# the user's .git/info/exclude:",
            user_exclude(self.root),
            "# planloop's own, and nested repositories:",
            "/.planloop/",
        ]
        try:
            rel = self.shadow_dir.relative_to(self.root).as_posix()
            if not rel.startswith(".planloop/"):
                lines.append(_exclude_line(rel))
        except ValueError:
            pass
        lines += [_exclude_line(n) for n in nested]
        text = "\n".join(lines) + "\n"
        path = self.shadow_dir / "info" / "exclude"
        try:
            if path.read_text(errors="surrogateescape") == text:
                return
        except OSError:
            pass
        atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))

    def _own_dir_names(self) -> list[str]:
        """planloop's directories inside the workspace (workspace-relative)."""
        own = [".planloop"]
        with contextlib.suppress(ValueError):
            rel = self.shadow_dir.relative_to(self.root).as_posix()
            if not rel.startswith(".planloop/"):
                own.append(rel)
        return own

    def _own_dirs(self) -> list[str]:
        """planloop's directories inside the workspace, as exclude pathspecs."""
        return [f":(exclude,top,literal){d}" for d in self._own_dir_names()]

    def _add_paths(self, paths: list[str]) -> list[str]:
        """Stage ``paths`` as ``add -A`` would (an ignored file stays out, a missing one is
        dropped); anything unusual (a nested repository, a damaged index) falls back to
        the whole scan, which knows how to handle it."""
        own = self._own_dir_names()
        wanted = [
            p
            for p in dict.fromkeys(paths)
            if p and p != "." and not any(p == d or p.startswith(d + "/") for d in own)
        ]
        if not wanted:
            return []
        # The usual edit: every path is in the index already (changed or deleted), and one
        # index update does what `add -A` does without its walk of the directories (a
        # third of the time on a 100k-entry index). A path git does not track yet (new,
        # ignored, a directory) makes it refuse the whole update, the index untouched,
        # and `add -A` below decides as a scan would. (A tracked file another program
        # replaced by a directory mid-step leaves the index; the directory's files are
        # the next whole scan's, as any file the step did not write.)
        rc, _, _ = self.run(["update-index", "--remove", "-z", "--stdin"], input=_nul(wanted))
        if rc == 0:
            return []
        present = [p for p in wanted if os.path.lexists(self.root / p)]
        gone = [p for p in wanted if p not in present]
        if gone:
            # index-only removal of entries that may not exist: update-index takes that
            rc, _, err = self.run(
                ["update-index", "--force-remove", "-z", "--stdin"], input=_nul(gone)
            )
            if rc != 0:
                return self._add_all()
        if not present:
            return []
        rc, _, err = self.run(["add", "-A", "--ignore-errors", "--", *present])
        if rc == 0:
            return []
        if _EMBEDDED_RE.search(err) or _UNBORN_RE.search(err) or "fatal:" in err:
            return self._add_all()
        warnings = [ln for ln in err.splitlines() if ln.startswith("error:")]
        if warnings:
            log.warning("some files could not be checkpointed: %s", "; ".join(warnings))
        return warnings

    def _add_all(self, retried: bool = False) -> list[str]:
        # The exclude pathspecs outrank every ignore file: even a whitelisting .gitignore
        # ("*", "!*/") cannot pull the shadow repository into its own checkpoints.
        rc, _, err = self.run(
            ["add", "-A", "--ignore-errors", "--", ":(top)", *self._own_dirs()], literal=False
        )
        if any(s in err for s in _INDEX_BROKEN) and not retried:
            log.warning("the checkpoint index was damaged; rebuilding it (%s)", err.strip())
            (self.shadow_dir / "index").unlink(missing_ok=True)
            for p in self.shadow_dir.glob("sharedindex.*"):
                p.unlink(missing_ok=True)
            return self._add_all(retried=True)
        embedded = _EMBEDDED_RE.findall(err)
        unborn = _UNBORN_RE.findall(err)
        if embedded or unborn:
            found = sorted(set(embedded) | set(unborn))
            if embedded:
                # index-only removal: the work tree (the nested repository) is never touched
                self.out(["update-index", "--force-remove", "--", *embedded])
            nested = sorted(set(self.read_state().get("nested", [])) | set(found))
            self.write_state(nested=nested)
            self.write_excludes(nested)
            log.warning(
                "nested repositories are not checkpointed (left untouched): %s", ", ".join(found)
            )
        warnings: list[str] = []
        if rc != 0:
            if "fatal:" in err:
                self.fail("git add", err)
            warnings = [
                ln
                for ln in err.splitlines()
                if ln.startswith("error:") and not _UNBORN_RE.match(ln)
            ]
            if warnings:
                log.warning("some files could not be checkpointed: %s", "; ".join(warnings))
        return warnings


def _nul(paths: list[str]) -> bytes:
    """Paths as ``--stdin -z`` reads them."""
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def _config_version(path: Path) -> str:
    """``planloop.configVersion`` from the shadow's config, which :func:`configure` writes
    whole (so a line-wise read is exact); "" when absent or the file is not ours as
    written, which rewrites it."""
    section = ""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
        elif section == "planloop" and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if key.lower() == "configversion":
                return value
    return ""


def _exclude_line(rel: str) -> str:
    """An anchored, directory-only exclude pattern matching ``rel`` literally."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", rel)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped + "/"

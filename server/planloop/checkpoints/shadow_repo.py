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

Concurrency and crashes: an advisory ``flock`` on ``shadow.git/planloop.lock`` serialises
writers across processes, and is passed to every git child started under it, so the lock
stays held while any such git process lives. Hence a stale ``index.lock`` (a run killed
mid-snapshot) is recognised exactly: we hold the flock, so no git of ours is running.

Damage: when git cannot read the shadow (garbage in HEAD, corrupt or missing objects) a
:class:`CheckpointError` names the shadow directory and the way to start fresh (delete it,
or :meth:`ShadowRepo.move_aside`). The workspace is never touched on that path.

Needs git ≥ 2.32 (GIT_CONFIG_GLOBAL keeps the user's global config, hooks path and
fsmonitor out of the shadow's processes).

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
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import git
from git.exc import GitCommandNotFound

from planloop.errors import PlanloopError
from planloop.fsutil import atomic_write, atomic_write_bytes
from planloop.redaction import is_secret_name

try:  # POSIX; elsewhere stale locks are judged by age only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# One logger for the whole checkpoint subsystem, whichever module does the work.
log = logging.getLogger("planloop.checkpoints")

_CONFIG_VERSION = "1"
_EMBEDDED_RE = re.compile(r"^warning: adding embedded git repository: (.+)$", re.M)
_UNBORN_RE = re.compile(r"^error: '(.+)/' does not have a commit checked out$", re.M)
_INDEX_BROKEN = (
    "index file corrupt",
    "bad signature",
    "index file smaller",
    "bad index",
    "index file open failed",  # a split index whose shared part is gone
)
_ATTRIBUTES = "# planloop: store bytes exactly as they are on disk\n* -text -eol -filter -ident -working-tree-encoding\n"
_SETTINGS = {
    "core.bare": "true",  # without our --work-tree git refuses, never guesses one
    "core.hooksPath": os.devnull,
    "core.autocrlf": "false",
    "core.safecrlf": "false",
    "core.fsmonitor": "false",
    "core.untrackedCache": "false",  # git add does not use it; it only costs writes
    "core.splitIndex": "true",  # rewrite only the changed part of a 100k-entry index
    "core.preloadIndex": "true",
    "core.logAllRefUpdates": "false",  # no reflogs: dropped refs free objects
    "core.quotePath": "false",
    "core.symlinks": "true" if os.name != "nt" else "false",
    "core.fileMode": "true" if os.name != "nt" else "false",
    "core.commitGraph": "false",
    "index.version": "4",
    "index.threads": "true",
    "index.skipHash": "true",  # git ≥ 2.40: no SHA-1 over the whole index per write
    "splitIndex.sharedIndexExpire": "now",
    "gc.autoDetach": "true",
    "gc.writeCommitGraph": "false",
    "repack.writeBitmaps": "false",
    "maintenance.auto": "false",
    "advice.addEmbeddedRepo": "false",
    "user.name": "planloop",
    "user.email": "planloop@localhost",
    "planloop.configVersion": _CONFIG_VERSION,
}


class CheckpointError(PlanloopError):
    """A checkpoint operation failed; the message says what and how to recover."""

    default_kind = "checkpoint"


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
        self._git = git.Git(str(self.root))
        self._repo: git.Repo | None = None
        self._ready = False
        self._borrowed: str | None = None

    @property
    def exists(self) -> bool:
        return (self.shadow_dir / "HEAD").exists()

    @property
    def borrowed(self) -> str | None:
        """The user's object directory this shadow reads unchanged files' contents from
        (never writes), or None when it stores everything itself."""
        if self._borrowed is None:
            try:
                self._borrowed = (self.shadow_dir / _BORROW_FILE).read_text().strip()
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
        istream: Any = None,
        hold_lock: bool = True,
        literal: bool = True,
        borrowed: bool = True,
    ) -> tuple[int, bytes, str]:
        """Run git on the shadow; (exit code, stdout bytes, stderr text). ``hold_lock=False``
        for a git that may outlive the lock (a detached gc) and must not keep it held;
        ``borrowed=False`` hides the user's objects (to see what the shadow holds itself)."""
        cmd = [
            git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git",
            f"--git-dir={self.shadow_dir}",
            f"--work-tree={self.root}",
            *args,
        ]
        fd = self._lock.fd
        pass_fds = (fd,) if hold_lock and fd is not None else ()
        env = git_env(self.shadow_dir, self.root, self.borrowed if borrowed else None)
        if not literal:  # pathspec magic wanted: callers give it explicitly, paths stay literal
            env["GIT_LITERAL_PATHSPECS"] = "0"
        try:
            rc, out, err = self._git.execute(
                cmd,
                env=env,
                istream=istream,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                pass_fds=pass_fds,
            )
        except GitCommandNotFound as e:
            raise CheckpointError(f"git was not found ({e}); checkpoints need git ≥ 2.32") from e
        return rc, out, err

    def out(self, args: list[str], what: str | None = None) -> bytes:
        """git's stdout; a failure is reported as damage of the shadow."""
        rc, out, err = self.run(args)
        if rc != 0:
            self.fail(what or f"git {args[0]}", err)
        return out

    def stdin(self, args: list[str], text: str) -> bytes:
        with tempfile.TemporaryFile() as f:
            f.write(os.fsencode(text))
            f.seek(0)
            rc, out, err = self.run(args, istream=f)
        if rc != 0:
            self.fail(f"git {args[0]}", err)
        return out

    def fail(self, what: str, detail: str) -> NoReturn:
        detail = " ".join(detail.strip().split()) or "no details from git"
        if self.borrowed is not None and _MISSING_RE.search(detail):
            raise CheckpointError(
                f"{what} failed: this checkpoint refers to file contents planloop borrowed "
                f"from your repository's objects ({self.borrowed}) and git cannot find them "
                f"there any more (was the repository pruned by `git gc`, or cloned again?) "
                f"({detail}). Files that steps changed are stored by planloop itself and stay "
                f"readable; your workspace files were not touched. New checkpoints work as "
                f"before; `planloop clean --reset-shadow` starts afresh.",
                kind="checkpoint_objects_missing",
            )
        raise CheckpointError(
            f"{what} failed: planloop's checkpoint repository {self.shadow_dir} is damaged or "
            f"unreadable ({detail}). Your workspace files were not touched. To start fresh, "
            f"run `planloop clean --reset-shadow` (it moves {self.shadow_dir} aside) or delete "
            f"it; existing checkpoints of this workspace are lost."
        )

    def gitpython(self) -> git.Repo:
        """gitpython on the shadow, for reading objects without a git process per read."""
        if self._repo is None:
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
            cfg = git.GitConfigParser(str(self.shadow_dir / "config"), read_only=True)
            version = str(cfg.get_value("planloop", "configVersion", default=""))
        except Exception as e:
            self.fail("reading the configuration", str(e))
        if version != _CONFIG_VERSION:
            _configure(self.shadow_dir)
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
            # `git init --bare` refuses to run when GIT_WORK_TREE is inherited, and gitpython
            # cannot unset a variable; so init with our own GIT_DIR/GIT_WORK_TREE and make
            # the repository bare in _configure.
            env = {**git_env(tmp, self.root), "GIT_TEMPLATE_DIR": ""}
            git.Repo.init(str(tmp), mkdir=False, quiet=True, env=env).close()
            _configure(tmp)
            _seed(tmp, self.root)
            try:
                os.rename(tmp, self.shadow_dir)
            except OSError:
                if not self.exists:  # another process won the race otherwise
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def move_aside(self) -> Path | None:
        """Rename a (damaged) shadow to ``shadow.git.broken-<timestamp>`` so the next
        snapshot starts fresh; where it went, or None if there was none."""
        with self.mutex:
            self.close()
            self._ready = False
            if not self.shadow_dir.exists():
                return None
            stamp = time.strftime("%Y%m%d-%H%M%S")
            dest = self.shadow_dir.with_name(f"{self.shadow_dir.name}.broken-{stamp}")
            n = 1
            while dest.exists():
                dest = self.shadow_dir.with_name(f"{self.shadow_dir.name}.broken-{stamp}-{n}")
                n += 1
            os.replace(self.shadow_dir, dest)
            self._borrowed = None
            log.warning("moved the checkpoint repository %s aside to %s", self.shadow_dir, dest)
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

    def write_tree(self) -> tuple[str, list[str]]:
        """Stage the whole workspace in the shadow index and write it as a tree; the tree's
        sha and git's complaints about files it could not read (those are left out)."""
        self._sync_excludes()
        state = self.read_state()
        if state.get("seeded_index") == "fresh":
            self._prepare_seeded_index()
        warnings = self._add_all()
        rc, out, err = self.run(["write-tree"])
        if rc != 0 and self.borrowed is not None and _MISSING_RE.search(err):
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
            self._localize_changes(tree, state)
        return tree, warnings

    # --- borrowing the user's objects --------------------------------------------------------

    def _prepare_seeded_index(self) -> None:
        """A copy of the user's index may hold what the shadow never captures: submodules
        (gitlinks) and anything under ``.planloop/``. Drop them from the copy, index only."""
        out = self.out(["ls-files", "-s", "-z"])
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
        self.out(["update-index", "--index-version", "4"])
        if gitlinks or own:
            self.stdin(
                ["update-index", "--force-remove", "-z", "--stdin"],
                "\0".join(gitlinks + own) + "\0",
            )
        if gitlinks:
            nested = sorted(set(self.read_state().get("nested", [])) | set(gitlinks))
            self.write_state(nested=nested)
            self._write_excludes(nested)
        self.write_state(seeded_index="used", localize_trees=True)

    def _drop_index(self) -> None:
        (self.shadow_dir / "index").unlink(missing_ok=True)
        for p in self.shadow_dir.glob("sharedindex.*"):
            p.unlink(missing_ok=True)

    def _localize_changes(self, tree: str, state: dict[str, Any]) -> None:
        """Copy into the shadow what it must never lose with the user's objects: after the
        first snapshot every tree object (a tree the user's gc may prune would make a whole
        checkpoint unreadable), and on every snapshot both sides of each changed file, so a
        step's diff and its revert stay readable whatever happens to the user's
        repository. Only file contents unchanged since the first checkpoint stay borrowed."""
        wanted: list[str] = []
        due = self.read_state().get("trees_due")
        if isinstance(due, str) and due:
            wanted = self._trees_of(due)  # the background copy never finished: now, inline
        if state.get("localize_trees") or self.read_state().get("localize_trees"):
            # the first checkpoint's trees are copied after it returns (see
            # localize_due_trees), so a first checkpoint costs about a git status
            self.write_state(trees_due=tree)
        last = state.get("last_tree")
        if isinstance(last, str) and last and last != tree:
            rc, out, _ = self.run(["diff-tree", "-r", "-z", "--no-renames", "--raw", last, tree])
            if rc == 0:
                for field in out.split(b"\0"):
                    if field.startswith(b":"):
                        parts = field[1:].split(b" ")
                        if len(parts) >= 4:
                            for mode, sha in ((parts[0], parts[2]), (parts[1], parts[3])):
                                if mode not in (b"000000", b"160000") and sha.strip(b"0"):
                                    wanted.append(sha.decode())
        copied = self._copy_local(wanted)
        if copied:
            log.info("stored %d borrowed objects in the checkpoint repository", copied)
        changes: dict[str, Any] = {"last_tree": tree, "localize_trees": False}
        if isinstance(due, str) and due:
            changes["trees_due"] = None
        self.write_state(**changes)

    @property
    def trees_due(self) -> bool:
        return bool(self.read_state().get("trees_due"))

    def localize_due_trees(self) -> None:
        """Copy the first checkpoint's tree objects into the shadow's own store (a tree the
        user's gc prunes would make that whole checkpoint unreadable). Called off the
        critical path; a crash before it ends leaves ``trees_due`` set and the next
        snapshot does it inline."""
        with self.exclusive():
            due = self.read_state().get("trees_due")
            if not isinstance(due, str) or not due:
                return
            copied = self._copy_local(self._trees_of(due))
            if copied:
                log.info("stored %d borrowed tree objects in the checkpoint repository", copied)
            self.write_state(trees_due=None)

    def _trees_of(self, tree: str) -> list[str]:
        rc, out, _ = self.run(["ls-tree", "-r", "-d", "-z", tree])
        if rc != 0:  # that tree is gone already: nothing left to save
            return []
        return [tree] + [
            e.split(b" ", 3)[2].split(b"\t", 1)[0].decode() for e in out.split(b"\0") if e
        ]

    def _absent(self, shas: list[str], *, borrowed: bool) -> list[str]:
        with tempfile.TemporaryFile() as f:
            f.write(("\n".join(shas) + "\n").encode())
            f.seek(0)
            rc, out, err = self.run(["cat-file", "--batch-check"], istream=f, borrowed=borrowed)
        if rc != 0:
            self.fail("git cat-file", err)
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
        gone = set(self._absent(missing, borrowed=True))  # nor in the user's (any more)
        missing = [m for m in missing if m not in gone]
        if not missing:
            return 0
        # one pack of them in the shadow's own store; pack-objects reads them through the
        # alternate (it packs borrowed objects unless told --local) and writes only here
        with tempfile.TemporaryFile() as f:
            f.write(("\n".join(missing) + "\n").encode())
            f.seek(0)
            pack = str(self.shadow_dir / "objects" / "pack" / "pack")
            rc, _, err = self.run(["pack-objects", "-q", "--window=10", pack], istream=f)
        if rc != 0:
            self.fail("git pack-objects", err)
        return len(missing)

    def _sync_excludes(self) -> None:
        nested = self.read_state().get("nested", [])
        alive = [n for n in nested if os.path.lexists(self.root / n / ".git")]
        if alive != nested:
            for gone in set(nested) - set(alive):
                log.info("%s is no longer a repository; its files are captured again", gone)
            self.write_state(nested=alive)
        self._write_excludes(alive)

    def _write_excludes(self, nested: list[str]) -> None:
        # The user's patterns first: in one exclude file the last match wins, so a stray
        # "!.planloop" there cannot re-include our own directories.
        lines = [
            "# written by planloop on every snapshot; edit the workspace's ignores instead",
            "# the user's .git/info/exclude:",
            _user_exclude(self.root),
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

    def _own_dirs(self) -> list[str]:
        """planloop's directories inside the workspace, as exclude pathspecs."""
        own = [".planloop"]
        with contextlib.suppress(ValueError):
            rel = self.shadow_dir.relative_to(self.root).as_posix()
            if not rel.startswith(".planloop/"):
                own.append(rel)
        return [f":(exclude,top,literal){d}" for d in own]

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
            self._write_excludes(nested)
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


def _configure(gitdir: Path) -> None:
    """Write the shadow's config whole (one write, no core.worktree left over from
    ``git init``) rather than key by key: it is ours alone."""
    sections: dict[str, list[str]] = {"core": ["\trepositoryformatversion = 0"]}
    for key, value in _SETTINGS.items():
        section, option = key.split(".", 1)
        sections.setdefault(section, []).append(f"\t{option} = {value}")
    text = "".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items())
    atomic_write(gitdir / "config", text)
    atomic_write(gitdir / "info" / "attributes", _ATTRIBUTES)
    (gitdir / "hooks").mkdir(exist_ok=True)


_BORROW_FILE = "planloop-borrow"
_GITLINK_RE = re.compile(rb"(?:^|\0)160000 [0-9a-f]+ \d\t([^\0]+)")
_OWN_ENTRY_RE = re.compile(
    rb"(?:^|\0)\d{6} [0-9a-f]+ \d\t(\.[Pp][Ll][Aa][Nn][Ll][Oo][Oo][Pp]/[^\0]*)"
)
_MISSING_RE = re.compile(
    r"missing|unable to read|bad object|invalid object|not a valid object|could not read|"
    r"does not exist|bad tree|corrupt",
    re.I,
)


def _user_git_dirs(root: Path) -> tuple[Path, Path] | None:
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


def _seed(gitdir: Path, root: Path) -> None:
    """Start a new shadow from what the user's git already knows, reading it only: its
    object directory becomes our read-only alternate (unchanged files are not stored a
    second time) and a copy of its index our first index (its stat data lets the first
    ``git add`` skip hashing every unchanged file). A case where the copy cannot be used
    as is (split or sparse index, partial clone) still borrows objects and hashes the
    tree once; a damaged user repository makes a plain shadow, never an error."""
    found = _user_git_dirs(root)
    if found is None:
        return
    gd, common = found
    objects = common / "objects"
    if not (objects / "pack").is_dir() and not objects.is_dir():
        return
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
    atomic_write(gitdir / _BORROW_FILE, str(objects.resolve()) + "\n")
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


def _user_exclude(root: Path) -> str:
    """The user's ``.git/info/exclude``, read only (a worktree's lives in the common dir)."""
    dotgit = root / ".git"
    try:
        if dotgit.is_file():
            line = dotgit.read_text(errors="replace").strip()
            if not line.startswith("gitdir:"):
                return ""
            gd = Path(line[len("gitdir:") :].strip())
            gd = gd if gd.is_absolute() else (root / gd)
            common = gd
            if (gd / "commondir").is_file():
                c = Path((gd / "commondir").read_text().strip())
                common = c if c.is_absolute() else gd / c
            return (common / "info" / "exclude").read_text(errors="surrogateescape")
        if dotgit.is_dir():
            return (dotgit / "info" / "exclude").read_text(errors="surrogateescape")
    except OSError:
        return ""
    return ""


def _exclude_line(rel: str) -> str:
    """An anchored, directory-only exclude pattern matching ``rel`` literally."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", rel)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped + "/"


def git_env(gitdir: Path, work_tree: Path, borrowed: str | None = None) -> dict[str, str]:
    """Every variable that could point git elsewhere is set explicitly: gitpython can only
    add to os.environ, and a planloop started from a git hook inherits GIT_DIR & co.
    ``borrowed``: the user's object directory, read as an alternate (git only reads from
    an alternate; new objects always go to the shadow's own directory)."""
    s = str(gitdir)
    now = f"@{int(time.time())} +0000"
    env = {
        "GIT_DIR": s,
        "GIT_COMMON_DIR": s,
        "GIT_WORK_TREE": str(work_tree),
        "GIT_INDEX_FILE": os.path.join(s, "index"),
        "GIT_OBJECT_DIRECTORY": os.path.join(s, "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": borrowed or "",
        "GIT_GRAFT_FILE": os.path.join(s, "info", "grafts"),
        "GIT_SHALLOW_FILE": os.path.join(s, "shallow"),
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_NAMESPACE": "",
        "GIT_PREFIX": "",
        "GIT_IMPLICIT_WORK_TREE": "1",
        "GIT_CONFIG": os.path.join(s, "config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": "0",
        "GIT_CONFIG_PARAMETERS": "",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_LITERAL_PATHSPECS": "1",
        "GIT_GLOB_PATHSPECS": "0",
        "GIT_NOGLOB_PATHSPECS": "0",
        "GIT_ICASE_PATHSPECS": "0",
        "GIT_INDEX_VERSION": "4",
        "GIT_DIFF_OPTS": "",
        "GIT_EXTERNAL_DIFF": "",
        "GIT_PAGER": "cat",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "planloop",
        "GIT_AUTHOR_EMAIL": "planloop@localhost",
        "GIT_COMMITTER_NAME": "planloop",
        "GIT_COMMITTER_EMAIL": "planloop@localhost",
        "GIT_AUTHOR_DATE": now,
        "GIT_COMMITTER_DATE": now,
    }
    for k in os.environ:
        if is_secret_name(k):
            env[k] = ""
    return env


class WriterLock:
    """The writer ``flock`` of one shadow (see "Concurrency and crashes" above); :attr:`fd`
    is its descriptor while held, for :meth:`ShadowRepo.run` to pass to git children."""

    def __init__(self, shadow_dir: Path, *, timeout_s: float, stale_s: float) -> None:
        self._shadow_dir = shadow_dir
        self.timeout_s = timeout_s
        self.stale_s = stale_s
        self.fd: int | None = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Take the lock (re-entrant: a nested hold is a no-op); callers serialise threads."""
        if self.fd is not None:
            yield
            return
        fd = os.open(self._shadow_dir / "planloop.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                self._flock(fd)
            self.fd = fd
            self._clear_stale_locks()
            yield
        finally:
            self.fd = None
            os.close(fd)

    def _flock(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CheckpointError(
                        f"the checkpoint repository {self._shadow_dir} is busy: another "
                        f"planloop process (or a git it started) has held its lock for "
                        f"{self.timeout_s:g} s"
                    ) from None
                time.sleep(0.05)

    def _clear_stale_locks(self) -> None:
        """Holding the flock means no git process of ours is alive, so an ``index.lock`` is
        a leftover of a killed run. Ref locks are judged by age: a background gc (which does
        not hold our flock) may hold them for a moment."""
        index_lock = self._shadow_dir / "index.lock"
        candidates = [index_lock] if index_lock.exists() else []
        candidates += [p for p in self._shadow_dir.glob("refs/**/*.lock")]
        candidates += [
            self._shadow_dir / n for n in ("packed-refs.lock", "config.lock", "HEAD.lock")
        ]
        now = time.time()
        for lock in candidates:
            try:
                age = now - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            exact = lock == index_lock and fcntl is not None
            if exact or age > self.stale_s:
                lock.unlink(missing_ok=True)
                log.warning(
                    "removed a stale lock %s (%.0f s old) left by an interrupted checkpoint",
                    lock,
                    age,
                )

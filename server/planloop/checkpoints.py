"""Checkpoints: a snapshot of the whole workspace before and after every step, kept in a
shadow git repository, so each step has its own diff and its own undo.

Why a shadow repository: git already is a fast, content-addressed, deduplicating store with
a stat cache, rename detection and a diff engine. Peers that checkpoint *through the user's
own repository* (stash, reset, renaming ``.git``) have destroyed work; so the shadow is a
separate git dir, ``<root>/.planloop/shadow.git``, with its own index, whose work tree is
the workspace. Every git process planloop starts gets ``--git-dir``/``--work-tree`` and a
full environment (GIT_DIR, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, ... all pointing into the
shadow, system and global config switched off), so repository discovery never happens and
the user's ``.git`` is never opened for writing. The only thing read from it is
``.git/info/exclude`` (copied into the shadow's own ``info/exclude``).

What a checkpoint holds (a root commit of the whole tree, untracked files included):

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
  listed in the shadow's ``info/exclude`` and reported by :attr:`CheckpointStore.nested_repos`
  and a log warning. When a nested ``.git`` disappears, the directory is captured again.
- Content is stored byte for byte: the shadow's ``info/attributes`` switches off text/eol
  conversion, filters (LFS, ...) and ident, so a revert writes back exactly what was there.
- Symlinks are stored as links (their target text) and restored as links; they are never
  followed, whether they point inside or outside the workspace.

Checkpoints are parentless commits (unless a ``parent`` is given) kept alive by refs under
``refs/planloop/``. A parent chain would make every older checkpoint reachable from the
newest one, and ``clean()`` could then never free a finished plan's checkpoints.

Revert restores exactly the files that changed between two checkpoints, writing blobs
itself (no ``git checkout``/``reset``/``clean``): files the step added are deleted, deleted
files are recreated, renames are undone. A file whose current state differs from the
after-checkpoint is a conflict, reported and left alone. Nothing is written through a
symlinked directory, into ``.git`` or ``.planloop``, or outside the root.

Concurrency and crashes: an advisory ``flock`` on ``shadow.git/planloop.lock`` serialises
writers across processes, and is passed to every git child started under it, so the lock
stays held while any such git process lives. Hence a stale ``index.lock`` (a run killed
mid-snapshot) is recognised exactly: we hold the flock, so no git of ours is running.

Damage: when git cannot read the shadow (garbage in HEAD, corrupt or missing objects) a
:class:`CheckpointError` names the shadow directory and the way to start fresh: delete
``.planloop/shadow.git`` or call :meth:`CheckpointStore.reset_shadow`, which moves it aside
to ``shadow.git.broken-<timestamp>``. The workspace is never touched on that path.

Needs git ≥ 2.32 (GIT_CONFIG_GLOBAL keeps the user's global config, hooks path and
fsmonitor out of the shadow's processes).

Disk: git shares objects across checkpoints; a first snapshot writes loose objects, and
``git gc --auto`` (detached, git's own policy) packs them; it runs after the first snapshot
and then every ``gc_every`` snapshots. ``clean()`` drops refs and prunes for real.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
from git.exc import GitCommandNotFound

from .errors import PlanloopError
from .plan import FileChange
from .redaction import is_secret_name

try:  # POSIX; elsewhere stale locks are judged by age only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DEFAULT_SHADOW = Path(".planloop") / "shadow.git"
REF_ROOT = "refs/planloop/"
DEFAULT_REF_PREFIX = REF_ROOT + "auto/"
_CONFIG_VERSION = "1"
_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "typechange"}
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


class CheckpointError(PlanloopError):
    """A checkpoint operation failed; the message says what and how to recover."""

    default_kind = "checkpoint"


@dataclass
class FileDiff:
    """One file's change between two checkpoints, with its unified diff."""

    path: str
    status: str  # added | modified | deleted | renamed | typechange
    old_path: str | None
    added: int
    removed: int
    binary: bool
    patch: str
    old_mode: str = ""  # git modes: 100644, 100755, 120000 (symlink); "" when absent
    new_mode: str = ""

    def to_change(self) -> FileChange:
        return FileChange(
            path=self.path,
            status=self.status,  # type: ignore[arg-type]
            old_path=self.old_path,
            added=self.added,
            removed=self.removed,
            binary=self.binary,
        )


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


@dataclass
class CheckpointInfo:
    ref: str
    sha: str
    message: str
    created_at: int  # unix seconds


# A file's state: (git mode, blob sha), or None when absent.
_State = tuple[str, str] | None


@dataclass
class _Entry:
    """One row of ``git diff-tree --raw``: both sides of a change."""

    status: str
    path: str
    old_path: str
    old_mode: str
    new_mode: str
    old_sha: str
    new_sha: str
    added: int = 0
    removed: int = 0
    binary: bool = False

    @property
    def before(self) -> _State:
        return None if self.old_mode == "000000" else (self.old_mode, self.old_sha)

    @property
    def after(self) -> _State:
        return None if self.new_mode == "000000" else (self.new_mode, self.new_sha)


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


def _exclude_line(rel: str) -> str:
    """An anchored, directory-only exclude pattern matching ``rel`` literally."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", rel)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped + "/"


class CheckpointStore:
    """Snapshots, diffs and reverts of one workspace through its shadow repository.

    Thread-safe; writers are also serialised across processes. Call :meth:`close` (or use
    ``with``) to stop gitpython's long-lived ``cat-file`` helper early.
    """

    def __init__(
        self,
        root: Path,
        shadow_dir: Path | None = None,
        *,
        gc_every: int = 25,
        gc_detach: bool = True,
        lock_timeout_s: float = 30.0,
        stale_lock_s: float = 60.0,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise CheckpointError(f"workspace {root} is not a directory")
        self.root = root.resolve()
        shadow = Path(shadow_dir) if shadow_dir is not None else self.root / DEFAULT_SHADOW
        self.shadow_dir = shadow if shadow.is_absolute() else (self.root / shadow)
        self.gc_every = gc_every
        self.gc_detach = gc_detach
        self.lock_timeout_s = lock_timeout_s
        self.stale_lock_s = stale_lock_s
        self.last_warnings: list[str] = []
        self._mutex = threading.RLock()
        self._lock_fd: int | None = None
        self._git = git.Git(str(self.root))
        self._repo: git.Repo | None = None
        self._ready = False
        self._known: set[str] = set()  # commit shas verified to exist

    # --- public API ------------------------------------------------------------------------

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._mutex:
            if self._repo is not None:
                self._repo.close()
                self._repo = None

    @property
    def exists(self) -> bool:
        return (self.shadow_dir / "HEAD").exists()

    @property
    def nested_repos(self) -> list[str]:
        """Nested repositories excluded from checkpoints (workspace-relative paths)."""
        return list(self._read_state().get("nested", []))

    def snapshot(self, message: str, ref: str | None = None, *, parent: str | None = None) -> str:
        """Commit the whole workspace as it is now; return the checkpoint's commit sha.

        ``ref`` (``refs/planloop/...``, or a name placed under it) keeps the checkpoint
        alive; without one it is kept under ``refs/planloop/auto/``.
        """
        with self._mutex, self._exclusive(create=True):
            self._open(create=True)
            self.last_warnings = []
            self._sync_excludes()
            self._add_all()
            tree = self._out(["write-tree"]).decode().strip()
            args = ["commit-tree", tree, "-m", message or "checkpoint"]
            if parent:
                args += ["-p", self.resolve(parent)]
            commit = self._out(args).decode().strip()
            target = self._ref_name(ref, commit)
            rc, _, err = self._run(["update-ref", target, commit])
            if rc != 0:
                if "bad name" in err or "not a valid" in err or "refusing" in err:
                    raise CheckpointError(f"bad checkpoint ref name {ref!r}: {err.strip()}")
                self._fail("update-ref", err)
            self._known.add(commit)
            self._after_snapshot()
            return commit

    # --- step-level names: the one place that knows how checkpoint refs are laid out ---

    @staticmethod
    def plan_prefix(plan_id: str) -> str:
        """The ref prefix under which every checkpoint of one plan lives."""
        return f"{REF_ROOT}{plan_id}/"

    def step_snapshot(self, plan_id: str, step_id: str, label: str, message: str) -> str:
        """Snapshot kept as a checkpoint of one step; ``label`` is e.g. ``1/before``."""
        return self.snapshot(message, ref=f"{self.plan_prefix(plan_id)}{step_id}/{label}")

    def clean_plans(self, keep_plan_ids: list[str]) -> int:
        """Drop the checkpoints of every plan but ``keep_plan_ids``; bytes freed."""
        return self.clean([self.plan_prefix(p) for p in keep_plan_ids])

    def resolve(self, checkpoint: str) -> str:
        """The full commit sha of a checkpoint id, short sha or ref; CheckpointError if unknown."""
        if not checkpoint or not isinstance(checkpoint, str) or checkpoint.startswith("-"):
            raise CheckpointError(f"no such checkpoint: {checkpoint!r}")
        with self._mutex:
            if checkpoint in self._known:
                return checkpoint
            self._open()
            rc, out, err = self._run(["rev-parse", "--verify", "-q", f"{checkpoint}^{{commit}}"])
            if rc == 0:
                sha = out.decode().strip()
                if sha == checkpoint:  # commits are immutable; refs are not, so only shas
                    self._known.add(sha)
                return sha
            if err.strip():
                self._fail(f"reading checkpoint {checkpoint}", err)
            raise CheckpointError(f"no such checkpoint: {checkpoint!r} in {self.shadow_dir}")

    def changes(self, before: str, after: str) -> list[FileChange]:
        """What changed between two checkpoints, per file (+/- counts, renames)."""
        with self._mutex:
            return [_as_diff(e, "").to_change() for e in self._entries(before, after)]

    def diff(self, before: str, after: str, paths: list[str] | None = None) -> list[FileDiff]:
        """Unified diff per file between two checkpoints, optionally only for ``paths``
        (files or directories; a rename is included when either of its sides matches)."""
        with self._mutex:
            b, a = self.resolve(before), self.resolve(after)
            entries = self._entries(b, a)
            if paths is not None:
                wanted = [self._rel(p) for p in paths]
                entries = [e for e in entries if _matches(e, wanted)]
                if not entries:
                    return []
                spec = sorted({p for e in entries for p in (e.path, e.old_path)})
                entries = self._entries(b, a, spec)
            else:
                spec = []
            patches = self._patches(b, a, spec, entries)
            return [_as_diff(e, p) for e, p in zip(entries, patches, strict=True)]

    def file_at(self, checkpoint: str, path: str) -> bytes | None:
        """A file's bytes at a checkpoint (a symlink's target text), or None if absent."""
        with self._mutex:
            sha = self.resolve(checkpoint)
            rel = self._rel(path)
            repo = self._gitpython()
            try:
                obj = repo.commit(sha).tree / rel
            except KeyError:
                return None
            except Exception as e:  # gitpython surfaces object damage as many types
                self._fail(f"reading {rel} at {sha[:10]}", str(e))
            if obj.type != "blob":
                return None
            try:
                return obj.data_stream.read()
            except Exception as e:
                self._fail(f"reading {rel} at {sha[:10]}", str(e))

    def revert(self, before: str, after: str, paths: list[str] | None = None) -> RevertResult:
        """Put back the files that changed from ``before`` to ``after`` (optionally only
        ``paths``) as they were at ``before``; files changed since ``after`` are conflicts."""
        with self._mutex, self._exclusive():
            b, a = self.resolve(before), self.resolve(after)
            entries = self._entries(b, a)
            result = RevertResult(restored=[], conflicts=[])
            if paths is not None:
                wanted = [self._rel(p) for p in paths]
                result.not_in_step = [
                    w for w in wanted if not any(_matches(e, [w]) for e in entries)
                ]
                entries = [e for e in entries if _matches(e, wanted)]
            ops: dict[str, tuple[_State, _State]] = {}  # path -> (before-state, after-state)
            for e in entries:
                if e.status == "R":
                    ops[e.old_path] = (e.before, None)
                    ops[e.path] = (None, e.after)
                else:
                    ops[e.path] = (e.before, e.after)
            # Deletions first, deepest first, so a directory the step created can go before a
            # file the step removed is written back at the same path.
            dels = sorted((p for p, (bs, _) in ops.items() if bs is None), key=_depth, reverse=True)
            puts = sorted((p for p, (bs, _) in ops.items() if bs is not None), key=_depth)
            for p in dels + puts:
                self._revert_one(p, *ops[p], b, result)
            return result

    def refs(self, prefix: str = REF_ROOT) -> dict[str, str]:
        """Checkpoint refs under ``prefix`` → commit sha."""
        return {c.ref: c.sha for c in self.list_checkpoints(prefix)}

    def list_checkpoints(self, prefix: str = REF_ROOT) -> list[CheckpointInfo]:
        with self._mutex:
            if not self.exists:
                return []
            self._open()
            fmt = "%(refname)%00%(objectname)%00%(committerdate:unix)%00%(contents:subject)"
            out = self._out(["for-each-ref", f"--format={fmt}", prefix]).decode(errors="replace")
            infos = []
            for line in out.splitlines():
                ref, sha, when, subject = line.split("\0", 3)
                infos.append(CheckpointInfo(ref, sha, subject, int(when or 0)))
            return infos

    def disk_usage(self) -> int:
        """Bytes the shadow repository takes on disk (allocated blocks where known)."""
        total = 0
        for dirpath, _dirs, files in os.walk(self.shadow_dir):
            for name in files:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                blocks = getattr(st, "st_blocks", None)
                total += blocks * 512 if blocks is not None else st.st_size
        return total

    def clean(self, keep_refs_prefixes: list[str]) -> int:
        """Drop every checkpoint ref not under one of ``keep_refs_prefixes``, then prune
        unreachable objects now; return the bytes freed. The shadow index (the current
        tree's objects) is kept so the next snapshot stays incremental."""
        with self._mutex:
            if not self.exists:
                return 0
            with self._exclusive():
                self._open()
                self._wait_for_gc()
                used = self.disk_usage()
                doomed = [
                    r
                    for r in self._out(["for-each-ref", "--format=%(refname)"])
                    .decode()
                    .splitlines()
                    if r and not any(r.startswith(k) for k in keep_refs_prefixes)
                ]
                if doomed:
                    self._stdin(["update-ref", "--stdin"], "".join(f"delete {r}\n" for r in doomed))
                self._out(["reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all"])
                self._out(["-c", "gc.autoDetach=false", "gc", "--prune=now", "--quiet"])
                self._write_state(snapshots_since_gc=0)
                self._known.clear()
                return max(0, used - self.disk_usage())

    def reset_shadow(self) -> Path | None:
        """Move a damaged shadow repository aside (``shadow.git.broken-<timestamp>``) so the
        next snapshot starts fresh; returns where it went, or None if there was none."""
        with self._mutex:
            self.close()
            self._ready = False
            self._known.clear()
            if not self.shadow_dir.exists():
                return None
            stamp = time.strftime("%Y%m%d-%H%M%S")
            dest = self.shadow_dir.with_name(f"{self.shadow_dir.name}.broken-{stamp}")
            n = 1
            while dest.exists():
                dest = self.shadow_dir.with_name(f"{self.shadow_dir.name}.broken-{stamp}-{n}")
                n += 1
            os.replace(self.shadow_dir, dest)
            log.warning("moved the checkpoint repository %s aside to %s", self.shadow_dir, dest)
            return dest

    def wait_for_gc(self, timeout_s: float = 600.0) -> None:
        """Block until a background ``git gc`` of the shadow has finished (benchmarks, clean)."""
        self._wait_for_gc(timeout_s)

    # --- git plumbing -----------------------------------------------------------------------

    def _env(self, gitdir: Path | None = None) -> dict[str, str]:
        """Every variable that could point git elsewhere is set explicitly: gitpython can only
        add to os.environ, and a planloop started from a git hook inherits GIT_DIR & co."""
        s = str(gitdir or self.shadow_dir)
        now = f"@{int(time.time())} +0000"
        env = {
            "GIT_DIR": s,
            "GIT_COMMON_DIR": s,
            "GIT_WORK_TREE": str(self.root),
            "GIT_INDEX_FILE": os.path.join(s, "index"),
            "GIT_OBJECT_DIRECTORY": os.path.join(s, "objects"),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
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

    def _run(
        self,
        args: list[str],
        *,
        istream: Any = None,
        hold_lock: bool = True,
        literal: bool = True,
    ) -> tuple[int, bytes, str]:
        """Run git on the shadow; (exit code, stdout bytes, stderr text)."""
        cmd = [
            git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git",
            f"--git-dir={self.shadow_dir}",
            f"--work-tree={self.root}",
            *args,
        ]
        pass_fds = (self._lock_fd,) if hold_lock and self._lock_fd is not None else ()
        env = self._env()
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

    def _out(self, args: list[str], what: str | None = None) -> bytes:
        rc, out, err = self._run(args)
        if rc != 0:
            self._fail(what or f"git {args[0]}", err)
        return out

    def _stdin(self, args: list[str], text: str) -> bytes:
        with tempfile.TemporaryFile() as f:
            f.write(os.fsencode(text))
            f.seek(0)
            rc, out, err = self._run(args, istream=f)
        if rc != 0:
            self._fail(f"git {args[0]}", err)
        return out

    def _fail(self, what: str, detail: str) -> Any:
        detail = " ".join(detail.strip().split()) or "no details from git"
        raise CheckpointError(
            f"{what} failed: planloop's checkpoint repository {self.shadow_dir} is damaged or "
            f"unreadable ({detail}). Your workspace files were not touched. To start fresh, "
            f"run `planloop clean --reset-shadow` (it moves {self.shadow_dir} aside) or delete "
            f"it; existing checkpoints of this workspace are lost."
        )

    def _gitpython(self) -> git.Repo:
        if self._repo is None:
            self._open()
            try:
                repo = git.Repo(str(self.shadow_dir))
            except Exception as e:
                self._fail("opening", str(e))
            repo.git.update_environment(**self._env())
            self._repo = repo
        return self._repo

    # --- shadow setup ----------------------------------------------------------------------

    def _open(self, *, create: bool = False) -> None:
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
            self._fail("reading the configuration", str(e))
        if version != _CONFIG_VERSION:
            self._configure(self.shadow_dir)
        rc, _, err = self._run(["rev-parse", "--git-dir"])
        if rc != 0:
            self._fail("opening", err)
        self._ready = True

    def _create(self) -> None:
        """Initialise in a temporary directory, then rename into place: a crash mid-way
        leaves no half-made shadow behind."""
        parent = self.shadow_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        if parent == self.root / ".planloop" and not (parent / ".gitignore").exists():
            (parent / ".gitignore").write_text("*\n")
        tmp = Path(tempfile.mkdtemp(prefix=self.shadow_dir.name + ".init-", dir=parent))
        try:
            # `git init --bare` refuses to run when GIT_WORK_TREE is inherited, and gitpython
            # cannot unset a variable; so init with our own GIT_DIR/GIT_WORK_TREE and make
            # the repository bare in _configure.
            env = {**self._env(tmp), "GIT_TEMPLATE_DIR": ""}
            git.Repo.init(str(tmp), mkdir=False, quiet=True, env=env).close()
            self._configure(tmp)
            try:
                os.rename(tmp, self.shadow_dir)
            except OSError:
                if not self.exists:  # another process won the race otherwise
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _configure(self, gitdir: Path) -> None:
        settings = {
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
        # The shadow's config is ours alone: write it whole (one write, no core.worktree left
        # over from `git init`), rather than key by key.
        sections: dict[str, list[str]] = {"core": ["\trepositoryformatversion = 0"]}
        for key, value in settings.items():
            section, option = key.split(".", 1)
            sections.setdefault(section, []).append(f"\t{option} = {value}")
        text = "".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items())
        tmp = gitdir / "config.planloop-tmp"
        tmp.write_text(text)
        os.replace(tmp, gitdir / "config")
        info = gitdir / "info"
        info.mkdir(exist_ok=True)
        (info / "attributes").write_text(_ATTRIBUTES)
        (gitdir / "hooks").mkdir(exist_ok=True)

    # --- locking ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self, *, create: bool = False) -> Iterator[None]:
        """Hold the cross-process writer lock (re-entrant within this store)."""
        if self._lock_fd is not None:
            yield
            return
        if not self.exists:
            if not create:
                raise CheckpointError(
                    f"no checkpoints yet: {self.shadow_dir} does not exist (a snapshot creates it)"
                )
            self._open(create=True)
        fd = os.open(self.shadow_dir / "planloop.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                deadline = time.monotonic() + self.lock_timeout_s
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise CheckpointError(
                                f"the checkpoint repository {self.shadow_dir} is busy: another "
                                f"planloop process (or a git it started) has held its lock for "
                                f"{self.lock_timeout_s:g} s"
                            ) from None
                        time.sleep(0.05)
            self._lock_fd = fd
            self._clear_stale_locks()
            yield
        finally:
            self._lock_fd = None
            os.close(fd)

    def _clear_stale_locks(self) -> None:
        """Holding the flock means no git process of ours is alive, so an ``index.lock`` is
        a leftover of a killed run. Ref locks are judged by age: a background gc (which does
        not hold our flock) may hold them for a moment."""
        index_lock = self.shadow_dir / "index.lock"
        candidates = [index_lock] if index_lock.exists() else []
        candidates += [p for p in self.shadow_dir.glob("refs/**/*.lock")]
        candidates += [
            self.shadow_dir / n for n in ("packed-refs.lock", "config.lock", "HEAD.lock")
        ]
        now = time.time()
        for lock in candidates:
            try:
                age = now - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            exact = lock == index_lock and fcntl is not None
            if exact or age > self.stale_lock_s:
                lock.unlink(missing_ok=True)
                log.warning(
                    "removed a stale lock %s (%.0f s old) left by an interrupted checkpoint",
                    lock,
                    age,
                )

    def _wait_for_gc(self, timeout_s: float = 600.0) -> None:
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

    # --- snapshot helpers -------------------------------------------------------------------

    def _state_path(self) -> Path:
        return self.shadow_dir / "planloop-state.json"

    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_path().read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_state(self, **changes: Any) -> None:
        state = self._read_state()
        state.update(changes)
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(tmp, self._state_path())

    def _user_exclude(self) -> str:
        """The user's ``.git/info/exclude``, read only (a worktree's lives in the common dir)."""
        dotgit = self.root / ".git"
        try:
            if dotgit.is_file():
                line = dotgit.read_text(errors="replace").strip()
                if not line.startswith("gitdir:"):
                    return ""
                gd = Path(line[len("gitdir:") :].strip())
                gd = gd if gd.is_absolute() else (self.root / gd)
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

    def _sync_excludes(self) -> None:
        nested = self._read_state().get("nested", [])
        alive = [n for n in nested if os.path.lexists(self.root / n / ".git")]
        if alive != nested:
            for gone in set(nested) - set(alive):
                log.info("%s is no longer a repository; its files are captured again", gone)
            self._write_state(nested=alive)
        self._write_excludes(alive)

    def _write_excludes(self, nested: list[str]) -> None:
        # The user's patterns first: in one exclude file the last match wins, so a stray
        # "!.planloop" there cannot re-include our own directories.
        lines = [
            "# written by planloop on every snapshot; edit the workspace's ignores instead",
            "# the user's .git/info/exclude:",
            self._user_exclude(),
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
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, errors="surrogateescape")

    def _own_dirs(self) -> list[str]:
        """planloop's directories inside the workspace, as exclude pathspecs."""
        own = [".planloop"]
        with contextlib.suppress(ValueError):
            rel = self.shadow_dir.relative_to(self.root).as_posix()
            if not rel.startswith(".planloop/"):
                own.append(rel)
        return [f":(exclude,top,literal){d}" for d in own]

    def _add_all(self, retried: bool = False) -> None:
        # The exclude pathspecs outrank every ignore file: even a whitelisting .gitignore
        # ("*", "!*/") cannot pull the shadow repository into its own checkpoints.
        rc, _, err = self._run(
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
                self._out(["update-index", "--force-remove", "--", *embedded])
            state = self._read_state()
            nested = sorted(set(state.get("nested", [])) | set(found))
            self._write_state(nested=nested)
            self._write_excludes(nested)
            log.warning(
                "nested repositories are not checkpointed (left untouched): %s", ", ".join(found)
            )
        if rc != 0:
            if "fatal:" in err:
                self._fail("git add", err)
            rest = [
                ln
                for ln in err.splitlines()
                if ln.startswith("error:") and not _UNBORN_RE.match(ln)
            ]
            if rest:
                self.last_warnings.extend(rest)
                log.warning("some files could not be checkpointed: %s", "; ".join(rest))

    def _ref_name(self, ref: str | None, commit: str) -> str:
        if ref is None:
            return DEFAULT_REF_PREFIX + commit
        if not ref.startswith("refs/"):
            ref = REF_ROOT + ref.lstrip("/")
        if not ref.startswith(REF_ROOT):
            raise CheckpointError(f"checkpoint refs live under {REF_ROOT}, not {ref!r}")
        return ref

    def _after_snapshot(self) -> None:
        state = self._read_state()
        n = int(state.get("snapshots_since_gc", 0)) + 1
        first = not state.get("gc_checked")
        if first or n >= self.gc_every:
            detach = "true" if self.gc_detach else "false"
            rc, _, err = self._run(
                ["-c", f"gc.autoDetach={detach}", "gc", "--auto", "--quiet"], hold_lock=False
            )
            if rc != 0:
                log.warning("git gc --auto on %s failed: %s", self.shadow_dir, err.strip())
            n = 0
        self._write_state(snapshots_since_gc=n, gc_checked=True)

    # --- diff helpers -----------------------------------------------------------------------

    def _rel(self, path: str) -> str:
        """A workspace-relative posix path; absolute paths inside the root are accepted."""
        if not isinstance(path, str) or not path.strip() or "\0" in path:
            raise CheckpointError(f"bad path {path!r}")
        p = Path(path)
        if p.is_absolute():
            # Resolve the directories (a symlinked root), never the file itself.
            real = Path(os.path.realpath(p.parent)) / p.name
            for candidate in (p, real):
                with contextlib.suppress(ValueError):
                    p = candidate.relative_to(self.root)
                    break
            else:
                raise CheckpointError(f"path {path!r} is outside the workspace")
        parts = [x for x in p.as_posix().split("/") if x not in ("", ".")]
        if any(x == ".." for x in parts):
            raise CheckpointError(f"path {path!r} is outside the workspace")
        return "/".join(parts)

    def _entries(self, before: str, after: str, spec: list[str] | None = None) -> list[_Entry]:
        b, a = self.resolve(before), self.resolve(after)
        args = ["diff-tree", "-r", "-M", "-z", "--raw", "--numstat", "--no-ext-diff", b, a]
        if spec:
            args += ["--", *spec]
        tokens = self._out(args, "diffing checkpoints").split(b"\0")
        entries: list[_Entry] = []
        i = 0
        while i < len(tokens) and tokens[i].startswith(b":"):
            old_mode, new_mode, old_sha, new_sha, status = tokens[i][1:].decode().split(" ")
            letter = status[0]
            if letter in "RC":
                old, new = os.fsdecode(tokens[i + 1]), os.fsdecode(tokens[i + 2])
                i += 3
            else:
                old = new = os.fsdecode(tokens[i + 1])
                i += 2
            entries.append(_Entry(letter, new, old, old_mode, new_mode, old_sha, new_sha))
        for e in entries:
            if i >= len(tokens):
                break
            added, removed, tail = tokens[i].decode(errors="replace").split("\t", 2)
            i += 3 if tail == "" else 1  # a rename's paths follow in their own tokens
            e.binary = added == "-"
            e.added = 0 if e.binary else int(added)
            e.removed = 0 if e.binary else int(removed)
        return entries

    def _patches(self, b: str, a: str, spec: list[str], entries: list[_Entry]) -> list[str]:
        args = ["diff-tree", "-r", "-M", "-p", "--no-ext-diff", "--no-color", b, a]
        if spec:
            args += ["--", *spec]
        out = self._out(args, "diffing checkpoints")
        sections = [s for s in re.split(rb"(?m)^(?=diff --git )", out) if s]
        need = sum(2 if e.status == "T" else 1 for e in entries)
        if len(sections) != need:  # never expected; fall back to one diff per file
            log.warning("diff sections (%d) do not line up with files (%d)", len(sections), need)
            return [
                self._out(
                    [
                        "diff-tree",
                        "-r",
                        "-M",
                        "-p",
                        "--no-ext-diff",
                        "--no-color",
                        b,
                        a,
                        "--",
                        *{e.path, e.old_path},
                    ]
                ).decode("utf-8", "replace")
                for e in entries
            ]
        patches, i = [], 0
        for e in entries:
            n = 2 if e.status == "T" else 1
            patches.append(b"".join(sections[i : i + n]).decode("utf-8", "replace"))
            i += n
        return patches

    # --- revert helpers ---------------------------------------------------------------------

    def _current(self, rel: str) -> _State | str:
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
        cur = str(self.root)
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

    def _revert_one(
        self, rel: str, before: _State, after: _State, before_commit: str, result: RevertResult
    ) -> None:
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
            self._prune_dirs(rel, before_commit)
        else:
            problem = self._parent_problem(rel, create=True)
            if problem:
                result.conflicts.append(Conflict(rel, problem))
                return
            self._write_blob(path, *before)
        result.restored.append(rel)

    def _write_blob(self, path: str, mode: str, sha: str) -> None:
        """Write beside the target and rename over it: atomic, and a symlink at the target
        is replaced, never followed."""
        data = self._gitpython().odb.stream(bytes.fromhex(sha)).read()
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

    def _prune_dirs(self, rel: str, before_commit: str) -> None:
        """Remove directories emptied by deleting a file the step added, unless the
        before-checkpoint has them (then they stay, even if empty)."""
        tree = self._gitpython().commit(before_commit).tree
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


def _matches(e: _Entry, wanted: list[str]) -> bool:
    for w in wanted:
        for p in (e.path, e.old_path):
            if w == "" or p == w or p.startswith(w + "/"):
                return True
    return False


def _as_diff(e: _Entry, patch: str) -> FileDiff:
    return FileDiff(
        path=e.path,
        status=_STATUS.get(e.status, "modified"),
        old_path=e.old_path if e.status == "R" else None,
        added=e.added,
        removed=e.removed,
        binary=e.binary,
        patch=patch,
        old_mode="" if e.old_mode == "000000" else e.old_mode,
        new_mode="" if e.new_mode == "000000" else e.new_mode,
    )


def _conflict_reason(cur: _State | str, after: _State) -> str:
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

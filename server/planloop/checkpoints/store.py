"""Checkpoints: a snapshot of the whole workspace before and after every step, kept in a
shadow git repository, so each step has its own diff and its own undo.

This module is the step-level API, :class:`CheckpointStore`. The pieces under it, each
readable on its own:

- :mod:`planloop.checkpoints.shadow_repo` — the shadow repository
  (``.planloop/shadow.git``) and every git process run on it: why it keeps the user's
  ``.git`` safe, what a snapshot captures (ignores, nested repositories, bytes exactly),
  gc; its config and environment in :mod:`planloop.checkpoints.shadow_config`, its first
  snapshot borrowed from the user's repository in :mod:`planloop.checkpoints.borrowing`;
- :mod:`planloop.checkpoints.integrity` — the writer lock, stale locks, and damage;
- :mod:`planloop.checkpoints.diff` — parsing ``git diff-tree`` into per-file changes;
- :mod:`planloop.checkpoints.revert` — undoing a step file by file, and its conflict rules.

Checkpoints are parentless commits (unless a ``parent`` is given) kept alive by refs under
``refs/planloop/``; a plan's checkpoints live under ``refs/planloop/<plan>/<step>/<label>``
(:meth:`CheckpointStore.plan_prefix`). A parent chain would make every older checkpoint
reachable from the newest one, and ``clean()`` could then never free a finished plan's
checkpoints. ``clean()`` drops refs and prunes for real.

Damage: when git cannot read the shadow a :class:`CheckpointError` names the shadow
directory and the way to start fresh: delete ``.planloop/shadow.git`` or call
:meth:`CheckpointStore.reset_shadow`, which moves it aside to
``shadow.git.broken-<timestamp>``. The workspace is never touched on that path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from planloop import faults
from planloop.checkpoints import ahead
from planloop.checkpoints.ahead import DEFAULT_SHADOW
from planloop.checkpoints.diff import Entry, FileDiff, parse_entries, split_patches
from planloop.checkpoints.integrity import CheckpointError
from planloop.checkpoints.revert import Conflict, RevertResult, revert_entries
from planloop.checkpoints.shadow_repo import ShadowRepo
from planloop.document.plan import FileChange

log = logging.getLogger("planloop.checkpoints")

__all__ = [
    "DEFAULT_REF_PREFIX",
    "DEFAULT_SHADOW",
    "REF_ROOT",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointStore",
    "Conflict",
    "FileDiff",
    "RevertResult",
]

REF_ROOT = "refs/planloop/"
DEFAULT_REF_PREFIX = REF_ROOT + "auto/"


@dataclass
class CheckpointInfo:
    ref: str
    sha: str
    message: str
    created_at: int  # unix seconds


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
        self.last_warnings: list[str] = []  # files the last snapshot could not read
        self._shadow = ShadowRepo(
            self.root,
            self.shadow_dir,
            gc_every=gc_every,
            gc_detach=gc_detach,
            lock_timeout_s=lock_timeout_s,
            stale_lock_s=stale_lock_s,
        )
        self._mutex = self._shadow.mutex
        self._known: set[str] = set()  # commit shas verified to exist
        #: the trees of the checkpoints this store made lately (to reuse a diff already read)
        self._trees: dict[str, str] = {}
        self._background: threading.Thread | None = None
        #: told (message, finished) around a first snapshot, the one that may take seconds
        self.on_progress: Callable[[str, bool], None] | None = None

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.wait_for_background()
        self._shadow.close()

    def wait_for_background(self) -> None:
        """Let the first checkpoint's background tree copy finish (it is short: one
        ``ls-tree`` and one small pack)."""
        worker = self._background
        if worker is not None:
            worker.join()
            self._background = None

    def _start_background(self) -> None:
        if not self._shadow.trees_due or (
            self._background is not None and self._background.is_alive()
        ):
            return

        def work() -> None:
            try:
                self._shadow.localize_due_trees()
            except Exception as e:  # the next snapshot does it inline instead
                log.info("copying the first checkpoint's trees failed (%s); retried later", e)

        self._background = threading.Thread(target=work, name="planloop-trees", daemon=True)
        self._background.start()

    @property
    def exists(self) -> bool:
        return self._shadow.exists

    @property
    def nested_repos(self) -> list[str]:
        """Nested repositories excluded from checkpoints (workspace-relative paths)."""
        return self._shadow.nested_repos

    # --- taking checkpoints -----------------------------------------------------------------

    def snapshot(
        self,
        message: str,
        ref: str | None = None,
        *,
        parent: str | None = None,
        paths: list[str] | None = None,
        untouched_since_start: bool = False,
    ) -> str:
        """Commit the whole workspace as it is now; return the checkpoint's commit sha.

        ``ref`` (``refs/planloop/...``, or a name placed under it) keeps the checkpoint
        alive; without one it is kept under ``refs/planloop/auto/``. ``paths``: the only
        files that changed since the last snapshot (the caller knows every write), so
        only they are read again; None scans the whole workspace.
        ``untouched_since_start``: nothing was written or run in the workspace since the
        process started, so a staging begun then (:mod:`~planloop.checkpoints.ahead`)
        stands for the scan.
        """
        shadow = self._shadow
        staged = ahead.take(self.shadow_dir)  # only the first snapshot may use it
        use = staged if staged and staged.ok and untouched_since_start and paths is None else None
        first = use.first if use else not (self.shadow_dir / "index").exists()
        started = time.monotonic() - (use.took_s if use else 0.0)
        if first and self.on_progress is not None:
            self.on_progress("first checkpoint: recording the workspace…", False)
        with self._mutex, shadow.exclusive(create=True):
            shadow.open(create=True)
            self.last_warnings = []  # cleared first: a failed snapshot leaves none behind
            if use and use.tree:
                tree, self.last_warnings = use.tree, use.warnings
            else:
                tree, self.last_warnings = shadow.write_tree([] if use else paths)
                if use:
                    self.last_warnings = use.warnings
            args = ["commit-tree", tree, "-m", message or "checkpoint"]
            if parent:
                args += ["-p", self.resolve(parent)]
            commit = shadow.out(args).decode().strip()
            target = self._ref_name(ref, commit)
            faults.point("checkpoint")  # the commit exists, its ref does not yet
            rc, _, err = shadow.run(["update-ref", target, commit])
            if rc != 0:
                if "bad name" in err or "not a valid" in err or "refusing" in err:
                    raise CheckpointError(f"bad checkpoint ref name {ref!r}: {err.strip()}")
                shadow.fail("update-ref", err)
            self._known.add(commit)
            self._trees[commit] = tree
            if len(self._trees) > 64:
                del self._trees[next(iter(self._trees))]
            shadow.note_snapshot()
        self._start_background()
        if first and self.on_progress is not None:
            how = " (borrowing your git's objects and index)" if shadow.borrowed else ""
            took = time.monotonic() - started
            self.on_progress(f"first checkpoint in {took:.1f} s{how}", True)
        return commit

    # --- step-level names: the one place that knows how checkpoint refs are laid out ---

    @staticmethod
    def plan_prefix(plan_id: str) -> str:
        """The ref prefix under which every checkpoint of one plan lives."""
        return f"{REF_ROOT}{plan_id}/"

    def step_snapshot(
        self,
        plan_id: str,
        step_id: str,
        label: str,
        message: str,
        *,
        paths: list[str] | None = None,
        untouched_since_start: bool = False,
    ) -> str:
        """Snapshot kept as a checkpoint of one step; ``label`` is e.g. ``1/before``."""
        return self.snapshot(
            message,
            ref=f"{self.plan_prefix(plan_id)}{step_id}/{label}",
            paths=paths,
            untouched_since_start=untouched_since_start,
        )

    def clean_plans(self, keep_plan_ids: list[str]) -> int:
        """Drop the checkpoints of every plan but ``keep_plan_ids``; bytes freed."""
        return self.clean([self.plan_prefix(p) for p in keep_plan_ids])

    def _ref_name(self, ref: str | None, commit: str) -> str:
        if ref is None:
            return DEFAULT_REF_PREFIX + commit
        if not ref.startswith("refs/"):
            ref = REF_ROOT + ref.lstrip("/")
        if not ref.startswith(REF_ROOT):
            raise CheckpointError(f"checkpoint refs live under {REF_ROOT}, not {ref!r}")
        return ref

    # --- reading checkpoints ----------------------------------------------------------------

    def resolve(self, checkpoint: str) -> str:
        """The full commit sha of a checkpoint id, short sha or ref; CheckpointError if unknown."""
        if not checkpoint or not isinstance(checkpoint, str) or checkpoint.startswith("-"):
            raise CheckpointError(f"no such checkpoint: {checkpoint!r}")
        with self._mutex:
            if checkpoint in self._known:
                return checkpoint
            self._shadow.open()
            rc, out, err = self._shadow.run(
                ["rev-parse", "--verify", "-q", f"{checkpoint}^{{commit}}"]
            )
            if rc == 0:
                sha = out.decode().strip()
                if sha == checkpoint:  # commits are immutable; refs are not, so only shas
                    self._known.add(sha)
                return sha
            if err.strip():
                self._shadow.fail(f"reading checkpoint {checkpoint}", err)
            raise CheckpointError(f"no such checkpoint: {checkpoint!r} in {self.shadow_dir}")

    def changes(self, before: str, after: str) -> list[FileChange]:
        """What changed between two checkpoints, per file (+/- counts, renames)."""
        with self._mutex:
            return [e.as_diff("").to_change() for e in self._entries(before, after)]

    def diff(self, before: str, after: str, paths: list[str] | None = None) -> list[FileDiff]:
        """Unified diff per file between two checkpoints, optionally only for ``paths``
        (files or directories; a rename is included when either of its sides matches)."""
        with self._mutex:
            b, a = self.resolve(before), self.resolve(after)
            entries = self._entries(b, a)
            if paths is not None:
                wanted = [self._rel(p) for p in paths]
                entries = [e for e in entries if e.matches(wanted)]
                if not entries:
                    return []
                spec = sorted({p for e in entries for p in (e.path, e.old_path)})
                entries = self._entries(b, a, spec)
            else:
                spec = []
            patches = self._patches(b, a, spec, entries)
            return [e.as_diff(p) for e, p in zip(entries, patches, strict=True)]

    def file_at(self, checkpoint: str, path: str) -> bytes | None:
        """A file's bytes at a checkpoint (a symlink's target text), or None if absent."""
        with self._mutex:
            sha = self.resolve(checkpoint)
            rel = self._rel(path)
            repo = self._shadow.gitpython()
            try:
                obj = repo.commit(sha).tree / rel
            except KeyError:
                return None
            except Exception as e:  # gitpython surfaces object damage as many types
                self._shadow.fail(f"reading {rel} at {sha[:10]}", str(e))
            if obj.type != "blob":
                return None
            try:
                data: bytes = obj.data_stream.read()
            except Exception as e:
                self._shadow.fail(f"reading {rel} at {sha[:10]}", str(e))
            return data

    def refs(self, prefix: str = REF_ROOT) -> dict[str, str]:
        """Checkpoint refs under ``prefix`` → commit sha."""
        return {c.ref: c.sha for c in self.list_checkpoints(prefix)}

    def list_checkpoints(self, prefix: str = REF_ROOT) -> list[CheckpointInfo]:
        with self._mutex:
            if not self.exists:
                return []
            self._shadow.open()
            fmt = "%(refname)%00%(objectname)%00%(committerdate:unix)%00%(contents:subject)"
            out = self._shadow.out(["for-each-ref", f"--format={fmt}", prefix])
            infos = []
            for line in out.decode(errors="replace").splitlines():
                ref, sha, when, subject = line.split("\0", 3)
                infos.append(CheckpointInfo(ref, sha, subject, int(when or 0)))
            return infos

    # --- undoing a step ---------------------------------------------------------------------

    def revert(self, before: str, after: str, paths: list[str] | None = None) -> RevertResult:
        """Put back the files that changed from ``before`` to ``after`` (optionally only
        ``paths``) as they were at ``before``; files changed since ``after`` are conflicts."""
        ahead.take(self.shadow_dir)  # the work tree changes: an early staging is stale
        with self._mutex, self._shadow.exclusive():
            b, a = self.resolve(before), self.resolve(after)
            entries = self._entries(b, a)
            not_in_step: list[str] = []
            if paths is not None:
                wanted = [self._rel(p) for p in paths]
                not_in_step = [w for w in wanted if not any(e.matches([w]) for e in entries)]
                entries = [e for e in entries if e.matches(wanted)]
            result = revert_entries(self.root, entries, b, self._shadow.gitpython)
            result.not_in_step = not_in_step
            return result

    # --- disk -------------------------------------------------------------------------------

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
        shadow = self._shadow
        with self._mutex:
            if not self.exists:
                return 0
            with shadow.exclusive():
                shadow.open()
                shadow.wait_for_gc()
                used = self.disk_usage()
                doomed = [
                    r
                    for r in shadow.out(["for-each-ref", "--format=%(refname)"])
                    .decode()
                    .splitlines()
                    if r and not any(r.startswith(k) for k in keep_refs_prefixes)
                ]
                if doomed:
                    shadow.stdin(
                        ["update-ref", "--stdin"], "".join(f"delete {r}\n" for r in doomed)
                    )
                shadow.prune_now()
                self._known.clear()
                return max(0, used - self.disk_usage())

    def reset_shadow(self) -> Path | None:
        """Move a damaged shadow repository aside (``shadow.git.broken-<timestamp>``) so the
        next snapshot starts fresh; returns where it went, or None if there was none."""
        ahead.take(self.shadow_dir)  # its index goes with it
        with self._mutex:
            self._known.clear()
            return self._shadow.move_aside()

    def wait_for_gc(self, timeout_s: float = 600.0) -> None:
        """Block until a background ``git gc`` of the shadow has finished (benchmarks, clean)."""
        self._shadow.wait_for_gc(timeout_s)

    def rel(self, path: str) -> str:
        """``path`` as the workspace-relative posix path checkpoints name it by."""
        return self._rel(path)

    # --- helpers ----------------------------------------------------------------------------

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

    def _entries(self, before: str, after: str, spec: list[str] | None = None) -> list[Entry]:
        b, a = self.resolve(before), self.resolve(after)
        known = self._shadow.last_diff
        if not spec and known is not None and (self._trees.get(b), self._trees.get(a)) == known[:2]:
            # a step's change list right after its after-checkpoint: read by that snapshot
            return [dataclasses.replace(e) for e in known[2]]
        args = ["diff-tree", "-r", "-M", "-z", "--raw", "--numstat", "--no-ext-diff", b, a]
        if spec:
            args += ["--", *spec]
        return parse_entries(self._shadow.out(args, "diffing checkpoints", index=False))

    def _patches(self, b: str, a: str, spec: list[str], entries: list[Entry]) -> list[str]:
        args = ["diff-tree", "-r", "-M", "-p", "--no-ext-diff", "--no-color", b, a]
        patches = split_patches(
            self._shadow.out(
                [*args, "--", *spec] if spec else args, "diffing checkpoints", index=False
            ),
            entries,
        )
        if patches is not None:
            return patches
        return [  # one diff per file, when the sections of one diff did not line up
            self._shadow.out([*args, "--", *{e.path, e.old_path}], index=False).decode(
                "utf-8", "replace"
            )
            for e in entries
        ]

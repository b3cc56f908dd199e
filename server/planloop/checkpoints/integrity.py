"""Keeping the shadow consistent across processes and crashes, and saying so when it is not.

Why a module of its own: these are the paths that run when something went wrong elsewhere
(another process, a killed run, a pruned or corrupted store), and each must leave the
workspace untouched and tell the user one clear way out.

Concurrency and crashes: an advisory ``flock`` on ``shadow.git/planloop.lock``
(:class:`WriterLock`) serialises writers across processes, and is passed to every git
child started under it, so the lock stays held while any such git process lives. Hence a
stale ``index.lock`` (a run killed mid-snapshot) is recognised exactly: we hold the flock,
so no git of ours is running.

Damage: when git cannot read the shadow (garbage in HEAD, corrupt or missing objects) a
:class:`CheckpointError` (:func:`raise_damaged`) names the shadow directory and the way to
start fresh (delete it, or :func:`move_aside`). The workspace is never touched on that path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from planloop.errors import PlanloopError

try:  # POSIX; elsewhere stale locks are judged by age only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("planloop.checkpoints")

#: what git says when an object it needs is not there (or not readable)
MISSING_RE = re.compile(
    r"missing|unable to read|bad object|invalid object|not a valid object|could not read|"
    r"does not exist|bad tree|corrupt",
    re.I,
)


class CheckpointError(PlanloopError):
    """A checkpoint operation failed; the message says what and how to recover."""

    default_kind = "checkpoint"


def raise_damaged(shadow_dir: Path, borrowed: str | None, what: str, detail: str) -> NoReturn:
    """The CheckpointError for a git failure on the shadow at ``shadow_dir``: borrowed
    contents gone from the user's store, or else a damaged shadow and how to start fresh."""
    detail = " ".join(detail.strip().split()) or "no details from git"
    if borrowed is not None and MISSING_RE.search(detail):
        raise CheckpointError(
            f"{what} failed: this checkpoint refers to file contents planloop borrowed "
            f"from your repository's objects ({borrowed}) and git cannot find them "
            f"there any more (was the repository pruned by `git gc`, or cloned again?) "
            f"({detail}). Files that steps changed are stored by planloop itself and stay "
            f"readable; your workspace files were not touched. New checkpoints work as "
            f"before; `planloop clean --reset-shadow` starts afresh.",
            kind="checkpoint_objects_missing",
        )
    raise CheckpointError(
        f"{what} failed: planloop's checkpoint repository {shadow_dir} is damaged or "
        f"unreadable ({detail}). Your workspace files were not touched. To start fresh, "
        f"run `planloop clean --reset-shadow` (it moves {shadow_dir} aside) or delete "
        f"it; existing checkpoints of this workspace are lost."
    )


def move_aside(shadow_dir: Path) -> Path | None:
    """Rename a (damaged) shadow to ``shadow.git.broken-<timestamp>`` so the next
    snapshot starts fresh; where it went, or None if there was none."""
    if not shadow_dir.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = shadow_dir.with_name(f"{shadow_dir.name}.broken-{stamp}")
    n = 1
    while dest.exists():
        dest = shadow_dir.with_name(f"{shadow_dir.name}.broken-{stamp}-{n}")
        n += 1
    os.replace(shadow_dir, dest)
    # info, not a warning: the caller tells the person (the CLI prints where it went)
    log.info("moved the checkpoint repository %s aside to %s", shadow_dir, dest)
    return dest


class WriterLock:
    """The writer ``flock`` of one shadow (see "Concurrency and crashes" above); :attr:`fd`
    is its descriptor while held, for ``ShadowRepo.run`` to pass to git children."""

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

"""Staging the workspace into the checkpoint index while a command is still starting up.

A step's before-checkpoint scans the whole work tree (``git add -A`` into the shadow
index: about a ``git status``). On a 100k-file repository that scan and Python loading
planloop (about half a second) would otherwise run one after the other, although the
first needs only git and the second only the interpreter. ``planloop run`` calls
:func:`stage_ahead` before it imports the rest, so git stages on one core while Python
imports on the other; the first snapshot of the run then writes its tree from that
index instead of scanning again.

That is only sound while nothing has written to the workspace since: the snapshot uses
the staging only when its caller vouches that nothing was written or run there since
the process started (the step runner knows: every write and command goes through the
``Workspace``), and the first snapshot or revert of the process consumes it either way,
so every later snapshot scans as before. A file another program changes in that half
second is left to the next whole scan, as one changed during an edit-only step is.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("planloop.checkpoints")

#: where a workspace's checkpoints live, relative to its root
DEFAULT_SHADOW = Path(".planloop") / "shadow.git"


@dataclass
class Staged:
    """What the early staging did: whether it finished, and what a snapshot reports."""

    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    #: the shadow index did not exist before: this was the workspace's first checkpoint scan
    first: bool = False
    #: files git could not read (left out, as a snapshot leaves them out)
    warnings: list[str] = field(default_factory=list)
    took_s: float = 0.0


_staged: dict[Path, Staged] = {}
_lock = threading.Lock()


def stage_ahead(root: Path) -> None:
    """Start staging ``root`` into its checkpoint index in the background. Only where a
    plan was made (``.planloop/`` exists): a command that stops early (no plan, a run
    already going) must not leave a checkpoint repository behind where there was none."""
    try:
        root = root.resolve()
        if not (root / DEFAULT_SHADOW.parent).is_dir():
            return
    except OSError:
        return
    key = root / DEFAULT_SHADOW
    staged = Staged()
    with _lock:
        if key in _staged:
            return
        _staged[key] = staged

    def work() -> None:
        t = time.monotonic()
        try:
            # imported here: the caller is in a hurry to import everything else
            from planloop.checkpoints.shadow_repo import ShadowRepo

            shadow = ShadowRepo(root, key)
            try:
                with shadow.mutex, shadow.exclusive(create=True):
                    shadow.open(create=True)
                    staged.first = not (key / "index").exists()
                    staged.warnings = shadow.stage(None)
                staged.ok = True
            finally:
                shadow.close()
        except Exception as e:  # the snapshot scans for itself, and reports what fails
            log.info("staging the workspace ahead failed (%s); the snapshot scans itself", e)
        finally:
            staged.took_s = time.monotonic() - t
            staged.done.set()

    threading.Thread(target=work, name="planloop-stage-ahead", daemon=True).start()


def take(shadow_dir: Path) -> Staged | None:
    """The staging started for ``shadow_dir``, once it has finished; None if there was
    none. Either way it is gone afterwards: only the first snapshot may use it."""
    with _lock:
        staged = _staged.pop(shadow_dir, None)
    if staged is not None:
        staged.done.wait()
    return staged

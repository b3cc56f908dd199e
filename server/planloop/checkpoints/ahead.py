"""Staging the workspace into the checkpoint index while a command is still starting up.

A step's before-checkpoint scans the whole work tree (``git add -A`` into the shadow
index: about a ``git status``). On a 100k-file repository that scan and Python loading
planloop (about half a second) would otherwise run one after the other, although the
first needs only git and the second only the interpreter. ``planloop run`` calls
:func:`stage_ahead` before it imports the rest: a small child process (its own
interpreter, so it never waits for the parent's) stages on one core while the parent
imports on the other, and writes the tree, which the run's first snapshot commits
instead of scanning again. ``planloop plan`` starts one too, while the planner works,
so the first run finds the checkpoint repository made and its index warm.

That is only sound while nothing has written to the workspace since: the snapshot uses
the staging only when its caller vouches that nothing was written or run there since
the process started (the step runner knows: every write and command goes through the
``Workspace``), and the first snapshot or revert of the process consumes it either way,
so every later snapshot scans as before. A file another program changes in that half
second is left to the next whole scan, as one changed during an edit-only step is.
"""

from __future__ import annotations

import atexit
import json
import logging
import subprocess
import sys
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

    proc: subprocess.Popen[bytes] | None = None
    ok: bool = False
    #: the shadow index did not exist before: this was the workspace's first checkpoint scan
    first: bool = False
    #: files git could not read (left out, as a snapshot leaves them out)
    warnings: list[str] = field(default_factory=list)
    #: the tree written from the staged index: the first snapshot commits it as it is
    tree: str = ""
    took_s: float = 0.0

    def wait(self, timeout_s: float | None = None) -> Staged:
        """The child's answer, once it has ended (a child that failed or said nothing
        is a staging not to use: the snapshot scans for itself)."""
        if self.proc is None:
            return self
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return self  # left running: its lock dies with it, and nobody uses it
        rc, self.proc = self.proc.returncode, None
        try:
            got = json.loads(out or b"{}")
            self.ok = rc == 0 and bool(got.get("ok"))
            self.first = bool(got.get("first"))
            self.warnings = [str(w) for w in got.get("warnings", [])]
            self.tree = str(got.get("tree", ""))
            self.took_s = float(got.get("took_s", 0.0))
        except (ValueError, AttributeError, TypeError):
            self.ok = False
        return self


_staged: dict[Path, Staged] = {}
_lock = threading.Lock()


#: the smallest tree (entries in the user's git index) worth a child process: below it
#: the scan takes less than starting one
MIN_ENTRIES = 10_000


def tracked_entries(root: Path) -> int:
    """How many entries the git index of the repository whose work tree is ``root`` says
    it holds (its header, 12 bytes read); 0 when there is none to read."""
    dotgit = root / ".git"
    try:
        gitdir = dotgit
        if dotgit.is_file():  # a linked worktree: "gitdir: <its own git dir>"
            line = dotgit.read_text(errors="replace").strip()
            gitdir = Path(line.removeprefix("gitdir:").strip())
            gitdir = gitdir if gitdir.is_absolute() else root / gitdir
        with open(gitdir / "index", "rb") as f:
            head = f.read(12)
    except OSError:
        return 0
    return int.from_bytes(head[8:12], "big") if head[:4] == b"DIRC" else 0


def stage_ahead(
    root: Path, *, create: bool = False, always: bool = False, copy_trees: bool = False
) -> None:
    """Start staging ``root`` into its checkpoint index in a child process. Only where a
    plan was made (``.planloop/`` exists) unless ``create``: a command that stops early (no
    plan, a run already going) must not leave a checkpoint repository behind where there
    was none. Only for a tree of :data:`MIN_ENTRIES` or more unless ``always``: on a small
    one the child would cost more than the scan it saves. ``copy_trees`` where nobody
    waits for the child (``plan``): it also copies the first checkpoint's trees."""
    try:
        root = root.resolve()
        if not root.is_dir() or not (create or (root / DEFAULT_SHADOW.parent).is_dir()):
            return
        if not always and tracked_entries(root) < MIN_ENTRIES:
            return
    except OSError:
        return
    key = root / DEFAULT_SHADOW
    with _lock:
        if key in _staged:
            return
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "planloop.checkpoints.ahead",
                    *(["--copy-trees"] if copy_trees else []),
                    str(root),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as e:
            log.info("cannot stage the workspace ahead (%s); the snapshot scans itself", e)
            return
        _staged[key] = Staged(proc=proc)


def finish_all(timeout_s: float = 60.0) -> None:
    """Let the stagings nobody took end before the process does (at exit): a staging the
    plan started is the first run's head start, and a child left behind would finish
    alone anyway."""
    with _lock:
        pending = list(_staged.values())
    deadline = time.monotonic() + timeout_s
    for staged in pending:
        staged.wait(max(0.0, deadline - time.monotonic()))


atexit.register(finish_all)


def take(shadow_dir: Path) -> Staged | None:
    """The staging started for ``shadow_dir``, once it has finished; None if there was
    none. Either way it is gone afterwards: only the first snapshot may use it."""
    with _lock:
        staged = _staged.pop(shadow_dir, None)
    return staged.wait() if staged is not None else None


def _stage(root: Path, copy_trees: bool = False) -> dict[str, object]:
    """The child's work: the whole work tree staged into the shadow index and written
    as a tree (what a snapshot does before its commit), under the shadow's writer lock
    (created first where there is none); ``copy_trees`` when nobody waits for it."""
    from planloop.checkpoints.shadow_repo import ShadowRepo

    t = time.monotonic()
    key = root / DEFAULT_SHADOW
    shadow = ShadowRepo(root, key)
    try:
        with shadow.mutex, shadow.exclusive(create=True):
            shadow.open(create=True)
            first = not (key / "index").exists()
            tree, warnings = shadow.write_tree(None)
            if copy_trees:
                shadow.note_snapshot()  # git's first look at whether a gc is due, taken now
        if copy_trees:
            # While a planner works, time is cheap: the trees of a first checkpoint are
            # copied out of the user's store here (BorrowedObjects.localize_due_trees), so
            # the first run finds them copied (its tree is this one, or differs by the
            # files changed since, whose trees are new and the shadow's own).
            shadow.localize_due_trees()
    finally:
        shadow.close()
    took = time.monotonic() - t
    return {"ok": True, "first": first, "warnings": warnings, "tree": tree, "took_s": took}


def main(argv: list[str]) -> int:
    """``python -m planloop.checkpoints.ahead [--copy-trees] ROOT``: one JSON line on
    stdout."""
    copy_trees = argv[:1] == ["--copy-trees"]
    args = argv[1:] if copy_trees else argv
    if len(args) != 1:
        print("usage: python -m planloop.checkpoints.ahead [--copy-trees] ROOT", file=sys.stderr)
        return 2
    try:
        answer = _stage(Path(args[0]), copy_trees)
    except Exception as e:  # the parent's snapshot scans for itself, and reports what fails
        answer = {"ok": False, "error": str(e)}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

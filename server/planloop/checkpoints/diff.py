"""Reading ``git diff-tree`` output between two checkpoints into per-file records.

Kept apart from git itself: these functions only parse bytes, so the one format quirk that
matters (``-z`` output where a rename's two paths are separate tokens, and a typechange
gives two patch sections for one file) is handled in one place.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded when a change is handed out: the staging child never does
    from planloop.document.plan import FileChange

log = logging.getLogger("planloop.checkpoints")

_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "typechange"}

# A file's state: (git mode, blob sha), or None when absent.
State = tuple[str, str] | None


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
        from planloop.document.plan import FileChange

        return FileChange(
            path=self.path,
            status=self.status,  # type: ignore[arg-type]
            old_path=self.old_path,
            added=self.added,
            removed=self.removed,
            binary=self.binary,
        )


@dataclass
class Entry:
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
    def before(self) -> State:
        return None if self.old_mode == "000000" else (self.old_mode, self.old_sha)

    @property
    def after(self) -> State:
        return None if self.new_mode == "000000" else (self.new_mode, self.new_sha)

    def matches(self, wanted: list[str]) -> bool:
        """Whether either side is one of ``wanted`` or inside one ("" is the whole tree)."""
        for w in wanted:
            for p in (self.path, self.old_path):
                if w == "" or p == w or p.startswith(w + "/"):
                    return True
        return False

    def as_diff(self, patch: str) -> FileDiff:
        return FileDiff(
            path=self.path,
            status=_STATUS.get(self.status, "modified"),
            old_path=self.old_path if self.status == "R" else None,
            added=self.added,
            removed=self.removed,
            binary=self.binary,
            patch=patch,
            old_mode="" if self.old_mode == "000000" else self.old_mode,
            new_mode="" if self.new_mode == "000000" else self.new_mode,
        )


def parse_entries(out: bytes) -> list[Entry]:
    """Parse ``diff-tree -r -M -z --raw --numstat``: all raw rows first, then one numstat
    row per file in the same order (without ``--numstat``, the raw rows alone)."""
    tokens = out.split(b"\0")
    entries: list[Entry] = []
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
        entries.append(Entry(letter, new, old, old_mode, new_mode, old_sha, new_sha))
    for e in entries:
        if i >= len(tokens) or not tokens[i]:  # no --numstat rows: a plain listing
            break
        added, removed, tail = tokens[i].decode(errors="replace").split("\t", 2)
        i += 3 if tail == "" else 1  # a rename's paths follow in their own tokens
        e.binary = added == "-"
        e.added = 0 if e.binary else int(added)
        e.removed = 0 if e.binary else int(removed)
    return entries


def split_patches(out: bytes, entries: list[Entry]) -> list[str] | None:
    """Cut ``diff-tree -p`` output into one patch per entry (a typechange has two
    sections); None when the sections do not line up with the entries."""
    sections = [s for s in re.split(rb"(?m)^(?=diff --git )", out) if s]
    need = sum(2 if e.status == "T" else 1 for e in entries)
    if len(sections) != need:  # never expected; the caller falls back to one diff per file
        log.warning("diff sections (%d) do not line up with files (%d)", len(sections), need)
        return None
    patches, i = [], 0
    for e in entries:
        n = 2 if e.status == "T" else 1
        patches.append(b"".join(sections[i : i + n]).decode("utf-8", "replace"))
        i += n
    return patches

"""The repo map's cache, under ``.planloop/repomap/``: tags by content hash, and the
ranked index of the last tree seen.

Why two files: parsing 100,000 files takes minutes, and even loading every file's tags
takes seconds; a plan must not wait for either when nothing changed.

- ``tags.json`` maps a file's *content id* (its git blob id: for a clean tracked file git
  already knows it, so nothing is read) to its definitions and the names it uses. A
  second plan parses only contents it has not seen, whatever their path.
- ``index.sqlite`` holds, for one fingerprint of the tree (what git lists, and the stat of
  every file git does not vouch for), each file's rank, its definition names and its
  definitions. When the fingerprint matches, a map reads the ranks and names, then the
  definitions of the few files it shows: no parsing, no per-file hashing.

Both are written atomically (JSON by rename, SQLite by transaction); a cache that cannot be read is ignored and rebuilt, never an
error (it is only a cache).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("planloop.repomap")

_VERSION = 2


@dataclass
class FileTags:
    """``[name, line, text of that line]`` per definition; the names the file uses, as
    one space-separated string (identifiers hold no spaces, and one JSON string per file
    loads several times faster than a list of thousands)."""

    defs: list[list[Any]]
    refs: str

    @property
    def ref_names(self) -> list[str]:
        return self.refs.split()


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.info("repo map cache %s unreadable (%s); rebuilding it", path, e)
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return {}
    return data


def _write(path: Path, body: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": _VERSION, **body}, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError as e:  # a read-only .planloop costs speed next time, nothing else
        log.info("cannot write the repo map cache %s (%s)", path, e)


class TagCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._blobs: dict[str, Any] | None = None

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self._blobs = None

    # -- tags by content id -----------------------------------------------------------------

    def _tags(self) -> dict[str, Any]:
        if self._blobs is None:
            blobs = _read(self.directory / "tags.json").get("blobs")
            self._blobs = blobs if isinstance(blobs, dict) else {}
        return self._blobs

    def known(self, content_id: str) -> bool:
        return content_id in self._tags()

    def get(self, content_id: str) -> FileTags | None:
        e = self._tags().get(content_id)
        if not isinstance(e, list) or len(e) != 2:
            return None
        return FileTags(e[0], e[1])

    def put(self, content_id: str, tags: FileTags | None) -> None:
        """``None``: this content has no tags (no grammar, binary, too big)."""
        self._tags()[content_id] = [tags.defs, tags.refs] if tags is not None else None

    def save_tags(self, live: set[str]) -> None:
        """Keep the tags of contents still in the tree (the cache does not grow forever)."""
        blobs = {k: v for k, v in self._tags().items() if k in live}
        self._blobs = blobs
        _write(self.directory / "tags.json", {"blobs": blobs})

    # -- the ranked index of one tree -------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.directory / "index.sqlite")
        db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS files (rel TEXT PRIMARY KEY, rank REAL, names TEXT, defs TEXT)"
        )
        return db

    def index(self, key: str) -> dict[str, tuple[float, str]] | None:
        """rel → (rank, names joined by spaces) for fingerprint ``key``, or None."""
        if not (self.directory / "index.sqlite").exists():
            return None
        try:
            with contextlib.closing(self._db()) as db:
                row = db.execute("SELECT v FROM meta WHERE k = 'key'").fetchone()
                if row is None or row[0] != f"{_VERSION}:{key}":
                    return None
                row = db.execute("SELECT v FROM meta WHERE k = 'summary'").fetchone()
                rels, ranks, names = json.loads(row[0]) if row else ([], [], [])
                return dict(zip(rels, zip(ranks, names, strict=True), strict=True))
        except sqlite3.Error as e:
            log.info("repo map index unreadable (%s); rebuilding it", e)
            return None

    def defs(self, rels: list[str]) -> dict[str, list[list[Any]]]:
        """The definitions of a few files (the ones a map shows)."""
        out: dict[str, list[list[Any]]] = {}
        try:
            with contextlib.closing(self._db()) as db:
                for i in range(0, len(rels), 500):
                    chunk = rels[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    for rel, defs in db.execute(
                        f"SELECT rel, defs FROM files WHERE rel IN ({marks})", chunk
                    ):
                        out[rel] = json.loads(defs) if defs else []
        except (sqlite3.Error, ValueError) as e:
            log.info("repo map index unreadable (%s)", e)
        return out

    def save_index(self, key: str, rows: list[tuple[str, float, str, str]]) -> None:
        try:
            with contextlib.closing(self._db()) as db, db:
                db.execute("DELETE FROM files")
                db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)", rows)
                # the ranks and names of every file as one JSON value: a map reads this
                # whole, and one json.loads beats 100k rows
                summary = json.dumps(
                    [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]
                )
                db.execute("INSERT OR REPLACE INTO meta VALUES ('summary', ?)", (summary,))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('key', ?)", (f"{_VERSION}:{key}",))
        except sqlite3.Error as e:  # a read-only .planloop costs speed next time, nothing else
            log.info("cannot write the repo map index (%s)", e)

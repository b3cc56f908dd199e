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
  definitions of the few files it shows: no parsing, no per-file hashing. A second, quick
  key (the checksum git keeps at the end of its index, plus what ``ls-files`` reports as
  modified, deleted or untracked) is tried first, so an unchanged tree is recognised
  without listing and parsing 100k index entries.

Both are written atomically (JSON by rename, SQLite by transaction); a cache that cannot be read is ignored and rebuilt, never an
error (it is only a cache).
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("planloop.repomap")

_VERSION = 3


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
        db.execute("CREATE TABLE IF NOT EXISTS blobs (k TEXT PRIMARY KEY, v BLOB)")
        return db

    def index(self, key: str, *, quick: bool = False) -> RankedIndex | None:
        """The ranked index stored for fingerprint ``key`` (``quick``: for the quick key
        :meth:`RepoMap.index` tries first), or None."""
        if not (self.directory / "index.sqlite").exists():
            return None
        which = "quick" if quick else "key"
        try:
            with contextlib.closing(self._db()) as db:
                row = db.execute("SELECT v FROM meta WHERE k = ?", (which,)).fetchone()
                if row is None or row[0] != f"{_VERSION}:{key}":
                    return None
                got = dict(db.execute("SELECT k, v FROM blobs").fetchall())
            rels = bytes(got["rels"]).decode("utf-8", "surrogateescape")
            names = bytes(got["names"]).decode("utf-8", "surrogateescape")
            ranks = array.array("d")
            ranks.frombytes(bytes(got["ranks"]))
            index = RankedIndex(rels.split("\0") if rels else [], ranks.tolist(), [])
            index.names = names.split("\0") if names else []
            if not (len(index.rels) == len(index.ranks) == len(index.names)):
                raise ValueError("the index's columns disagree")
            return index
        except (sqlite3.Error, KeyError, ValueError, TypeError) as e:
            log.info("repo map index unreadable (%s); rebuilding it", e)
            if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError):
                # not a database at all: drop it, so the rebuild can store a good one
                with contextlib.suppress(OSError):
                    (self.directory / "index.sqlite").unlink()
            return None

    def remember_quick(self, quick: str) -> None:
        """Vouch for the stored index under ``quick`` too (the full key matched)."""
        try:
            with contextlib.closing(self._db()) as db, db:
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('quick', ?)", (f"{_VERSION}:{quick}",)
                )
        except sqlite3.Error as e:
            log.info("cannot write the repo map index (%s)", e)

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

    def save_index(
        self, key: str, rows: list[tuple[str, float, str, str]], quick: str | None = None
    ) -> None:
        try:
            with contextlib.closing(self._db()) as db, db:
                db.execute("DELETE FROM files")
                db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)", rows)
                # the ranks and names of every file as three blobs: a map reads them whole,
                # and splitting one string beats parsing 100k JSON values or rows
                blobs = {
                    "rels": "\0".join(r[0] for r in rows).encode("utf-8", "surrogateescape"),
                    "names": "\0".join(r[2] for r in rows).encode("utf-8", "surrogateescape"),
                    "ranks": array.array("d", (r[1] for r in rows)).tobytes(),
                }
                db.execute("DELETE FROM blobs")
                db.executemany("INSERT INTO blobs VALUES (?, ?)", list(blobs.items()))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('key', ?)", (f"{_VERSION}:{key}",))
                db.execute("DELETE FROM meta WHERE k = 'quick'")
                if quick is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('quick', ?)", (f"{_VERSION}:{quick}",)
                    )
        except sqlite3.Error as e:  # a read-only .planloop costs speed next time, nothing else
            log.info("cannot write the repo map index (%s)", e)


@dataclass
class RankedIndex:
    """Every listed file's rank and definition names, as parallel columns (a dict of 100k
    tuples costs more to build than the map it serves)."""

    rels: list[str]
    ranks: list[float]
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rels)

    def under(self, prefix: str) -> RankedIndex:
        keep = [i for i, r in enumerate(self.rels) if r.startswith(prefix)]
        return RankedIndex(
            [self.rels[i] for i in keep],
            [self.ranks[i] for i in keep],
            [self.names[i] for i in keep],
        )

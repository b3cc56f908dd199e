"""The repo map's cache, ``.planloop/repomap/map.sqlite``: tags by content id, and the
ranked index of the last tree seen.

Why SQLite (in WAL mode): the tags are filled by background workers while a plan reads
them, and two planloop processes may share one workspace; SQLite gives each writer a
transaction and each reader a consistent snapshot, so no interleaving can corrupt the
cache (a JSON file rewritten whole could not be shared this way, and cost seconds to load).

- ``tags`` maps a file's *content id* (its git blob id: for a clean tracked file git
  already knows it, so nothing is read) to only what ranking and the map need: each
  definition's name, kind and line (zlib-packed text; the line's text is read from the
  file when the map shows it), and the hashes of the definition names and of the names
  the file uses (8 bytes each, see :func:`~planloop.workspace.repomap_tags.name_hash`).
  A row whose columns are NULL is a content with no tags (no grammar, binary, too big).
- ``blobs``/``meta`` hold, for one fingerprint of the tree (what git lists, and the stat
  of every file git does not vouch for), each file's rank, definition names and content
  id as whole columns, and how many files use each defined name. When the fingerprint
  matches, a map reads them and the tags of the few files it shows: no parsing. A second,
  quick key (the checksum git keeps at the end of its index, plus what ``ls-files``
  reports as modified, deleted or untracked) is tried first.

A cache that cannot be read is dropped and rebuilt, never an error (it is only a cache).
"""

from __future__ import annotations

import array
import contextlib
import logging
import shutil
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("planloop.repomap")

_VERSION = 4
DB_NAME = "map.sqlite"
#: host variables per ``IN (...)`` query (SQLite's oldest limit is 999)
_CHUNK = 900
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tags (cid BLOB PRIMARY KEY, defs BLOB, dh BLOB, refs BLOB)"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)",
    "CREATE TABLE IF NOT EXISTS blobs (k TEXT PRIMARY KEY, v BLOB)",
)

Def = tuple[str, str, int]


def pack_hashes(hashes: Iterable[int]) -> bytes:
    return array.array("I", hashes).tobytes()


def unpack_hashes(raw: bytes | None) -> array.array[int]:
    out = array.array("I")
    if raw:
        out.frombytes(raw)
    return out


@dataclass
class FileTags:
    """One file's definitions ``(name, kind letter, line)``, the hashes of their names
    (``def_hashes``) and of the names the file uses (``refs``, sorted, unique)."""

    defs: list[Def]
    def_hashes: bytes = b""
    refs: bytes = b""


def _pack_defs(defs: list[Def]) -> bytes:
    """``name TAB kind TAB line`` rows, deflated when that is shorter (a short list is not)."""
    text = "\n".join(f"{n}\t{k}\t{line}" for n, k, line in defs).encode("utf-8", "surrogatepass")
    packed = zlib.compress(text, 6)
    return b"z" + packed if len(packed) < len(text) else b"t" + text


def _unpack_defs(raw: bytes) -> list[Def]:
    body = zlib.decompress(raw[1:]) if raw[:1] == b"z" else raw[1:]
    text = body.decode("utf-8", "surrogatepass")
    out: list[Def] = []
    for row in text.split("\n") if text else []:
        name, kind, line = row.split("\t")
        out.append((name, kind, int(line)))
    return out


def _key(cid: str) -> bytes:
    """A git blob id as its 20 bytes (half the hex), any other id as text behind a ``~``."""
    if len(cid) == 40:
        try:
            return bytes.fromhex(cid)
        except ValueError:
            pass
    return b"~" + cid.encode("utf-8", "surrogateescape")


def _cid(key: bytes) -> str:
    return key[1:].decode("utf-8", "surrogateescape") if key[:1] == b"~" else key.hex()


def _zip(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8", "surrogateescape"), 1)


def _unzip(raw: bytes) -> str:
    return zlib.decompress(raw).decode("utf-8", "surrogateescape")


def _chunks(items: list[bytes]) -> Iterator[list[bytes]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class TagCache:
    """The cache of one workspace; every method survives a damaged or locked database
    (it logs and answers as if the cache were empty)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def clear(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            try:
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                for sql in _SCHEMA:
                    conn.execute(sql)
                conn.commit()
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _damaged(self, e: sqlite3.Error) -> None:
        """Log; drop a file that is not a database at all, so a rebuild can store a good one."""
        log.info("repo map cache %s unreadable (%s); rebuilding it", self.path, e)
        if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError):
            self.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    self.path.with_name(DB_NAME + suffix).unlink()

    # -- tags by content id -----------------------------------------------------------------

    def known(self, cids: Iterable[str]) -> set[str]:
        """Which of ``cids`` have been parsed (with tags or without)."""
        found: set[str] = set()
        try:
            with self._lock:
                db = self._db()
                if db.execute("SELECT 1 FROM tags LIMIT 1").fetchone() is None:
                    return found  # a first map: nothing to look up
                wanted = [_key(c) for c in dict.fromkeys(cids)]
                if self._scan(db, len(wanted)):
                    want = set(wanted)
                    return {_cid(r[0]) for r in db.execute("SELECT cid FROM tags") if r[0] in want}
                for chunk in _chunks(wanted):
                    marks = ",".join("?" * len(chunk))
                    found.update(
                        _cid(r[0])
                        for r in db.execute(f"SELECT cid FROM tags WHERE cid IN ({marks})", chunk)
                    )
        except sqlite3.Error as e:
            self._damaged(e)
        return found

    @staticmethod
    def _scan(db: sqlite3.Connection, wanted: int) -> bool:
        """Whether reading the whole table beats looking ``wanted`` keys up (it does
        unless the table is much bigger: one scan costs about what 3 lookups a row do)."""
        if wanted < 2000:
            return False
        row = db.execute("SELECT count(*) FROM tags").fetchone()
        return row is None or int(row[0]) <= 3 * wanted

    def known_any(self) -> bool:
        try:
            with self._lock:
                return self._db().execute("SELECT 1 FROM tags LIMIT 1").fetchone() is not None
        except sqlite3.Error as e:
            self._damaged(e)
            return False

    def count(self) -> int:
        try:
            with self._lock:
                row = self._db().execute("SELECT count(*) FROM tags").fetchone()
            return int(row[0])
        except sqlite3.Error as e:
            self._damaged(e)
            return 0

    def get_many(self, cids: Iterable[str], *, defs: bool = True) -> dict[str, FileTags | None]:
        """The tags of those of ``cids`` that are known (``defs=False``: hashes only, for
        ranking, which needs no names)."""
        out: dict[str, FileTags | None] = {}
        cids = list(cids)
        if len(cids) > 2000 and not self.known_any():
            return out
        wanted = [_key(c) for c in dict.fromkeys(cids)]
        cols = "cid, defs, dh, refs" if defs else "cid, NULL, dh, refs"
        try:
            with self._lock:
                db = self._db()
                if self._scan(db, len(wanted)):
                    want = set(wanted)
                    rows: Iterable[Any] = (
                        r for r in db.execute(f"SELECT {cols} FROM tags") if r[0] in want
                    )
                else:
                    rows = (
                        r
                        for chunk in _chunks(wanted)
                        for r in db.execute(
                            f"SELECT {cols} FROM tags WHERE cid IN ({','.join('?' * len(chunk))})",
                            chunk,
                        )
                    )
                for key, d, dh, refs in rows:
                    cid = _cid(key)
                    if dh is None:
                        out[cid] = None
                    else:
                        out[cid] = FileTags(_unpack_defs(d) if d else [], dh, refs or b"")
        except (sqlite3.Error, zlib.error, ValueError) as e:
            if isinstance(e, sqlite3.Error):
                self._damaged(e)
            else:
                log.info("repo map cache entry unreadable (%s)", e)
        return out

    def put_many(self, items: list[tuple[str, FileTags | None]]) -> None:
        """Store parsed files in one transaction (a reader sees all of them or none)."""
        rows = [
            (_key(cid), _pack_defs(t.defs), t.def_hashes, t.refs)
            if t is not None
            else (_key(cid), None, None, None)
            for cid, t in items
        ]
        try:
            with self._lock:
                db = self._db()
                with db:
                    db.executemany("INSERT OR REPLACE INTO tags VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as e:  # a read-only .planloop costs speed next time, nothing else
            self._damaged(e)

    def prune(self, live: set[str]) -> None:
        """Keep the tags of contents still in the tree (the cache does not grow forever)."""
        try:
            with self._lock:
                db = self._db()
                with db:
                    db.execute("CREATE TEMP TABLE IF NOT EXISTS live (cid BLOB PRIMARY KEY)")
                    db.execute("DELETE FROM live")
                    db.executemany(
                        "INSERT OR IGNORE INTO live VALUES (?)", ((_key(c),) for c in live)
                    )
                    db.execute("DELETE FROM tags WHERE cid NOT IN (SELECT cid FROM live)")
                    db.execute("DELETE FROM live")
        except sqlite3.Error as e:
            self._damaged(e)

    # -- the ranked index of one tree -------------------------------------------------------

    def index(self, key: str, *, quick: bool = False) -> RankedIndex | None:
        """The ranked index stored for fingerprint ``key`` (``quick``: for the quick key
        :meth:`RepoMap.index` tries first), or None."""
        if not self.path.exists():
            return None
        which = "quick" if quick else "key"
        try:
            with self._lock:
                db = self._db()
                row = db.execute("SELECT v FROM meta WHERE k = ?", (which,)).fetchone()
                if row is None or row[0] != f"{_VERSION}:{key}":
                    return None
                got = dict(db.execute("SELECT k, v FROM blobs").fetchall())
            rels = _unzip(got["rels"])
            names = _unzip(got["names"])
            cids = _unzip(got["cids"])
            ranks = array.array("d")
            ranks.frombytes(bytes(got["ranks"]))
            rel_list = rels.split("\0") if rels else []
            index = RankedIndex(
                rel_list,
                ranks.tolist(),
                names.split("\0") if rel_list else [],
                cids.split("\0") if rel_list else [],
            )
            n = len(index.rels)
            if not (n == len(index.ranks) == len(index.names) == len(index.cids)):
                raise ValueError("the index's columns disagree")
            index.used_hashes = bytes(got["used_h"])
            index.used_counts = bytes(got["used_n"])
            return index
        except sqlite3.Error as e:
            self._damaged(e)
            return None
        except (KeyError, ValueError, TypeError, zlib.error) as e:
            log.info("repo map index unreadable (%s); rebuilding it", e)
            return None

    def remember_quick(self, quick: str) -> None:
        """Vouch for the stored index under ``quick`` too (the full key matched)."""
        try:
            with self._lock:
                db = self._db()
                with db:
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('quick', ?)", (f"{_VERSION}:{quick}",)
                    )
        except sqlite3.Error as e:
            self._damaged(e)

    def save_index(self, key: str, index: RankedIndex, quick: str | None = None) -> None:
        # whole columns as blobs: a map reads them at once, and splitting one string beats
        # parsing 100k rows
        blobs = {
            "rels": _zip("\0".join(index.rels)),
            "names": _zip("\0".join(index.names)),
            "cids": _zip("\0".join(index.cids)),
            "ranks": array.array("d", index.ranks).tobytes(),
            "used_h": index.used_hashes,
            "used_n": index.used_counts,
        }
        try:
            with self._lock:
                db = self._db()
                with db:
                    db.execute("DELETE FROM blobs")
                    db.executemany("INSERT INTO blobs VALUES (?, ?)", list(blobs.items()))
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('key', ?)", (f"{_VERSION}:{key}",)
                    )
                    db.execute("DELETE FROM meta WHERE k = 'quick'")
                    if quick is not None:
                        db.execute(
                            "INSERT OR REPLACE INTO meta VALUES ('quick', ?)",
                            (f"{_VERSION}:{quick}",),
                        )
        except sqlite3.Error as e:
            self._damaged(e)

    def set_meta(self, k: str, v: str) -> None:
        try:
            with self._lock:
                db = self._db()
                with db:
                    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, v))
        except sqlite3.Error as e:
            self._damaged(e)

    def get_meta(self, k: str) -> str | None:
        try:
            with self._lock:
                row = self._db().execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
            return None if row is None else str(row[0])
        except sqlite3.Error as e:
            self._damaged(e)
            return None


@dataclass
class RankedIndex:
    """Every listed file's rank, definition names and content id, as parallel columns (a
    dict of 100k tuples costs more to build than the map it serves); how many files use
    each defined name (sorted name hashes and their counts), for ordering a file's
    definitions; and, for a map built within its time budget, how many of the code files
    were parsed by then (``parsed < code``: the map is partial)."""

    rels: list[str]
    ranks: list[float]
    names: list[str] = field(default_factory=list)
    cids: list[str] = field(default_factory=list)
    used_hashes: bytes = b""
    used_counts: bytes = b""
    parsed: int = 0
    code: int = 0

    def __len__(self) -> int:
        return len(self.rels)

    @property
    def partial(self) -> bool:
        return self.parsed < self.code

    def under(self, prefix: str) -> RankedIndex:
        keep = [i for i, r in enumerate(self.rels) if r.startswith(prefix)]
        return RankedIndex(
            [self.rels[i] for i in keep],
            [self.ranks[i] for i in keep],
            [self.names[i] for i in keep],
            [self.cids[i] for i in keep],
            self.used_hashes,
            self.used_counts,
            self.parsed,
            self.code,
        )

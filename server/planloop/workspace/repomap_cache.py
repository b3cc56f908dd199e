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

_VERSION = 5
DB_NAME = "map.sqlite"
# what planloop 0.1 kept here before map.sqlite; removed when the cache first opens
_OLD_FILES = ("tags.json", "index.sqlite", "index.sqlite-journal")
#: host variables per ``IN (...)`` query (SQLite's oldest limit is 999)
_CHUNK = 900
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tags (cid BLOB PRIMARY KEY, names TEXT, kl BLOB, dh BLOB, refs BLOB)"
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
    #: the definitions' names, space-separated (filled from the cache even when ``defs``
    #: was not asked for)
    names: str = ""


def _pack_defs(defs: list[Def]) -> tuple[str, bytes]:
    """The names, space-separated (what ranking and goal matching read, with no parsing),
    and the kinds (a letter each) followed by the lines (4 bytes each)."""
    names = " ".join(d[0] for d in defs)
    kinds = "".join(d[1] for d in defs).encode("ascii")
    return names, kinds + array.array("I", (d[2] for d in defs)).tobytes()


def _unpack_defs(names: str, kl: bytes) -> list[Def]:
    split = names.split(" ") if names else []
    n = len(split)
    lines = array.array("I")
    lines.frombytes(kl[n:])
    if len(kl) != 5 * n or len(lines) != n:
        raise ValueError("a cached definition list is torn")
    kinds = kl[:n].decode("ascii")
    return [(split[i], kinds[i], lines[i]) for i in range(n)]


def _key(cid: str) -> bytes | str:
    """A git blob id as its 20 bytes (half the hex); any other id stays text (SQLite keeps
    a text and a blob key apart, so the two kinds can never collide)."""
    if len(cid) == 40:
        try:
            return bytes.fromhex(cid)
        except ValueError:
            pass
    return cid


def _cid(key: bytes | str) -> str:
    return key.hex() if isinstance(key, bytes) else key


def _zip(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8", "surrogateescape"), 1)


def _unzip(raw: bytes) -> str:
    return zlib.decompress(raw).decode("utf-8", "surrogateescape")


def _chunks(items: list[bytes | str]) -> Iterator[list[bytes | str]]:
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
            for old in _OLD_FILES:  # an older planloop's cache: up to 150 MB on a big repo
                with contextlib.suppress(OSError):
                    (self.directory / old).unlink()
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            try:
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                if conn.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
                    # another layout (an older planloop): start over, it is only a cache
                    with conn:
                        for table in ("tags", "meta", "blobs"):
                            conn.execute(f"DROP TABLE IF EXISTS {table}")
                        for sql in _SCHEMA:
                            conn.execute(sql)
                        conn.execute(f"PRAGMA user_version = {_VERSION}")
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
                by_key = {_key(c): c for c in cids}
                if self._scan(db, len(by_key)):
                    return {
                        by_key[r[0]] for r in db.execute("SELECT cid FROM tags") if r[0] in by_key
                    }
                for chunk in _chunks(list(by_key)):
                    marks = ",".join("?" * len(chunk))
                    found.update(
                        by_key[r[0]]
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
        cols = "cid, names, kl, dh, refs" if defs else "cid, names, NULL, dh, refs"
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
                for key, names, kl, dh, refs in rows:
                    cid = _cid(key)
                    if dh is None:
                        out[cid] = None
                    else:
                        got = _unpack_defs(names, kl) if kl is not None else []
                        out[cid] = FileTags(got, dh, refs or b"", names or "")
        except (sqlite3.Error, zlib.error, ValueError) as e:
            if isinstance(e, sqlite3.Error):
                self._damaged(e)
            else:
                log.info("repo map cache entry unreadable (%s)", e)
        return out

    def put_many(self, items: list[tuple[str, FileTags | None]]) -> None:
        """Store parsed files in one transaction (a reader sees all of them or none)."""
        rows = [
            (_key(cid), *_pack_defs(t.defs), t.def_hashes, t.refs)
            if t is not None
            else (_key(cid), None, None, None, None)
            for cid, t in items
        ]
        try:
            with self._lock:
                db = self._db()
                with db:
                    db.executemany("INSERT OR REPLACE INTO tags VALUES (?, ?, ?, ?, ?)", rows)
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

    def last_index(self) -> RankedIndex | None:
        """The index stored for whatever tree was seen last (its ranks are a good guess
        for a tree that differs in a few files)."""
        key = self.get_meta("key")
        if key is None or not key.startswith(f"{_VERSION}:"):
            return None
        return self.index(key.split(":", 1)[1])

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

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
import bisect
import contextlib
import logging
import re
import shutil
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from planloop.workspace.listing import keep_big_blocks_off_the_heap

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


def _zip_texts(texts: Sequence[str]) -> bytes:
    """``texts`` joined by NULs, compressed a block at a time (a million paths joined at
    once, then encoded, are two more copies of the column)."""
    if isinstance(texts, Texts):
        return zlib.compress(memoryview(texts.buf)[: max(0, len(texts.buf) - 1)], 1)
    z = zlib.compressobj(1)
    out = []
    step = 1 << 16
    for k in range(0, len(texts), step):
        block = "\0".join(texts[k : k + step])
        out.append(z.compress((("\0" if k else "") + block).encode("utf-8", "surrogateescape")))
    out.append(z.flush())
    return b"".join(out)


def _chunks(items: list[bytes | str]) -> Iterator[list[bytes | str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


# -- the columns ranking reads, for a whole tree ------------------------------------------

_KEY = np.dtype("S20")
#: rows read from SQLite at a time while scanning (never the whole table as one list)
_FETCH = 8192


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] .. starts[i] + counts[i]`` for every i, end to end (int32
    while they fit: at a million files these are the biggest temporaries)."""
    total = int(counts.sum())
    if not total:
        return np.zeros(0, np.int64)
    top = int(starts.max(initial=0)) + int(counts.max(initial=0))
    kind = np.int32 if max(total, top) < 2**31 - 1 else np.int64
    counts = counts.astype(kind, copy=False)
    ends = np.cumsum(counts, dtype=kind)
    out = np.repeat(starts.astype(kind) - (ends - counts), counts)
    out += np.arange(total, dtype=kind)
    return out


class _Wanted:
    """The content ids a map asks about, as one sorted array of 20-byte keys (20 MB for
    a million files, where a dict of bytes keys cost about 150 MB), plus the few ids that
    are not git blob ids (kept as text, as the table keeps them)."""

    def __init__(self, cids: Sequence[str]) -> None:
        self.n = n = len(cids)
        blob = np.fromiter((len(c) == 40 for c in cids), bool, n)
        self.text: dict[str, list[int]] = {}
        raw = bytearray()
        step = 1 << 16
        for k in range(0, n, step):  # a block at a time: no 40 MB string of hex
            block = cids[k : k + step]
            try:
                raw += bytes.fromhex("".join(c for c in block if len(c) == 40))
            except ValueError:  # some 40-character id is not hex: sort them out one by one
                for i, c in enumerate(block, k):
                    if len(c) == 40:
                        try:
                            raw += bytes.fromhex(c)
                        except ValueError:
                            blob[i] = False
        for i, c in enumerate(cids):
            if c and not blob[i]:
                self.text.setdefault(c, []).append(i)
        keys = np.frombuffer(raw, _KEY)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        del keys, raw
        self.file_at = np.flatnonzero(blob).astype(np.int32)[order]

    def unique_keys(self) -> list[bytes | str]:
        """Every wanted key once, as SQLite stores it (bytes sliced from the buffer: a
        numpy bytes scalar would lose a key's trailing zero bytes)."""
        buf = np.unique(self.keys).tobytes()
        out: list[bytes | str] = [buf[i : i + 20] for i in range(0, len(buf), 20)]
        return out + list(self.text)

    def match(self, rows: list[Any]) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """Those of ``rows`` (key first) that are wanted; and the files that hold them,
        with which of those rows each holds (a batch at once, in numpy: per row there is
        only the list comprehension that picks it)."""
        picked: list[Any] = []
        files: list[np.ndarray] = []
        which: list[np.ndarray] = []
        is_blob = [type(r[0]) is bytes and len(r[0]) == 20 for r in rows]
        if len(self.keys) and any(is_blob):
            blob = (
                [r for r, b in zip(rows, is_blob, strict=True) if b] if not all(is_blob) else rows
            )
            ks = np.frombuffer(b"".join([r[0] for r in blob]), _KEY)
            lo = np.searchsorted(self.keys, ks, "left")
            count = np.searchsorted(self.keys, ks, "right") - lo
            hit = np.flatnonzero(count)
            picked = [blob[j] for j in hit.tolist()]
            files.append(self.file_at[_ranges(lo[hit], count[hit])])
            which.append(np.repeat(np.arange(len(hit), dtype=np.int64), count[hit]))
        if self.text:
            for r in rows:
                at = self.text.get(r[0]) if type(r[0]) is str else None
                if at is not None:
                    files.append(np.array(at, np.int64))
                    which.append(np.full(len(at), len(picked), np.int64))
                    picked.append(r)
        if not picked:
            return [], np.zeros(0, np.int64), np.zeros(0, np.int64)
        return picked, np.concatenate(files), np.concatenate(which)


class Texts(Sequence[str]):
    """A column of a million short texts (paths, definition names, content ids) as one
    buffer: each text's UTF-8 bytes followed by a NUL, and where each starts. A list of
    str costs about 80 bytes a text and scatters a million objects over the heap (the
    freed rows around them stay mapped); this costs the text and 8 bytes. A text is made
    a str only when asked for (the map shows a few hundred of them)."""

    def __init__(self, buf: bytes | bytearray, starts: np.ndarray) -> None:
        self.buf = buf  # every text followed by b"\0"
        self.starts = starts  # int64, one more than there are texts (the end)

    @classmethod
    def of(cls, texts: Iterable[str]) -> Texts:
        if isinstance(texts, Texts):
            return texts
        texts = list(texts)  # none holds a NUL: paths, names and ids cannot
        return cls.joined("\0".join(texts).encode("utf-8", "surrogateescape"), len(texts))

    @classmethod
    def joined(cls, raw: bytes, n: int) -> Texts:
        """From ``n`` texts joined by NULs (as :meth:`TagCache.save_index` stores them)."""
        if n == 0:
            if raw:
                raise ValueError("a text column is longer than its index")
            return cls(b"", np.zeros(1, np.int64))
        buf = raw + b"\0"
        ends = np.flatnonzero(np.frombuffer(buf, np.uint8) == 0)
        if len(ends) != n:
            raise ValueError("a text column disagrees with its index")
        return cls(buf, np.concatenate(([0], ends + 1)).astype(np.int64))

    def join(self) -> bytes:
        """The texts joined by NULs (what :meth:`joined` reads back)."""
        return bytes(memoryview(self.buf)[:-1])

    def __len__(self) -> int:
        return len(self.starts) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        a, b = int(self.starts[i]), int(self.starts[i + 1]) - 1
        return self.buf[a:b].decode("utf-8", "surrogateescape")

    def __iter__(self) -> Iterator[str]:
        # a block at a time: a million texts at once would be the list this replaces
        n, step = len(self), 65536
        for k in range(0, n, step):
            a, b = int(self.starts[k]), int(self.starts[min(n, k + step)])
            yield from self.buf[a : b - 1].decode("utf-8", "surrogateescape").split("\0")

    def take(self, at: np.ndarray) -> Texts:
        """The texts at positions ``at``, in that order."""
        at = np.asarray(at, np.int64)
        lens = self.starts[at + 1] - self.starts[at]
        src = np.frombuffer(self.buf, np.uint8)
        return Texts(src[_ranges(self.starts[at], lens)].tobytes(), _starts(lens))

    def hits(self, words: Sequence[str]) -> np.ndarray:
        """Which texts hold one of ``words`` (ASCII letters and digits, any case): one
        literal scan of the buffer a word."""
        if not words or not len(self):
            return np.zeros(0, np.int64)
        low = self.buf.lower()
        at = [m.start() for w in words for m in re.finditer(re.escape(w.lower().encode()), low)]
        if not at:
            return np.zeros(0, np.int64)
        return np.unique(np.searchsorted(self.starts, np.array(at), side="right") - 1)


def _starts(lens: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lens) + 1, np.int64)
    np.cumsum(lens, out=out[1:])
    return out


@dataclass
class TagColumns:
    """What ranking reads of ``n`` files (in the caller's order), as flat arrays: which
    files the cache knows, each file's definition names, and every (definition hash,
    file) and (used-name hash, file) pair — no object per file, so a million files cost
    tens of megabytes, not the gigabyte a dict of :class:`FileTags` did."""

    n: int
    known: np.ndarray  # bool, per file
    names: Texts  # per file ("" when unknown or without definitions)
    d_hash: np.ndarray  # uint32
    d_file: np.ndarray  # int32
    r_hash: np.ndarray  # uint32
    r_file: np.ndarray  # int32

    @property
    def parsed(self) -> int:
        return int(self.known.sum())


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

    def _stream(self, db: sqlite3.Connection, cols: str, wanted: _Wanted) -> Iterator[list[Any]]:
        """The rows of ``wanted`` keys, a batch at a time (a scan of the whole table when
        that is cheaper than looking them up; its unwanted rows are dropped by the
        caller's :meth:`_Wanted.match`)."""
        if self._scan(db, wanted.n):
            cur = db.execute(f"SELECT {cols} FROM tags")
            while rows := cur.fetchmany(_FETCH):
                yield rows
            return
        for chunk in _chunks(wanted.unique_keys()):
            marks = ",".join("?" * len(chunk))
            yield db.execute(f"SELECT {cols} FROM tags WHERE cid IN ({marks})", chunk).fetchall()

    def known_mask(self, cids: Sequence[str]) -> np.ndarray:
        """Which of ``cids`` (by position) have been parsed, with tags or without."""
        keep_big_blocks_off_the_heap()
        mask = np.zeros(len(cids), bool)
        try:
            with self._lock:
                db = self._db()
                if db.execute("SELECT 1 FROM tags LIMIT 1").fetchone() is None:
                    return mask  # a first map: nothing to look up
                wanted = _Wanted(cids)
                for rows in self._stream(db, "cid", wanted):
                    mask[wanted.match(rows)[1]] = True
        except sqlite3.Error as e:
            self._damaged(e)
            mask[:] = False
        return mask

    def known(self, cids: Iterable[str]) -> set[str]:
        """Which of ``cids`` have been parsed (with tags or without)."""
        cids = list(cids)
        mask = self.known_mask(cids)
        return {c for c, k in zip(cids, mask.tolist(), strict=True) if k}

    def columns(self, cids: Sequence[str]) -> TagColumns:
        """What ranking reads of the files whose content ids are ``cids`` ("" for a file
        with none), streamed from the table into flat arrays (a row's objects are freed
        with its batch: nothing per file stays on the Python heap)."""
        keep_big_blocks_off_the_heap()
        n = len(cids)
        file_row = np.full(n, -1, np.int64)
        rows = 0
        nb, dh, rf = bytearray(), bytearray(), bytearray()
        nb_len, dh_len, rf_len = array.array("I"), array.array("I"), array.array("I")
        try:
            with self._lock:
                db = self._db()
                if n and db.execute("SELECT 1 FROM tags LIMIT 1").fetchone() is not None:
                    wanted = _Wanted(cids)
                    # a content with no tags (NULL columns) reads as empty ones
                    cols = "cid, coalesce(CAST(names AS BLOB), x''), coalesce(dh, x''), coalesce(refs, x'')"
                    for batch in self._stream(db, cols, wanted):
                        picked, files, which = wanted.match(batch)
                        file_row[files] = rows + which
                        rows += len(picked)
                        for buf, lens, col, size in (
                            (nb, nb_len, 1, 1),
                            (dh, dh_len, 2, 4),
                            (rf, rf_len, 3, 4),
                        ):
                            got = [r[col] for r in picked]
                            ln = np.fromiter(map(len, got), np.int64, len(got))
                            if size > 1 and (ln % size).any():
                                raise ValueError("a cached hash list is torn")
                            buf += b"".join(got)
                            lens.frombytes((ln // size).astype(np.uint32).tobytes())
                    del wanted  # its keys: 50 MB at a million files
        except (sqlite3.Error, ValueError) as e:
            if isinstance(e, sqlite3.Error):
                self._damaged(e)
            else:
                log.info("repo map cache entry unreadable (%s)", e)
            file_row[:] = -1
            nb, dh, rf = bytearray(), bytearray(), bytearray()
            nb_len, dh_len, rf_len = array.array("I"), array.array("I"), array.array("I")
        known = file_row >= 0
        at = np.flatnonzero(known).astype(np.int32)
        rows_of = file_row[at].astype(np.int32)
        del file_row

        def lengths(lens: array.array[int]) -> tuple[np.ndarray, np.ndarray]:
            ln = (
                np.frombuffer(lens, np.uint32).astype(np.int64)
                if len(lens)
                else np.zeros(0, np.int64)
            )
            return np.cumsum(ln) - ln, ln

        def pairs(buf: bytearray, lens: array.array[int]) -> tuple[np.ndarray, np.ndarray]:
            flat = np.frombuffer(buf, np.uint32)
            starts, ln = lengths(lens)
            per = ln[rows_of]
            return flat[_ranges(starts[rows_of], per)], np.repeat(at, per)

        d_hash, d_file = pairs(dh, dh_len)
        del dh
        r_hash, r_file = pairs(rf, rf_len)
        del rf
        # each file's names (a file whose content the cache does not know has none), a
        # block of files at a time so the gather's positions stay small
        starts, ln = lengths(nb_len)
        per_file = np.zeros(n, np.int64)
        per_file[at] = ln[rows_of] if len(at) else 0
        src = np.frombuffer(nb, np.uint8)
        buf = bytearray(int(per_file.sum()) + n)  # the zeros are the NULs
        out = np.frombuffer(buf, np.uint8)  # written in place: no second copy
        file_starts = _starts(per_file + 1)
        step = 1 << 16
        for k in range(0, len(at), step):
            a, r = at[k : k + step], rows_of[k : k + step]
            out[_ranges(file_starts[a], per_file[a])] = src[_ranges(starts[r], ln[r])]
        del src, nb, out
        names = Texts(buf, file_starts)
        return TagColumns(n, known, names, d_hash, d_file, r_hash, r_file)

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
            ranks = array.array("d")
            ranks.frombytes(bytes(got["ranks"]))
            n = len(ranks)
            # whole columns as one buffer each: no str per file until one is shown
            index = RankedIndex(
                Texts.joined(zlib.decompress(got["rels"]), n),
                ranks.tolist(),
                Texts.joined(zlib.decompress(got["names"]), n),
                Texts.joined(zlib.decompress(got["cids"]), n),
            )
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
            "rels": _zip_texts(index.rels),
            "names": _zip_texts(index.names),
            "cids": _zip_texts(index.cids),
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

    rels: Sequence[str]  # sorted
    ranks: list[float]
    names: Sequence[str] = field(default_factory=list)
    cids: Sequence[str] = field(default_factory=list)
    used_hashes: bytes = b""
    used_counts: bytes = b""
    parsed: int = 0
    code: int = 0
    #: what the map must say about itself instead of the partial line (a late listing)
    note: str = ""

    def __len__(self) -> int:
        return len(self.rels)

    @property
    def partial(self) -> bool:
        return self.parsed < self.code

    def under(self, prefix: str) -> RankedIndex:
        # the paths are sorted: those under a folder are one run, found by two bisections
        lo = bisect.bisect_left(self.rels, prefix)
        hi = (
            bisect.bisect_left(self.rels, prefix[:-1] + chr(ord(prefix[-1]) + 1))
            if prefix
            else len(self.rels)
        )
        return RankedIndex(
            self.rels[lo:hi],
            self.ranks[lo:hi],
            self.names[lo:hi],
            self.cids[lo:hi],
            self.used_hashes,
            self.used_counts,
            self.parsed,
            self.code,
            self.note,
        )

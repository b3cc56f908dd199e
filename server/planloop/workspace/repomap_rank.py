"""Ranking for the repo map: PageRank over name uses in numpy, and the cheap signals
that rank files nobody has parsed yet.

Why numpy: the graph of 100k files has millions of (file uses a name defined there)
edges; joined and iterated in Python that took about 9 s, in numpy it takes a fraction
of a second, so a one-file change re-ranks the whole tree well within a plan's budget.
The join runs on 32-bit name hashes (:func:`~planloop.workspace.repomap_tags.name_hash`),
never on name text.

Why cheap signals: a first plan on a big repository cannot wait for every file to be
parsed. Until then a file ranks by what costs no parse: goal words in definitions
found by one ``rg`` over the tree, files the recent commits touched, and files open in
the editor (path words are weighed by the map itself, for parsed files too).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from planloop.workspace.repomap_cache import FileTags, TagColumns, Texts
from planloop.workspace.repomap_tags import SUFFIXES
from planloop.workspace.search_tools import child_env

log = logging.getLogger("planloop.repomap")

#: a name defined in more files than this says nothing about which one is meant
COMMON_NAME_FILES = 50
#: how much each cheap signal lifts an unparsed file
RG_LIFT = 10.0
RECENT_LIFT = 3.0
OPEN_LIFT = 10.0
#: commits whose files count as recent
RECENT_COMMITS = 30
#: a commit touching more files than this is no signal
RECENT_MAX_FILES = 50

_HASH = np.dtype("=u4")
#: uses joined to their definitions at a time
_BLOCK = 1 << 19


def _concat(parts: Sequence[bytes], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The hashes of every file, and the file each came from."""
    lens = np.fromiter((len(p) // 4 for p in parts), np.int64, n)
    flat = np.frombuffer(b"".join(parts), _HASH)
    return flat, np.repeat(np.arange(n, dtype=np.int32), lens)


def pagerank(
    tags: Sequence[FileTags | None], *, damping: float = 0.85, iterations: int = 20
) -> tuple[list[float], bytes, bytes]:
    """:func:`pagerank_columns` of files given one :class:`FileTags` each (None: unknown)."""
    n = len(tags)
    d_hash, d_file = _concat([t.def_hashes if t is not None else b"" for t in tags], n)
    r_hash, r_file = _concat([t.refs if t is not None else b"" for t in tags], n)
    cols = TagColumns(n, np.zeros(n, bool), Texts.of([""] * n), d_hash, d_file, r_hash, r_file)
    return pagerank_columns(cols, damping=damping, iterations=iterations)


def pagerank_columns(
    cols: TagColumns, *, damping: float = 0.85, iterations: int = 20
) -> tuple[list[float], bytes, bytes]:
    """PageRank of files over "uses a name defined there" edges (a name defined in many
    files, or a private one, weighs less), from the (definition hash, file) and
    (used-name hash, file) pairs of ``cols``; also how many files use each defined name
    (sorted hashes, and counts as uint32), which orders a file's definitions in the map.

    At a million files the edges are the map's biggest arrays: ``cols``' pairs are
    consumed (emptied, so they are freed as soon as they are used), positions are int32
    and every temporary is dropped when done."""
    n = cols.n
    if n == 0:
        return [], b"", b""
    d_hash, d_file = cols.d_hash, cols.d_file.astype(np.int32, copy=False)
    r_hash, r_file = cols.r_hash, cols.r_file.astype(np.int32, copy=False)
    cols.d_hash = cols.d_file = cols.r_hash = cols.r_file = np.zeros(0, np.int32)
    # each (name, definer) once, sorted by name
    order = np.lexsort((d_file, d_hash))
    d_hash, d_file = d_hash[order], d_file[order]
    del order
    if len(d_hash):
        first = np.ones(len(d_hash), bool)
        first[1:] = (d_hash[1:] != d_hash[:-1]) | (d_file[1:] != d_file[:-1])
        d_hash, d_file = d_hash[first], d_file[first]
        del first
    # sorted already: where each name's run of definers starts, and how long it is
    if len(d_hash):
        edge = np.ones(len(d_hash), bool)
        edge[1:] = d_hash[1:] != d_hash[:-1]
        start = np.flatnonzero(edge).astype(np.int32)
        del edge
        names = d_hash[start]
        counts = np.diff(np.append(start, np.int32(len(d_hash)))).astype(np.int32)
    else:
        names, start, counts = d_hash, np.zeros(0, np.int32), np.zeros(0, np.int32)
    del d_hash
    used = np.zeros(len(names), np.int32)
    srcs: list[np.ndarray] = []
    dsts: list[np.ndarray] = []
    ws: list[np.ndarray] = []
    if len(names):
        # a block of uses at a time: the temporaries of all uses at once were the
        # biggest arrays of a million-file map
        for k in range(0, len(r_hash), _BLOCK):
            src, dst, w = _edges(
                r_hash[k : k + _BLOCK], r_file[k : k + _BLOCK], names, start, counts, d_file, used
            )
            srcs.append(src)
            dsts.append(dst)
            ws.append(w)
    del r_hash, r_file
    has = used > 0
    used_h, used_n = names[has].astype(_HASH), used[has].astype(np.uint32)
    del used, has
    src = np.concatenate(srcs) if srcs else np.zeros(0, np.int32)
    del srcs
    dst = np.concatenate(dsts) if dsts else np.zeros(0, np.int32)
    del dsts
    w = np.concatenate(ws) if ws else np.zeros(0)
    del ws
    del d_file, names, start, counts
    total = np.bincount(src, weights=w, minlength=n)
    if len(w):
        w = w / total[src]
    dangling = total == 0
    del total
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        spread = damping * rank[dangling].sum() / n
        nxt = np.bincount(dst, weights=rank[src] * w, minlength=n) * damping
        rank = nxt + ((1.0 - damping) / n + spread)
    return rank.tolist(), used_h.tobytes(), used_n.tobytes()


def _edges(
    r_hash: np.ndarray,
    r_file: np.ndarray,
    names: np.ndarray,
    start: np.ndarray,
    counts: np.ndarray,
    d_file: np.ndarray,
    used: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (user, definer, weight) edges of a block of uses, and how often each defined
    name is used added to ``used``."""
    pos = np.searchsorted(names, r_hash).astype(np.int32)
    pos[pos == len(names)] = 0
    hit = names[pos] == r_hash
    pos, ref_file = pos[hit], r_file[hit]
    del hit
    used += np.bincount(pos, minlength=len(names))
    c = counts[pos]
    ok = c <= COMMON_NAME_FILES
    pos, ref_file, c = pos[ok], ref_file[ok], c[ok]
    del ok
    private = (names[pos] >> np.uint32(31)).astype(bool)
    weight = np.where(private, 0.1, 1.0) / c
    del private
    # each use fans out to every definer of its name
    if int(c.max(initial=0)) <= 1:
        dst, src, w = d_file[start[pos]], ref_file, weight
    else:
        rep = np.repeat(np.arange(len(pos), dtype=np.int32), c)
        first_def = np.repeat(start[pos], c)
        ends = np.cumsum(c, dtype=np.int64)
        first_def += (np.arange(len(rep), dtype=np.int64) - np.repeat(ends - c, c)).astype(np.int32)
        del ends
        dst = d_file[first_def]
        del first_def
        src, w = ref_file[rep], weight[rep]
        del rep
    other = dst != src
    return src[other], dst[other], w[other]


def used_count(used_hashes: bytes, used_counts: bytes, hashes: Sequence[int]) -> list[int]:
    """How many files use each of ``hashes`` (0 for a name nobody uses)."""
    uh = np.frombuffer(used_hashes, _HASH)
    un = np.frombuffer(used_counts, np.uint32)
    if not len(uh) or not len(hashes):
        return [0] * len(hashes)
    want = np.array(hashes, dtype=_HASH)
    pos = np.searchsorted(uh, want)
    pos[pos == len(uh)] = 0
    found: list[int] = np.where(uh[pos] == want, un[pos], 0).tolist()
    return found


class Signals:
    """The cheap signals of one map, gathered while the files are listed: started at
    once, read by a deadline (``rg`` and ``git log`` may not have finished by then:
    whatever they printed so far is used, and they are stopped)."""

    def __init__(
        self,
        root: Path,
        words: list[str],
        *,
        rg: str | None,
        rg_filters: list[str],
        git: str | None,
        open_files: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.open_files = set(open_files)
        self._out: dict[str, list[bytes]] = {"rg": [], "git": []}
        self._procs: list[tuple[str, subprocess.Popen[bytes], threading.Thread]] = []
        if rg is not None and words:
            # a definition whose name holds a goal word, in any language the map parses
            # one thread: the map's own listing needs the other core more than rg does
            alt = "|".join(re.escape(w) for w in words)
            kw = r"(def|class|function|func|interface|type|struct|enum|trait|fn|impl)"
            pattern = rf"(?i)\b{kw}\s+[\w$]*({alt})"
            globs: list[str] = []
            for s in SUFFIXES:
                globs += ["-g", f"*{s}"]
            self._start(
                "rg",
                [
                    rg,
                    "-l",
                    "--null",
                    "-j1",
                    "--max-filesize",
                    "512K",
                    *rg_filters,
                    *globs,
                    "-e",
                    pattern,
                ],
            )
        if git is not None:
            self._start(
                "git",
                [
                    git,
                    "log",
                    f"-n{RECENT_COMMITS}",
                    "--no-renames",
                    "--diff-filter=d",  # a file a commit deleted is no file to show
                    "--name-only",
                    "-z",
                    "--format=%x01",
                ],
            )

    def _start(self, name: str, cmd: list[str]) -> None:
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=child_env(),
            )
        except OSError as e:
            log.info("repo map: %s not started (%s)", name, e)
            return
        sink = self._out[name]

        def drain() -> None:
            out = proc.stdout
            assert out is not None
            fd = out.fileno()
            while chunk := os.read(fd, 65536):  # as it comes: a deadline may stop it
                sink.append(chunk)

        t = threading.Thread(target=drain, name=f"repomap-{name}", daemon=True)
        t.start()
        self._procs.append((name, proc, t))

    def stop(self) -> None:
        """Not needed after all (the map was stored): end the searches now."""
        for _name, proc, t in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            t.join(1.0)

    def kill(self) -> None:
        """A cancel (from another thread): end the searches without waiting for them, so
        :meth:`lifts` returns with what they printed so far."""
        for _name, proc, _t in self._procs:
            with contextlib.suppress(OSError):
                proc.kill()

    def lifts(self, deadline: float) -> dict[str, float]:
        """rel → how much the cheap signals lift it, from what was found by ``deadline``."""
        for _name, proc, t in self._procs:
            t.join(max(0.0, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
            t.join(1.0)
            proc.wait()
        out: dict[str, float] = {}

        def names(raw: bytes) -> list[str]:
            parts = raw.split(b"\0")
            if not raw.endswith(b"\0"):
                parts = parts[:-1]  # cut off mid-name at the deadline
            return [p.decode("utf-8", "surrogateescape") for p in parts if p]

        # a commit that touched many files (an import, a reformat) says nothing about any
        for commit in b"".join(self._out["git"]).split(b"\1"):
            touched = names(commit.strip(b"\n\0") + b"\0") if commit.strip(b"\n\0") else []
            if len(touched) <= RECENT_MAX_FILES:
                for rel in touched:
                    out[rel] = out.get(rel, 1.0) * RECENT_LIFT
        for rel in names(b"".join(self._out["rg"])):
            out[rel] = out.get(rel, 1.0) * RG_LIFT
        for rel in self.open_files:
            out[rel] = out.get(rel, 1.0) * OPEN_LIFT
        return out

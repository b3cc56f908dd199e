"""The repo map: a ranked, token-bounded outline of the repository's symbols for the planner.

Why: a planner that starts blind spends its first turns searching its way to the shape
of the code. Aider showed the fix — hand the model a map of the most relevant files and
their definitions, sized to a budget — and this module builds one:

1. **Tags** per file with tree-sitter (Python, JavaScript, TypeScript/TSX, Go, Rust,
   Java; :mod:`planloop.workspace.repomap_tags`): definitions (name, line, the line's
   text) and the identifiers it uses. Parsed files are cached by content hash
   (:mod:`planloop.workspace.repomap_cache`), so a second plan in the same repository
   parses only what changed. A file without a grammar, too large, or binary appears by
   name only; a file that does not parse keeps whatever definitions tree-sitter
   recovered (it always returns a tree).
2. **Rank**: PageRank over "file A uses a name that file B defines" (a small power
   iteration; names defined in very many files, or private ones, weigh less), then
   multiplied by relevance to the goal (goal words in a file's path or definitions).
3. **Fit** the budget: the best (file, definition) pairs, grouped by file, as many as fit
   in ``budget`` tokens (estimated conservatively at 3 characters a token).

The map goes into the planner's system prompt (its cached prefix); ``repo_map`` is also a
read-only planner tool for one directory.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import json
import logging
import math
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planloop.workspace.files import Workspace
from planloop.workspace.listing import GitState
from planloop.workspace.repomap_cache import FileTags, RankedIndex, TagCache
from planloop.workspace.repomap_tags import SUFFIXES, Grammars, tag_file

log = logging.getLogger("planloop.repomap")

DEFAULT_TOKENS = 3000
#: bigger files are listed by name: generated or vendored code, rarely what a plan needs
MAX_PARSE_BYTES = 512_000
#: a name defined in more files than this says nothing about which one is meant
COMMON_NAME_FILES = 50
#: how often progress is reported while parsing
PROGRESS_EVERY = 2000
#: definitions shown per file at most (the most used first)
MAX_DEFS_SHOWN = 12

_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "into",
        "that",
        "this",
        "when",
        "then",
        "than",
        "make",
        "add",
        "use",
        "new",
        "fix",
        "all",
        "any",
        "are",
        "was",
        "were",
        "has",
        "have",
        "not",
        "but",
        "can",
        "should",
        "must",
        "out",
        "our",
        "its",
        "also",
        "only",
        "each",
        "every",
        "support",
        "allow",
        "change",
        "update",
        "file",
        "files",
        "code",
    ]
)

ProgressFn = Callable[[str, int, int], None]


def estimate_tokens(text: str) -> int:
    """Tokens a model will count, erring high: code runs nearer 3 characters a token
    than prose's 4, and a map over budget would crowd out the conversation."""
    return math.ceil(len(text) / 3)


@dataclass
class MapStats:
    files: int = 0
    parsed: int = 0
    seconds: float = 0.0
    #: the ranked index of the last build was reused as is
    from_index: bool = False
    #: ... found by the quick key (git's index checksum), without listing the tree
    by_quick_key: bool = False


class RepoMap:
    """The repo map of one workspace; ``cache_dir`` is under ``.planloop/``."""

    def __init__(
        self, ws: Workspace, cache_dir: Path, *, on_progress: ProgressFn | None = None
    ) -> None:
        self.ws = ws
        self.cache = TagCache(cache_dir)
        self.on_progress = on_progress
        self.grammars = Grammars()
        self.stats = MapStats()

    def clear_cache(self) -> None:
        self.cache.clear()

    def render(self, goal: str, budget: int = DEFAULT_TOKENS, path: str = ".") -> str:
        """The map for ``goal`` within ``budget`` tokens ("" when the budget is 0 or there
        are no files); ``path`` narrows it to one directory (ranked within the whole)."""
        if budget <= 0:
            return ""
        index = self.index()
        if path not in (".", ""):
            index = index.under(self.ws.rel(self.ws.resolve(path)).rstrip("/") + "/")
        if not len(index):
            return ""
        words = _goal_regex(goal)
        best = _best(index, words, budget)
        return _fit(best, self.cache.defs([rel for _, rel in best]), budget, words)

    def index(self) -> RankedIndex:
        """Every file's rank and definition names: the stored index when the tree is
        unchanged (asked first by the quick key, then by the full fingerprint), else
        rebuilt, parsing only contents the tag cache has not seen."""
        start = time.monotonic()
        quick = self._quick_key()
        if quick is not None:
            cached = self.cache.index(quick, quick=True)
            if cached is not None:
                self.stats = MapStats(len(cached), 0, time.monotonic() - start, True, True)
                return cached
        files, state = self.ws.searcher.files_and_state()
        code = [f for f in files if f.endswith(SUFFIXES)]
        key = self._fingerprint(files, code, state)
        cached = self.cache.index(key)
        if cached is not None:
            if quick is not None:
                self.cache.remember_quick(quick)
            self.stats = MapStats(len(files), 0, time.monotonic() - start, True)
            return cached
        ids = self.ws.searcher.content_ids(code, MAX_PARSE_BYTES, state)
        tags = self._tags(code, ids)
        all_tags: dict[str, FileTags | None] = dict.fromkeys(files)
        all_tags.update(tags)
        ranks = pagerank(all_tags)
        used: dict[str, int] = defaultdict(int)  # how many files use each name
        for t in tags.values():
            if t is not None:
                for name in t.ref_names:
                    used[name] += 1
        rows: list[tuple[str, float, str, str]] = []
        for rel in files:
            t = all_tags[rel]
            defs = (
                [[d[0], d[1], d[2], round(1.0 + math.log1p(used.get(d[0], 0)), 3)] for d in t.defs]
                if t is not None
                else []
            )
            names = " ".join(d[0] for d in defs)
            rank = round(ranks.get(rel, 0.0), 12)
            rows.append((rel, rank, names, json.dumps(defs) if defs else ""))
        self.cache.save_index(key, rows, quick)
        self.stats.seconds = time.monotonic() - start
        self.stats.files = len(files)
        return RankedIndex([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    def _quick_key(self) -> str | None:
        """The tree's identity from git's index checksum and its list of changed paths,
        plus the stat of each of those (git does not vouch for their content)."""
        got = self.ws.searcher.quick_state()
        if got is None:
            return None
        raw, dirty = got
        h = hashlib.sha1(b"quick\0" + raw)
        self._add_stats(h, dirty)
        return h.hexdigest()

    def _fingerprint(self, files: list[str], code: list[str], state: GitState | None) -> str:
        """What the tree is, cheaply: git's own listing (blob ids of clean tracked files)
        plus the size and mtime of every code file git does not vouch for."""
        h = hashlib.sha1(b"files\0")
        h.update("\0".join(files).encode("utf-8", "surrogateescape"))
        unsure = code
        if state is not None:
            h.update(state.raw)
            dirty = state.modified | state.deleted
            unsure = [f for f in code if f not in state.blobs or f in dirty]
        self._add_stats(h, unsure)
        return h.hexdigest()

    def _add_stats(self, h: Any, rels: list[str]) -> None:
        """The size and mtime of files git does not vouch for (a vanished one adds nothing)."""
        root = str(self.ws.root) + os.sep
        for rel in rels:
            try:
                st = os.stat(root + rel)
            except OSError:
                continue
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))

    def _tags(self, code: list[str], ids: dict[str, str]) -> dict[str, FileTags | None]:
        out: dict[str, FileTags | None] = {}
        todo = [rel for rel in code if rel in ids and not self.cache.known(ids[rel])]
        total = len(todo)
        report = self.on_progress is not None and total >= PROGRESS_EVERY
        if report and self.on_progress is not None:
            self.on_progress(f"repo map: parsing {total} files", 0, total)
        root = str(self.ws.root) + os.sep
        began = time.monotonic()
        for i, rel in enumerate(todo, 1):
            self.cache.put(ids[rel], tag_file(root + rel, rel, self.grammars, MAX_PARSE_BYTES))
            if report and self.on_progress is not None and i % PROGRESS_EVERY == 0 and i < total:
                self.on_progress(f"repo map: parsed {i}/{total} files", i, total)
        if report and self.on_progress is not None:
            took = time.monotonic() - began
            self.on_progress(f"repo map: parsed {total} files in {took:.1f} s", total, total)
        for rel in code:
            cid = ids.get(rel)
            out[rel] = self.cache.get(cid) if cid is not None else None
        self.stats = MapStats(files=len(code), parsed=total)
        self.cache.save_tags(set(ids.values()))
        return out


def pagerank(
    tags: dict[str, FileTags | None], *, damping: float = 0.85, iterations: int = 20
) -> dict[str, float]:
    """PageRank of files over "uses a name defined there" edges."""
    definers: dict[str, list[str]] = defaultdict(list)
    for rel, t in tags.items():
        if t is not None:
            for name in {d[0] for d in t.defs}:
                definers[name].append(rel)
    nodes = list(tags)
    index = {n: i for i, n in enumerate(nodes)}
    out_edges: list[list[tuple[int, float]]] = [[] for _ in nodes]
    for rel, t in tags.items():
        if t is None:
            continue
        src = index[rel]
        weights: dict[int, float] = defaultdict(float)
        for name in t.ref_names:
            where = definers.get(name)
            if not where or len(where) > COMMON_NAME_FILES:
                continue
            w = (0.1 if name.startswith("_") else 1.0) / len(where)
            for dst in where:
                if dst != rel:
                    weights[index[dst]] += w
        total = sum(weights.values())
        if total:
            out_edges[src] = [(d, w / total) for d, w in weights.items()]
    n = len(nodes)
    if n == 0:
        return {}
    rank = [1.0 / n] * n
    for _ in range(iterations):
        nxt = [(1.0 - damping) / n] * n
        dangling = 0.0
        for i, edges in enumerate(out_edges):
            r = rank[i]
            if not edges:
                dangling += r
                continue
            share = damping * r
            for j, w in edges:
                nxt[j] += share * w
        spread = damping * dangling / n
        rank = [x + spread for x in nxt]
    return {nodes[i]: rank[i] for i in range(n)}


def _goal_regex(goal: str) -> re.Pattern[str] | None:
    words = {
        w.lower().rstrip("s") if len(w) > 4 else w.lower()
        for w in re.findall(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+", goal)
    }
    words = {w for w in words if len(w) >= 3 and w not in _STOP}
    if not words:
        return None
    # words are letters and digits only, so the alternation needs no escaping
    return re.compile("|".join(sorted(words, key=len, reverse=True)), re.I)


def _best(index: RankedIndex, goal: re.Pattern[str] | None, limit: int) -> list[tuple[float, str]]:
    """The best files, best first: rank, times 10 when the goal's words are in the path,
    times 10 when in the file's definitions. Goal words are found by one literal scan per
    word over all paths and one over all names (C speed), not one search per file."""
    rels = index.rels
    ranks = list(index.ranks)
    if goal is not None and rels:
        # one literal scan per word (Python's re finds a literal fast; an alternation of
        # words it tries at every character)
        words = [re.compile(re.escape(w)) for w in goal.pattern.replace("\\", "").split("|")]
        for texts in (rels, index.names):
            starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))
            text = "\n".join(texts).lower()
            hit: set[int] = set()
            for w in words:
                for m in w.finditer(text):
                    hit.add(bisect.bisect_right(starts, m.start()) - 1)
            for i in hit:
                ranks[i] *= 10.0
    # each shown file costs a few tokens: no more than budget/5 can ever fit
    top = max(1, limit // 5)
    best = heapq.nlargest(top, range(len(rels)), key=lambda i: (ranks[i], rels[i]))
    return [(ranks[i], rels[i]) for i in best]


def _file_block(rel: str, defs: list[list[Any]], goal: re.Pattern[str] | None) -> list[str]:
    """A file's lines: its name, then its definitions, most used (and goal-matching) first,
    shown in file order."""
    if not defs:
        return [rel]
    search = goal.search if goal is not None else None

    def weight(d: list[Any]) -> float:
        w = float(d[3]) * (0.2 if str(d[0]).startswith("_") else 1.0)
        return w * 10.0 if search is not None and search(str(d[0])) else w

    keep = sorted(defs, key=weight, reverse=True)[:MAX_DEFS_SHOWN]
    shown = sorted(keep, key=lambda d: int(d[1]))
    return [f"{rel}:", *(f"│{int(d[1]):>5}: {d[2]}" for d in shown)]


def _fit(
    best: list[tuple[float, str]],
    defs: dict[str, list[list[Any]]],
    budget: int,
    goal: re.Pattern[str] | None,
) -> str:
    """As many of the best files as fit in ``budget`` tokens (binary search on the count)."""
    blocks: list[list[str]] = []
    lo, hi = 0, len(best)
    text_of: dict[int, str] = {}

    def text(k: int) -> str:
        while len(blocks) < k:
            rel = best[len(blocks)][1]
            blocks.append(_file_block(rel, defs.get(rel, []), goal))
        if k not in text_of:
            text_of[k] = "".join("\n".join(b) + "\n" for b in blocks[:k])
        return text_of[k]

    found = ""
    while lo <= hi:
        mid = (lo + hi) // 2
        t = text(mid)
        if estimate_tokens(t) <= budget:
            found, lo = t, mid + 1
        else:
            hi = mid - 1
    if found:
        return found
    # not even the best file's definitions fit: the best files' names, as many as fit
    names = ""
    for _rank, rel in best:
        if estimate_tokens(names + rel + "\n") > budget:
            break
        names += rel + "\n"
    return names

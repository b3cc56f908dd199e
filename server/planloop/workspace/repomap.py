"""The repo map: a ranked, token-bounded outline of the repository's symbols for the planner.

Why: a planner that starts blind spends its first turns searching its way to the shape
of the code. Aider showed the fix — hand the model a map of the most relevant files and
their definitions, sized to a budget — and this module builds one:

1. **Tags** per file with tree-sitter (Python, JavaScript, TypeScript/TSX, Go, Rust,
   Java; :mod:`planloop.workspace.repomap_tags`): definitions (name, kind, line) and the
   names it uses. Parsed files are cached by content id
   (:mod:`planloop.workspace.repomap_cache`), so a later plan parses only what changed.
   A file without a grammar, too large, or binary appears by name only; a file that does
   not parse keeps whatever definitions tree-sitter recovered (it always returns a tree).
2. **Rank**: PageRank over "file A uses a name that file B defines", in numpy
   (:mod:`planloop.workspace.repomap_rank`), then multiplied by relevance to the goal
   (goal words in a file's path or definitions).
3. **Fit** the budget: the best (file, definition) pairs, grouped by file, as many as fit
   in ``budget`` tokens (estimated conservatively at 3 characters a token).

**Within a time budget** (``budget_s``, the ``repo_map_budget_s`` setting): a first plan
on a big repository must not wait for every file to be parsed. What the cache does not
know yet is handed to background workers (:mod:`planloop.workspace.repomap_fill`), best
first by cheap signals (goal words in paths and, by one ``rg``, in definitions; recently
committed files; files open in the editor); the map parses the most promising of them
itself while the budget lasts, then ranks what is known and says how much that is
("map: 4,100 of 79,864 files parsed, continuing in the background"). The workers fill
the cache for the ``repo_map`` tool and the next plan. A listing that is itself too slow
(git's round at a million files) is not waited for: the map answers from the last stored
index, or from the files the cheap signals found, and the listing goes on on a thread
that hands the tree to the workers (:meth:`RepoMap._listed`).

The map goes into the planner's system prompt (its cached prefix); ``repo_map`` is also a
read-only planner tool for one directory.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planloop.cancel import Cancelled, CancelToken
from planloop.workspace import repomap_fill
from planloop.workspace.files import Workspace
from planloop.workspace.listing import GitState, Pending
from planloop.workspace.repomap_cache import Def, FileTags, RankedIndex, TagCache, Texts
from planloop.workspace.repomap_rank import OPEN_LIFT, Signals, pagerank_columns, used_count
from planloop.workspace.repomap_tags import MAX_PARSE_BYTES, SUFFIXES, Grammars, tag_file

log = logging.getLogger("planloop.repomap")

__all__ = ["MAX_PARSE_BYTES", "RepoMap", "estimate_tokens"]

DEFAULT_TOKENS = 3000
#: how often progress is reported while parsing in the foreground
PROGRESS_EVERY = 2000
#: definitions shown per file at most (the most used first)
MAX_DEFS_SHOWN = 12
#: with a time budget, at most this many unparsed files are parsed here rather than by
#: the background workers (starting them costs more than parsing a few files)
INLINE_MAX = 300
#: the share of the time budget the cheap signals may take
SIGNALS_SHARE = 0.5
#: kept back from the time budget for ranking and rendering, plus per known file
RESERVE_S = 0.15
RESERVE_PER_FILE_S = 7e-6
#: what ranking a whole tree costs a file (loading its tags, PageRank, storing the index):
#: past the budget, a map ranks as the last tree did and a worker re-ranks it
RANK_PER_FILE_S = 1.5e-5
#: the share of the time budget the listing may take before the map answers without it
#: (never less than LISTING_MIN_S: a listing is given up on only when it is really slow)
LISTING_SHARE = 0.6
LISTING_MIN_S = 0.3
#: files a late listing's map takes from the cheap signals at most, and the time it
#: keeps back for reading them and rendering
LATE_FILES = 2000
LATE_RESERVE_S = 0.6
#: what choosing and showing the best files of a stored index costs a file
RENDER_PER_FILE_S = 1e-6
KIND_WORDS = {
    "f": "function",
    "c": "class",
    "m": "method",
    "i": "interface",
    "t": "type",
    "e": "enum",
    "s": "struct",
    "k": "trait",
    "d": "mod",
    "x": "macro",
    "r": "record",
}

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

#: (message, files done, files in all, whether this piece of work is over)
ProgressFn = Callable[[str, int, int, bool], None]


def estimate_tokens(text: str) -> int:
    """Tokens a model will count, erring high: code runs nearer 3 characters a token
    than prose's 4, and a map over budget would crowd out the conversation."""
    return math.ceil(len(text) / 3)


def partial_note(parsed: int, code: int) -> str:
    return f"map: {parsed:,} of {code:,} files parsed, continuing in the background"


def late_note(seconds: float, what: str) -> str:
    return (
        f"map: still listing the files after {seconds:.1f} s: {what}, continuing in the background"
    )


@dataclass
class MapStats:
    files: int = 0
    parsed: int = 0
    seconds: float = 0.0
    #: the ranked index of the last build was reused as is
    from_index: bool = False
    #: ... found by the quick key (git's index checksum), without listing the tree
    by_quick_key: bool = False
    #: code files whose tags were known when the map was made, of all code files
    known: int = 0
    code: int = 0
    #: files handed to the background workers
    background: int = 0
    #: ranked as the last tree was (a full re-rank would have overrun the time budget)
    stale: bool = False
    #: the listing was not done within its share of the time budget (it goes on)
    late_listing: bool = False


@dataclass
class _Tree:
    """One listing of the tree, kept while a background parse fills it in."""

    files: list[str]
    code: list[str]
    ids: dict[str, str]
    key: str
    quick: str | None


class RepoMap:
    """The repo map of one workspace; ``cache_dir`` is under ``.planloop/``.

    ``budget_s``: the seconds a map may take before it settles for what is parsed by
    then (None: parse everything first, as a bench or a background worker wants).
    ``open_files``: the workspace-relative files open in the editor (a cheap signal: it
    lifts them in every map, parsed in full or not).
    ``workers``: background parse processes (None: one per core; 0: parse here only).
    """

    def __init__(
        self,
        ws: Workspace,
        cache_dir: Path,
        *,
        on_progress: ProgressFn | None = None,
        budget_s: float | None = None,
        open_files: Callable[[], Sequence[str]] | None = None,
        workers: int | None = None,
    ) -> None:
        self.ws = ws
        self.cache_dir = cache_dir
        self.cache = TagCache(cache_dir)
        self.on_progress = on_progress
        self.budget_s = budget_s
        self.open_files = open_files
        self.workers = workers
        self.grammars = Grammars()
        self.stats = MapStats()
        self.fill: repomap_fill.Fill | None = None
        self._tree: _Tree | None = None
        self._signals: Signals | None = None
        #: the signals of the build under way (a cancel ends their searches at once)
        self._live: Signals | None = None
        self._cancel: CancelToken | None = None
        self._lifts: dict[str, float] = {}
        self.phases: dict[str, float] = {}
        self._phase_at = time.monotonic()
        self._listing: Pending[_Tree | tuple[RankedIndex, MapStats]] | None = None
        self._late_lock = threading.Lock()
        self._prefetched: tuple[RankedIndex | None] | None = None

    def clear_cache(self) -> None:
        self.stop()
        self.cache.clear()

    def stop(self) -> None:
        """End the background parse (the run or the server is done with this map)."""
        with self._late_lock:
            self._listing = None  # a late listing starts no parse now
        if self.fill is not None:
            self.fill.stop()
            self.fill = None

    def close(self) -> None:
        self.stop()
        self.cache.close()

    def render(
        self,
        goal: str,
        budget: int = DEFAULT_TOKENS,
        path: str = ".",
        cancel: CancelToken | None = None,
    ) -> str:
        """The map for ``goal`` within ``budget`` tokens ("" when the budget is 0 or there
        are no files); ``path`` narrows it to one directory (ranked within the whole). A
        map made before every file was parsed ends with a line that says so. ``cancel``:
        see :meth:`index`."""
        if budget <= 0:
            return ""
        index = self.index(goal, cancel)
        if path not in (".", ""):
            index = index.under(self.ws.rel(self.ws.resolve(path)).rstrip("/") + "/")
        if not len(index):
            return index.note + "\n" if index.note else ""
        note = index.note or (partial_note(index.parsed, index.code) if index.partial else "")
        note += "\n" if note else ""
        room = budget - estimate_tokens(note)
        if room <= 0:
            return ""
        words = _goal_regex(goal)
        # a partial map's ranks hold the open files' lift already (the cheap signals)
        opened = () if index.partial or self.open_files is None else self.open_files()
        best_at = _best(index, words, room, opened)
        best = [(index.ranks[i], index.rels[i]) for i in best_at]
        wanted = {index.rels[i]: index.cids[i] for i in best_at}
        tags = self.cache.get_many([c for c in wanted.values() if c])
        defs: dict[str, list[tuple[Def, int]]] = {}
        for rel, cid in wanted.items():
            t = tags.get(cid)
            if t is not None and t.defs:
                hashes = _hashes(t.def_hashes)
                counts = used_count(index.used_hashes, index.used_counts, hashes)
                defs[rel] = list(zip(t.defs, counts, strict=False))
        text = _fit(best, defs, room, words, str(self.ws.root) + os.sep)
        return text + note if text else ""

    def index(self, goal: str = "", cancel: CancelToken | None = None) -> RankedIndex:
        """Every file's rank and definition names: the stored index when the tree is
        unchanged (asked first by the quick key, then by the full fingerprint), else
        rebuilt from the cached tags, parsing what the cache has not seen — all of it
        without a time budget; within one, what the budget allows (the rest in the
        background).

        ``cancel`` stops the build between files and between its phases with
        :class:`~planloop.cancel.Cancelled` (a cancel must never wait for a map): the
        cheap signals' searches are killed at once, what was parsed is stored first.
        Background workers already started keep filling the cache (whole SQLite batches,
        at idle priority once the budget is over: the next plan wants their work); the
        ones an unbudgeted map was waiting for at full priority are stopped."""
        if cancel is None:
            return self._index(goal)
        cancel.raise_if_cancelled()
        self._cancel = cancel
        forget = cancel.on_cancel(self._kill_signals)
        try:
            return self._index(goal)
        except Cancelled:
            self._drop_signals()
            raise
        finally:
            forget()
            self._cancel = None

    def _kill_signals(self) -> None:
        """On the canceller's thread: end the searches, so a wait for them returns now."""
        live = self._live
        if live is not None:
            live.kill()

    def _check(self) -> None:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()

    def _index(self, goal: str) -> RankedIndex:
        start = time.monotonic()
        self.phases = {}
        self._phase_at = start
        deadline = None if self.budget_s is None else start + self.budget_s
        tree = self._tree if self.fill is not None and self.fill.running else None
        if tree is None:
            self._tree = None
            listed = self._listed(goal, start, deadline)
            if listed is None:
                assert deadline is not None
                return self._late(goal, start, deadline)
            if isinstance(listed, _Tree):
                tree = listed
            else:
                self._drop_signals()
                cached, self.stats = listed
                self.stats.seconds = time.monotonic() - start
                return cached
        known = self.cache.known(tree.ids.values())
        self._lap("known tags")
        todo = [rel for rel in tree.code if rel in tree.ids and tree.ids[rel] not in known]
        parsed = 0
        if todo and deadline is None and len(todo) > INLINE_MAX and self.workers != 0:
            # no budget but much to parse: every core parses, and this waits for them
            self.fill = repomap_fill.start(
                self.ws.root,
                self.cache_dir,
                [(tree.ids[r], r) for r in todo],
                nice_after_s=float("inf"),  # the caller waits for them: full priority
                workers=self.workers,
            )
            if self.fill is not None:
                while not self.fill.wait(0.1):
                    if self._cancel is not None and self._cancel.cancelled:
                        self.stop()  # at full priority for a caller who is gone
                        self._check()
                self.fill = None
            parsed = len(todo)
            known = self.cache.known(tree.ids.values())
            todo = [rel for rel in todo if tree.ids[rel] not in known]
        if todo and (deadline is None or len(todo) <= INLINE_MAX):
            parsed += self._parse(todo, tree.ids, deadline, known)
            todo = [rel for rel in todo if tree.ids[rel] not in known]
        if not todo and deadline is not None and self._rank_would_overrun(tree, deadline):
            stale = self.cache.last_index()
            if stale is not None:
                # the last tree's ranks now, the exact ones from a worker for the next plan
                self._drop_signals()
                index = self._restale(tree, stale)
                self.stats = MapStats(len(tree.files), parsed, time.monotonic() - start)
                self.stats.known = self.stats.code = len(tree.code)
                self.stats.stale = True
                return index
        if not todo:
            self._drop_signals()
            known.clear()  # a million ids at a million files: ranking reads the cache
            index = self._rank(tree, full=True)
            self.stats = MapStats(len(tree.files), parsed, time.monotonic() - start)
            self.stats.known = self.stats.code = len(tree.code)
            self._tree = None
            return index
        assert deadline is not None
        index = self._partial(goal, tree, todo, known, deadline)
        self.stats = MapStats(len(tree.files), parsed, time.monotonic() - start)
        self.stats.known, self.stats.code = index.parsed, index.code
        self.stats.background = len(todo)
        return index

    def _listed(
        self, goal: str, start: float, deadline: float | None
    ) -> _Tree | tuple[RankedIndex, MapStats] | None:
        """The tree as git lists it (or its stored index). Within a time budget the
        listing runs on a thread, and a listing not done by ``LISTING_SHARE`` of the
        budget is given up on (None): it goes on, and once done starts the background
        parse itself (:meth:`_listed_late`); the next map picks up its result."""
        if deadline is None:
            return self._list()
        if self._signals is None:
            # they run while git lists the tree (and are all a late listing's map has)
            self._signals = self._start_signals(goal)
        pending = self._listing
        if pending is None or (pending.late and pending.done):
            # (a late listing that is over has handed its tree to the workers: list anew)
            pending = self._listing = Pending(self._list, self._listed_late)
        wait = max(LISTING_MIN_S, (deadline - start) * LISTING_SHARE)
        self._prefetched = None
        if not self._wait(pending, start + min(wait, LISTING_MIN_S)):
            # a big tree: read what a late answer starts from while git goes on
            stale = self.cache.last_index()
            self._prefetched = (stale,)
            self._lap("last index")
            if stale is not None:
                # with the last map to fall back on, the listing may have all the time
                # but what showing that map takes (the signals only lift it)
                wait = max(LISTING_MIN_S, deadline - start - _rendering(len(stale)))
            if not self._wait(pending, start + wait) and not pending.give_up():
                return None
            self._prefetched = None
        self._listing = None
        return pending.result()

    def _wait(self, pending: Pending[Any], until: float) -> bool:
        """Wait for the listing until ``until``, a cancel ending the wait at once."""
        while True:
            left = until - time.monotonic()
            if pending.wait(min(0.05, max(0.0, left))):
                return True
            if self._cancel is not None and self._cancel.cancelled:
                # the listing's result goes nowhere now: the next map lists anew
                pending.give_up()
                self._listing = None
                self._check()
            if left <= 0:
                return False

    def _list(self) -> _Tree | tuple[RankedIndex, MapStats]:
        round_ = self.ws.searcher.map_round()
        quick = self._quick_key(round_.quick())
        self._lap("git round + quick key")
        if quick is not None:
            cached = self.cache.index(quick, quick=True)
            if cached is not None:
                return _complete(cached), MapStats(len(cached), 0, 0.0, True, True)
        files, state = round_.files_and_state()
        del round_  # git's output: tens of megabytes at a million files
        self._lap("listing parsed")
        self._check()
        code = [f for f in files if f.endswith(SUFFIXES)]
        key = self._fingerprint(files, code, state)
        cached = self.cache.index(key)
        if cached is not None:
            if quick is not None:
                self.cache.remember_quick(quick)
            return _complete(cached), MapStats(len(files), 0, 0.0, True)
        ids = self.ws.searcher.content_ids(code, MAX_PARSE_BYTES, state)
        self._lap("content ids")
        self._check()
        return _Tree(files, code, ids, key, quick)

    def _listed_late(self, listed: _Tree | tuple[RankedIndex, MapStats]) -> None:
        """A listing the map stopped waiting for is done: the background parse starts
        on it (a worker re-ranks the whole tree when nothing is left to parse)."""
        if not isinstance(listed, _Tree) or self._listing is None:
            return  # a stored index (the next map finds it at once), or the map was stopped
        known = self.cache.known_mask([listed.ids.get(rel, "") for rel in listed.code])
        todo = [
            (listed.ids[rel], rel)
            for rel, k in zip(listed.code, known.tolist(), strict=True)
            if not k and rel in listed.ids
        ]
        with self._late_lock:
            if self._listing is None:
                return  # the map was stopped meanwhile
            if self.fill is None or not self.fill.running:
                self.fill = repomap_fill.start(
                    self.ws.root,
                    self.cache_dir,
                    todo or [("", "")],
                    nice_after_s=0.0,
                    workers=self.workers,
                )
            self._tree = listed

    def _late(self, goal: str, start: float, deadline: float) -> RankedIndex:
        """The map when the listing is not done in time: the last tree's index (ranked
        as that tree was), or without one the files the cheap signals found — lifted by
        them either way — and a line that says so."""
        got, self._prefetched = self._prefetched, None
        stale = got[0] if got is not None else self.cache.last_index()
        self._lap("last index")
        signals, self._signals = self._signals, None
        rendering = _rendering(len(stale) if stale is not None else 0)
        lifts = signals.lifts(deadline - rendering) if signals is not None else {}
        self._lap("cheap signals")
        # the best of them (a common goal word is in tens of thousands of files; no map
        # shows more than a few hundred)
        best = heapq.nsmallest(LATE_FILES, lifts.items(), key=lambda kv: (-kv[1], kv[0]))
        if stale is not None:
            index, what = stale, "ranked as the last map"
            for rel, lift in best:  # a bisection each: no str per stored path
                i = _find(index.rels, rel)
                if i is not None:
                    index.ranks[i] *= lift
            index.parsed = index.code = 0
        else:
            # as a listing; not stat'ed: each system call here waits for the listing
            # thread to yield the interpreter
            rels = sorted(r for r, _ in best)
            index = RankedIndex(rels, [lifts[r] for r in rels], [""] * len(rels), [""] * len(rels))
            what = f"{len(rels):,} files found by the goal's words and recent commits"
        index.note = late_note(time.monotonic() - start, what)
        self.stats = MapStats(len(index), 0, time.monotonic() - start)
        self.stats.late_listing = True
        if self.on_progress is not None:
            self.on_progress(index.note, 0, 0, True)
        return index

    def _partial(
        self, goal: str, tree: _Tree, todo: list[str], known: set[str], deadline: float
    ) -> RankedIndex:
        """The map within the budget: the unparsed files ordered by cheap signals, the
        best of them parsed here while time lasts, the rest left to the workers."""
        start = time.monotonic()
        lifts: dict[str, float] = {}
        if self.fill is None or not self.fill.running:
            signals = self._signals or self._start_signals(goal)
            self._signals = None
            # the workers start at once, files with goal words in their path first; the
            # foreground then parses what the signals lift (a duplicate costs one parse)
            hits = _hits(todo, _goal_words(goal))
            order = [todo[i] for i in sorted(hits)] + [
                r for i, r in enumerate(todo) if i not in hits
            ]
            self.fill = repomap_fill.start(
                self.ws.root,
                self.cache_dir,
                [(tree.ids[r], r) for r in order],
                nice_after_s=max(0.0, deadline - time.monotonic()),
                workers=self.workers,
            )
            self._lap("workers started")
            self._tree = tree
            left = deadline - start
            lifts = signals.lifts(
                start + max(0.0, (left - self._reserve(len(tree.files))) * SIGNALS_SHARE)
            )
            self._lap("cheap signals")
            self._live = None
            self._lifts = lifts  # cut short by a cancel: what was found, for the next map
            self._check()
            if self.on_progress is not None:
                self.on_progress(
                    f"map: parsing {len(todo):,} files in the background", 0, len(todo), False
                )
            lifted = sorted((r for r in todo if r in lifts), key=lambda r: lifts[r], reverse=True)
            if lifted:
                deadline_here = deadline - self._reserve(len(tree.files))
                self._parse(lifted, tree.ids, deadline_here, known, report=False)
                self._lap("foreground parse")
        else:
            lifts = self._lifts
        index = self._rank(tree, full=False, lifts=lifts)
        self._lap("rank")
        if self.on_progress is not None:
            self.on_progress(partial_note(index.parsed, index.code), index.parsed, index.code, True)
        return index

    @staticmethod
    def _rank_would_overrun(tree: _Tree, deadline: float) -> bool:
        return time.monotonic() + RANK_PER_FILE_S * len(tree.files) > deadline

    def _restale(self, tree: _Tree, stale: RankedIndex) -> RankedIndex:
        """This tree ranked as the last one was (a new file ranks lowest), with the
        definition names of changed files read fresh; a worker re-ranks it whole and
        stores that for the next plan."""
        rank_of = dict(zip(stale.rels, stale.ranks, strict=True))
        old_cid = dict(zip(stale.rels, stale.cids, strict=True))
        name_of = dict(zip(stale.rels, stale.names, strict=True))
        floor = min(stale.ranks, default=0.0)
        cids = [tree.ids.get(rel, "") for rel in tree.files]
        changed = [
            (c, rel) for rel, c in zip(tree.files, cids, strict=True) if c and old_cid.get(rel) != c
        ]
        fresh = self.cache.get_many([c for c, _ in changed], defs=False)
        fresh_names = {rel: t.names for c, rel in changed if (t := fresh.get(c)) is not None}
        index = RankedIndex(
            list(tree.files),
            [rank_of.get(rel, floor) for rel in tree.files],
            [fresh_names.get(rel, name_of.get(rel, "")) for rel in tree.files],
            cids,
            stale.used_hashes,
            stale.used_counts,
        )
        if self.fill is None or not self.fill.running:
            self.fill = repomap_fill.start(
                self.ws.root, self.cache_dir, changed or [("", "")], nice_after_s=0.0, workers=1
            )
        return index

    def _lap(self, name: str) -> None:
        """Where a map's time goes (``phases``, logged at debug level: the bench shows them)."""
        now = time.monotonic()
        self.phases[name] = self.phases.get(name, 0.0) + now - self._phase_at
        self._phase_at = now
        log.debug("repo map: %s %.3f s", name, self.phases[name])

    def _drop_signals(self) -> None:
        self._live = None
        if self._signals is not None:
            self._signals.stop()
            self._signals = None

    def _start_signals(self, goal: str) -> Signals:
        tools = self.ws.searcher.tools
        self._live = Signals(
            self.ws.root,
            _goal_words(goal),
            rg=tools.rg,
            rg_filters=self.ws.searcher.rg_filters(),
            git=tools.git if self.ws.searcher.in_git else None,
            open_files=self.open_files() if self.open_files is not None else (),
        )
        return self._live

    @staticmethod
    def _reserve(known: int) -> float:
        return RESERVE_S + RESERVE_PER_FILE_S * known

    def _parse(
        self,
        todo: list[str],
        ids: dict[str, str],
        deadline: float | None,
        known: set[str],
        *,
        report: bool = True,
    ) -> int:
        """Parse ``todo`` here (by ``deadline``, when given) and store the tags; how many.
        ``report``: progress lines (not for the few files a budgeted map parses itself:
        its own line says how many are parsed)."""
        total = len(todo)
        report = report and self.on_progress is not None and total >= PROGRESS_EVERY
        if report and self.on_progress is not None:
            self.on_progress(f"repo map: parsing {total} files", 0, total, False)
        root = str(self.ws.root) + os.sep
        began = time.monotonic()
        batch: list[tuple[str, FileTags | None]] = []
        done = 0
        cancel = self._cancel
        for rel in todo:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if cancel is not None and cancel.cancelled:
                break  # what is parsed is stored below, then the caller raises
            cid = ids[rel]
            if cid in known:
                continue
            tags = tag_file(root + rel, rel, self.grammars, MAX_PARSE_BYTES)
            if tags is not None or os.path.lexists(root + rel):
                batch.append((cid, tags))
                known.add(cid)
            done += 1
            if len(batch) >= 500:
                self.cache.put_many(batch)
                batch = []
            if report and self.on_progress is not None and done % PROGRESS_EVERY == 0:
                self.on_progress(f"repo map: parsed {done}/{total} files", done, total, False)
        self.cache.put_many(batch)
        self._check()
        if report and self.on_progress is not None:
            took = time.monotonic() - began
            self.on_progress(f"repo map: parsed {done} files in {took:.1f} s", done, total, True)
        return done

    def _rank(
        self, tree: _Tree, *, full: bool, lifts: dict[str, float] | None = None
    ) -> RankedIndex:
        """Rank every file from the tags known now. ``full``: every code file is known;
        the index is stored for the next map, and tags of contents gone are dropped."""
        ids = tree.ids
        cids = [ids.get(rel, "") for rel in tree.files]
        cols = self.cache.columns(cids)  # flat arrays: no object per file
        names, parsed = cols.names, cols.parsed
        ranks, used_h, used_n = pagerank_columns(cols)
        del cols
        if lifts:
            where = {rel: i for i, rel in enumerate(tree.files)} if len(lifts) > 64 else None
            for rel, lift in lifts.items():
                i = where.get(rel) if where is not None else _find(tree.files, rel)
                if i is not None:
                    ranks[i] *= lift
        index = RankedIndex(
            list(tree.files), ranks, names, cids, used_h, used_n, parsed, len(tree.code)
        )
        if full:
            index.parsed = index.code
            self.cache.save_index(tree.key, index, tree.quick)
            self.cache.prune(set(tree.ids.values()))
        return index

    def _quick_key(self, got: tuple[bytes, list[str]] | None) -> str | None:
        """The tree's identity from git's index checksum and its list of changed paths,
        plus the stat of each of those (git does not vouch for their content)."""
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
        step = 1 << 16  # a block at a time: the whole listing as one string is 60 MB more
        for k in range(0, len(files), step):
            h.update(("\0".join(files[k : k + step]) + "\0").encode("utf-8", "surrogateescape"))
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


def _rendering(files: int) -> float:
    """What a late listing's map keeps back for ending the signals and rendering (while
    the listing thread competes for the interpreter)."""
    return LATE_RESERVE_S + RENDER_PER_FILE_S * files


def _find(files: Sequence[str], rel: str) -> int | None:
    """Where ``rel`` is in the sorted listing (a binary search: a few lifts need no map)."""
    i = bisect.bisect_left(files, rel)
    return i if i < len(files) and files[i] == rel else None


def _complete(index: RankedIndex) -> RankedIndex:
    index.parsed = index.code = 0  # a stored index is whole
    return index


def _hashes(raw: bytes) -> list[int]:
    import array

    a = array.array("I")
    a.frombytes(raw)
    return a.tolist()


def _hits(texts: list[str], words: list[str]) -> set[int]:
    """Which of ``texts`` hold one of ``words`` (case-insensitive): one literal scan per
    word over all of them joined (C speed; an alternation tries every character), each
    hit mapped back to its text by a binary search in numpy."""
    if not words or not texts:
        return set()
    ends = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)
    text = "\n".join(texts).lower()
    at = [m.start() for w in words for m in re.finditer(re.escape(w), text)]
    if not at:
        return set()
    found: list[int] = np.unique(np.searchsorted(ends, np.array(at), side="right")).tolist()
    return set(found)


def _goal_words(goal: str) -> list[str]:
    words = {
        w.lower().rstrip("s") if len(w) > 4 else w.lower()
        for w in re.findall(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|\d+", goal)
    }
    return sorted((w for w in words if len(w) >= 3 and w not in _STOP), key=len, reverse=True)


def _goal_regex(goal: str) -> re.Pattern[str] | None:
    words = _goal_words(goal)
    # words are letters and digits only, so the alternation needs no escaping
    return re.compile("|".join(words), re.I) if words else None


def _best(
    index: RankedIndex, goal: re.Pattern[str] | None, limit: int, opened: Sequence[str] = ()
) -> list[int]:
    """Where the best files are in ``index``, best first: rank, times 10 when the goal's words are in the path,
    times 10 when in the file's definitions, times ``OPEN_LIFT`` when open in the editor.
    Goal words are found by one literal scan per word over all paths and one over all
    names (C speed), not one search per file; ties go to the later path (the paths are
    sorted), as ``(rank, path)`` ordered them."""
    n = len(index.rels)
    ranks = np.asarray(index.ranks, dtype=float).copy()
    if goal is not None and n:
        words = goal.pattern.split("|")
        for texts in (index.rels, index.names):
            hit = texts.hits(words) if isinstance(texts, Texts) else list(_hits(list(texts), words))
            ranks[np.asarray(hit, np.int64)] *= 10.0
    for rel in set(opened):
        at = _find(index.rels, rel)
        if at is not None:
            ranks[at] *= OPEN_LIFT
    # each shown file costs a few tokens: no more than budget/5 can ever fit
    top = max(1, limit // 5)
    order: list[int] = np.lexsort((np.arange(n), ranks))[::-1][:top].tolist()
    return order


def _lines(path: str, rows: set[int]) -> dict[int, str]:
    """The text of a few lines of a file (the cache keeps no text: the file has it)."""
    out: dict[int, str] = {}
    try:
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if n in rows:
                    out[n] = raw.decode("utf-8", "replace").rstrip().replace("\t", "    ")
                    if len(out) == len(rows):
                        break
    except OSError:
        pass
    return out


def _cut(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _file_block(
    rel: str, defs: list[tuple[Def, int]], goal: re.Pattern[str] | None, root: str
) -> list[str]:
    """A file's lines: its name, then its definitions, most used (and goal-matching) first,
    shown in file order with their line's text (or, if the file changed, kind and name)."""
    if not defs:
        return [rel]
    search = goal.search if goal is not None else None

    def weight(item: tuple[Def, int]) -> float:
        (name, _kind, _line), used = item
        w = (1.0 + math.log1p(used)) * (0.2 if name.startswith("_") else 1.0)
        return w * 10.0 if search is not None and search(name) else w

    keep = sorted(defs, key=weight, reverse=True)[:MAX_DEFS_SHOWN]
    shown = sorted((d for d, _ in keep), key=lambda d: d[2])
    text = _lines(root + rel, {d[2] for d in shown})
    out = [f"{rel}:"]
    for name, kind, line in shown:
        got = text.get(line, "")
        if name not in got:
            got = f"{KIND_WORDS.get(kind, 'def')} {name}"
        out.append(f"│{line:>5}: {_cut(got)}")
    return out


def _fit(
    best: list[tuple[float, str]],
    defs: dict[str, list[tuple[Def, int]]],
    budget: int,
    goal: re.Pattern[str] | None,
    root: str,
) -> str:
    """As many of the best files as fit in ``budget`` tokens (binary search on the count)."""
    blocks: list[list[str]] = []
    lo, hi = 0, len(best)
    text_of: dict[int, str] = {}

    def text(k: int) -> str:
        while len(blocks) < k:
            rel = best[len(blocks)][1]
            blocks.append(_file_block(rel, defs.get(rel, []), goal, root))
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


def _finish(root: Path, cache_dir: Path) -> None:
    """A background parse is over: rank the whole tree and store it for the next plan."""
    rm = RepoMap(Workspace(root), cache_dir, workers=0)
    rm.index()
    rm.close()


if __name__ == "__main__":  # a background parse worker (repomap_fill.COMMAND)
    import sys

    from planloop.workspace import repomap as _this  # one copy of this module, not two

    raise SystemExit(repomap_fill.main(sys.argv[1:], _this._finish))

"""Listing a workspace's files the way git sees them, fast on a 100,000-file repository.

Why a module of its own: listing is what the repo map, the project rules and the Python
search scan all start from, and it has its own sources and rules, apart from searching
contents. :meth:`FileLister.list_files` reads ``git ls-files`` (tracked plus untracked that
are not ignored; git answers from its index without hashing anything and never writes it
with ``GIT_OPTIONAL_LOCKS=0``), or ``rg --files`` outside git; a Python walk is the last
resort. No per-file ``stat`` happens in Python on that path. ``.git/`` and ``.planloop/``
are never listed; :class:`GitState` and :meth:`FileLister.content_ids` give the repo map
git's own blob ids, so unchanged files are neither read nor hashed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Generic, TypeVar

from planloop.workspace.search_tools import Tools, run_capture, run_side_by_side

log = logging.getLogger("planloop.listing")
T = TypeVar("T")

#: directories never listed or searched when git cannot tell us what is ignored
JUNK_DIRS = frozenset(
    {
        ".git",
        ".planloop",
        "node_modules",
        "__pycache__",
        ".venv",
        "venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".eggs",
        ".idea",
    }
)
#: seconds a listing may take before it falls back
LIST_TIMEOUT_S = 30.0


@dataclass
class GitState:
    """Tracked files with their blob ids (as the index has them), untracked files not
    ignored, and which tracked files are deleted or modified in the work tree."""

    #: the SHA-1 of git's own output (what the tree's fingerprint hashes; a digest, not
    #: the output itself: at a million files that is a second copy of 80 MB)
    raw: bytes = b""
    blobs: dict[str, str] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    modified: set[str] = field(default_factory=set)
    nested: list[str] = field(default_factory=list)
    #: some listed path has a .git or .planloop component
    own_or_git: bool = False


_heap_tuned = False


def keep_big_blocks_off_the_heap() -> None:
    """Make glibc give every big block (git's listing of a million files, a column of the
    repo map: tens of MB each) its own mapping, returned to the system when freed. By
    default glibc raises that threshold after the first big free, up to 32 MB, so the
    next big blocks land on the heap, whose high-water mark stays resident for the life
    of the language server (measured at a million files: up to 120 MB more peak RSS).
    Once per process; a no-op where there is no glibc."""
    global _heap_tuned
    if _heap_tuned:
        return
    _heap_tuned = True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD: setting it stops the dynamic raise


class FileLister:
    """Listing for one workspace root, through git, ripgrep or a walk (asked once which)."""

    def __init__(self, root: Path, tools: Tools | None = None) -> None:
        self.root = root
        self._tools = tools
        self._in_git: bool | None = None

    # -- which tools --------------------------------------------------------------------

    @property
    def tools(self) -> Tools:
        if self._tools is None:
            self._tools = Tools.discover()
        return self._tools

    @property
    def in_git(self) -> bool:
        """Whether the root is inside a git work tree (asked once; read-only)."""
        if self._in_git is None:
            git = self.tools.git
            ok = False
            if git is not None:
                done = run_capture([git, "rev-parse", "--is-inside-work-tree"], self.root, 10)
                ok = done is not None and done[0] == 0 and done[1].strip() == b"true"
            self._in_git = ok
        return self._in_git

    # -- listing ------------------------------------------------------------------------

    def list_files(self, rel: str = ".", glob: str | None = None) -> list[str]:
        """Files under ``rel`` (a directory relative to the root), sorted, ignored skipped."""
        files = self._list(rel)
        if glob:
            base = "" if rel in (".", "") else rel.rstrip("/")
            match = glob_matcher(glob, base)
            files = [f for f in files if match(f)]
        # git's listing is sorted already, in runs: timsort merges them in linear time
        return sorted(files)

    def _list(self, rel: str) -> list[str]:
        if self.in_git:
            listed = self._git_list_light(rel)
            if listed is None:
                listed = self._git_list(rel)
            if listed is not None:
                return listed
        if self.tools.rg is not None:
            listed = self._rg_list(rel)
            if listed is not None:
                return listed
        return list(self._walk(rel))

    def git_state(self, rel: str = ".") -> GitState | None:
        """What git knows of the files under ``rel``, from two ``git ls-files`` run side by
        side (one walks for untracked files, one stats for deleted and modified ones);
        None when git cannot answer. Read-only: ls-files never writes the index."""
        git = self.tools.git
        if git is None:
            return None
        spec = [] if rel in (".", "") else [rel]
        base = [git, "--literal-pathspecs", "ls-files", "-z"]
        listed = run_side_by_side(
            [
                [*base, "--stage", "--cached", "--others", "--exclude-standard", "--", *spec],
                [*base, "-t", "--deleted", "--modified", "--", *spec],
            ],
            self.root,
            LIST_TIMEOUT_S,
        )
        if listed is None:
            return None
        out_a, out_b = listed
        state = GitState(raw=_digest(out_a, out_b))
        for tag, name in _TAGGED_RE.findall(out_b.decode("utf-8", "backslashreplace")):
            (state.deleted if tag == "R" else state.modified).add(name)
        # one decode and one regex over the whole listing: 100k entries in C, not Python
        for m in _ENTRY_RE.finditer(out_a.decode("utf-8", "backslashreplace")):
            mode, sha, stage, name = m.groups()
            if not mode:
                if name.endswith("/"):
                    state.nested.append(name.rstrip("/"))  # an untracked nested repository
                else:
                    state.others.append(name)
            elif mode == "160000":
                state.nested.append(name)  # a submodule: listed on its own terms
            elif stage == "0" or name not in state.blobs:
                state.blobs[name] = sha
        state.own_or_git = _mentions_own_or_git(out_a)
        return state

    def files_and_state(self) -> tuple[list[str], GitState | None]:
        """Every listed file (as :meth:`list_files` gives them) and, in a git repository,
        the git state they came from, so a caller needs one ``ls-files`` round, not two."""
        return self.map_round().files_and_state()

    def map_round(self) -> MapRound:
        """One round of git for the repo map, read lazily: the quick key's answer (what
        ``ls-files`` calls modified, deleted or untracked, one stat pass and one walk)
        beside a dump of the index (no walk), so a map whose quick key matches parses
        nothing, and one that does not builds the full state from the same two outputs
        instead of walking the tree again."""
        keep_big_blocks_off_the_heap()
        git = self.tools.git
        if git is None or not self.in_git:
            return MapRound(self, None)
        listed = run_side_by_side(
            [
                [
                    git,
                    "ls-files",
                    "-z",
                    "-t",
                    "--modified",
                    "--deleted",
                    "--others",
                    "--exclude-standard",
                ],
                [git, "--literal-pathspecs", "ls-files", "-z", "--stage", "--cached"],
                [git, "rev-parse", "--git-path", "index"],
            ],
            self.root,
            LIST_TIMEOUT_S,
        )
        if listed is None:
            return MapRound(self, None)
        return MapRound(self, (listed[0], listed[1], listed[2]))

    def _git_list(self, rel: str, state: GitState | None = None) -> list[str] | None:
        state = state or self.git_state(rel)
        if state is None:
            return None
        deleted = state.deleted
        out = [n for n in state.blobs if n not in deleted] if deleted else list(state.blobs)
        out += state.others
        if state.own_or_git:  # rare: only then is each name checked
            out = [n for n in out if not own_or_git(n)]
        for n in dict.fromkeys(state.nested):
            if own_or_git(n) or not (self.root / n).is_dir():
                continue
            inner = FileLister(self.root / n, Tools(None, self.tools.git))
            listed = inner._git_list(".") if (self.root / n / ".git").exists() else None
            inner_files = listed if listed is not None else list(inner._walk("."))
            out += [f"{n}/{f}" for f in inner_files]
        return out

    def _git_list_light(self, rel: str) -> list[str] | None:
        """The listing alone, without blob ids: names of tracked and untracked files side by
        side with the deleted ones (two ``ls-files`` on two cores, nothing parsed but NUL
        splits), which keeps ``list_files`` near a bare ``git ls-files``. None when the tree
        holds a submodule or a nested repository, whose files only :meth:`_git_list`
        lists."""
        git = self.tools.git
        if git is None:
            return None
        spec = [] if rel in (".", "") else [rel]
        base = [git, "--literal-pathspecs", "ls-files", "-z"]
        listed = run_side_by_side(
            [
                [*base, "--cached", "--others", "--exclude-standard", "--", *spec],
                [*base, "--deleted", "--", *spec],
            ],
            self.root,
            LIST_TIMEOUT_S,
        )
        if listed is None:
            return None
        out_a, out_b = listed
        if b"/\0" in out_a or out_a.endswith(b"/") or (self.root / ".gitmodules").exists():
            return None  # a nested repository ("dir/") or submodules: the full listing
        names = out_a.split(b"\0")
        if out_b:
            gone = set(out_b.split(b"\0"))
            names = [n for n in names if n not in gone]
        out = [display_name(n) for n in names if n]
        if _mentions_own_or_git(out_a):
            out = [n for n in out if not own_or_git(n)]
        return list(dict.fromkeys(out))  # an unmerged path is listed once per stage

    def _rg_list(self, rel: str) -> list[str] | None:
        rg = self.tools.rg
        assert rg is not None
        cmd = [rg, "--files", "--null", *self.rg_filters()]
        if rel not in (".", ""):
            cmd += ["--", rel]
        done = run_capture(cmd, self.root, LIST_TIMEOUT_S)
        if done is None or done[0] not in (0, 1):
            return None
        return [display_name(n) for n in done[1].split(b"\0") if n]

    def _walk(self, rel: str) -> Iterator[str]:
        for shown, _raw in self.walk_raw(rel):
            yield shown

    def walk_raw(self, rel: str) -> Iterator[tuple[str, bytes]]:
        """(name as shown, the path's bytes): a non-UTF-8 name is shown escaped but must
        still be opened by its real bytes. Symlinked directories are not followed."""
        root = os.fsencode(self.root)
        base = os.path.join(root, os.fsencode(rel))
        skip = {os.fsencode(d) for d in JUNK_DIRS}
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in skip and not d.endswith(b".egg-info")]
            for name in filenames:
                full = os.path.join(dirpath, name)
                shown = os.path.relpath(full, root).replace(os.sep.encode(), b"/")
                yield display_name(shown), full

    def rg_filters(self) -> list[str]:
        args = [
            "--no-config",
            "--hidden",
            "--no-require-git",
            "--no-messages",
            "-g",
            "!.git",
            "-g",
            "!.planloop",
        ]
        if not self.in_git:
            for d in sorted(JUNK_DIRS):
                args += ["-g", f"!{d}/"]
            args += ["-g", "!*.egg-info/"]
        return args

    def content_ids(
        self, files: list[str], max_bytes: int, state: GitState | None = None
    ) -> dict[str, str]:
        """Each file's git blob id: read from git's index for a clean tracked file (nothing
        hashed, nothing read), computed here for the rest; a file over ``max_bytes`` gets
        an id from its size and mtime instead of being read."""
        ids: dict[str, str] = {}
        if state is None and self.in_git:
            state = self.git_state()
        if state is not None:
            blobs, dirty = state.blobs, state.modified | state.deleted
            for name in files:
                sha = blobs.get(name)
                if sha is not None and name not in dirty:
                    ids[name] = sha
        root = str(self.root) + os.sep
        for rel in files:
            if rel in ids:
                continue
            try:
                st = os.stat(root + rel)
                if st.st_size > max_bytes:
                    ids[rel] = f"big-{st.st_size}-{st.st_mtime_ns}"
                    continue
                with open(root + rel, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            ids[rel] = blob_id(data)
        return ids


class MapRound:
    """The outputs of :meth:`FileLister.map_round` (None: git could not answer)."""

    def __init__(self, lister: FileLister, outs: tuple[bytes, bytes, bytes] | None) -> None:
        self.lister = lister
        self.outs = outs

    def quick(self) -> tuple[bytes, list[str]] | None:
        """A cheap identity of the tree as git sees it — the checksum git keeps at the end
        of its index (it changes with any staged entry) plus the paths git reports as
        modified, deleted or untracked — and those paths, whose stat a caller must add.
        None when git cannot vouch for the tree this way: no git, an index written without
        a checksum (``index.skipHash``), submodules or nested repositories."""
        if self.outs is None:
            return None
        tagged, _stage, index_path = self.outs
        root = self.lister.root
        if b"/\0" in tagged or (root / ".gitmodules").exists():
            return None
        try:
            with open(root / os.fsdecode(index_path.strip()), "rb") as fh:
                fh.seek(-32, os.SEEK_END)
                tail = fh.read(32)
        except OSError:
            return None
        if not tail.strip(b"\0")[-8:]:
            return None  # a null trailer: git did not hash this index
        dirty = [display_name(n[2:]) for n in tagged.split(b"\0") if len(n) > 2]
        return tail + b"\0" + tagged, dirty

    def state(self) -> GitState | None:
        if self.outs is None:
            return None
        tagged, stage, _ = self.outs
        state = GitState(raw=_digest(stage, tagged))
        text = tagged.decode("utf-8", "backslashreplace")
        for tag, name in _TAGGED_RE.findall(text):
            (state.deleted if tag == "R" else state.modified).add(name)
        for name in _OTHER_RE.findall(text):
            if name.endswith("/"):
                state.nested.append(name.rstrip("/"))  # an untracked nested repository
            else:
                state.others.append(name)
        # one match at a time, over the bytes: findall's list of a million 4-tuples of
        # fresh strings cost about 350 MB at a million files, and a decoded copy of the
        # whole output another 80 MB
        blobs = state.blobs
        for m in _ENTRY_RE_B.finditer(stage):
            mode, sha, stage_no, raw_name = m.groups()
            name = raw_name.decode("utf-8", "backslashreplace")
            if mode == b"160000":
                state.nested.append(name)  # a submodule: listed on its own terms
            elif stage_no == b"0" or name not in blobs:
                blobs[name] = sha.decode("ascii")
        untagged = re.sub(rb"(^|\0)[?RC] ", rb"\1", tagged)  # "? name" → "name"
        state.own_or_git = _mentions_own_or_git(stage) or _mentions_own_or_git(untagged)
        return state

    def files_and_state(self) -> tuple[list[str], GitState | None]:
        state = self.state()
        if state is not None:
            listed = self.lister._git_list(".", state)
            if listed is not None:
                return sorted(listed), state
        return self.lister.list_files("."), None


def glob_matcher(pattern: str, base_rel: str = "") -> Callable[[str], bool]:
    """``*.py`` matches by file name anywhere; a pattern with ``/`` matches the path (also
    relative to the listed folder); a leading ``**/`` may match nothing."""
    if "/" not in pattern:
        rx = re.compile(fnmatch.translate(pattern))
        return lambda rel: rx.match(PurePosixPath(rel).name) is not None
    patterns = [pattern] + ([pattern[3:]] if pattern.startswith("**/") else [])
    rxs = [re.compile(fnmatch.translate(p)) for p in patterns]
    prefix = base_rel + "/" if base_rel not in (".", "") else ""

    def match(rel: str) -> bool:
        cands = [rel]
        if prefix and rel.startswith(prefix):
            cands.append(rel[len(prefix) :])
        return any(rx.match(c) for c in cands for rx in rxs)

    return match


def _digest(*outs: bytes) -> bytes:
    h = hashlib.sha1()
    for i, out in enumerate(outs):
        h.update(b"\0\0" if i else b"")
        h.update(out)
    return h.digest()


def blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob, so our ids and git's index agree."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def display_name(name: bytes) -> str:
    """A path as text: UTF-8 where it is, ``\\xNN`` for the bytes of a non-UTF-8 name."""
    return name.decode("utf-8", errors="backslashreplace")


def _mentions_own_or_git(listing: bytes) -> bool:
    """Whether any path in a NUL-separated listing may have a .git or .planloop part:
    substring tests on the whole listing (C speed; a regex with a leading alternation
    would try every position)."""
    low = b"\0" + listing.lower()
    if b".planloop" not in low and b".git/" not in low and b".git\0" not in low:
        return False  # three scans settle the usual case (".gitignore" is no ".git")
    return any(
        sep + name in low
        for name in (b".git/", b".planloop/", b".git\0", b".planloop\0")
        for sep in (b"\0", b"/", b"\t")
    )


def own_or_git(rel: str) -> bool:
    parts = "/" + rel.lower().rstrip("/") + "/"
    return "/.git/" in parts or "/.planloop/" in parts


_ENTRY_RE = re.compile(r"(?:(\d{6}) ([0-9a-f]{40,64}) (\d)\t)?([^\0]+)\0")
_ENTRY_RE_B = re.compile(rb"(\d{6}) ([0-9a-f]{40,64}) (\d)\t([^\0]+)\0")
_TAGGED_RE = re.compile(r"([RC]) ([^\0]+)\0")
_OTHER_RE = re.compile(r"\? ([^\0]+)\0")


class Pending(Generic[T]):
    """Work run on a thread so a caller with a deadline can stop waiting for it: the repo
    map's listing of a very large tree (git alone can take seconds at a million files)
    goes on after the map has answered without it. The caller gets the result when
    :meth:`wait` says the work is done; once it has given up (:meth:`give_up`),
    ``on_late`` gets the result first (on the thread), and a later :meth:`wait` sees it
    only when ``on_late`` is done with it."""

    def __init__(self, work: Callable[[], T], on_late: Callable[[T], None]) -> None:
        self._work = work
        self._on_late = on_late
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._late = False
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="repomap-listing", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            result: T | None = self._work()
        except Exception as e:  # handed to whoever takes the result
            result, self._error = None, e
        with self._lock:
            self._result = result
            late = self._late
            if not late:
                self._done.set()
        if late:
            try:
                if self._error is not None:
                    log.info("repo map: a late listing failed (%s)", self._error)
                elif result is not None:
                    self._on_late(result)
            except Exception:
                log.exception("repo map: finishing a late listing failed")
            finally:
                self._done.set()  # only now: a caller never sees a half-handled result

    @property
    def late(self) -> bool:
        return self._late

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        """Whether the work has ended within ``timeout`` (then :meth:`result` has it)."""
        return self._done.wait(max(0.0, timeout))

    def give_up(self) -> bool:
        """The caller waits no longer: from now on ``on_late`` gets the result. True when
        the work ended meanwhile after all (then :meth:`result` has it)."""
        with self._lock:
            if self._done.is_set():
                return True
            self._late = True
            return False

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

"""Content search and file listing that stay fast on a 100,000-file repository.

Why a module of its own: the planner explores with tens of searches, and a Python scan of a
big tree costs ~10 s each (issue 13). ripgrep does the same in a fraction of a second, so the
workspace hands both jobs to the fastest tool present, in this order, and logs once which:

1. ripgrep: an explicit path (``PLANLOOP_RG``, or the editor's bundled ``rg`` that VS Code
   passes to the server), then ``rg`` on PATH, then the binary of the ``ripgrep`` wheel
   planloop depends on (installed beside the Python interpreter);
2. ``git grep`` inside a git repository;
3. a Python scan of the listed files.

Every backend has the same semantics, so which one ran never changes what a model sees
beyond ordering: .gitignore respected (and ``.git/info/exclude``), ``.git/`` and
``.planloop/`` never searched, binary files and files over :data:`MAX_SEARCH_BYTES`
skipped, each shown line cut to :data:`LINE_CHARS`, at most ``limit`` hits, a time limit
(hits found so far are returned with a note), and a pattern that does not compile reported
as :class:`SearchError` with the engine's own explanation.

Listing (:meth:`Searcher.list_files`) reads ``git ls-files`` (tracked plus untracked that
are not ignored; git answers from its index without hashing anything and never writes it
with ``GIT_OPTIONAL_LOCKS=0``), or ``rg --files`` outside git; a Python walk is the last
resort. No per-file ``stat`` happens in Python on that path.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from planloop.errors import PlanloopError
from planloop.redaction import scrubbed_env

log = logging.getLogger("planloop.search")

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
#: files larger than this are not searched (a log of gigabytes would drown the model)
MAX_SEARCH_BYTES = 2_000_000
#: a shown line is cut here; the model can read the file for the rest
LINE_CHARS = 300
#: a file with a NUL byte in its first block is treated as binary
BINARY_PROBE = 8192
#: seconds one search may take before it stops with what it found
SEARCH_TIMEOUT_S = 20.0
#: seconds a listing may take before it falls back
LIST_TIMEOUT_S = 30.0

RIPGREP = "ripgrep"
GIT_GREP = "git grep"
PYTHON = "python"


class SearchError(PlanloopError):
    """A search that could not run as asked (a pattern that does not compile, a bad path)."""

    default_kind = "search"


def child_env() -> dict[str, str]:
    """Our environment minus secrets; git's optional locks off so nothing refreshes (writes)
    the user's index while we read it."""
    env = scrubbed_env()
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.pop("RIPGREP_CONFIG_PATH", None)
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        env.pop(k, None)  # a planloop started from a git hook must still read this workspace
    return env


def package_rg() -> Path | None:
    """The ``rg`` of the ``ripgrep`` wheel: installed as a script beside our interpreter."""
    names = ("rg.exe", "rg") if os.name == "nt" else ("rg",)
    dirs = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for d in dict.fromkeys(dirs):
        for n in names:
            p = d / n
            if p.is_file() and os.access(p, os.X_OK):
                return p
    return None


def find_ripgrep(
    explicit: str | None = None,
    *,
    search_path: str | None = None,
    use_package: bool = True,
) -> tuple[str | None, str]:
    """(path to rg or None, where it came from). ``explicit`` or ``PLANLOOP_RG`` first;
    ``PLANLOOP_RG=off`` switches ripgrep off (the fallback tests use it)."""
    env_rg = os.environ.get("PLANLOOP_RG", "").strip()
    if env_rg.lower() in ("off", "none", "0"):
        return None, "PLANLOOP_RG=off"
    for given, where in ((explicit, "rg_path"), (env_rg or None, "PLANLOOP_RG")):
        if given:
            if os.path.isfile(given) and os.access(given, os.X_OK):
                return given, where
            log.warning(
                "ripgrep at %s (%s) is not an executable file; looking elsewhere", given, where
            )
    found = shutil.which("rg", path=search_path)
    if found:
        return found, "PATH"
    if use_package:
        pkg = package_rg()
        if pkg is not None:
            return str(pkg), "the ripgrep package"
    return None, "not found"


@dataclass
class Tools:
    """The external programs a :class:`Searcher` may use; ``None`` means absent."""

    rg: str | None
    git: str | None
    rg_source: str = ""

    @classmethod
    def discover(cls, rg: str | None = None) -> Tools:
        path, source = find_ripgrep(rg)
        return cls(rg=path, git=shutil.which("git"), rg_source=source)


@dataclass
class GitState:
    """Tracked files with their blob ids (as the index has them), untracked files not
    ignored, and which tracked files are deleted or modified in the work tree."""

    raw: bytes = b""
    blobs: dict[str, str] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    modified: set[str] = field(default_factory=set)
    nested: list[str] = field(default_factory=list)
    #: some listed path has a .git or .planloop component
    own_or_git: bool = False


@dataclass
class SearchResult:
    hits: list[str]
    #: more hits existed than ``limit``
    more: bool = False
    #: the search stopped at its time limit
    timed_out: bool = False
    backend: str = ""
    notes: list[str] = field(default_factory=list)


class Searcher:
    """Search and listing for one workspace root; the backend is chosen on first use."""

    def __init__(self, root: Path, tools: Tools | None = None) -> None:
        self.root = root
        self._tools = tools
        self._in_git: bool | None = None
        self._pcre2: bool | None = None
        self._backend: str | None = None
        self._lock = threading.Lock()

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
                done = _run([git, "rev-parse", "--is-inside-work-tree"], self.root, 10)
                ok = done is not None and done[0] == 0 and done[1].strip() == b"true"
            self._in_git = ok
        return self._in_git

    @property
    def backend(self) -> str:
        """``ripgrep``, ``git grep`` or ``python``; logged once, when first decided."""
        with self._lock:
            if self._backend is None:
                t = self.tools
                if t.rg is not None:
                    self._backend = RIPGREP
                    log.info("search: ripgrep %s (%s)", t.rg, t.rg_source)
                elif self.in_git:
                    self._backend = GIT_GREP
                    log.info("search: git grep (no ripgrep: %s)", t.rg_source or "not found")
                else:
                    self._backend = PYTHON
                    log.info("search: Python scan (no ripgrep, not a git repository)")
            return self._backend

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
        listed = _run_all(
            [
                [*base, "--stage", "--cached", "--others", "--exclude-standard", "--", *spec],
                [*base, "-t", "--deleted", "--modified", "--", *spec],
            ],
            self.root,
            LIST_TIMEOUT_S,
        )
        if listed is None:
            return None
        (rc_a, out_a, _), (rc_b, out_b, _) = listed
        if rc_a != 0 or rc_b != 0:
            return None
        state = GitState(raw=out_a + b"\0\0" + out_b)
        for tag, name in _TAGGED_RE.findall(out_b.decode("utf-8", "backslashreplace")):
            (state.deleted if tag == "R" else state.modified).add(name)
        # one decode and one regex over the whole listing: 100k entries in C, not Python
        for mode, sha, stage, name in _ENTRY_RE.findall(out_a.decode("utf-8", "backslashreplace")):
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
        if self.in_git:
            state = self.git_state(".")
            if state is not None:
                listed = self._git_list(".", state)
                if listed is not None:
                    return sorted(listed), state
        return self.list_files("."), None

    def _git_list(self, rel: str, state: GitState | None = None) -> list[str] | None:
        state = state or self.git_state(rel)
        if state is None:
            return None
        deleted = state.deleted
        out = [n for n in state.blobs if n not in deleted] if deleted else list(state.blobs)
        out += state.others
        if state.own_or_git:  # rare: only then is each name checked
            out = [n for n in out if not _own_or_git(n)]
        for n in dict.fromkeys(state.nested):
            if _own_or_git(n) or not (self.root / n).is_dir():
                continue
            inner = Searcher(self.root / n, Tools(None, self.tools.git))
            listed = inner._git_list(".") if (self.root / n / ".git").exists() else None
            inner_files = listed if listed is not None else list(inner._walk("."))
            out += [f"{n}/{f}" for f in inner_files]
        return out

    def quick_state(self) -> tuple[bytes, list[str]] | None:
        """A cheap identity of the tree as git sees it — the checksum git keeps at the end
        of its index (it changes with any staged entry) plus the paths git reports as
        modified, deleted or untracked — and those paths, whose stat a caller must add.
        One ``ls-files`` and a 32-byte read, no index parsed. None when git cannot vouch
        for the tree this way: no git, an index written without a checksum
        (``index.skipHash``), submodules or nested repositories."""
        git = self.tools.git
        if git is None or not self.in_git or (self.root / ".gitmodules").exists():
            return None
        listed = _run_all(
            [
                [git, "rev-parse", "--git-path", "index"],
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
            ],
            self.root,
            LIST_TIMEOUT_S,
        )
        if listed is None:
            return None
        (rc_a, out_a, _), (rc_b, out_b, _) = listed
        if rc_a != 0 or rc_b != 0 or b"/\0" in out_b:
            return None
        index = self.root / os.fsdecode(out_a.strip())
        try:
            with open(index, "rb") as fh:
                fh.seek(-32, os.SEEK_END)
                tail = fh.read(32)
        except OSError:
            return None
        if not tail.strip(b"\0")[-8:]:
            return None  # a null trailer: git did not hash this index
        dirty = [_display(n[2:]) for n in out_b.split(b"\0") if len(n) > 2]
        return tail + b"\0" + out_b, dirty

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
        listed = _run_all(
            [
                [*base, "--cached", "--others", "--exclude-standard", "--", *spec],
                [*base, "--deleted", "--", *spec],
            ],
            self.root,
            LIST_TIMEOUT_S,
        )
        if listed is None:
            return None
        (rc_a, out_a, _), (rc_b, out_b, _) = listed
        if rc_a != 0 or rc_b != 0:
            return None
        if b"/\0" in out_a or out_a.endswith(b"/") or (self.root / ".gitmodules").exists():
            return None  # a nested repository ("dir/") or submodules: the full listing
        names = out_a.split(b"\0")
        if out_b:
            gone = set(out_b.split(b"\0"))
            names = [n for n in names if n not in gone]
        out = [_display(n) for n in names if n]
        if _mentions_own_or_git(out_a):
            out = [n for n in out if not _own_or_git(n)]
        return list(dict.fromkeys(out))  # an unmerged path is listed once per stage

    def _rg_list(self, rel: str) -> list[str] | None:
        rg = self.tools.rg
        assert rg is not None
        cmd = [rg, "--files", "--null", *self._rg_filters()]
        if rel not in (".", ""):
            cmd += ["--", rel]
        done = _run(cmd, self.root, LIST_TIMEOUT_S)
        if done is None or done[0] not in (0, 1):
            return None
        return [_display(n) for n in done[1].split(b"\0") if n]

    def _walk(self, rel: str) -> Iterator[str]:
        for shown, _raw in self._walk_raw(rel):
            yield shown

    def _walk_raw(self, rel: str) -> Iterator[tuple[str, bytes]]:
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
                yield _display(shown), full

    def _rg_filters(self) -> list[str]:
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

    # -- search -------------------------------------------------------------------------

    def search(
        self,
        pattern: str,
        rel: str | None = None,
        *,
        limit: int = 100,
        timeout_s: float = SEARCH_TIMEOUT_S,
    ) -> SearchResult:
        """``path:line: text`` for the first ``limit`` matching lines (sorted by path and line)."""
        backend = self.backend
        if backend == RIPGREP:
            try:
                result = self._rg_search(pattern, rel, limit, timeout_s)
            except SearchError as exc:
                if not _RUST_UNSUPPORTED.search(str(exc)):
                    raise
                # look-around or a backreference (Python's re has them, Rust's regex not)
                backend = GIT_GREP if self.in_git else PYTHON
                log.info("search: %s for a pattern ripgrep cannot run: %r", backend, pattern)
                return self._fallback(backend, pattern, rel, limit, timeout_s)
        elif backend == GIT_GREP:
            result = self._git_grep(pattern, rel, limit, timeout_s)
        else:
            result = self._python_search(pattern, rel, limit, timeout_s)
        result.backend = backend
        result.hits.sort(key=_hit_key)
        return result

    def _fallback(
        self, backend: str, pattern: str, rel: str | None, limit: int, timeout_s: float
    ) -> SearchResult:
        if backend == GIT_GREP:
            result = self._git_grep(pattern, rel, limit, timeout_s)
        else:
            result = self._python_search(pattern, rel, limit, timeout_s)
        result.backend = backend
        result.hits.sort(key=_hit_key)
        return result

    def _rg_search(
        self, pattern: str, rel: str | None, limit: int, timeout_s: float
    ) -> SearchResult:
        rg = self.tools.rg
        assert rg is not None
        cmd = [
            rg,
            *self._rg_filters(),
            "--color=never",
            "--no-heading",
            "--with-filename",
            "--line-number",
            "--null",
            f"--max-filesize={MAX_SEARCH_BYTES}",
            "--max-columns=4000",
            "--max-columns-preview",
        ]
        if self._rg_has_pcre2():
            cmd.append("--engine=auto")  # look-around and backreferences, as Python's re has
        cmd += ["-e", pattern]
        if rel not in (None, ".", ""):
            cmd += ["--", rel]
        hits: list[str] = []

        def parse(line: bytes) -> str | None:
            path, _, rest = line.partition(b"\0")
            num, _, text = rest.partition(b":")
            return _hit(_display(path), num.decode("ascii", "replace"), text)

        rc, err, more, timed_out = _stream(cmd, self.root, limit, timeout_s, parse, hits)
        if rc == 2 and not hits and ("regex" in err or "error parsing" in err or "PCRE2" in err):
            raise SearchError(f"invalid regular expression {pattern!r}: {_squash(err)}")
        return SearchResult(hits, more=more, timed_out=timed_out)

    def _rg_has_pcre2(self) -> bool:
        if self._pcre2 is None:
            rg = self.tools.rg
            done = _run([rg, "--pcre2-version"], self.root, 10) if rg else None
            self._pcre2 = done is not None and done[0] == 0
        return self._pcre2

    def _git_grep(
        self, pattern: str, rel: str | None, limit: int, timeout_s: float
    ) -> SearchResult:
        git = self.tools.git
        assert git is not None
        spec = [] if rel in (None, ".", "") else [f":(literal){rel}"]
        base = [
            git,
            "grep",
            "-z",
            "-n",
            "-I",
            "--untracked",
            "--no-color",
            "--full-name",
        ]
        tail = ["-e", pattern, "--", *spec, ":(exclude,top).planloop"]
        hits: list[str] = []
        sizes: dict[bytes, bool] = {}  # git grep has no size limit: stat each hit file once

        def too_big(raw: bytes) -> bool:
            if raw not in sizes:
                try:
                    sizes[raw] = (self.root / os.fsdecode(raw)).stat().st_size > MAX_SEARCH_BYTES
                except OSError:
                    sizes[raw] = False
            return sizes[raw]

        def parse(line: bytes) -> str | None:
            parts = line.split(b"\0", 2)
            if len(parts) < 3:
                return None
            name = _display(parts[0])
            if _own_or_git(name) or too_big(parts[0]):
                return None
            return _hit(name, parts[1].decode("ascii", "replace"), parts[2])

        for flavour in ("-P", "-E"):
            rc, err, more, timed_out = _stream(
                [*base, flavour, *tail], self.root, limit, timeout_s, parse, hits
            )
            if rc in (0, 1) or hits:
                return SearchResult(hits, more=more, timed_out=timed_out)
            if flavour == "-P" and ("Perl" in err or "PCRE" in err) and "compile" not in err:
                continue  # git built without PCRE: extended regular expressions instead
            raise SearchError(f"invalid regular expression {pattern!r}: {_squash(err)}")
        return SearchResult(hits)

    def _python_search(
        self, pattern: str, rel: str | None, limit: int, timeout_s: float
    ) -> SearchResult:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise SearchError(f"invalid regular expression {pattern!r}: {exc}") from exc
        deadline = time.monotonic() + timeout_s
        hits: list[str] = []
        base = rel if rel not in (None, "") else "."
        assert base is not None
        target = self.root / base
        if target.is_file():
            names = [(base, os.fsencode(target))]
        elif self.in_git:
            names = [(n, os.fsencode(self.root / n)) for n in self.list_files(base)]
        else:
            names = sorted(self._walk_raw(base))
        for name, path in names:
            if time.monotonic() > deadline:
                return SearchResult(hits, timed_out=True)
            try:
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                if os.path.getsize(path) > MAX_SEARCH_BYTES:
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if b"\x00" in data[:BINARY_PROBE]:
                continue
            for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
                if regex.search(line):
                    if len(hits) >= limit:
                        return SearchResult(hits, more=True)
                    hits.append(_hit(name, str(n), line.encode("utf-8", "surrogateescape")))
        return SearchResult(hits)


# --- helpers -----------------------------------------------------------------------


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


def blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob, so our ids and git's index agree."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def _names(out: bytes) -> list[str]:
    return [_display(n) for n in out.split(b"\0") if n]


def _display(name: bytes) -> str:
    """A path as text: UTF-8 where it is, ``\\xNN`` for the bytes of a non-UTF-8 name."""
    return name.decode("utf-8", errors="backslashreplace")


def _mentions_own_or_git(listing: bytes) -> bool:
    """Whether any path in a NUL-separated listing may have a .git or .planloop part:
    substring tests on the whole listing (C speed; a regex with a leading alternation
    would try every position)."""
    low = b"\0" + listing.lower()
    return any(
        sep + name in low
        for name in (b".git/", b".planloop/", b".git\0", b".planloop\0")
        for sep in (b"\0", b"/", b"\t")
    )


def _own_or_git(rel: str) -> bool:
    parts = "/" + rel.lower().rstrip("/") + "/"
    return "/.git/" in parts or "/.planloop/" in parts


def _hit(path: str, num: str, text: bytes) -> str:
    shown = text.decode("utf-8", errors="replace").rstrip("\r\n").strip()
    if shown.endswith("[... omitted end of long line]"):
        shown = shown[: -len("[... omitted end of long line]")].rstrip()
    if len(shown) > LINE_CHARS:
        shown = shown[:LINE_CHARS] + "…"
    return f"{path}:{num}: {shown}"


def _hit_key(hit: str) -> tuple[str, int]:
    # a path may hold ':' itself; the line number is the first all-digit field after it
    m = _HIT_RE.match(hit)
    if m:
        return m.group(1), int(m.group(2))
    return hit, 0


_ENTRY_RE = re.compile(r"(?:(\d{6}) ([0-9a-f]{40,64}) (\d)\t)?([^\0]+)\0")
_TAGGED_RE = re.compile(r"([RC]) ([^\0]+)\0")

_RUST_UNSUPPORTED = re.compile(r"look-?around|backreference", re.I)
_HIT_RE = re.compile(r"(.*?):(\d+): ")


def _squash(err: str) -> str:
    lines = [ln.strip() for ln in err.strip().splitlines() if ln.strip()]
    text = " ".join(lines) or "the search engine rejected it"
    return text if len(text) <= 400 else text[:399] + "…"


def _run_all(
    cmds: list[list[str]], cwd: Path, timeout_s: float
) -> list[tuple[int, bytes, bytes]] | None:
    """Run commands side by side (a walk and a stat pass overlap on two cores)."""
    results: list[tuple[int, bytes, bytes] | None] = [None] * len(cmds)

    def one(i: int) -> None:
        results[i] = _run(cmds[i], cwd, timeout_s)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(1, len(cmds))]
    for t in threads:
        t.start()
    one(0)
    for t in threads:
        t.join()
    if any(r is None for r in results):
        return None
    return [r for r in results if r is not None]


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> tuple[int, bytes, bytes] | None:
    try:
        done = subprocess.run(
            cmd,
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.returncode, done.stdout, done.stderr


def _stream(
    cmd: list[str],
    cwd: Path,
    limit: int,
    timeout_s: float,
    parse: Callable[[bytes], str | None],
    hits: list[str],
) -> tuple[int | None, str, bool, bool]:
    """Run a search process, keeping parsed lines until ``limit``; then stop it. Returns
    (exit code, stderr, more hits existed, timed out). The whole process group is killed on
    the limit or the deadline, so nothing keeps scanning behind our back."""
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise SearchError(f"cannot start {cmd[0]}: {exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    err_chunks: list[bytes] = []
    stderr = proc.stderr

    def drain() -> None:  # read all of it (a full pipe would stall the search), keep 64 KB
        kept = 0
        for chunk in iter(lambda: os.read(stderr.fileno(), 65536), b""):
            if kept < 65536:
                err_chunks.append(chunk)
                kept += len(chunk)

    err_reader = threading.Thread(target=drain, daemon=True)
    err_reader.start()
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        _kill(proc)

    timer = threading.Timer(timeout_s, expire)
    timer.daemon = True
    timer.start()
    more = False
    try:
        for raw in proc.stdout:
            hit = parse(raw.rstrip(b"\n"))
            if hit is None:
                continue
            if len(hits) >= limit:
                more = True
                _kill(proc)
                break
            hits.append(hit)
    finally:
        timer.cancel()
        proc.stdout.close()
        rc = proc.wait()
        err_reader.join(1.0)
    err = b"".join(c for c in err_chunks if c).decode("utf-8", "replace")
    return (None if (more or timed_out.is_set()) else rc), err, more, timed_out.is_set()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

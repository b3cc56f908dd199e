"""Content search that stays fast on a 100,000-file repository.

Why a module of its own: the planner explores with tens of searches, and a Python scan of a
big tree costs ~10 s each (issue 13). ripgrep does the same in a fraction of a second, so the
workspace hands the job to the fastest tool present (found by ``search_tools.py``), in this
order, and logs once which:

1. ripgrep;
2. ``git grep`` inside a git repository;
3. a Python scan of the listed files (``listing.py``).

Every backend has the same semantics, so which one ran never changes what a model sees
beyond ordering: .gitignore respected (and ``.git/info/exclude``), ``.git/`` and
``.planloop/`` never searched, binary files and files over :data:`MAX_SEARCH_BYTES`
skipped, each shown line cut to :data:`LINE_CHARS`, at most ``limit`` hits, a time limit
(hits found so far are returned with a note), and a pattern that does not compile reported
as :class:`SearchError` with the engine's own explanation.

:class:`Searcher` is a :class:`~planloop.workspace.listing.FileLister` that also searches:
the scan searches what the listing lists, and ripgrep's filters are the listing's.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from planloop.errors import PlanloopError
from planloop.workspace.listing import FileLister, display_name, own_or_git
from planloop.workspace.search_tools import Tools, child_env, run_capture

log = logging.getLogger("planloop.search")

#: files larger than this are not searched (a log of gigabytes would drown the model)
MAX_SEARCH_BYTES = 2_000_000
#: a shown line is cut here; the model can read the file for the rest
LINE_CHARS = 300
#: a file with a NUL byte in its first block is treated as binary
BINARY_PROBE = 8192
#: seconds one search may take before it stops with what it found
SEARCH_TIMEOUT_S = 20.0

RIPGREP = "ripgrep"
GIT_GREP = "git grep"
PYTHON = "python"


class SearchError(PlanloopError):
    """A search that could not run as asked (a pattern that does not compile, a bad path)."""

    default_kind = "search"


@dataclass
class SearchResult:
    hits: list[str]
    #: more hits existed than ``limit``
    more: bool = False
    #: the search stopped at its time limit
    timed_out: bool = False
    backend: str = ""
    notes: list[str] = field(default_factory=list)


class Searcher(FileLister):
    """Search and listing for one workspace root; the backend is chosen on first use."""

    def __init__(self, root: Path, tools: Tools | None = None) -> None:
        super().__init__(root, tools)
        self._pcre2: bool | None = None
        self._backend: str | None = None
        self._lock = threading.Lock()

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
            *self.rg_filters(),
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
            return _hit(display_name(path), num.decode("ascii", "replace"), text)

        rc, err, more, timed_out = _stream(cmd, self.root, limit, timeout_s, parse, hits)
        if rc == 2 and not hits and ("regex" in err or "error parsing" in err or "PCRE2" in err):
            raise SearchError(f"invalid regular expression {pattern!r}: {_squash(err)}")
        return SearchResult(hits, more=more, timed_out=timed_out)

    def _rg_has_pcre2(self) -> bool:
        if self._pcre2 is None:
            rg = self.tools.rg
            done = run_capture([rg, "--pcre2-version"], self.root, 10) if rg else None
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
            name = display_name(parts[0])
            if own_or_git(name) or too_big(parts[0]):
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
            names = sorted(self.walk_raw(base))
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


_RUST_UNSUPPORTED = re.compile(r"look-?around|backreference", re.I)
_HIT_RE = re.compile(r"(.*?):(\d+): ")


def _squash(err: str) -> str:
    lines = [ln.strip() for ln in err.strip().splitlines() if ln.strip()]
    text = " ".join(lines) or "the search engine rejected it"
    return text if len(text) <= 400 else text[:399] + "…"


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

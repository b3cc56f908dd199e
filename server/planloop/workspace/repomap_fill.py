"""The repo map's background parse: worker processes that fill the tag cache.

Why processes: tree-sitter parsing of 100k files is tens of CPU-seconds, and a plan may
wait for none of it (``repo_map_budget_s``). The map hands what it could not parse in
time to one worker per core, which parse in priority order (the best-ranked files
first), store their tags in batches (SQLite transactions, so a map reading meanwhile
sees whole batches and a second planloop sharing the cache corrupts nothing), and lower
their priority (``nice 19``) once the plan's budget has passed. The last worker to
finish ranks the whole tree and stores the index, so the next plan finds a full map.

They end with the process that started them (:func:`stop_all` at exit, and each worker
checks between batches that its parent lives), and they never hold anything a cancel
waits for: the plan only reads what they have stored.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import planloop
from planloop.workspace.search_tools import child_env

if TYPE_CHECKING:  # the cache and the parsers load in a worker: a tool pausing it needs neither
    from planloop.workspace.repomap_cache import FileTags, TagCache

log = logging.getLogger("planloop.repomap")

#: files per stored batch, and the longest a parsed file waits to be stored
BATCH_FILES = 64
BATCH_SECONDS = 0.25

#: how a worker is started (the map's module runs :func:`main` with the ranking to finish
#: with); a test may put a slower parser in front of it
COMMAND = [sys.executable, "-m", "planloop.workspace.repomap"]

_RUNNING: set[Fill] = set()
_LOCK = threading.Lock()


class Fill:
    """The workers parsing one list of files; :meth:`stop` ends them."""

    def __init__(self, procs: list[subprocess.Popen[bytes]], todo: Path, total: int) -> None:
        self.procs = procs
        self.todo = todo
        self.total = total
        self.starter: threading.Thread | None = None
        self._stopped = False

    def spawn(self, cmds: list[list[str]], env: dict[str, str]) -> None:
        for cmd in cmds:
            with _LOCK:
                if self._stopped:
                    return
                try:
                    self.procs.append(
                        subprocess.Popen(
                            cmd,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=env,
                            # the same session: a new one is a new scheduling group on
                            # Linux (autogroup), where nice 19 would still get a fair
                            # share beside the plan; a Ctrl-C they ignore (see run)
                        )
                    )
                except OSError as e:
                    log.info("repo map: background worker not started (%s)", e)

    @property
    def running(self) -> bool:
        starting = self.starter is not None and self.starter.is_alive()
        return starting or any(p.poll() is None for p in self.procs)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the workers to finish; whether they did."""
        end = time.monotonic() + timeout
        if self.starter is not None:
            self.starter.join(timeout)
        for p in self.procs:
            try:
                p.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        self._cleanup()
        return True

    def stop(self) -> None:
        with _LOCK:
            self._stopped = True
        if self.starter is not None:
            self.starter.join()
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.terminate()
                    if hasattr(signal, "SIGCONT"):
                        p.send_signal(signal.SIGCONT)  # a paused worker must see it
        for p in self.procs:
            try:
                p.wait(2.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    p.kill()
                p.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        with _LOCK:
            _RUNNING.discard(self)
        with contextlib.suppress(OSError):
            self.todo.unlink()


def start(
    root: Path,
    cache_dir: Path,
    todo: list[tuple[str, str]],
    *,
    nice_after_s: float,
    workers: int | None = None,
) -> Fill | None:
    """Parse ``todo`` ((content id, path), best first) in the background, one worker per
    core; None when no worker could start (the map stays partial, nothing else)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    _drop_stale_lists(cache_dir)
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    path = cache_dir / f"todo-{token}"
    try:
        with open(path, "wb") as fh:  # a block at a time: a million files are 80 MB of text
            for k in range(0, len(todo), 1 << 16):
                body = "".join(f"{cid}\0{rel}\0" for cid, rel in todo[k : k + (1 << 16)])
                fh.write(body.encode("utf-8", "surrogateescape"))
    except OSError as e:
        log.info("repo map: no background parse (%s)", e)
        return None
    n = max(1, min(workers or os.cpu_count() or 1, len(todo) // BATCH_FILES + 1))
    env = child_env()  # a parser needs no API key
    here = str(Path(planloop.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    nice_at = time.time() + min(nice_after_s, 1e9)
    cmds = []
    for shard in range(n):
        cmd = [*COMMAND, str(root), str(cache_dir), str(path), str(shard), str(n)]
        cmds.append([*cmd, f"{nice_at:.3f}", str(os.getpid()), token])
    fill = Fill([], path, len(todo))
    with _LOCK:
        _RUNNING.add(fill)
    # started from a thread: forking a big interpreter takes a while under load, and the
    # plan is waiting
    fill.starter = threading.Thread(target=fill.spawn, args=(cmds, env), daemon=True)
    fill.starter.start()
    return fill


_pauses = 0


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Hold this process's background parse while a search or a listing runs.

    Why: idle priority keeps the workers off a busy core, but not off the other half of a
    hyper-threaded one, nor out of the caches; a planner's search then took half as long
    again as ``rg`` alone. Stopped (SIGSTOP) for the length of the call, they parse while
    the model thinks instead. Should planloop die meanwhile, the kernel wakes and hangs up
    the orphaned, stopped workers, which ends them."""
    global _pauses
    stop = getattr(signal, "SIGSTOP", None)
    cont = getattr(signal, "SIGCONT", None)
    with _LOCK:
        _pauses += 1
        procs = [p for f in _RUNNING for p in f.procs if p.poll() is None]
        if stop is not None and _pauses == 1:
            for p in procs:
                with contextlib.suppress(OSError):
                    p.send_signal(stop)
    try:
        yield
    finally:
        with _LOCK:
            _pauses -= 1
            if cont is not None and _pauses == 0:
                for p in procs:
                    with contextlib.suppress(OSError):
                        p.send_signal(cont)


def stop_all() -> None:
    """End every background parse of this process (at exit: a run or server that ends
    leaves no worker behind)."""
    with _LOCK:
        fills = list(_RUNNING)
    for f in fills:
        f.stop()


atexit.register(stop_all)


def _drop_stale_lists(cache_dir: Path) -> None:
    """Remove the file lists of workers whose planloop is gone (killed, not exited)."""
    for p in cache_dir.glob("todo-*"):
        pid = p.name.split("-")[1]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            with contextlib.suppress(OSError):
                p.unlink()
        except OSError:
            pass  # alive, someone else's


def _records(path: Path, shard: int, shards: int) -> Iterator[tuple[str, str]]:
    """This worker's share of the list, read in pieces (a million paths stay on disk)."""
    rest = b""
    k = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            parts = (rest + chunk).split(b"\0")
            rest = parts.pop()
            if len(parts) % 2:
                rest = parts.pop() + b"\0" + rest
            for i in range(0, len(parts), 2):
                if k % shards == shard:
                    yield parts[i].decode("ascii"), parts[i + 1].decode("utf-8", "surrogateescape")
                k += 1


def run(
    root: Path,
    cache_dir: Path,
    todo: Path,
    shard: int,
    shards: int,
    nice_at: float,
    parent: int,
    token: str,
    max_bytes: int,
    finish: Callable[[Path, Path], None] | None = None,
) -> int:
    """Parse this worker's share; the last worker of a fill calls ``finish(root,
    cache_dir)`` (rank the whole tree and store the index for the next plan)."""
    # a Ctrl-C at the terminal reaches the whole foreground group: it is for planloop,
    # which stops its workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from planloop.workspace.repomap_cache import TagCache
    from planloop.workspace.repomap_tags import Grammars, tag_file

    cache = TagCache(cache_dir)
    grammars = Grammars()
    base = str(root) + os.sep
    batch: list[tuple[str, FileTags | None]] = []
    last = time.monotonic()
    niced = False
    try:
        for cid, rel in _records(todo, shard, shards):
            if not cid:
                continue  # nothing to parse: this worker only re-ranks (see finish)
            if not niced and time.time() >= nice_at:
                _lowest_priority()
                niced = True
            tags = tag_file(base + rel, rel, grammars, max_bytes)
            if tags is not None or os.path.lexists(base + rel):
                batch.append((cid, tags))  # a file deleted meanwhile is not "without tags"
            if len(batch) >= BATCH_FILES or time.monotonic() - last > BATCH_SECONDS:
                cache.put_many(batch)
                batch, last = [], time.monotonic()
                if os.getppid() != parent:
                    return 0  # planloop is gone: its cache has what was parsed so far
    except OSError as e:  # the list vanished (planloop stopped us): nothing to finish
        log.info("repo map worker: %s", e)
        return 0
    cache.put_many(batch)
    if _finished(cache, token, shards) and os.getppid() == parent and finish is not None:
        finish(root, cache_dir)
    cache.close()
    return 0


def _lowest_priority() -> None:
    """Idle priority where the OS has it (Linux: runs only when a core would idle), else
    nice 19: the user's own work, and the plan's searches, go first."""
    idle = getattr(os, "SCHED_IDLE", None)
    if idle is not None:
        try:
            os.sched_setscheduler(0, idle, os.sched_param(0))
            return
        except OSError:
            pass
    with contextlib.suppress(OSError):
        os.nice(19)


def _finished(cache: TagCache, token: str, shards: int) -> bool:
    """Count this worker done; whether it is the last of its fill (one SQL upsert, so
    two workers finishing at once cannot both miss it)."""
    if shards == 1:
        return True
    import sqlite3

    key = f"done:{token}"
    try:
        with cache._lock:
            db = cache._db()
            with db:
                db.execute(
                    "INSERT INTO meta VALUES (?, '1') ON CONFLICT(k) DO UPDATE SET v = v + 1",
                    (key,),
                )
                row = db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
                last = int(row[0]) >= shards
                if last:
                    db.execute("DELETE FROM meta WHERE k = ?", (key,))
        return last
    except (sqlite3.Error, ValueError):
        return False


def main(argv: list[str], finish: Callable[[Path, Path], None] | None = None) -> int:
    """``ROOT CACHE_DIR TODO SHARD SHARDS NICE_AT PARENT_PID TOKEN`` (what :func:`start` passes)."""
    if len(argv) != 8:
        print("usage: ROOT CACHE_DIR TODO SHARD SHARDS NICE_AT PARENT_PID TOKEN", file=sys.stderr)
        return 2
    root, cache_dir, todo, shard, shards, nice_at, parent, token = argv
    from planloop.workspace.repomap_tags import MAX_PARSE_BYTES

    return run(
        Path(root),
        Path(cache_dir),
        Path(todo),
        int(shard),
        int(shards),
        float(nice_at),
        int(parent),
        token,
        MAX_PARSE_BYTES,
        finish,
    )

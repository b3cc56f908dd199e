"""The repo map within its time budget: a slow parser does not hold the planner back, the
background workers fill the cache (and leave a full index for the next plan), the
``repo_map`` tool says when its answer is partial, and bad inputs cost a file, never the
map or the cache. Real tree-sitter, real worker processes, a real SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from planloop.cancel import Cancelled, CancelToken
from planloop.roles.tools import ToolBox
from planloop.workspace import repomap as R
from planloop.workspace import repomap_fill as F
from planloop.workspace import repomap_tags as T
from planloop.workspace.files import Workspace
from planloop.workspace.repomap import RepoMap
from planloop.workspace.repomap_cache import DB_NAME, TagCache
from planloop.workspace.search_tools import Tools

N = 60  # modules besides the hub; INLINE_MAX is lowered so they go to the workers


def slow_worker(seconds: float) -> list[str]:
    """A worker whose parser takes ``seconds`` a file (what a pathological file costs)."""
    return [
        sys.executable,
        "-c",
        "import sys, time\n"
        "from planloop.workspace import repomap as R, repomap_fill as F, repomap_tags as T\n"
        "parse = T.tag_file\n"  # the worker looks it up when it starts
        f"T.tag_file = lambda *a: (time.sleep({seconds}), parse(*a))[1]\n"
        "sys.exit(F.main(sys.argv[1:], R._finish))\n",
    ]


SLOW_WORKER = slow_worker(0.05)


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=u", "-c", "user.email=u@u", *args],
        check=True,
        capture_output=True,
    )


def build(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "hub.py").write_text("class Hub:\n    def route(self):\n        return 1\n")
    for i in range(N):
        (root / "app" / f"mod{i}.py").write_text(
            f"from app.hub import Hub\n\n\ndef job{i}():\n    return Hub().route() + {i}\n"
        )
    (root / "app" / "billing.py").write_text(
        "def refund_invoice(x):\n    return x\n"  # the goal's word in a definition only
    )
    (root / ".planloop").mkdir()
    (root / ".planloop" / ".gitignore").write_text("*\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("budget") / "ws")


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(template), str(dst)], check=True)
    return dst


@pytest.fixture(autouse=True)
def small_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "INLINE_MAX", 5)


def budget_map(root: Path, budget_s: float, **kw: object) -> RepoMap:
    return RepoMap(Workspace(root), root / ".planloop" / "repomap", budget_s=budget_s, **kw)  # type: ignore[arg-type]


def test_a_slow_parser_does_not_hold_the_map_past_its_budget(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(F, "COMMAND", SLOW_WORKER)
    parse = R.tag_file
    monkeypatch.setattr(R, "tag_file", lambda *a: (time.sleep(0.05), parse(*a))[1])
    m = budget_map(repo, 0.8)
    try:
        t = time.monotonic()
        text = m.render("Refund an invoice", 3000)
        took = time.monotonic() - t
        # parsing everything here would take 62 × 50 ms; the map settles at its budget
        # (plus rendering: a loaded CI machine gets half a second of slack)
        assert took < 0.8 + 0.5, took
        last = text.splitlines()[-1]
        assert last.startswith("map: ") and last.endswith(
            " of 62 files parsed, continuing in the background"
        )
        assert m.stats.known < 62 and m.stats.background > 0
        assert m.fill is not None and m.fill.running
        # rg found the goal's word in a definition: that file comes first although unparsed
        # or parsed first, whichever the budget allowed
        assert text.splitlines()[0].startswith("app/billing.py")
    finally:
        m.close()
    assert m.fill is None  # stopped with the map: no worker outlives its planloop


def test_background_fill_leaves_a_full_map_for_the_next_plan(repo: Path) -> None:
    m = budget_map(repo, 0.01)  # no time at all: everything goes to the workers
    first = m.render("route the hub", 3000)
    assert "continuing in the background" in first
    assert m.fill is not None
    assert m.fill.wait(60)
    later = budget_map(repo, 0.5)
    text = later.render("route the hub", 3000)
    assert later.stats.from_index  # the last worker ranked the whole tree and stored it
    assert "continuing in the background" not in text
    assert text.splitlines()[0] == "app/hub.py:"  # used by every module: ranked first
    assert "│    1: class Hub:" in text
    assert not list((repo / ".planloop" / "repomap").glob("todo-*"))  # the list is cleaned up


def test_repo_map_tool_says_when_its_answer_is_partial(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(F, "COMMAND", SLOW_WORKER)
    m = budget_map(repo, 0.01)
    try:
        box = ToolBox(Workspace(repo), writable=False, repo_map=lambda p: m.render("g", 500, p))
        out = box.call("repo_map", {"path": "app"})
        assert not out.is_error
        assert "app/hub.py" in out.content
        parsed = int(out.content.rsplit("map: ", 1)[1].split(" of ")[0].replace(",", ""))
        assert parsed < 62
        assert out.content.rstrip().endswith("of 62 files parsed, continuing in the background")
    finally:
        m.close()


# --- cancel ---------------------------------------------------------------------------------

CANCEL_AFTER_S = 0.3
#: a cancel is honoured between two files: one slow parse, plus a loaded machine's slack
PROMPT_S = 0.5


def cancel_soon() -> CancelToken:
    token = CancelToken()
    timer = threading.Timer(CANCEL_AFTER_S, token.cancel)
    timer.daemon = True
    timer.start()
    return token


def slow_here(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.05) -> None:
    parse = R.tag_file
    monkeypatch.setattr(R, "tag_file", lambda *a: (time.sleep(seconds), parse(*a))[1])


def processes_running(marker: str) -> list[str]:
    """Live processes whose command line holds ``marker`` (to prove a kill)."""
    found = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            found.append(cmd)
    return found


def stored_tags(root: Path) -> int:
    """How many files the cache holds, after SQLite's own check of the whole file."""
    with sqlite3.connect(root / ".planloop" / "repomap" / DB_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n: int = db.execute("SELECT count(*) FROM tags").fetchone()[0]
        return n


def test_a_cancel_while_the_map_parses_within_its_budget_stops_at_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """62 files × 50 ms fit the 5 s budget, so the map parses them itself: a cancel
    after 0.3 s ends it between two files, keeps what was parsed, corrupts nothing."""
    monkeypatch.setattr(R, "INLINE_MAX", 100)
    slow_here(monkeypatch)
    m = budget_map(repo, 5.0)
    t = time.monotonic()
    with pytest.raises(Cancelled):
        m.render("Refund an invoice", 3000, ".", cancel_soon())
    assert time.monotonic() - t < CANCEL_AFTER_S + PROMPT_S
    assert m.fill is None and m._signals is None  # no worker, no search left behind
    kept = stored_tags(repo)
    assert 0 < kept < N + 2  # the part parsed before the cancel is not lost
    monkeypatch.setattr(R, "tag_file", T.tag_file)
    again = RepoMap(Workspace(repo), repo / ".planloop" / "repomap", workers=0)
    text = again.render("route the hub", 3000)
    assert again.stats.parsed == N + 2 - kept  # only the rest is parsed
    assert text.splitlines()[0] == "app/hub.py:"
    m.close()
    again.close()


def test_a_cancel_leaves_the_background_workers_filling_the_cache(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more to parse than the map parses itself, the workers start at once; the
    map then parses the files the signals lift (here: every file is open) until the
    cancel. The workers go on (their work is the next plan's) and leave a full index."""
    slow_here(monkeypatch)
    every = sorted(p.relative_to(repo).as_posix() for p in (repo / "app").glob("*.py"))
    m = budget_map(repo, 5.0, open_files=lambda: every, workers=1)
    try:
        t = time.monotonic()
        with pytest.raises(Cancelled):
            m.render("Refund an invoice", 3000, ".", cancel_soon())
        assert time.monotonic() - t < CANCEL_AFTER_S + PROMPT_S
        assert m.fill is not None and m.fill.wait(60)
    finally:
        m.close()
    assert stored_tags(repo) == N + 2
    later = budget_map(repo, 0.5)
    assert "continuing in the background" not in later.render("route the hub", 3000)
    assert later.stats.from_index


def test_a_cancel_ends_the_cheap_signals_searches_at_once(repo: Path, tmp_path: Path) -> None:
    """The map waits up to half its budget for ``rg`` and ``git log``; a cancel kills
    them instead of waiting (an ``rg`` that never answers stands in for a huge tree)."""
    rg = tmp_path / "rg"
    rg.write_text("#!/bin/sh\nexec sleep 31.4159\n")
    rg.chmod(0o755)
    ws = Workspace(repo, search_tools=Tools.discover(rg=str(rg)))
    m = RepoMap(ws, repo / ".planloop" / "repomap", budget_s=5.0)
    try:
        t = time.monotonic()
        with pytest.raises(Cancelled):
            m.render("Refund an invoice", 3000, ".", cancel_soon())
        assert time.monotonic() - t < CANCEL_AFTER_S + PROMPT_S
    finally:
        m.close()
    assert not processes_running("sleep 31.4159")


def test_a_cancel_stops_a_map_without_budget_and_its_full_priority_workers(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a budget the map waits for workers at full priority; a cancel stops the
    wait and them (nobody waits for their work any more)."""
    monkeypatch.setattr(F, "COMMAND", SLOW_WORKER)
    m = RepoMap(Workspace(repo), repo / ".planloop" / "repomap", workers=2)
    t = time.monotonic()
    with pytest.raises(Cancelled):
        m.render("g", 500, ".", cancel_soon())
    assert time.monotonic() - t < CANCEL_AFTER_S + PROMPT_S + 0.5  # + SIGTERM's round trip
    assert m.fill is None
    stored_tags(repo)  # a worker ended mid-batch leaves a sound database
    assert not list((repo / ".planloop" / "repomap").glob("todo-*"))


def test_a_cancel_while_the_repo_map_tool_answers(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planner's repo_map tool builds the map on the planner's cancel token: the
    tool answers "cancelled" (the tool loop then stops) instead of a map or a crash."""
    monkeypatch.setattr(R, "INLINE_MAX", 100)
    slow_here(monkeypatch)
    m = budget_map(repo, 5.0)
    token = cancel_soon()
    box = ToolBox(Workspace(repo), writable=False, repo_map=lambda p: m.render("g", 500, p, token))
    t = time.monotonic()
    out = box.call("repo_map", {"path": "app"})
    assert time.monotonic() - t < CANCEL_AFTER_S + PROMPT_S
    assert out.is_error and out.content.startswith("Cancelled by the user")
    assert token.cancelled
    m.close()


# --- bad input ------------------------------------------------------------------------------


def test_bad_inputs_cost_a_file_never_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 50 MB file, minified JS on one 5 MB line, binary files with source suffixes, a
    file tree-sitter cannot parse, a language without a grammar (and one whose grammar
    package is missing), a symlink loop, a FIFO, and a submodule."""
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "good.py").write_text("def fine():\n    return 1\n")
    with open(root / "src" / "huge.py", "wb") as fh:  # 50 MB, sparse: cheap to make
        fh.truncate(50 * 1024 * 1024)
    (root / "src" / "bundle.min.js").write_text("function a(){return 1};" * 230_000)  # 5 MB line
    (root / "src" / "blob.ts").write_bytes(b"\x7fELF\x00\x00\x01" + bytes(range(256)) * 40)
    (root / "src" / "broken.py").write_text("def ok():\n    pass\n\nclass (((:\n  def\n")
    (root / "src" / "script.rb").write_text("def no_grammar; end\n")
    (root / "src" / "main.go").write_text("package main\n\nfunc GoFunc() {}\n")
    (root / "src" / "loop").symlink_to(root / "src")  # a directory loop
    (root / "src" / "self.py").symlink_to(root / "src" / "self.py")  # a file loop
    import os

    os.mkfifo(root / "src" / "pipe.py")  # would block a naive read
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "lib.py").write_text("def from_submodule():\n    return 2\n")
    git(inner, "init", "-q")
    git(inner, "add", "-A")
    git(inner, "commit", "-qm", "inner")
    git(root, "init", "-q")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner), "sub")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "outer")
    # the go grammar package is missing on this machine
    monkeypatch.setitem(T._GRAMMARS, "go", ("tree_sitter_no_such_grammar", "language"))
    # parsed here (workers=0): the missing grammar is this process's
    m = RepoMap(Workspace(root), root / ".planloop" / "repomap", workers=0)
    text = m.render("fine", 3000)
    lines = text.splitlines()
    assert "src/good.py:" in lines and "│    1: def fine():" in text
    assert "src/broken.py:" in lines and "def ok():" in text  # what tree-sitter recovered
    for by_name in ("src/huge.py", "src/bundle.min.js", "src/blob.ts", "src/script.rb"):
        assert by_name in lines, by_name
    assert "src/main.go" in lines and "GoFunc" not in text  # no grammar: by name
    assert "sub/lib.py:" in lines and "def from_submodule():" in text
    assert "src/loop/" not in text  # git keeps the symlink as a file: never walked into
    assert "src/self.py" in lines and "src/pipe.py" not in text  # a FIFO is not committed
    with sqlite3.connect(root / ".planloop" / "repomap" / DB_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_files_deleted_while_the_workers_parse(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F, "COMMAND", SLOW_WORKER)
    m = budget_map(repo, 0.01)
    m.render("g", 500)
    assert m.fill is not None
    for i in range(0, N, 2):
        (repo / "app" / f"mod{i}.py").unlink()
    assert m.fill.wait(60)
    cache = TagCache(repo / ".planloop" / "repomap")
    gone = {m._tree.ids[f"app/mod{i}.py"] for i in range(0, N, 2)} if m._tree else set()
    stored = cache.known(gone)
    # a file deleted before its turn is not recorded as "no tags" (its content may return)
    assert len(stored) < len(gone)
    text = budget_map(repo, 5.0).render("g", 3000)
    assert "app/mod0.py" not in text and "app/mod1.py" in text
    cache.close()
    m.close()


def test_two_processes_sharing_the_cache(repo: Path) -> None:
    """Two planloops build the map of one workspace at once (each with its own workers);
    the cache stays a sound database and both get the whole map."""
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from planloop.workspace import repomap as R
        from planloop.workspace.files import Workspace
        R.INLINE_MAX = 5
        root = Path({str(repo)!r})
        m = R.RepoMap(Workspace(root), root / ".planloop" / "repomap", budget_s=0.05)
        m.render("g", 500)
        assert m.fill is not None and m.fill.wait(60)
        full = R.RepoMap(Workspace(root), root / ".planloop" / "repomap")
        text = full.render("route", 3000)
        assert "class Hub" in text, text
        print("ok", full.stats.known, full.stats.code)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        assert out.startswith("ok")
    with sqlite3.connect(repo / ".planloop" / "repomap" / DB_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM tags").fetchone()[0] == N + 2


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states in /proc")
def test_a_planner_search_holds_the_background_parse(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a search or a listing runs the workers are stopped; after it they go on."""
    monkeypatch.setattr(F, "COMMAND", slow_worker(0.5))  # still busy when the search runs
    m = budget_map(repo, 0.01)
    try:
        m.render("g", 500)
        assert m.fill is not None
        assert m.fill.starter is not None
        m.fill.starter.join(10)
        pids = [p.pid for p in m.fill.procs]
        assert pids

        def states() -> set[str]:
            return {
                Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for pid in pids
            }

        seen: list[set[str]] = []
        box = ToolBox(Workspace(repo), writable=False)
        real = box._call

        def spy(name: str, input: object) -> object:
            end = time.monotonic() + 2  # a stop signal is delivered, not waited for
            while states() != {"T"} and time.monotonic() < end:
                time.sleep(0.01)
            seen.append(states())
            return real(name, input)

        monkeypatch.setattr(box, "_call", spy)
        assert not box.call("search", {"pattern": "route"}).is_error
        assert seen == [{"T"}]  # stopped while rg ran
        assert "T" not in states()  # and going on after it
    finally:
        m.close()


def test_the_budget_setting_from_file_env_and_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from planloop.cli.common import overrides
    from planloop.cli.parser import build_parser
    from planloop.config import load_settings
    from planloop.errors import ConfigError

    monkeypatch.delenv("PLANLOOP_REPO_MAP_BUDGET_S", raising=False)
    assert load_settings(tmp_path).config.repo_map_budget_s == 2.0  # the default
    (tmp_path / "planloop.toml").write_text("repo_map_budget_s = 0.5\n")
    assert load_settings(tmp_path).config.repo_map_budget_s == 0.5
    monkeypatch.setenv("PLANLOOP_REPO_MAP_BUDGET_S", "1.25")  # the folder's file wins
    assert load_settings(tmp_path).config.repo_map_budget_s == 0.5
    (tmp_path / "planloop.toml").unlink()
    assert load_settings(tmp_path).config.repo_map_budget_s == 1.25
    args = build_parser().parse_args(["plan", "goal", "--repo-map-budget", "3"])
    assert load_settings(tmp_path, overrides(args)).config.repo_map_budget_s == 3.0
    # bad input: a clear error naming the variable or the key
    monkeypatch.setenv("PLANLOOP_REPO_MAP_BUDGET_S", "soon")
    with pytest.raises(ConfigError, match="PLANLOOP_REPO_MAP_BUDGET_S='soon'"):
        load_settings(tmp_path)
    monkeypatch.delenv("PLANLOOP_REPO_MAP_BUDGET_S")
    (tmp_path / "planloop.toml").write_text("repo_map_budget_s = 0\n")
    with pytest.raises(ConfigError, match="repo_map_budget_s"):
        load_settings(tmp_path)


def test_a_changed_tree_ranks_as_the_last_one_when_a_full_rank_would_overrun(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    RepoMap(Workspace(repo), repo / ".planloop" / "repomap").render("g", 500)  # full, stored
    (repo / "app" / "mod3.py").write_text("def invoice_total():\n    return 3\n")
    monkeypatch.setattr(R, "RANK_PER_FILE_S", 10.0)  # as if the tree were huge
    m = budget_map(repo, 1.0)
    text = m.render("invoice total", 3000)
    assert m.stats.stale and not m.stats.from_index
    assert "app/mod3.py:" in text and "def invoice_total():" in text  # its new names count
    assert "continuing in the background" not in text  # every file is parsed
    assert m.fill is not None and m.fill.wait(60)  # a worker re-ranked the whole tree
    later = budget_map(repo, 1.0)
    assert "def invoice_total():" in later.render("invoice total", 3000)
    assert later.stats.from_index and not later.stats.stale


def test_an_older_planloops_cache_files_are_removed_when_the_new_cache_opens(repo: Path) -> None:
    """planloop 0.1 kept tags.json and index.sqlite (150 MB on a 100k-file repository);
    nothing reads them any more, so the first map of the new cache reclaims the space."""
    directory = repo / ".planloop" / "repomap"
    directory.mkdir(parents=True, exist_ok=True)
    for old in ("tags.json", "index.sqlite"):
        (directory / old).write_bytes(b"x" * 4096)
    RepoMap(Workspace(repo), directory, workers=0).render("route the hub", 500)
    assert sorted(p.name for p in directory.iterdir() if p.name.endswith((".json", ".sqlite"))) == [
        DB_NAME
    ]


def slow_listing(m: RepoMap, seconds: float) -> list[float]:
    """The map's listing (the git round) takes ``seconds`` longer, as on a tree of a
    million files: the real round runs after the wait. Returns when each round began."""
    real = m.ws.searcher.map_round
    began: list[float] = []

    def slow() -> object:
        began.append(time.monotonic())
        time.sleep(seconds)
        return real()

    m.ws.searcher.map_round = slow  # type: ignore[method-assign]
    return began


def test_a_slow_listing_answers_in_time_from_the_cheap_signals(repo: Path) -> None:
    m = budget_map(repo, 0.5)
    slow_listing(m, 1.0)
    try:
        t = time.monotonic()
        text = m.render("Refund an invoice", 3000)
        took = time.monotonic() - t
        assert took < 0.5 + 0.4, took  # the listing alone would take over a second
        lines = text.splitlines()
        assert lines[-1].startswith("map: still listing the files after ")
        assert lines[-1].endswith(
            "1 files found by the goal's words and recent commits, continuing in the background"
        )
        assert lines[0] == "app/billing.py"  # rg found the goal's word in its definition
        assert m.stats.late_listing and m.fill is None
        # the listing goes on and, once done, hands every file to the workers
        end = time.monotonic() + 20
        while m.fill is None and time.monotonic() < end:
            time.sleep(0.05)
        assert m.fill is not None and m.fill.wait(60)
    finally:
        m.close()
    later = budget_map(repo, 1.0)
    text = later.render("route the hub", 3000)
    assert later.stats.from_index and "continuing in the background" not in text
    assert text.splitlines()[0] == "app/hub.py:"


def test_a_slow_listing_answers_with_the_last_index(repo: Path) -> None:
    RepoMap(Workspace(repo), repo / ".planloop" / "repomap", workers=0).render("g", 500)
    m = budget_map(repo, 0.5)
    rounds = slow_listing(m, 0.8)
    try:
        text = m.render("route the hub", 3000)
        lines = text.splitlines()
        assert lines[0] == "app/hub.py:" and "│    1: class Hub:" in text
        assert lines[-1].startswith("map: still listing the files after ")
        assert lines[-1].endswith(": ranked as the last map, continuing in the background")
        assert m.stats.late_listing
        # a second map before the listing is done waits for the same listing, not a new one
        again = m.render("route the hub", 3000)
        assert again.splitlines()[0] == "app/hub.py:"
        assert len(rounds) == 1
    finally:
        m.close()
    assert m._listing is None  # closed: a late listing starts no parse now

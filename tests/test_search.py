"""Search and listing on every backend (ripgrep, git grep, Python), with real binaries and
real git: the same semantics whichever runs, the caps, the fallbacks, and bad input."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from planloop.roles.tools import ToolBox
from planloop.workspace.files import Workspace, WorkspaceError
from planloop.workspace.search import (
    GIT_GREP,
    LINE_CHARS,
    MAX_SEARCH_BYTES,
    PYTHON,
    RIPGREP,
    Searcher,
)
from planloop.workspace.search_tools import Tools, find_ripgrep
from test_checkpoints import ugit

RG, _ = find_ripgrep()
GIT = shutil.which("git")
assert RG is not None, "the ripgrep wheel is a dependency: its rg must be found"

BACKENDS = {RIPGREP: Tools(RG, GIT), GIT_GREP: Tools(None, GIT)}


def make_tree(root: Path, git: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("x = 1\nneedle = 'one'\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "ignored.log").write_text("needle ignored\n")
    (root / ".planloop").mkdir()
    (root / ".planloop" / "own.txt").write_text("needle own\n")
    (root / "bin.dat").write_bytes(b"\x00\x01needle binary\n")
    (root / ".github").mkdir()
    (root / ".github" / "ci.yml").write_text("run: needle hidden\n")
    if git:
        ugit(root, "init", "-q", "-b", "main")
        ugit(root, "add", "-A")
        ugit(root, "commit", "-qm", "one")
    (root / "b.txt").write_text("needle two (untracked)\n")
    return root


def ws(root: Path, tools: Tools) -> Workspace:
    return Workspace(root, search_tools=tools)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "ws")


@pytest.mark.parametrize("backend", [RIPGREP, GIT_GREP])
def test_same_results_on_every_backend(tree: Path, backend: str) -> None:
    w = ws(tree, BACKENDS[backend])
    assert w.searcher.backend == backend
    assert w.search("needle") == [
        ".github/ci.yml:1: run: needle hidden",
        "b.txt:1: needle two (untracked)",
        "src/a.py:2: needle = 'one'",
    ]
    assert w.search("needle", "src") == ["src/a.py:2: needle = 'one'"]
    assert w.search(r"nee(?=dle)", "src") == ["src/a.py:2: needle = 'one'"]  # look-ahead
    assert w.list_files() == [".github/ci.yml", ".gitignore", "b.txt", "bin.dat", "src/a.py"]
    assert w.list_files(".", "*.py") == ["src/a.py"]
    with pytest.raises(WorkspaceError, match="invalid regular expression '\\(unclosed'"):
        w.search("(unclosed")


def test_python_backend_outside_git(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "plain", git=False)
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("needle in a dependency\n")
    w = ws(root, Tools(None, None))
    assert w.searcher.backend == PYTHON
    hits = w.search("needle")
    assert "src/a.py:2: needle = 'one'" in hits and "b.txt:1: needle two (untracked)" in hits
    assert not any(h.startswith((".planloop", "bin.dat", "node_modules")) for h in hits)
    with pytest.raises(WorkspaceError, match="invalid regular expression"):
        w.search("(")
    # ripgrep outside git honours .gitignore too (and skips the same folders)
    r = ws(root, Tools(RG, None))
    assert "ignored.log" not in " ".join(r.search("needle"))
    assert not any(h.startswith("node_modules") for h in r.search("needle"))
    assert "node_modules/dep.js" not in r.list_files()


def test_fallbacks_are_chosen_and_logged(
    tree: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert find_ripgrep(search_path=str(tree), use_package=False) == (None, "not found")
    monkeypatch.setenv("PLANLOOP_RG", "off")
    assert Tools.discover().rg is None
    monkeypatch.setenv("PLANLOOP_RG", str(tree / "no-such-rg"))
    found, where = find_ripgrep(search_path=str(tree))
    assert found is not None and where == "the ripgrep package"  # a bad path is skipped
    monkeypatch.setenv("PLANLOOP_RG", RG)
    assert find_ripgrep() == (RG, "PLANLOOP_RG")
    with caplog.at_level(logging.INFO, logger="planloop.search"):
        assert ws(tree, Tools(None, GIT)).searcher.backend == GIT_GREP
        assert ws(tree / "src", Tools(None, None)).searcher.backend == PYTHON
    lines = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("search: git grep (no ripgrep") for m in lines)
    assert any(m.startswith("search: Python scan") for m in lines)


@pytest.mark.parametrize("backend", [RIPGREP, GIT_GREP])
def test_result_and_line_caps(tree: Path, backend: str) -> None:
    (tree / "many.txt").write_text("".join(f"hit {i}\n" for i in range(150)))
    (tree / "long.txt").write_text("longhit " + "x" * 1_000_000 + "\n")
    w = ws(tree, BACKENDS[backend])
    box = ToolBox(w, writable=False)
    out = box.call("search", {"pattern": "^hit "})
    assert len(out.content.splitlines()) == 101
    assert out.content.splitlines()[-1] == "… more matches not shown (narrow the pattern or path)"
    assert out.line == "search /^hit/ (100+ matches)"  # the summary squashes spaces
    (long,) = w.search("longhit")
    assert long == "long.txt:1: longhit " + "x" * (LINE_CHARS - len("longhit ")) + "…"


def test_a_2gb_log_is_skipped_with_a_clear_message(tree: Path) -> None:
    big = tree / "huge.log.txt"
    with big.open("wb") as f:
        f.write(b"needle at the start of a huge log\n")
        f.truncate(2 * 1024**3)  # sparse: 2 GB on paper, nothing on disk
    w = ws(tree, BACKENDS[RIPGREP])
    assert not any(h.startswith("huge") for h in w.search("needle"))
    with pytest.raises(WorkspaceError, match=f"search skips files over {MAX_SEARCH_BYTES} bytes"):
        w.search("needle", "huge.log.txt")
    none = ToolBox(w, writable=False).call("search", {"pattern": "zz_nothing"})
    assert "files over 2 MB are not searched" in none.content
    # git grep has no size limit of its own: hits from files over it are dropped
    (tree / "big.txt").write_text("needle big\n" * 300_000)
    assert not any(h.startswith("big.txt") for h in ws(tree, BACKENDS[GIT_GREP]).search("needle"))


@pytest.mark.parametrize("backend", [RIPGREP, GIT_GREP, PYTHON])
def test_symlink_loops_and_non_utf8_names(tmp_path: Path, backend: str) -> None:
    root = make_tree(tmp_path / "ws", git=backend != PYTHON)
    os.symlink("self", root / "self")  # a link to itself
    os.symlink("..", root / "src" / "up")  # a directory loop
    name = os.fsencode(root) + b"/caf\xe9.py"
    with open(name, "wb") as f:
        f.write(b"needle = 'latin-1 name'\n")
    tools = BACKENDS.get(backend, Tools(None, None))
    w = ws(root, tools)
    hits = w.search("latin-1")
    assert hits == ["caf\\xe9.py:1: needle = 'latin-1 name'"]
    files = w.list_files()
    assert "caf\\xe9.py" in files
    assert not any("src/up/" in f for f in files)
    out = ToolBox(w, writable=False).call("list_files", {})
    assert not out.is_error and "caf\\xe9.py" in out.content


def test_ten_thousand_untracked_files(tree: Path) -> None:
    d = tree / "gen"
    d.mkdir()
    for i in range(10_000):
        (d / f"f{i:05}.txt").write_text(f"line {i}\n")
    (d / "f04242.txt").write_text("the one needle42 here\n")
    for backend in (RIPGREP, GIT_GREP):
        w = ws(tree, BACKENDS[backend])
        out = ToolBox(w, writable=False).call("list_files", {"path": "gen"})
        assert out.line == "list_files gen (10000 files)"
        assert out.content.splitlines()[-1] == "… 9500 more (narrow the listing with path or glob)"
        assert w.search("needle42") == ["gen/f04242.txt:1: the one needle42 here"]


def test_python_search_stops_at_its_time_limit(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "plain", git=False)
    s = Searcher(root, Tools(None, None))
    result = s.search("needle", timeout_s=-1)
    assert result.timed_out and result.hits == []


def test_listing_never_writes_the_users_index(tree: Path) -> None:
    (tree / "src" / "a.py").write_text("changed\n")  # a stale stat in the index
    index = (tree / ".git" / "index").read_bytes()
    for backend in (RIPGREP, GIT_GREP):
        w = ws(tree, BACKENDS[backend])
        w.list_files()
        w.search("needle")
        w.searcher.content_ids(w.list_files(), 1_000_000)
    assert (tree / ".git" / "index").read_bytes() == index
    assert (
        subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain"], capture_output=True
        ).returncode
        == 0
    )


def test_quick_listing_matches_the_full_one(tree: Path) -> None:
    """The light listing (names only) drops deleted files and lists an unmerged path
    once, exactly as the full listing (with blob ids) does."""
    ugit(tree, "add", "b.txt")
    ugit(tree, "commit", "-qm", "two")
    (tree / "src" / "a.py").unlink()  # deleted, not staged
    (tree / "new.py").write_text("new\n")
    ugit(tree, "checkout", "-q", "-b", "side")
    (tree / "b.txt").write_text("side\n")
    ugit(tree, "commit", "-qam", "side")
    ugit(tree, "checkout", "-q", "main")
    (tree / "b.txt").write_text("main\n")
    ugit(tree, "commit", "-qam", "main")
    ugit(tree, "merge", "side", check=False)  # a conflict: b.txt at stages 1, 2 and 3
    assert "b.txt" in ugit(tree, "ls-files", "-u")
    s = Searcher(tree, Tools(None, GIT))
    light = s._git_list_light(".")
    assert light is not None
    full = s._git_list(".")
    assert full is not None
    assert sorted(light) == sorted(full)
    assert light.count("b.txt") == 1 and "src/a.py" not in light and "new.py" in light
    assert not any(f.startswith((".planloop/", ".git/")) for f in light)
    assert s.list_files() == sorted(light)


def test_quick_listing_leaves_nested_repositories_to_the_full_one(tree: Path) -> None:
    (tree / "inner").mkdir()
    ugit(tree / "inner", "init", "-q")
    (tree / "inner" / "deep.py").write_text("x\n")
    s = Searcher(tree, Tools(None, GIT))
    assert s._git_list_light(".") is None and s.map_round().quick() is None
    assert "inner/deep.py" in s.list_files()


def test_git_configuration_in_the_environment_still_lets_git_list_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GIT_CONFIG_KEY_0`` reads like a credential's name; scrubbing it alone left git
    refusing to start ("missing config key"), and every listing and repo map silently fell
    back to ripgrep and hashing each file. The pairs pass whole; one whose setting may
    carry a credential is dropped and the rest renumbered, so git still starts."""
    from planloop.redaction import scrubbed_env
    from planloop.workspace.listing import FileLister

    repo = tmp_path / "r"
    repo.mkdir()
    ugit(repo, "init", "-q")
    (repo / "a.py").write_text("A = 1\n")
    ugit(repo, "add", "a.py")
    pairs = {
        "GIT_CONFIG_COUNT": "3",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": "Authorization: Bearer s3cr3t-t0ken-value",
        "GIT_CONFIG_KEY_1": "gc.auto",
        "GIT_CONFIG_VALUE_1": "0",
        "GIT_CONFIG_KEY_2": "url.https://x:s3cr3t@host/.insteadOf",
        "GIT_CONFIG_VALUE_2": "https://host/",
    }
    for k, v in pairs.items():
        monkeypatch.setenv(k, v)
    env = scrubbed_env()
    assert {k: v for k, v in env.items() if k.startswith("GIT_CONFIG_")} == {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "gc.auto",
        "GIT_CONFIG_VALUE_0": "0",
    }
    assert "s3cr3t" not in repr(env)
    lister = FileLister(repo)
    assert lister.in_git and lister.git_state() is not None
    assert lister.list_files() == ["a.py"]
    # an incomplete list is what git refuses: none of it is passed on
    monkeypatch.delenv("GIT_CONFIG_VALUE_1")
    assert not any(k.startswith("GIT_CONFIG_") for k in scrubbed_env())
    assert FileLister(repo).in_git

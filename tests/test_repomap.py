"""The repo map: real tree-sitter grammars, a real cache on disk, ranking, the budget,
the planner's tool, and the planner's first request on the Messages API stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import submit
from planloop.roles.planner import MAP_INTRO
from planloop.roles.tools import ToolBox
from planloop.workspace import repomap as R
from planloop.workspace import repomap_tags as T
from planloop.workspace.files import Workspace
from planloop.workspace.repomap import RepoMap, estimate_tokens
from planloop.workspace.repomap_cache import unpack_hashes
from planloop.workspace.repomap_tags import extract
from standin import StandIn, tokens, tool_use_message


def make_repo(root: Path) -> Path:
    """A small multi-language project: core.py is used everywhere, leaf.py by nobody."""
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "core.py").write_text(
        "class Ledger:\n    def post(self, entry):\n        return entry\n\n\n"
        "def make_ledger():\n    return Ledger()\n"
    )
    for i in range(4):
        (root / "pkg" / f"user{i}.py").write_text(
            f"from pkg.core import Ledger, make_ledger\n\n\ndef use{i}():\n"
            f"    return make_ledger().post({i})\n"
        )
    (root / "pkg" / "leaf.py").write_text("def lonely():\n    return 0\n")
    (root / "web").mkdir()
    (root / "web" / "payment_gateway.ts").write_text(
        "export interface Charge { amount: number }\n"
        "export class PaymentGateway {\n  charge(c: Charge): number { return c.amount; }\n}\n"
    )
    (root / "svc").mkdir()
    (root / "svc" / "main.go").write_text(
        "package svc\n\ntype Server struct{}\n\nfunc (s Server) Start() {}\n\nfunc New() Server { return Server{} }\n"
    )
    (root / "svc" / "lib.rs").write_text(
        "pub struct Queue;\nimpl Queue { pub fn push(&self) {} }\n"
    )
    (root / "svc" / "App.java").write_text("class App { void run() {} }\n")
    (root / "web" / "util.js").write_text("function helper(x) { return x }\n")
    (root / "notes.rb").write_text("def ruby_has_no_grammar_here; end\n")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "ws")


def rmap(root: Path) -> RepoMap:
    return RepoMap(Workspace(root), root / ".planloop" / "repomap")


def test_definitions_per_language(repo: Path) -> None:
    g = T.Grammars()
    cases = {
        "pkg/core.py": ("python", {"Ledger", "post", "make_ledger"}),
        "web/payment_gateway.ts": ("typescript", {"Charge", "PaymentGateway", "charge"}),
        "svc/main.go": ("go", {"Server", "Start", "New"}),
        "svc/lib.rs": ("rust", {"Queue", "push"}),
        "svc/App.java": ("java", {"App", "run"}),
        "web/util.js": ("javascript", {"helper"}),
    }
    for rel, (lang, names) in cases.items():
        tags = extract((repo / rel).read_bytes(), lang, g)
        assert tags is not None, rel
        assert {d[0] for d in tags.defs} == names, rel
    core = extract((repo / "pkg" / "user0.py").read_bytes(), "python", g)
    assert core is not None
    used = set(unpack_hashes(core.refs))
    assert {T.name_hash("Ledger"), T.name_hash("make_ledger")} <= used
    assert T.name_hash("use0") not in used  # its own definition is not a use
    kinds = extract((repo / "pkg" / "core.py").read_bytes(), "python", g)
    assert kinds is not None and kinds.defs == [
        ("Ledger", "c", 1),
        ("post", "f", 2),
        ("make_ledger", "f", 6),
    ]


def test_map_ranks_used_code_first_and_fits_the_budget(repo: Path) -> None:
    text = rmap(repo).render("tidy up", 3000)
    assert text.index("pkg/core.py:") < text.index("pkg/leaf.py")
    assert "│    1: class Ledger:" in text
    assert "│    6: def make_ledger():" in text
    assert "notes.rb" in text  # no grammar: listed by name
    assert estimate_tokens(text) <= 3000
    for budget in (5, 20, 60, 120):
        small = rmap(repo).render("tidy up", budget)
        assert estimate_tokens(small) <= budget
    assert rmap(repo).render("tidy up", 0) == ""


def test_goal_words_lift_matching_files(repo: Path) -> None:
    text = rmap(repo).render("Retry when the payment gateway times out", 100)
    assert text.splitlines()[0] == "web/payment_gateway.ts:"
    # a budget too small for any file's definitions still names the best files
    tiny = rmap(repo).render("Retry when the payment gateway times out", 12)
    assert tiny.splitlines()[0] == "web/payment_gateway.ts"
    assert estimate_tokens(tiny) <= 12


def test_a_file_open_in_the_editor_ranks_above_an_otherwise_equal_one(repo: Path) -> None:
    """leaf.py and leaf2.py are alike (used by nobody, no goal word): the open one goes
    first, in a full map (lifted at render time: the stored index knows nothing of the
    editor) and in a partial one (the cheap signals lift it)."""
    (repo / "pkg" / "leaf2.py").write_text("def lonely2():\n    return 0\n")
    cache = repo / ".planloop" / "repomap"
    plain = RepoMap(Workspace(repo), cache).render("tidy up", 3000)
    assert plain.index("pkg/leaf2.py:") < plain.index("pkg/leaf.py:")  # a tie: by name
    opened = ["pkg/leaf.py", "not/there.py"]  # a file the tree lacks is no error
    full = RepoMap(Workspace(repo), cache, open_files=lambda: opened).render("tidy up", 3000)
    assert full.index("pkg/leaf.py:") < full.index("pkg/leaf2.py:")
    assert RepoMap(Workspace(repo), cache).render("tidy up", 3000) == plain  # not stored

    other = repo.parent / "fresh"
    other.mkdir()
    partial = RepoMap(Workspace(repo), other, budget_s=1e-6, open_files=lambda: opened, workers=1)
    try:
        text = partial.render("tidy up", 3000)
        assert text.rstrip().endswith("continuing in the background")
        assert text.index("pkg/leaf.py") < text.index("pkg/leaf2.py")
    finally:
        partial.close()


def test_cache_parses_only_what_changed(repo: Path) -> None:
    first = rmap(repo)
    first.render("g", 500)
    assert first.stats.parsed == 11 and not first.stats.from_index
    again = rmap(repo)
    again.render("another goal", 500)
    assert again.stats.from_index and again.stats.parsed == 0
    (repo / "pkg" / "leaf.py").write_text(
        "def lonely():\n    return 1\n\n\ndef second():\n    pass\n"
    )
    changed = rmap(repo)
    assert "def second():" in changed.render("g", 3000)
    assert changed.stats.parsed == 1
    assert changed.cache.count() == 11  # the old content of leaf.py was dropped


def test_unparseable_binary_and_huge_files(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "broken.py").write_text("def ok():\n    pass\n\nclass (((:\n  def\n")
    (repo / "blob.py").write_bytes(b"\x00\x01\x02def not_code(): pass\n")
    (repo / "big.py").write_text("def big():\n    pass\n" * 10)
    monkeypatch.setattr(R, "MAX_PARSE_BYTES", 100)
    text = rmap(repo).render("g", 3000)
    assert "broken.py:" in text and "def ok():" in text  # what tree-sitter recovered
    assert "\nblob.py\n" in "\n" + text and "not_code" not in text
    assert "\nbig.py\n" in "\n" + text and "def big" not in text


def test_progress_is_reported_for_long_builds(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "PROGRESS_EVERY", 4)
    seen: list[tuple[str, int, int]] = []
    RepoMap(
        Workspace(repo), repo / ".planloop" / "m", on_progress=lambda *a: seen.append(a)
    ).render("g", 100)
    assert seen[0] == ("repo map: parsing 11 files", 0, 11, False)
    assert seen[1] == ("repo map: parsed 4/11 files", 4, 11, False)
    assert seen[-1][1:] == (11, 11, True) and seen[-1][0].startswith("repo map: parsed 11 files in")


def test_repo_map_tool_for_one_folder(repo: Path) -> None:
    m = rmap(repo)
    box = ToolBox(Workspace(repo), writable=False, repo_map=lambda p: m.render("g", 500, p))
    out = box.call("repo_map", {"path": "svc"})
    assert not out.is_error
    assert "svc/main.go:" in out.content and "pkg/" not in out.content
    assert out.line.startswith("repo_map svc (")
    bad = box.call("repo_map", {"path": "../outside"})
    assert bad.is_error and "outside the workspace" in bad.content
    afile = box.call("repo_map", {"path": "pkg/core.py"})
    assert afile.is_error and "not a folder" in afile.content
    off = ToolBox(Workspace(repo), writable=False).call("repo_map", {})
    assert off.is_error and "not available" in off.content
    assert "repo_map" not in ToolBox(Workspace(repo), writable=False).tool_names


# --- the planner's first request, on the wire ------------------------------------------------

KEY = "sk-ant-api03-REPOMAP-fake-key-0000"
GOAL = "Add a refund to the payment gateway"


def plan_cli(ws: Path, api: StandIn) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env.update(api.env(KEY))
    env["PLANLOOP_MODE"] = "split"  # these scripts were written for the split loop
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    planloop = str(Path(sys.executable).with_name("planloop"))
    return subprocess.run(
        [planloop, "plan", GOAL, "--yes", "--planner", "anthropic:claude-opus-5-5"],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_step_plan() -> dict:
    steps = [
        {
            "id": "refund",
            "title": "Add refund",
            "kind": "edit",
            "instructions": "add refund()",
            "files": ["web/payment_gateway.ts"],
            "acceptance": [
                {"kind": "file_contains", "path": "web/payment_gateway.ts", "pattern": "refund"}
            ],
        }
    ]
    return submit(GOAL, steps)[0]["input"]


@pytest.mark.parametrize("budget", [150, 3000])
def test_planners_first_request_carries_the_map_within_budget(
    repo: Path, standin: StandIn, budget: int
) -> None:
    (repo / "planloop.toml").write_text(f"repo_map_tokens = {budget}\nmodel_retries = 0\n")
    standin.enqueue(
        tool_use_message("repo_map", {"path": "svc"}, usage=tokens(100, 10)),
        tool_use_message("submit_plan", one_step_plan(), usage=tokens(100, 10)),
    )
    res = plan_cli(repo, standin)
    assert res.returncode == 0, res.stdout + res.stderr
    first = standin.requests[0].body
    system = first["system"][0]["text"]
    assert system.startswith("You are the planner")
    assert MAP_INTRO in system
    the_map = system.split(MAP_INTRO, 1)[1].strip("\n")
    assert the_map.splitlines()[0] == "web/payment_gateway.ts:"  # the goal's file first
    assert estimate_tokens(the_map) <= budget
    if budget >= 3000:
        assert "pkg/core.py:" in the_map and "│    1: class Ledger:" in the_map
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}  # the cached prefix
    assert [t["name"] for t in first["tools"]] == [
        "list_files",
        "read_file",
        "search",
        "repo_map",
        "ask_user",  # planner_questions defaults to 3: the planner may ask
        "submit_plan",
    ]
    # the same map on every turn (a cache hit), and the tool's answer for one folder
    second = standin.requests[1].body
    assert second["system"][0]["text"] == system
    assert "svc/main.go:" in json.dumps(second["messages"][-1])


def test_repo_map_off(repo: Path, standin: StandIn) -> None:
    (repo / "planloop.toml").write_text("repo_map_tokens = 0\nmodel_retries = 0\n")
    standin.enqueue(tool_use_message("submit_plan", one_step_plan(), usage=tokens(100, 10)))
    res = plan_cli(repo, standin)
    assert res.returncode == 0, res.stdout + res.stderr
    first = standin.requests[0].body
    assert MAP_INTRO not in first["system"][0]["text"]
    assert "repo_map" not in [t["name"] for t in first["tools"]]
    assert not (repo / ".planloop" / "repomap").exists()


def test_quick_key_in_a_git_repository(repo: Path) -> None:
    """In a git repository an unchanged tree is recognised from git's index checksum
    without listing it; a refreshed index (same contents) falls back to the full
    fingerprint, which still matches; an edit or a new file rebuilds."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=u", "-c", "user.email=u@u", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "one")
    (repo / ".planloop").mkdir()
    (repo / ".planloop" / ".gitignore").write_text("*\n")
    rmap(repo).render("ledger", 500)
    again = rmap(repo)
    again.render("ledger", 500)
    assert again.stats.from_index and again.stats.by_quick_key
    os.utime(repo / "pkg" / "core.py", ns=(1, 1))  # new stat, same content
    git("status", "--porcelain")  # git refreshes (rewrites) its own index
    refreshed = rmap(repo)
    refreshed.render("ledger", 500)
    assert refreshed.stats.from_index and not refreshed.stats.by_quick_key
    assert refreshed.stats.parsed == 0
    after = rmap(repo)
    after.render("ledger", 500)
    assert after.stats.by_quick_key  # the full match vouched for the new checksum
    (repo / "pkg" / "leaf.py").write_text(
        "def lonely():\n    return 1\n\n\ndef tracked_edit():\n    pass\n"
    )
    edited = rmap(repo)
    assert "def tracked_edit():" in edited.render("g", 3000)
    assert not edited.stats.from_index and edited.stats.parsed == 1
    (repo / "pkg" / "fresh.py").write_text("def untracked_one():\n    pass\n")
    fresh = rmap(repo)
    assert "def untracked_one():" in fresh.render("untracked", 3000)
    assert not fresh.stats.from_index
    (repo / "pkg" / "fresh.py").write_text("def untracked_two():\n    pass\n\n\n")
    grown = rmap(repo)
    assert "def untracked_two():" in grown.render("untracked", 3000)
    assert not grown.stats.from_index


def test_a_damaged_index_is_rebuilt_never_an_error(repo: Path) -> None:
    import sqlite3

    first = rmap(repo)
    first.render("ledger", 500)
    first.close()
    db_path = repo / ".planloop" / "repomap" / "map.sqlite"
    db = sqlite3.connect(db_path)
    with db:
        db.execute("UPDATE blobs SET v = ? WHERE k = 'ranks'", (b"\x00" * 8,))  # one rank
    db.close()
    torn = rmap(repo)
    assert "pkg/core.py" in torn.render("ledger", 500)
    assert not torn.stats.from_index and torn.stats.parsed == 0  # tags still cached
    db_path.write_bytes(b"not a database at all" * 50)
    garbage = rmap(repo)
    assert "pkg/core.py" in garbage.render("ledger", 500)
    assert not garbage.stats.from_index
    healed = rmap(repo)
    healed.render("ledger", 500)
    assert healed.stats.from_index  # the rebuild replaced the garbage with a good index

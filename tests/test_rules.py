"""Project rules (rules.py): the project's instruction files reach both roles' requests.

The end-to-end tests drive a real orchestrator whose models talk to the Messages API
stand-in (tests/standin.py) and the Chat Completions stand-in over real HTTP, in a real
git repository, and assert on the recorded requests: which files' text is in each role's
system prompt, that it is the cached prefix and byte-identical across a role's calls,
that the nearest nested AGENTS.md wins per step. The unit tests name each bad input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import dict_sink, step, submit
from planloop.approvals import AutoApprover
from planloop.config import load_config
from planloop.document.markdown import render_markdown
from planloop.document.plan import Plan, Step
from planloop.roles.rules import ProjectRules
from planloop.state.store import PlanStore
from planloop.wiring import build_orchestrator
from planloop.workspace.search import Searcher
from standin import Recorded, StandIn, tool_use_message
from standin_openai import OpenAIStandIn, chat

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
EPHEMERAL = {"type": "ephemeral"}
GOAL = "Touch three files"
ROOT_FILES = {
    "AGENTS.md": "ROOT-AGENTS-RULE: tabs, never spaces\n",
    "CLAUDE.md": "CLAUDE-RULE: run make lint\n",
    ".github/copilot-instructions.md": "COPILOT-RULE: no new dependencies\n",
    ".planloop/rules.md": "PLANLOOP-RULE: keep steps small\n",
}
NESTED = {
    "pkg/a/AGENTS.md": "NESTED-A-RULE\n",
    "pkg/a/deep/AGENTS.md": "NESTED-DEEP-RULE\n",
    # ignored by the project's .gitignore: the listing (git ls-files) leaves it out
    "build/AGENTS.md": "IGNORED-BUILD-RULE\n",
}
ALL_ROOT = ["AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md", ".planloop/rules.md"]


def git(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ws, capture_output=True, text=True, check=False)


def make_repo(tmp: Path, files: dict[str, str | bytes]) -> Path:
    ws = tmp / "repo"
    ws.mkdir()
    assert git(ws, "init", "-q").returncode == 0
    for rel, content in files.items():
        p = ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return ws


def project(tmp: Path) -> Path:
    return make_repo(
        tmp,
        {
            **ROOT_FILES,
            **NESTED,
            ".gitignore": "build/\n",
            "planloop.toml": "workspace_checks = []\nrepo_map_tokens = 0\n",
            "pkg/a/deep/x.py": "x = 1\n",
            "pkg/a/y.py": "y = 1\n",
            "pkg/b/z.py": "z = 1\n",
        },
    )


def contains(path: str, pattern: str) -> dict[str, str]:
    return {"kind": "file_contains", "path": path, "pattern": pattern}


STEPS = [
    step("deep", files=["pkg/a/deep/x.py"], checks=[contains("pkg/a/deep/x.py", "x = 2")]),
    step("near", files=["pkg/a/y.py"], checks=[contains("pkg/a/y.py", "y = 2")], deps=["deep"]),
    step("other", files=["pkg/b/z.py"], checks=[contains("pkg/b/z.py", "z = 2")], deps=["near"]),
]
EDITS = [("pkg/a/deep/x.py", "x = 2\n"), ("pkg/a/y.py", "y = 2\n"), ("pkg/b/z.py", "z = 2\n")]


def system_of(req: Recorded) -> str:
    blocks = req.body["system"]
    assert len(blocks) == 1 and blocks[0]["cache_control"] == EPHEMERAL  # the cached prefix
    text: str = blocks[0]["text"]
    return text


def orchestrate(ws: Path, spec: str, events: list[dict[str, Any]] | None = None, **over: Any):  # type: ignore[no-untyped-def]
    cfg = load_config(ws, {"planner": spec, "executor": spec, **over})
    sink = dict_sink(events.append) if events is not None else None
    return build_orchestrator(ws, config=cfg, approver=AutoApprover(), sink=sink)


# --- both roles, over HTTP ------------------------------------------------------------------


def test_rules_reach_both_roles_inside_the_cached_prefix_and_the_nearest_nested_wins(
    tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = project(tmp_path)
    for k, v in standin.env().items():
        monkeypatch.setenv(k, v)
    standin.enqueue(tool_use_message("submit_plan", submit(GOAL, STEPS)[0]["input"]))
    for path, content in EDITS:
        standin.enqueue(
            tool_use_message("write_file", {"path": path, "content": content}),
            tool_use_message("report_outcome", {"ok": True, "summary": f"edited {path}"}),
        )
    orch = orchestrate(ws, "anthropic:claude-sonnet-5-5")
    plan = orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done", res
    assert standin.pending == 0

    reqs = standin.requests
    planner, executor = reqs[:1], reqs[1:]
    assert len(executor) == 6
    # the planner: every root file's text, the nested files by path only
    p_sys = system_of(planner[0])
    assert p_sys.startswith("You are the planner")
    for text in ROOT_FILES.values():
        assert text.strip() in p_sys
    assert "pkg/a/AGENTS.md" in p_sys and "pkg/a/deep/AGENTS.md" in p_sys
    assert "NESTED-A-RULE" not in p_sys and "NESTED-DEEP-RULE" not in p_sys
    assert "IGNORED-BUILD-RULE" not in p_sys and "build/AGENTS.md" not in p_sys

    # the executor: root files always, plus the nearest nested AGENTS.md of its step's files
    systems = [system_of(r) for r in executor]
    for s in systems:
        assert s.startswith("You are the executor")
        for text in ROOT_FILES.values():
            assert text.strip() in s
        assert "IGNORED-BUILD-RULE" not in s
    deep, near, other = systems[0], systems[2], systems[4]
    assert "NESTED-DEEP-RULE" in deep and "NESTED-A-RULE" not in deep  # nearest wins
    assert "NESTED-A-RULE" in near and "NESTED-DEEP-RULE" not in near
    assert "NESTED-A-RULE" not in other and "NESTED-DEEP-RULE" not in other
    # byte-identical across the turns of a step (so the prefix is a cache hit)
    assert systems[0] == systems[1] and systems[2] == systems[3] and systems[4] == systems[5]
    assert [r.body["cache_control"] for r in reqs] == [EPHEMERAL] * len(reqs)

    # the plan names the files it followed; the document and the stored plan.md say so
    followed = [*ALL_ROOT, "pkg/a/deep/AGENTS.md", "pkg/a/AGENTS.md"]
    assert plan.rules_followed == followed
    line = "**Rules followed:** " + ", ".join(followed)
    assert line in render_markdown(plan)
    stored = PlanStore(ws).load()
    assert stored.plan.rules_followed == followed
    assert line in (PlanStore(ws).plan_dir(plan.plan_id) / "plan.md").read_text()


def test_rules_reach_both_roles_through_the_openai_adapter(
    tmp_path: Path, openai_standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = project(tmp_path)
    for k, v in openai_standin.env().items():
        monkeypatch.setenv(k, v)
    api = openai_standin
    api.enqueue(chat(calls=[("submit_plan", submit(GOAL, STEPS[:1])[0]["input"])]))
    api.enqueue(
        chat(calls=[("write_file", {"path": EDITS[0][0], "content": EDITS[0][1]})]),
        chat(calls=[("report_outcome", {"ok": True, "summary": "edited"})]),
    )
    orch = orchestrate(ws, "openai:gpt-4.1")
    orch.create_plan(GOAL)
    assert orch.run(all_steps=True).state == "done"
    firsts = [r.body["messages"][0] for r in api.requests]
    assert [m["role"] for m in firsts] == ["system"] * 3
    planner, executor = firsts[0]["content"], firsts[1]["content"]
    assert planner.startswith("You are the planner") and "ROOT-AGENTS-RULE" in planner
    assert executor.startswith("You are the executor") and "ROOT-AGENTS-RULE" in executor
    assert "NESTED-DEEP-RULE" in executor and "NESTED-DEEP-RULE" not in planner
    assert firsts[1] == firsts[2]


def test_status_shows_the_rules_followed(tmp_path: Path, standin: StandIn) -> None:
    ws = project(tmp_path)
    standin.enqueue(tool_use_message("submit_plan", submit(GOAL, STEPS)[0]["input"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env.update(standin.env(), PLANLOOP_MODE="split", COLUMNS="300")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PLANLOOP, *args, "--planner", "anthropic:claude-sonnet-5-5"],
            cwd=ws,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    made = cli("plan", GOAL)
    assert made.returncode == 0, made.stdout + made.stderr
    followed = [*ALL_ROOT, "pkg/a/deep/AGENTS.md", "pkg/a/AGENTS.md"]
    shown = cli("status")
    assert shown.returncode == 0, shown.stderr
    assert "rules followed: " + ", ".join(followed) in shown.stdout
    data = json.loads(cli("status", "--json").stdout)
    assert data["rules_followed"] == followed
    md = cli("show", "--md").stdout
    assert "**Rules followed:** " + ", ".join(followed) in md


def test_a_plan_with_no_instruction_files_says_nothing_about_rules(tmp_path: Path) -> None:
    plan = Plan(goal="g", steps=[Step(**step("a"))])
    assert "Rules followed" not in render_markdown(plan)
    ws = make_repo(tmp_path, {"a.py": "a\n"})
    rules = ProjectRules(ws, list_files=Searcher(ws).list_files)
    assert rules.for_planner() == "" and rules.for_step(plan.steps[0]) == ""
    assert rules.followed(plan) == [] and rules.warnings == []


# --- the cap and bad input ------------------------------------------------------------------


def rules_for(ws: Path, max_bytes: int = 32_000) -> tuple[ProjectRules, list[tuple[str, str]]]:
    told: list[tuple[str, str]] = []
    rules = ProjectRules(
        ws,
        list_files=Searcher(ws).list_files,
        max_bytes=max_bytes,
        warn=lambda path, msg: told.append((path, msg)),
    )
    return rules, told


def test_the_cap_is_shared_in_order_and_each_cut_is_named_with_its_sizes(tmp_path: Path) -> None:
    ws = make_repo(
        tmp_path,
        {"AGENTS.md": "A" * 100, "CLAUDE.md": "C" * 200, ".planloop/rules.md": "P" * 10},
    )
    rules, told = rules_for(ws, max_bytes=150)
    block = rules.for_planner()
    assert "A" * 100 in block and "C" * 50 in block and "C" * 51 not in block
    assert "P" not in block.replace("PLANLOOP", "").replace("Project", "")
    assert told[0][0] == "CLAUDE.md"
    assert "200 bytes" in told[0][1] and "first 50 bytes" in told[0][1]
    assert "rules_max_bytes = 150" in told[0][1]
    assert told[1][0] == ".planloop/rules.md" and "left out" in told[1][1]
    assert '<rules file="CLAUDE.md" (cut: first 50 of 200 bytes)>' in block
    # read once: a second render is the same bytes and warns no more
    assert rules.for_planner() == block and len(told) == 2


def test_nested_rules_get_what_the_root_files_left_of_the_cap(tmp_path: Path) -> None:
    ws = make_repo(tmp_path, {"AGENTS.md": "R" * 60, "src/AGENTS.md": "N" * 100, "src/m.py": ""})
    rules, told = rules_for(ws, max_bytes=100)
    block = rules.for_step(Step(**step("s", files=["src/m.py"])))
    assert "N" * 40 in block and "N" * 41 not in block
    assert told == [
        (
            "src/AGENTS.md",
            "project rules: src/AGENTS.md is 100 bytes; cut to its first 40 bytes "
            "(rules_max_bytes = 100 for all rule files together)",
        )
    ]


def test_a_5_mb_agents_md_is_cut_to_the_cap_with_a_warning(
    tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = "".join(f"- rule line number {n:07d}\n" for n in range(5 * 1024 * 1024 // 26))
    assert len(big) > 5_000_000
    ws = project(tmp_path)
    (ws / "AGENTS.md").write_text(big)
    for k, v in standin.env().items():
        monkeypatch.setenv(k, v)
    standin.enqueue(tool_use_message("submit_plan", submit(GOAL, STEPS[:1])[0]["input"]))
    events: list[dict[str, Any]] = []
    plan = orchestrate(
        ws, "anthropic:claude-sonnet-5-5", events, rules_max_bytes=20_000
    ).create_plan(GOAL)
    system = system_of(standin.requests[0])
    assert len(system.encode()) < 30_000  # the base prompt + 20,000 bytes of rules, not 5 MB
    assert big[:19_000] in system
    warned = [(e["path"], e["message"]) for e in events if e["type"] == "rules_warning"]
    assert warned[0][0] == "AGENTS.md"
    assert f"AGENTS.md is {len(big)} bytes; cut to its first 20000 bytes" in warned[0][1]
    # the files after it did not fit: left out, each named, and not claimed as followed
    # (".": the planner's list of nested paths, which had no room either)
    assert [p for p, _ in warned[1:]] == [*ALL_ROOT[1:], ".", "pkg/a/deep/AGENTS.md"]
    assert all("left out" in m for _, m in warned[1:])
    assert "CLAUDE-RULE" not in system
    assert plan.rules_followed == ["AGENTS.md"]


def test_agents_md_that_is_not_utf8_is_decoded_with_replacement_and_named(tmp_path: Path) -> None:
    ws = make_repo(tmp_path, {"AGENTS.md": b"RULE-\xff\xfe-END\n"})
    rules, told = rules_for(ws)
    block = rules.for_planner()
    assert "RULE-\ufffd\ufffd-END" in block
    assert told == [
        (
            "AGENTS.md",
            "project rules: AGENTS.md is not UTF-8 (byte 6); decoded with replacement characters",
        )
    ]


def test_a_cut_inside_a_character_is_not_reported_as_bad_utf8(tmp_path: Path) -> None:
    ws = make_repo(tmp_path, {"AGENTS.md": "é" * 100})  # two bytes each
    rules, told = rules_for(ws, max_bytes=51)
    block = rules.for_planner()
    assert "é" * 25 in block and "é" * 26 not in block and "\ufffd" not in block
    assert len(told) == 1 and "cut to its first 51 bytes" in told[0][1]


def test_a_directory_named_agents_md_is_skipped_with_a_warning(tmp_path: Path) -> None:
    ws = make_repo(
        tmp_path,
        {"AGENTS.md/notes.txt": "not rules", "CLAUDE.md": "CLAUDE-RULE", "pkg/AGENTS.md/f": "x"},
    )
    rules, told = rules_for(ws)
    block = rules.for_planner()
    assert "CLAUDE-RULE" in block and "not rules" not in block
    assert told == [("AGENTS.md", "project rules: AGENTS.md is a directory, not a file; skipped")]
    assert rules.nested_paths() == []  # pkg/AGENTS.md/f is a file *in* such a directory


def _write_only_sysfs_file() -> Path | None:
    """A file even root cannot read (a write-only sysfs attribute), where there is one."""
    for pattern in ("class/*/*", "bus/*/*", "kernel/*"):
        for p in sorted(Path("/sys").glob(pattern)):
            try:
                if p.is_file() and p.stat().st_mode & 0o777 == 0o200 and p.stat().st_size > 0:
                    return p
            except OSError:
                continue
    return None


def test_an_unreadable_agents_md_is_skipped_with_a_warning(tmp_path: Path) -> None:
    ws = make_repo(tmp_path, {"AGENTS.md": "secret", "CLAUDE.md": "CLAUDE-RULE"})
    if os.geteuid() == 0:  # root reads a file whatever its mode: point it at one it cannot
        target = _write_only_sysfs_file()
        if target is None:
            pytest.skip("root, and no write-only sysfs file to stand for an unreadable one")
        (ws / "AGENTS.md").unlink()
        (ws / "AGENTS.md").symlink_to(target)
    else:
        (ws / "AGENTS.md").chmod(0)
    rules, told = rules_for(ws)
    assert "CLAUDE-RULE" in rules.for_planner()
    assert told[0][0] == "AGENTS.md" and "cannot be read" in told[0][1]


def test_nested_files_come_from_the_listing_and_the_nearest_folder_wins(tmp_path: Path) -> None:
    ws = make_repo(
        tmp_path,
        {
            ".gitignore": "vendor/\n",
            "a/AGENTS.md": "A",
            "a/b/AGENTS.md": "AB",
            "a/b/c/d.py": "",
            "vendor/AGENTS.md": "V",
            "vendor/lib.py": "",
        },
    )
    rules, _ = rules_for(ws)
    assert rules.nested_paths() == ["a/AGENTS.md", "a/b/AGENTS.md"]
    assert rules.nearest(["a/b/c/d.py"]) == ["a/b/AGENTS.md"]
    assert rules.nearest(["a/x.py", "a/b/y.py", "top.py"]) == ["a/AGENTS.md", "a/b/AGENTS.md"]
    assert rules.nearest(["vendor/lib.py"]) == []  # ignored by git: not the project's rules


def test_rules_max_bytes_0_turns_the_rules_off(tmp_path: Path) -> None:
    ws = make_repo(tmp_path, {"AGENTS.md": "ROOT", "a/AGENTS.md": "A", "a/x.py": ""})
    rules, told = rules_for(ws, max_bytes=0)
    assert rules.for_planner() == "" and rules.for_step(Step(**step("s", files=["a/x.py"]))) == ""
    assert told == []


def test_a_long_lived_session_reads_an_edited_agents_md_at_its_next_plan_and_run(
    tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The language server keeps one orchestrator per folder for its whole life: the rules
    are read again as each plan or run starts, not once per process."""
    ws = project(tmp_path)
    for k, v in standin.env().items():
        monkeypatch.setenv(k, v)
    plan_msg = tool_use_message("submit_plan", submit(GOAL, STEPS[:1])[0]["input"])
    standin.enqueue(plan_msg, plan_msg)
    orch = orchestrate(ws, "anthropic:claude-sonnet-5-5")
    orch.create_plan(GOAL)
    (ws / "AGENTS.md").write_text("EDITED-ROOT-RULE\n")
    (ws / "pkg/a/deep/AGENTS.md").write_text("EDITED-DEEP-RULE\n")
    orch.create_plan(GOAL)
    (ws / "AGENTS.md").write_text("RUN-TIME-ROOT-RULE\n")
    standin.enqueue(
        tool_use_message("write_file", {"path": EDITS[0][0], "content": EDITS[0][1]}),
        tool_use_message("report_outcome", {"ok": True, "summary": "edited"}),
    )
    assert orch.run(all_steps=True).state == "done"
    first, second, *executor = [system_of(r) for r in standin.requests]
    assert "ROOT-AGENTS-RULE" in first and "EDITED-ROOT-RULE" not in first
    assert "EDITED-ROOT-RULE" in second and "ROOT-AGENTS-RULE" not in second
    assert len(executor) == 2 and executor[0] == executor[1]  # one run: the same bytes
    assert "RUN-TIME-ROOT-RULE" in executor[0] and "EDITED-DEEP-RULE" in executor[0]
    assert "EDITED-ROOT-RULE" not in executor[0] and "NESTED-DEEP-RULE" not in executor[0]


def test_a_monorepos_many_nested_paths_share_the_planners_cap(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"AGENTS.md": "R" * 50}
    files.update({f"pkg{n:03d}/AGENTS.md": "N" for n in range(200)})
    ws = make_repo(tmp_path, files)
    rules, told = rules_for(ws, max_bytes=500)
    block = rules.for_planner()
    shown = (500 - 50) // len("pkg000/AGENTS.md, ")
    assert f"pkg{shown - 1:03d}/AGENTS.md" in block and f"pkg{shown:03d}/AGENTS.md" not in block
    assert f"… and {200 - shown} more" in block
    assert rules.for_planner() == block  # the same bytes on every call, warned once
    assert told == [
        (
            ".",
            f"project rules: 200 nested AGENTS.md files; the planner is shown {shown} of "
            "their paths, the rest left out (rules_max_bytes = 500)",
        )
    ]
    # a step still gets its own nearest file, whichever the planner was shown
    assert "pkg199/AGENTS.md" in rules.followed(
        Plan(goal="g", steps=[Step(**step("s", files=["pkg199/m.py"]))])
    )


def test_a_step_asks_only_the_folders_above_its_files_not_the_whole_listing(
    tmp_path: Path,
) -> None:
    """A run on a 100k-file tree must not list every file to find a step's AGENTS.md: it
    asks about the folders above the step's files, and an ignored folder's file stays out
    as it does from the full listing."""
    ws = make_repo(
        tmp_path,
        {
            ".gitignore": "build/\n",
            "pkg/AGENTS.md": "pkg rules\n",
            "pkg/a/deep/AGENTS.md": "deep rules\n",
            "pkg/a/deep/x.py": "x\n",
            "pkg/b/y.py": "y\n",
            "other/z.py": "z\n",
        },
    )
    (ws / "build").mkdir()
    (ws / "build" / "AGENTS.md").write_text("ignored rules\n")
    (ws / "build" / "out.py").write_text("o\n")
    asked: list[str] = []
    searcher = Searcher(ws)

    def listing(rel: str) -> list[str]:
        asked.append(rel)
        return searcher.list_files(rel)

    rules = ProjectRules(ws, list_files=listing)
    got = rules.nearest(["pkg/a/deep/x.py", "pkg/b/y.py", "build/out.py", "other/z.py"])
    assert got == ["pkg/AGENTS.md", "pkg/a/deep/AGENTS.md"]
    assert "." not in asked and set(asked) <= {
        "pkg/AGENTS.md",
        "pkg/a/deep/AGENTS.md",
        "build/AGENTS.md",
    }
    # the planner's full listing, once wanted, answers the same
    assert rules.nested_paths() == ["pkg/AGENTS.md", "pkg/a/deep/AGENTS.md"]
    assert rules.nearest(["pkg/a/deep/x.py", "pkg/b/y.py", "build/out.py"]) == got

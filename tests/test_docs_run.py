"""The docs' command blocks, run as a reader follows them (the convention: tests/doc_runner.py).

Each doc gets one fresh folder, run block after block like a terminal session. Where a
doc shows a real provider, a stand-in on 127.0.0.1 answers in its place — the Messages
API stand-in (tests/standin.py) for ``anthropic:``, the Chat Completions one
(tests/standin_openai.py) for ``ollama:`` — through the real SDKs, with replies queued
here in the order the doc's commands make their calls; the output then shows the real
endpoint the stand-in stands for. What each doc's folder holds before its first block
(the project its ``cd your-project`` enters) is in :data:`SETUPS`, below.

A changed command, exit status or shown output fails the block's test, named
``<doc>:<line of the fence>``.

Adding a block to a covered doc: if its commands call a model, queue the replies in that
doc's setup (:data:`SETUPS`), in the order the page's commands make their calls (the
blocks above it come first); a block that calls none needs nothing here. A command that
serves until its client hangs up (``planloop serve``, a stdio MCP or ACP server) belongs
in a client's config (a ``json``/``toml`` block) or under the "Not tested as written"
line; run from here it would read an empty stdin and exit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from doc_runner import Block, Session, blocks, check_block, commands, matches, normalise
from planloop.cli import main
from planloop.eval.tasks import starter_dir
from standin import StandIn, message, tokens, tool_use_message
from standin_openai import OpenAIStandIn, chat, usage

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "models.md",
    ROOT / "docs" / "eval.md",
    *sorted((ROOT / "docs" / "editors").glob("*.md")),
]
ALL = [b for doc in DOCS for b in blocks(doc) if b.is_command]
RUN = [b for b in ALL if b.untested is None]
MARKED = [b for b in ALL if b.untested is not None]

ANTHROPIC = "https://api.anthropic.com"
OLLAMA = "http://localhost:11434/v1"


# -- the project a doc's `cd your-project` enters ---------------------------------------------

EXPORT_PY = '''"""export: print the rows given, as CSV."""
import argparse
import csv
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="export")
    parser.add_argument("rows", nargs="*")
    args = parser.parse_args(argv)
    writer = csv.writer(sys.stdout)
    for row in args.rows:
        writer.writerow([row])


if __name__ == "__main__":
    main()
'''
EXPORT_JSON_PY = EXPORT_PY.replace(
    '    parser.add_argument("rows", nargs="*")\n',
    '    parser.add_argument("rows", nargs="*")\n    parser.add_argument("--json", action="store_true")\n',
).replace(
    "    writer = csv.writer",
    "    if args.json:\n        import json\n        print(json.dumps(args.rows))\n        return\n    writer = csv.writer",
)


def your_project(parent: Path, settings: str = "") -> Path:
    """A small git project with an export command (the README's running example)."""
    ws = parent / "your-project"
    ws.mkdir()
    (ws / "export.py").write_text(EXPORT_PY)
    if settings:
        (ws / "planloop.toml").write_text(settings)
    git = ["git", "-c", "user.name=you", "-c", "user.email=you@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    subprocess.run([*git, "add", "-A"], cwd=ws, check=True)
    subprocess.run([*git, "commit", "-qm", "export"], cwd=ws, check=True)
    return ws


def step(sid: str, title: str, path: str, pattern: str) -> dict[str, Any]:
    return {
        "id": sid,
        "title": title,
        "kind": "edit",
        "instructions": title,
        "files": [path],
        "acceptance": [{"kind": "file_contains", "path": path, "pattern": pattern}],
    }


ADD_FLAG = step("add-flag", "Add --json to export", "export.py", "--json")
DOCS_STEP = step("docs", "Say so in README.md", "README.md", "--json")
GOAL = "Add a --json flag to the export command"


def script_replies(path: Path) -> list[dict[str, Any]]:
    """A scripted model file's turns (planner's, then executor's) as Messages replies:
    the order a plan-then-run makes its calls."""
    data = json.loads(path.read_text())
    replies = []
    for role in ("planner", "executor"):
        for turn in data.get(role, []):
            turn = {"content": turn} if isinstance(turn, list) else turn
            content = [
                {**b, "id": b.get("id", f"toolu_doc_{role}_{n}")} if b["type"] == "tool_use" else b
                for n, b in enumerate(turn["content"])
            ]
            stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
            replies.append(message(content, stop_reason=stop, usage=tokens(**_usage(turn))))
    return replies


def _usage(turn: dict[str, Any]) -> dict[str, int]:
    u = turn.get("usage", {})
    return {"input_tokens": u.get("input_tokens", 10), "output_tokens": u.get("output_tokens", 5)}


def my_tasks(parent: Path) -> None:
    """``my-tasks/``: one task of the starter set, without its scripts (a real model's job)."""
    task = parent / "my-tasks" / "py-fix-add"
    shutil.copytree(starter_dir() / "py-fix-add", task, ignore=shutil.ignore_patterns("scripts"))
    (task / "task.toml").write_text((task / "task.toml").read_text().split("[scripted]")[0])


def setup_readme(home: Path, anthropic: StandIn, openai: OpenAIStandIn) -> None:
    ws = your_project(home, 'mode = "split"\nworkspace_checks = []\n')
    (ws / "README.md").write_text("# export\n")
    ping = tool_use_message("report_ping", {"ok": True})
    anthropic.enqueue(
        # plan, run --all, replan, doctor
        tool_use_message("submit_plan", {"goal": GOAL, "steps": [ADD_FLAG]}),
        tool_use_message("write_file", {"path": "export.py", "content": EXPORT_JSON_PY}),
        tool_use_message("report_outcome", {"ok": True, "summary": "added --json"}),
        tool_use_message("submit_plan", {"goal": GOAL, "steps": [ADD_FLAG, DOCS_STEP]}),
        ping,
        ping,
        # the clarifying question, then the plan after the answer
        tool_use_message(
            "ask_user",
            {"question": "Round half up or half to even?", "options": ["half up", "half to even"]},
        ),
        tool_use_message(
            "submit_plan",
            {
                "goal": "Add a rounding helper",
                "steps": [step("round", "Add round_half()", "export.py", "def round_half")],
            },
        ),
    )


def setup_models(home: Path, anthropic: StandIn, openai: OpenAIStandIn) -> None:
    your_project(home)
    ping = chat(calls=[("report_ping", {"ok": True})])
    changes = step("changes", "Write CHANGES.md", "CHANGES.md", "json")
    anthropic.enqueue(
        # the doctor transcript: one call, 412 tokens
        tool_use_message("report_ping", {"ok": True}, usage=tokens(400, 12)),
        # hosted planner: doctor, then plan
        tool_use_message("report_ping", {"ok": True}),
        tool_use_message("submit_plan", {"goal": "…", "steps": [changes]}),
    )
    openai.enqueue(
        # the Ollama setup: doctor (both roles), plan, a joint run of its one step
        ping,
        ping,
        chat(calls=[("submit_plan", {"goal": GOAL, "steps": [ADD_FLAG]})]),
        chat(calls=[("write_file", {"path": "export.py", "content": EXPORT_JSON_PY})]),
        chat(calls=[("report_outcome", {"ok": True, "summary": "added --json"})], use=usage()),
        # hosted planner, local executor: doctor's executor, then the joint run
        ping,
        chat(calls=[("write_file", {"path": "CHANGES.md", "content": "export --json\n"})]),
        chat(calls=[("report_outcome", {"ok": True, "summary": "wrote CHANGES.md"})]),
    )


def setup_eval(home: Path, anthropic: StandIn, openai: OpenAIStandIn) -> None:
    my_tasks(home)
    # eval --record: one task of the starter set, as its scripts play it
    anthropic.enqueue(*script_replies(starter_dir() / "py-fix-add" / "scripts" / "auto.json"))


def setup_nothing(home: Path, anthropic: StandIn, openai: OpenAIStandIn) -> None:
    """The editor pages: nothing runs before their blocks."""


#: doc → what its folder holds and its stand-ins are queued with before its first block
SETUPS: dict[str, Callable[[Path, StandIn, OpenAIStandIn], None]] = {
    "README.md": setup_readme,
    "models.md": setup_models,
    "eval.md": setup_eval,
}


#: (doc, text in a block) → the environment from that block on: models.md's Ollama server
#: is a stand-in from the block where the doc starts it (before it, as in the doctor
#: transcript, nothing answers at Ollama's URL)
FROM_BLOCK: dict[tuple[str, str], Callable[[StandIn, OpenAIStandIn], dict[str, str]]] = {
    ("models.md", 'planner = "ollama:qwen3"'): lambda a, o: {"OLLAMA_BASE_URL": o.base_url},
}


# -- sessions ----------------------------------------------------------------------------------


def planloop_shim(bin_dir: Path) -> None:
    """``planloop`` on PATH for the commands bash runs: this checkout's code."""
    bin_dir.mkdir()
    shim = bin_dir / "planloop"
    shim.write_text(
        f"#!/bin/sh\nPYTHONPATH={ROOT / 'server'}${{PYTHONPATH:+:$PYTHONPATH}} exec "
        f'{sys.executable} -c "import sys; from planloop.cli import main; sys.exit(main())" "$@"\n'
    )
    shim.chmod(0o755)


class Sessions:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.open: dict[Path, tuple[Session, StandIn, OpenAIStandIn]] = {}

    def get(self, doc: Path) -> Session:
        if doc not in self.open:
            home = self.tmp / doc.stem
            home.mkdir()
            planloop_shim(home / ".bin")
            anthropic = StandIn().start()
            openai = OpenAIStandIn().start()
            SETUPS.get(doc.name, setup_nothing)(home, anthropic, openai)
            env = {
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "PATH": os.pathsep.join(
                    [str(home / ".bin"), os.path.dirname(sys.executable), "/usr/bin", "/bin"]
                ),
                "LANG": "C.UTF-8",
                "USER": "you",
                "EDITOR": "true",  # an editor that saves nothing: `planloop edit` → no change
                "NO_COLOR": "1",
                "COLUMNS": "200",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the tasks' checks run pytest
                "GIT_AUTHOR_NAME": "you",
                "GIT_AUTHOR_EMAIL": "you@example.com",
                "GIT_COMMITTER_NAME": "you",
                "GIT_COMMITTER_EMAIL": "you@example.com",
                "ANTHROPIC_BASE_URL": anthropic.base_url,
                "ANTHROPIC_API_KEY": "sk-ant-doc-test-key",
            }
            if "PYTHONPATH" in os.environ:
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            session = Session(
                cwd=home,
                env=env,
                replacements={
                    anthropic.base_url: ANTHROPIC,
                    openai.base_url: OLLAMA,
                    str(home): "~",
                },
                main=main,
            )
            self.open[doc] = (session, anthropic, openai)
        return self.open[doc][0]

    def before(self, block: Block) -> Session:
        """The doc's session, with what changes from this block on (:data:`FROM_BLOCK`)."""
        session = self.get(block.path)
        _, anthropic, openai = self.open[block.path]
        for (doc, snippet), change in FROM_BLOCK.items():
            if doc == block.path.name and snippet in block.text:
                session.env.update(change(anthropic, openai))
        return session

    def close(self) -> None:
        for _, anthropic, openai in self.open.values():
            anthropic.stop()
            openai.stop()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sessions]:
    s = Sessions(tmp_path_factory.mktemp("docs"))
    yield s
    s.close()


def block_id(b: Block) -> str:
    return b.name(ROOT)


@pytest.mark.parametrize("block", RUN, ids=block_id)
def test_doc_block_works_as_written(block: Block, sessions: Sessions) -> None:
    check_block(sessions.before(block), block)


def test_every_command_block_runs_or_says_why_not() -> None:
    """The count the runner covers, and each untested block's reason, said to readers."""
    assert len(RUN) + len(MARKED) == len(ALL) and RUN
    for b in MARKED:
        assert len(b.untested.split()) >= 4, f"{block_id(b)}: say why it is not tested"  # type: ignore[union-attr]
    for b in RUN:
        assert commands(b), f"{block_id(b)} is a command block without a command"


def test_the_runner_fails_a_changed_output_or_exit_status(tmp_path: Path) -> None:
    """The runner itself: a doc whose output or exit status no longer holds fails."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```\n$ planloop --version\nplanloop 0.0.0\n```\n\n"
        "```\nplanloop status   # exit 3\n```\n\n"
        "```\n$ echo one; echo two; echo three\none\n…\nthree\n```\n\n"
        "*Not tested as written: it needs nothing, and is a test of the marker.*\n\n"
        "```sh\nfalse\n```\n"
    )
    found = blocks(doc)
    assert [b.untested is None for b in found] == [True, True, True, False]
    session = Session(cwd=tmp_path, env=dict(os.environ), main=main)
    with pytest.raises(AssertionError, match="the output differs"):
        check_block(session, found[0])
    with pytest.raises(AssertionError, match="exited 1, the doc says 3"):
        check_block(session, found[1])
    check_block(session, found[2])
    assert matches(["a", "…"], ["a", "b", "c"]) and not matches(["a"], ["a", "b"])
    assert (
        normalise("took 1.84s at 12:03:44 in pln_0123abcd")
        == "took <duration> at <time> in pln_<id>"
    )


SETTINGS_BLOCKS = [
    b
    for doc in (ROOT / "README.md", ROOT / "docs" / "models.md")
    for b in blocks(doc)
    if b.lang == "toml"
]


@pytest.mark.parametrize("block", SETTINGS_BLOCKS, ids=block_id)
def test_doc_planloop_toml_is_read_as_written(block: Block, tmp_path: Path) -> None:
    """A `planloop.toml` shown in README.md or models.md is a file planloop reads: every
    key known, every value valid (a trusted folder, so the trust-only keys count too)."""
    from planloop.config import load_settings

    (tmp_path / "planloop.toml").write_text(block.text + "\n")
    settings = load_settings(tmp_path, {}, trusted=True)
    assert settings.config.planner.startswith("anthropic:")

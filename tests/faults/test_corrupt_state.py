"""Every file a real run leaves under ``.planloop/``, damaged every way, against every command.

One real run (plan → run → re-plan → run, scripted models, real git) is built once; each
case copies it, damages one file — truncated, emptied, filled with binary, given valid
JSON of the wrong shape, or deleted — and runs every CLI command on it in turn, as a
user trying to find out what happened would. After each command: no traceback, a
documented exit code, a failure in one ``error:`` line (or a run's one state line), the
damaged file left as it was when the command failed, and the user's files
byte-identical unless the command is one that changes them (run, revert, approve,
replan, plan) and it succeeded. Some pairs must fail and name the file; those are
listed in ``MUST_NAME``. The language server gets a set of damaged folders at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from faultkit import GOAL, Result, cli, snapshot_tree
from pygls.exceptions import JsonRpcException

from planloop.lsp.rpc_errors import CODES

MODES = ["truncated", "emptied", "binary", "wrong_schema", "deleted"]
BINARY = bytes(range(256))[::-1] * 4
WRONG_SHAPE = b'{"unexpected": [1, 2, 3], "steps": "none"}\n'

#: target name -> path under .planloop/ ({pid} is the plan's id, {obj} a loose object)
TARGETS = {
    "gitignore": ".gitignore",
    "current": "current",
    "run.json": "plans/{pid}/run.json",
    "v1.json": "plans/{pid}/v1.json",
    "v2.json": "plans/{pid}/v2.json",
    "plan.md": "plans/{pid}/plan.md",
    "plan document": "plan.md",
    "plan document fingerprint": "plan.md.sha256",
    "log.jsonl": "plans/{pid}/log.jsonl",
    "run.lock": "run.lock",
    "scripted-state": "scripted-state.json",
    "shadow HEAD": "shadow.git/HEAD",
    "shadow config": "shadow.git/config",
    "shadow index": "shadow.git/index",
    "shadow sharedindex": "shadow.git/sharedindex.*",
    "shadow attributes": "shadow.git/info/attributes",
    "shadow exclude": "shadow.git/info/exclude",
    "shadow state": "shadow.git/planloop-state.json",
    "shadow lock": "shadow.git/planloop.lock",
    "checkpoint ref": "shadow.git/refs/planloop/{pid}/square/1/after",
    "checkpoint object": "{obj}",
    "repo map cache": "repomap/map.sqlite",
    "pending question": "question.json",
}

#: commands in the order a user might try them; the last ones may change things
COMMANDS: list[tuple[str, ...]] = [
    ("status",),
    ("show", "--json"),
    ("show", "--version", "1"),
    ("log",),
    ("diff", "square"),
    ("cat", "square", "calculator/calc.py"),
    ("approve",),
    ("revert", "square"),
    ("replan", "--reason", "again", "--yes"),
    ("run", "--all", "--yes"),
    ("clean",),
    ("answer", "half up", "--yes"),
    ("plan", GOAL, "--yes"),
]
#: the last command that only reads
READERS_END = ("cat", "square", "calculator/calc.py")
#: the commands whose job is to change the workspace (when they succeed)
ACTING = {"approve", "revert", "replan", "run", "plan", "answer"}
#: what each command may exit with (README: 0 done, 1 error, 3 waiting, 4 stopped)
EXITS = {
    "revert": {0, 1, 4},
    "run": {0, 1, 3, 4},
    "replan": {0, 1, 3, 4},
    "approve": {0, 1, 3, 4},
    "answer": {0, 1, 3},
}

#: (target, command) pairs that must fail naming the damaged file, for every mode but
#: those listed as harmless
RECORD_READERS = ["status", "show", "diff", "cat", "revert", "run", "replan", "approve", "clean"]
MUST_NAME: dict[tuple[str, str], set[str]] = {
    **{("run.json", c): set(MODES) for c in RECORD_READERS},
    **{
        ("current", c): {"truncated", "emptied", "binary", "wrong_schema"}
        for c in [*RECORD_READERS, "log", "plan"]
    },
    ("v1.json", "show --version 1"): set(MODES),
    ("pending question", "answer"): {"truncated", "emptied", "binary", "wrong_schema"},
}
#: (target) whose damage every command reports as a warning ("*\n" truncated is "*": fine)
WARNS = {"gitignore": {"emptied", "binary", "wrong_schema", "deleted"}}
#: planloop's own caches, rebuilt from the record or the settings: rewriting them is repair
DERIVED = {
    "plan.md",
    "plan document",
    "plan document fingerprint",
    "run.lock",
    "shadow index",
    "shadow sharedindex",
    "shadow exclude",
    "shadow state",
    "shadow attributes",
    "shadow lock",
    "repo map cache",
}
#: only ever appended to: what was there stays, byte for byte, in front
APPEND_ONLY = {"log.jsonl"}
#: files nothing decides on (caches, locks, the log, the rendering): the commands that
#: act get the two extremes, binary and deleted; the readers get every mode. This keeps
#: the matrix near half a minute; everything a decision reads gets every mode everywhere.
ACT_MODES = {t: {"binary", "deleted"} for t in (*DERIVED, "log.jsonl", "gitignore")}


def resolve(ws: Path, target: str) -> Path:
    pl = ws / ".planloop"
    pid = (pl / "current").read_text().strip()
    pattern = TARGETS[target].replace("{pid}", pid)
    if pattern == "{obj}":
        ref = pl / "shadow.git" / "refs" / "planloop" / pid / "square" / "1" / "after"
        sha = ref.read_text().strip()
        return pl / "shadow.git" / "objects" / sha[:2] / sha[2:]
    if "*" in pattern:
        found = sorted(pl.glob(pattern))
        assert found, pattern
        return found[0]
    return pl / pattern


def damage(path: Path, mode: str) -> bytes | None:
    """Damage ``path``; the bytes it now holds (None: deleted)."""
    data = path.read_bytes()
    os.chmod(path, 0o644)  # git objects are read-only
    new = {
        "truncated": data[: len(data) // 2],
        "emptied": b"",
        "binary": BINARY,
        "wrong_schema": WRONG_SHAPE,
        "deleted": None,
    }[mode]
    if new is None:
        path.unlink()
    else:
        path.write_bytes(new)
    return new


def state_of(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def check(res: Result, args: tuple[str, ...], target: str, mode: str, damaged: Path) -> None:
    name = args[0]
    label = " ".join(args) if args[:2] == ("show", "--version") else name
    where = f"{target}/{mode}: planloop {' '.join(args)} → {res.code}\n{res.text}"
    assert "Traceback" not in res.text and "internal error" not in res.text, where
    assert res.code in EXITS.get(name, {0, 1}), where
    errors = [line for line in res.err.splitlines() if line.startswith("error:")]
    stray = [
        line
        for line in res.err.splitlines()
        if line.strip() and not line.startswith(("error:", "warning:"))
    ]
    assert not stray, where
    if res.code != 0 and name not in ("run", "replan", "approve", "revert"):
        assert len(errors) == 1, where
    assert len(errors) <= 1, where
    if mode in MUST_NAME.get((target, label), set()):
        assert res.code == 1 and errors and damaged.name in errors[0], where
    if mode in WARNS.get(target, set()) and name in ("status", "show", "log"):
        assert any(
            line.startswith("warning:") and ".gitignore" in line for line in res.err.splitlines()
        ), where


def run_matrix(ws: Path, script: Path, target: str, mode: str) -> None:
    damaged = resolve(ws, target)
    now = damage(damaged, mode)
    spec = f"scripted:{script}"
    mine = snapshot_tree(ws)
    for args in COMMANDS:
        acts = args[0] in ACTING
        if args[0] in ACTING | {"clean"} and mode not in ACT_MODES.get(target, set(MODES)):
            continue
        extra = ("--planner", spec, "--executor", spec) if acts else ()
        res = cli(ws, *args, *extra)
        check(res, args, target, mode, damaged)
        if acts and res.code == 0:
            mine = snapshot_tree(ws)  # it did its job: the new state is the user's now
        elif args == READERS_END or acts or args[0] == "clean":
            # the readers before READERS_END are covered by this one look
            assert snapshot_tree(ws) == mine, f"{target}/{mode}: {args} changed the user's files"
        after = state_of(damaged)
        if res.code != 0 and now is not None and after != now and target not in DERIVED:
            # a deleted file may be created afresh; damaged content is never replaced
            kept = target in APPEND_ONLY and after is not None and after.startswith(now)
            assert kept, f"{target}/{mode}: {args} rewrote the damaged file"
        if state_of(damaged) != now:
            now = state_of(damaged)  # repaired or rewritten by a command that succeeded


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", list(TARGETS))
def test_damaged_state_file(built_run, tmp_path: Path, target: str, mode: str) -> None:
    ws, script = built_run.copy(tmp_path / "c")
    run_matrix(ws, script, target, mode)


def test_the_targets_are_every_file_a_run_leaves(built_run, tmp_path: Path) -> None:
    """A new state file must join the matrix: this fails until it is listed in TARGETS."""
    ws, _ = built_run.copy(tmp_path / "c")
    listed = {resolve(ws, t) for t in TARGETS}
    pl = ws / ".planloop"
    # one object and one ref stand for all: git reads them all the same way
    # the repo map's cache (map.sqlite stands for it, its write-ahead log beside it) is read
    # the same way: a damaged entry is a rebuild, never a decision
    grouped = [
        pl / "shadow.git" / "objects",
        pl / "shadow.git" / "refs" / "planloop",
        pl / "repomap",
    ]
    left = [
        p
        for p in pl.rglob("*")
        if p.is_file() and p not in listed and not any(g in p.parents for g in grouped)
    ]
    assert left == [], "state files no fault case covers"


def test_plan_refuses_a_damaged_current_naming_it(built_run, tmp_path: Path) -> None:
    """Regression: `plan` used to replace a damaged `current`, hiding which plan it named."""
    ws, script = built_run.copy(tmp_path / "c")
    current = ws / ".planloop" / "current"
    current.write_bytes(b"\xff\xfe\x00garbage")
    spec = f"scripted:{script}"
    res = cli(ws, "plan", GOAL, "--yes", "--planner", spec, "--executor", spec)
    assert res.code == 1 and str(current) in res.err, res.text
    assert current.read_bytes() == b"\xff\xfe\x00garbage"
    assert len(list((ws / ".planloop" / "plans").iterdir())) == 1  # no new plan


def test_clean_refuses_when_current_is_missing(built_run, tmp_path: Path) -> None:
    """Regression: without `current`, clean took every plan for finished and dropped a
    live run's checkpoints."""
    ws, _ = built_run.copy(tmp_path / "c")
    pl = ws / ".planloop"
    pid = (pl / "current").read_text().strip()
    (pl / "current").unlink()
    refs = sorted(p.name for p in (pl / "shadow.git" / "refs" / "planloop").iterdir())
    res = cli(ws, "clean")
    assert res.code == 1 and "clean refused" in res.err and f"echo {pid} >" in res.err, res.text
    assert sorted(p.name for p in (pl / "shadow.git" / "refs" / "planloop").iterdir()) == refs
    assert cli(ws, "diff", "square").code == 1  # no current plan: says so …
    (pl / "current").write_text(pid + "\n")
    assert cli(ws, "diff", "square").code == 0  # … and the checkpoints are all still there


def test_a_damaged_gitignore_is_reported_not_rewritten(built_run, tmp_path: Path) -> None:
    ws, _ = built_run.copy(tmp_path / "c")
    gi = ws / ".planloop" / ".gitignore"
    gi.write_text("# my notes\n")
    res = cli(ws, "status")
    assert res.code == 0
    assert res.err.strip().startswith(f"warning: {gi} is damaged"), res.err
    assert gi.read_text() == "# my notes\n"


# --- the language server over damaged folders -------------------------------------------------

LSP_CASES = [
    ("run.json", "binary"),
    ("run.json", "wrong_schema"),
    ("current", "binary"),
    ("current", "emptied"),
    ("current", "deleted"),
    ("log.jsonl", "binary"),
    ("v1.json", "truncated"),
    ("shadow HEAD", "binary"),
    ("checkpoint ref", "deleted"),
]


def test_the_language_server_answers_every_damaged_folder_and_survives(
    built_run, tmp_path: Path
) -> None:
    from lsp_harness import open_session

    folders = []
    for n, (target, mode) in enumerate(LSP_CASES):
        ws, _ = built_run.copy(tmp_path / f"f{n}")
        damage(resolve(ws, target), mode)
        folders.append(ws)
    healthy, _ = built_run.copy(tmp_path / "healthy")

    async def drive() -> list[tuple[str, str, Any]]:
        seen: list[tuple[str, str, Any]] = []
        async with open_session(
            healthy, {"reviewPlanFirst": False}, folders=[healthy, *folders]
        ) as s:
            for ws, (target, mode) in zip(folders, LSP_CASES, strict=True):
                for cmd, args in (
                    ("planloop.getPlan", {"folder": str(ws)}),
                    ("planloop.log", {"folder": str(ws)}),
                    ("planloop.stepDiff", {"stepId": "square", "folder": str(ws)}),
                ):
                    try:
                        result = await s.cmd(cmd, args)
                    except JsonRpcException as e:
                        assert "Traceback" not in e.message and "\n" not in e.message.strip(), (
                            e.message
                        )
                        assert e.code != -32603 or "internal" not in e.message.lower(), e.message
                        seen.append((f"{target}/{mode}", cmd, e.code))
                        continue
                    seen.append((f"{target}/{mode}", cmd, "ok"))
                    json.dumps(result)
                # the server survives: a healthy folder still answers
                plan = await s.cmd("planloop.getPlan", {"folder": str(healthy)})
                assert plan["plan"]["steps"][0]["id"] == "square"
        return seen

    seen = asyncio.run(drive())
    by_case = {(case, cmd): outcome for case, cmd, outcome in seen}
    store, checkpoint = CODES["store"], CODES["checkpoint"]
    assert by_case[("run.json/binary", "planloop.getPlan")] == store
    assert by_case[("run.json/wrong_schema", "planloop.stepDiff")] == store
    assert by_case[("current/binary", "planloop.getPlan")] == store
    assert by_case[("current/emptied", "planloop.log")] == store
    assert by_case[("log.jsonl/binary", "planloop.log")] == "ok"  # tolerated
    assert by_case[("v1.json/truncated", "planloop.getPlan")] == "ok"  # v2 is current
    assert by_case[("shadow HEAD/binary", "planloop.getPlan")] == "ok"  # the plan is readable
    assert by_case[("shadow HEAD/binary", "planloop.stepDiff")] == checkpoint
    # the record holds the commit itself; the ref only keeps it from gc: still readable
    assert by_case[("checkpoint ref/deleted", "planloop.stepDiff")] == "ok"


#: the state files ``planloop edit`` reads or writes: the record it edits, the pointer to it,
#: the versions beside the one it writes, the log it appends to, the documents it refreshes
EDIT_TARGETS = ["run.json", "current", "v2.json", "log.jsonl", "plan.md", "plan document"]
EDIT_MUST_NAME = {
    "run.json": set(MODES),
    "current": {"truncated", "emptied", "binary", "wrong_schema"},
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", EDIT_TARGETS)
def test_edit_on_damaged_state(built_run, tmp_path: Path, target: str, mode: str) -> None:
    """A valid edit (one step added) applied to a damaged ``.planloop/``: it either applies
    or fails in one line naming the file, never rewrites a damaged file it does not own,
    and never touches the user's files."""
    ws, _ = built_run.copy(tmp_path / "c")
    text = (ws / ".planloop" / "plan.md").read_text(encoding="utf-8")
    cut = text.index("\n## ", text.index("## Steps") + 1)
    extra = "\n9. [ ] **Extra notes** `extra-notes` — edit\n   - check: file `EXTRA.md` exists\n"
    edited = tmp_path / "edited.md"
    edited.write_text(text[:cut] + extra + text[cut:], encoding="utf-8")
    damaged = resolve(ws, target)
    now = damage(damaged, mode)
    mine = snapshot_tree(ws)
    res = cli(ws, "edit", "--from", str(edited))
    where = f"{target}/{mode}: planloop edit → {res.code}\n{res.text}"
    assert "Traceback" not in res.text and "internal error" not in res.text, where
    assert res.code in (0, 1), where
    errors = [line for line in res.err.splitlines() if line.startswith("error:")]
    stray = [
        ln
        for ln in res.err.splitlines()
        if ln.strip() and not ln.startswith(("error:", "warning:"))
    ]
    assert not stray and len(errors) == (0 if res.code == 0 else 1), where
    if mode in EDIT_MUST_NAME.get(target, set()):
        assert res.code == 1 and damaged.name in errors[0], where
    if target in DERIVED:  # a derived document is no reason to refuse: it is rewritten
        assert res.code == 0, where
    assert snapshot_tree(ws) == mine, where
    if res.code != 0 and now is not None and target not in DERIVED:
        after = state_of(damaged)
        kept = target in APPEND_ONLY and after is not None and after.startswith(now)
        assert after == now or kept, f"{where}\nthe damaged file was rewritten"
    if res.code == 0:
        shown = cli(ws, "show", "--md")
        assert shown.code == 0 and "`extra-notes` — edit" in shown.out, where
        assert (ws / ".planloop" / "plan.md").read_text(encoding="utf-8") in shown.out, where

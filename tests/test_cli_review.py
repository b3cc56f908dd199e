"""Reviewing from the CLI as the README says: a pending re-plan can be read before it is
decided, and ``planloop mode`` at review prints a next step that works.

Through the real console script in fresh processes (tests/test_cli.py's helpers): stdin is
not a terminal, so nobody is asked and a review waits (exit 3).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import step, submit
from test_cli import (
    GOAL,
    cli_env,
    contains,
    models,
    planloop,
    record,
    two_step_plan,
    two_step_work,
    write_script,
)
from test_cli import ws as ws  # the fixture: the calculator, no workspace checks


def _with_pending_replan(ws: Path, tmp_path: Path) -> Path:
    docs = step("docs", "Document square()", checks=[contains("README.md", "square")])
    planner = [
        two_step_plan(),
        {
            "expect": "also document square()",
            "content": submit(
                GOAL,
                [*two_step_plan()[0]["input"]["steps"], docs],
                revision_reason="the user asked for docs",
            ),
        },
    ]
    s = write_script(tmp_path / "script.json", planner, [])
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    proposed = planloop(ws, "replan", "--reason", "also document square()", *models(s))
    assert proposed.returncode == 3, proposed.stdout + proposed.stderr
    return s


def test_show_version_of_a_pending_replan_prints_it_labelled_pending(
    ws: Path, tmp_path: Path
) -> None:
    _with_pending_replan(ws, tmp_path)
    res = planloop(ws, "show", "--version", "2")
    assert res.returncode == 0, res.stderr
    assert "Document square()" in res.stdout  # the proposal's own step
    assert "v2" in res.stdout.splitlines()[0]
    assert "pending" in res.stderr and "awaiting approval" in res.stderr
    assert "planloop approve" in res.stderr
    as_json = planloop(ws, "show", "--json", "--version", "2")
    assert as_json.returncode == 0, as_json.stderr
    assert [s["id"] for s in json.loads(as_json.stdout)["steps"]] == ["square", "notes", "docs"]
    assert record(ws).plan.version == 1  # reading it decided nothing


def test_show_with_a_pending_replan_points_at_it(ws: Path, tmp_path: Path) -> None:
    _with_pending_replan(ws, tmp_path)
    res = planloop(ws, "show", "--md")
    assert res.returncode == 0, res.stderr
    assert " v1" in res.stdout.splitlines()[0]  # stdout stays the current document
    assert "Document square()" not in res.stdout
    assert "re-plan v2" in res.stderr and "awaiting approval" in res.stderr
    assert "planloop show --version 2" in res.stderr


def test_show_unknown_version_names_the_versions_and_the_pending_one(
    ws: Path, tmp_path: Path
) -> None:
    _with_pending_replan(ws, tmp_path)
    res = planloop(ws, "show", "--version", "7")
    assert res.returncode == 1
    assert "has no version 7 (versions: v1" in res.stderr
    assert "v2 proposed, awaiting approval" in res.stderr
    assert "is missing" not in res.stderr  # not damage: the version never existed
    assert "Traceback" not in res.stderr


def test_mode_at_review_prints_a_next_step_that_works(ws: Path, tmp_path: Path) -> None:
    s = write_script(tmp_path / "script.json", [two_step_plan()], two_step_work(ws))
    env = cli_env(PLANLOOP_MODE="auto")
    planned = planloop(ws, "plan", GOAL, *models(s), env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "mode: joint" in planned.stdout
    switched = planloop(ws, "mode", "split", *models(s), env=env)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert "plan v2 runs split" in switched.stdout
    # no approval was recorded, so none is claimed
    assert "approved by" not in switched.stdout
    assert record(ws).pending is not None and not record(ws).plan_approved
    # every command it names as the next step, in order, works as printed
    steps = re.findall(r"`(planloop [^`]+)`", switched.stdout.splitlines()[-1])
    assert steps == ["planloop approve", "planloop run --all"], switched.stdout
    for command in steps:
        res = planloop(ws, *command.split()[1:], *models(s), env=env)
        assert res.returncode == 0, command + "\n" + res.stdout + res.stderr
    rec = record(ws)
    assert rec.state == "done" and [x.status for x in rec.plan.steps] == ["passed", "passed"]

"""Output that fits pipes and scripts (git's and gh's convention), through the real console
script: rich on a terminal (tests/test_terminal_approval.py drives one through a pty),
plain text to a pipe or a file — the plan document itself from ``show``, no wrapping, no
boxes, no colour unless ``--color always`` asks for it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.table import Table

from helpers import step, submit
from planloop.cli.render import plain_table
from planloop.eval.tasks import starter_dir
from test_cli import (
    GOAL,
    PLANLOOP,
    cli_env,
    contains,
    fresh_copy,
    models,
    planloop,
    record,
    write_script,
)

LONG_TITLE = "Add square() to the calculator, with a docstring that says what it returns and why"
BOXES = re.compile("[\u2500-\u257f\u2022]")  # box drawing, and rich's Markdown bullet
ANSI = "\x1b["


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan v1 awaiting review, one of whose step titles is longer than 80 columns."""
    root = tmp_path_factory.mktemp("output")
    ws = fresh_copy(root / "calc")
    plan = submit(
        GOAL,
        [
            step("square", LONG_TITLE, checks=[contains("calculator/calc.py", "def square")]),
            step("notes", "Write notes", checks=[{"kind": "file_exists", "path": "NOTES.md"}]),
        ],
    )
    s = write_script(root / "s.json", [plan], [])
    res = planloop(ws, "plan", GOAL, *models(s))
    assert res.returncode == 0, res.stdout + res.stderr
    return ws


def to_file(ws: Path, path: Path, *args: str) -> None:
    """``planloop ARGS > path``."""
    with path.open("wb") as f:
        res = subprocess.run(
            [PLANLOOP, *args],
            cwd=ws,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    assert res.returncode == 0, res.stderr


def test_show_to_a_file_is_the_document_and_edit_from_it_round_trips(
    planned: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(planned, ws)  # the edits below must not reach the module's workspace
    doc = tmp_path / "plan.md"
    to_file(ws, doc, "show")
    text = doc.read_text()
    assert text == planloop(ws, "show", "--md").stdout  # what --md prints, byte for byte
    assert text.removesuffix("\n") == (ws / ".planloop" / "plan.md").read_text()

    unchanged = planloop(ws, "edit", "--from", str(doc))
    assert unchanged.returncode == 0, unchanged.stderr
    assert "no change" in unchanged.stdout
    assert record(ws).plan.version == 1

    doc.write_text(text.replace("**Write notes**", "**Write the notes file**"))
    edited = planloop(ws, "edit", "--from", str(doc))
    assert edited.returncode == 0, edited.stderr
    assert "plan v2 recorded" in edited.stdout
    plan = record(ws).plan
    assert plan.version == 2
    assert [s.title for s in plan.steps] == [LONG_TITLE, "Write the notes file"]


def test_piped_show_and_status_are_plain_and_not_wrapped(planned: Path) -> None:
    for args in (("show",), ("status",)):
        out = planloop(planned, *args).stdout
        assert not BOXES.search(out), (args, out)
        assert ANSI not in out, args
        long = [line for line in out.splitlines() if LONG_TITLE in line]
        assert long and all(len(line) > 80 for line in long), (args, out)
    shown = planloop(planned, "show").stdout
    assert shown.startswith("# Plan pln_") and f"**{LONG_TITLE}**" in shown


def test_colour_to_a_pipe_only_when_asked(planned: Path) -> None:
    def status(*args: str, **env: str) -> str:
        res = planloop(planned, *args, env=cli_env(**env))
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert ANSI not in status("status")
    assert ANSI in status("--color", "always", "status")
    assert ANSI in status("status", "--color", "always")  # after the subcommand too
    assert ANSI not in status("--color", "never", "status")
    assert ANSI not in status("--color", "auto", "status", NO_COLOR="1")
    assert ANSI in status("--color", "always", "status", NO_COLOR="1")  # asked for: wins
    coloured = status("--color", "always", "status")
    assert not BOXES.search(coloured)  # colour, but still the plain layout of a pipe
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == status("status")


def test_a_table_to_a_pipe_keeps_every_cell_whole() -> None:
    t = Table(title="planloop eval")
    t.add_column("task")
    t.add_column("cost", justify="right")
    long = "js-slugify-" + "x" * 120
    t.add_row(long, "$0.0100")
    t.add_row("[bold]total[/]", "$12.5000")
    lines = [line.plain for line in plain_table(t)]
    assert lines == [
        "planloop eval",
        "task" + " " * (len(long) - 4) + "      cost",
        long + "   $0.0100",
        "total" + " " * (len(long) - 5) + "  $12.5000",
    ]


def test_eval_report_to_a_file_keeps_its_full_width(tmp_path: Path) -> None:
    name = "py-fix-add-in-a-task-folder-whose-name-alone-is-longer-than-eighty-columns-wide"
    shutil.copytree(starter_dir() / "py-fix-add", tmp_path / "tasks" / name)
    report = tmp_path / "report.txt"
    to_file(tmp_path, report, "eval", str(tmp_path / "tasks"))
    text = report.read_text()
    assert not BOXES.search(text) and "…" not in text and ANSI not in text, text
    rows = [line for line in text.splitlines() if line.startswith(name)]
    assert len(rows) == 1 and "✓" in rows[0] and rows[0].rstrip().endswith("s"), text
    header = next(line for line in text.splitlines() if line.startswith("task"))
    assert header.split() == [
        "task",
        "config",
        "solved",
        "mode",
        "steps",
        "re-plans",
        "calls",
        "tokens",
        "(p/e/j)",
        "cost",
        "wall",
    ]

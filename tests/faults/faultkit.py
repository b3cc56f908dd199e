"""What the fault suite shares: one real run's ``.planloop/``, built once, and the CLI in-process.

Why in-process: the corrupt-state matrix runs hundreds of commands; a process start
each would take minutes on a loaded machine. ``cli.main`` is the console script's
whole body (argument parsing, the error table, the catch-all that turns a bug into one
line), so calling it with stdout and stderr captured tests the same path. The API
fault tests, where the process boundary matters (environment, exit status), run the
real console script.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import report, step, submit, tool, write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "calculator"
PLANLOOP = str(Path(sys.executable).with_name("planloop"))
GOAL = "Add square() and a notes file"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"
SETTINGS = "workspace_checks = []\n"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@contextlib.contextmanager
def _captured() -> Iterator[tuple[io.BytesIO, io.StringIO]]:
    out_bytes = io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    err = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield out_bytes, err
    finally:
        out.flush()
        out.detach()  # keep out_bytes open for the caller
        sys.stdout, sys.stderr = saved


def cli(ws: Path, *args: str) -> Result:
    """``planloop --workspace WS ARGS`` in this process; stdin is not a terminal."""
    from planloop.cli import main

    with _captured() as (out, err), _no_stdin():
        code = main(["--workspace", str(ws), *args])
    return Result(code, out.getvalue().decode("utf-8", "replace"), err.getvalue())


@contextlib.contextmanager
def _no_stdin() -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        yield
    finally:
        sys.stdin = saved


def clean_env(**extra: str) -> dict[str, str]:
    """A user's shell: no key, no model settings, this interpreter's ``python``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["COLUMNS"] = "200"
    env["PLANLOOP_MODE"] = "split"  # these scripts were written for the split loop
    env.update(extra)
    return env


def console_script(
    ws: Path, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLANLOOP, *args],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fresh_workspace(dest: Path) -> Path:
    shutil.copytree(
        EXAMPLE,
        dest,
        ignore=shutil.ignore_patterns("demo.json", "__pycache__", ".pytest_cache", ".planloop"),
    )
    (dest / "planloop.toml").write_text(SETTINGS)
    return dest


def contains(path: str, pattern: str) -> dict[str, str]:
    return {"kind": "file_contains", "path": path, "pattern": pattern}


def two_steps() -> list[dict[str, Any]]:
    return [
        step(
            "square",
            "Add square()",
            checks=[contains("calculator/calc.py", "def square")],
            files=["calculator/calc.py"],
        ),
        step(
            "notes",
            "Write notes",
            checks=[{"kind": "file_exists", "path": "NOTES.md"}],
            deps=["square"],
        ),
    ]


def docs_step() -> dict[str, Any]:
    return step("docs", "Document square()", checks=[contains("DOCS.md", "square")], deps=["notes"])


def build_run(root: Path) -> tuple[Path, Path]:
    """A workspace after plan → run → re-plan → run: every kind of file a run leaves.

    Returns (workspace, script). The script has spare planner turns, so ``plan`` and
    ``replan`` in a damaged copy reach the point where they would write.
    """
    ws = fresh_workspace(root / "calc")
    calc = (ws / "calculator" / "calc.py").read_text() + SQUARE
    # spare turns for `replan` and `plan` in a damaged copy: valid as a re-plan (the
    # passed steps kept) and as a new plan alike
    spare = [submit(GOAL, [*two_steps(), docs_step()], revision_reason="asked again")] * 3
    planner = [
        submit(GOAL, two_steps()),
        {
            "expect": "document square()",
            "content": submit(GOAL, [*two_steps(), docs_step()], revision_reason="docs asked"),
        },
        *spare,
    ]
    executor = [
        write("calculator/calc.py", calc),
        report(True, "added square()"),
        write("NOTES.md", "square() added\n"),
        report(True, "wrote notes"),
        write("DOCS.md", "square(x) returns x*x\n"),
        report(True, "documented"),
    ]
    script = root / "script.json"
    script.write_text(json.dumps({"planner": planner, "executor": executor}))
    spec = f"scripted:{script}"
    models = ("--planner", spec, "--executor", spec)
    for args in (
        ("plan", GOAL, "--yes", *models),
        ("run", "--all", "--yes", *models),
        ("replan", "--reason", "document square()", "--yes", *models),
        ("run", "--all", "--yes", *models),
    ):
        res = cli(ws, *args)
        assert res.code == 0, (args, res.text)
    # last: a new plan whose planner asks, with nobody to answer, leaves its question
    # (and the conversation so far) in question.json for `planloop answer`
    ask = root / "ask.json"
    question = {"question": "Which rounding?", "options": ["half up", "half even"]}
    ask.write_text(json.dumps({"planner": [[tool("ask_user", **question)]], "executor": []}))
    asking = ("--planner", f"scripted:{ask}", "--executor", spec)
    res = cli(ws, "plan", "Round the results", *asking)
    assert res.code == 3 and (ws / ".planloop" / "question.json").is_file(), res.text
    return ws, script


def snapshot_tree(ws: Path) -> dict[str, bytes]:
    """Every file the user owns (all but ``.planloop/`` and caches), by relative path."""
    out: dict[str, bytes] = {}
    skip = {".planloop", "__pycache__", ".pytest_cache"}
    for dirpath, dirnames, filenames in os.walk(ws):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(ws))] = p.read_bytes()
    return out


def assert_one_clean_line(res: Result) -> None:
    """No traceback anywhere; a failure is exactly one ``error:`` line on stderr."""
    assert "Traceback" not in res.text, res.text
    assert "internal error" not in res.text, res.text
    if res.code != 0:
        errors = [line for line in res.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, res.err
        others = [
            line
            for line in res.err.splitlines()
            if line.strip() and not line.startswith(("error:", "warning:"))
        ]
        assert not others, res.err

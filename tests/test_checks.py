"""Acceptance checks and condensed observations, with real pytest runs in a tiny project."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from planloop.cancel import CancelToken
from planloop.document.plan import Check, Step
from planloop.workspace.checks import condense, run_checks
from planloop.workspace.commands import CommandResult
from planloop.workspace.files import Workspace
from planloop.workspace.policy import CommandPolicy

PY = shlex.quote(sys.executable)
# the project's own plugins are not needed in the tiny project, and loading them costs a second
PYTEST = f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {PY} -m pytest -q -p no:cacheprovider"

CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
TESTS = """\
from calc import add, mul


def test_add():
    assert add(2, 3) == 5, "add(2, 3) should be 5"


def test_mul():
    assert mul(2, 3) == 6


class TestMore:
    def test_add_zero(self):
        assert add(0, 4) == 4
"""


def make_project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    return root


@pytest.fixture(scope="module")
def pytest_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CommandResult]:
    """One real failing run, one real passing run and one collection error (pytest is slow)."""
    root = make_project(tmp_path_factory.mktemp("calc"))
    ws = Workspace(root)
    failing = ws.run(PYTEST, timeout_s=60)
    (root / "calc.py").write_text(CALC.replace("a - b", "a + b"))
    passing = ws.run(PYTEST, timeout_s=60)
    (root / "tests" / "test_broken.py").write_text("def test_x(:\n    pass\n")
    broken = ws.run(PYTEST, timeout_s=60)
    return {"failing": failing, "passing": passing, "broken": broken}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(make_project(tmp_path / "proj"))


def edit_step(*checks: Check, kind: str = "edit") -> Step:
    return Step(id="fix-add", title="Fix add", kind=kind, acceptance=list(checks))  # type: ignore[arg-type]


# --- run_checks --------------------------------------------------------------------


def test_command_check_pass_and_fail(ws: Workspace) -> None:
    ok = Check(kind="command", command=f"{PY} -c 'print(42)'")
    bad = Check(kind="command", command=f"{PY} -c 'raise SystemExit(3)'")
    results = run_checks(edit_step(ok, bad), ws, [])
    assert [r.passed for r in results] == [True, False]
    assert results[0].observation.startswith("exit 0")
    assert results[1].observation == "exit 3 (no output)"
    assert all(not r.workspace_check for r in results)


def test_command_check_timeout_fails_with_the_limit(ws: Workspace) -> None:
    slow = Check(kind="command", command="sleep 30", timeout_s=0.5)
    [result] = run_checks(edit_step(slow), ws, [])
    assert not result.passed
    assert result.observation.startswith("timed out after 0.5 s")


def test_denied_check_command_fails_without_running(ws: Workspace) -> None:
    check = Check(kind="command", command="git commit -am 'sneaky' && touch ran.txt")
    [result] = run_checks(edit_step(check), ws, [])
    assert not result.passed
    assert "command policy denies" in result.observation
    assert not (ws.root / "ran.txt").exists()


def test_ask_level_check_command_still_runs(ws: Workspace) -> None:
    assert CommandPolicy().classify("touch made.txt") == "ask"
    [result] = run_checks(edit_step(Check(kind="command", command="touch made.txt")), ws, [])
    assert result.passed and (ws.root / "made.txt").exists()


def test_file_exists_check(ws: Workspace) -> None:
    results = run_checks(
        edit_step(
            Check(kind="file_exists", path="calc.py"),
            Check(kind="file_exists", path="tests"),
            Check(kind="file_exists", path="missing.py"),
        ),
        ws,
        [],
    )
    assert [r.passed for r in results] == [True, True, False]
    assert results[2].observation == "missing.py does not exist"


def test_file_contains_check(ws: Workspace) -> None:
    results = run_checks(
        edit_step(
            Check(kind="file_contains", path="calc.py", pattern=r"^def mul\("),
            Check(kind="file_contains", path="calc.py", pattern=r"a \+ b"),
            Check(kind="file_contains", path="calc.py", pattern=r"(unclosed"),
            Check(kind="file_contains", path="nope.py", pattern="x"),
        ),
        ws,
        [],
    )
    assert [r.passed for r in results] == [True, False, False, False]
    assert results[0].observation == "calc.py:5: def mul(a, b):"
    assert results[1].observation == r"calc.py has no match for /a \+ b/"
    assert "invalid pattern" in results[2].observation
    assert "nope.py does not exist" in results[3].observation


def test_check_path_escape_is_a_failed_check(ws: Workspace) -> None:
    results = run_checks(
        edit_step(
            Check(kind="file_exists", path="../../etc/passwd"),
            Check(kind="file_contains", path="/etc/passwd", pattern="root"),
            Check(kind="file_exists", path=".planloop/plans"),
        ),
        ws,
        [],
    )
    assert [r.passed for r in results] == [False, False, False]
    assert "outside the workspace" in results[0].observation
    assert "outside the workspace" in results[1].observation
    assert ".planloop" in results[2].observation


def test_workspace_checks_run_after_edit_steps_only(ws: Workspace) -> None:
    wc = [Check(kind="command", command="true", description="suite")]
    own = Check(kind="file_exists", path="calc.py")
    after_edit = run_checks(edit_step(own), ws, wc)
    assert [(r.passed, r.workspace_check) for r in after_edit] == [(True, False), (True, True)]
    after_command = run_checks(edit_step(own, kind="command"), ws, wc)
    assert [r.workspace_check for r in after_command] == [False]


def test_cancelled_checks_are_not_run(ws: Workspace) -> None:
    token = CancelToken()
    token.cancel()
    check = Check(kind="command", command="touch ran.txt")
    [result] = run_checks(edit_step(check), ws, [], cancel=token)
    assert not result.passed and "cancelled" in result.observation
    assert not (ws.root / "ran.txt").exists()


def test_red_workspace_suite_fails_an_edit_step(ws: Workspace) -> None:
    suite = [Check(kind="command", command=PYTEST, description="test suite")]
    own = Check(kind="file_contains", path="calc.py", pattern="def add")
    results = run_checks(edit_step(own), ws, suite)
    assert [r.passed for r in results] == [True, False]
    assert "FAILED tests/test_calc.py::test_add" in results[1].observation


# --- condense: pytest --------------------------------------------------------------


def test_condense_pytest_failure_names_tests_and_assertions(
    pytest_runs: dict[str, CommandResult],
) -> None:
    res = pytest_runs["failing"]
    assert res.exit_code == 1
    text = condense(res)
    lines = text.splitlines()
    assert lines[0] == "exit 1 · 2 failed, 1 passed"
    assert "FAILED tests/test_calc.py::test_add - AssertionError: add(2, 3) should be 5" in text
    assert "FAILED tests/test_calc.py::TestMore::test_add_zero - assert -4 == 4" in text
    assert "assert -1 == 5" in text  # the E-line detail under its test
    assert "tests/test_calc.py:5: AssertionError" in text
    assert "test_mul" not in text
    assert len(text) <= 1200
    assert len(text) < len(res.output) / 2


def test_condense_pytest_respects_a_small_budget(pytest_runs: dict[str, CommandResult]) -> None:
    text = condense(pytest_runs["failing"], budget=200)
    assert len(text) <= 200
    assert text.startswith("exit 1 · 2 failed, 1 passed\nFAILED tests/test_calc.py::test_add")


def test_condense_pytest_many_failures_says_how_many_more() -> None:
    output = "\n".join(
        [*(f"FAILED tests/test_x.py::test_{i} - assert {i} == 0" for i in range(100)), "100 failed"]
    )
    text = condense(CommandResult("pytest", 1, output, False, False, False, 1.0), budget=400)
    assert len(text) <= 400
    assert text.startswith("exit 1 · 100 failed\nFAILED tests/test_x.py::test_0 - assert 0 == 0")
    assert text.splitlines()[-1].startswith("… and ") and text.endswith(" more")


def test_condense_pytest_pass(pytest_runs: dict[str, CommandResult]) -> None:
    assert condense(pytest_runs["passing"]) == "exit 0 · 3 passed"


def test_condense_pytest_collection_error(pytest_runs: dict[str, CommandResult]) -> None:
    text = condense(pytest_runs["broken"])
    assert text.startswith("exit 2 · 1 error · Interrupted: 1 error during collection")
    assert "ERROR tests/test_broken.py" in text
    assert "SyntaxError" in text


def test_condense_detects_pytest_output_from_another_command(
    pytest_runs: dict[str, CommandResult],
) -> None:
    res = pytest_runs["failing"]
    wrapped = CommandResult("make test", 2, res.output, False, False, False, 1.0)
    assert condense(wrapped).startswith("exit 2 · 2 failed, 1 passed\nFAILED")


# --- condense: other commands ------------------------------------------------------


def test_condense_failing_command_keeps_errors_and_last_lines(ws: Workspace) -> None:
    script = (
        "import sys\n"
        "for i in range(300): print('building module', i)\n"
        "print('warning: deprecated thing')\n"
        "print('error: missing header foo.h', file=sys.stderr)\n"
        "for i in range(50): print('more noise', i)\n"
        "raise ValueError('bad config value')\n"
    )
    (ws.root / "build.py").write_text(script)
    res = ws.run(f"{PY} build.py", timeout_s=30)
    text = condense(res, budget=600)
    assert res.exit_code == 1
    assert text.startswith("exit 1\n")
    assert "error: missing header foo.h" in text
    assert "Traceback (most recent call last):" in text
    assert text.rstrip().endswith("ValueError: bad config value")
    assert "building module 7" not in text
    assert len(text) <= 600


def test_condense_timeout_says_so(ws: Workspace) -> None:
    res = ws.run("echo waiting; sleep 30", timeout_s=0.5)
    assert condense(res) == "timed out after 0.5 s\nwaiting"


def test_condense_no_output_and_signal() -> None:
    assert condense(CommandResult("false", 1, "", False, False, False, 0.1)) == "exit 1 (no output)"
    killed = CommandResult("x", -9, "partial\n", False, False, False, 0.1)
    assert condense(killed) == "killed by signal 9\npartial"


def test_condense_stays_within_budget_for_huge_lines() -> None:
    output = "\n".join(["x" * 5000] * 20 + ["Error: " + "y" * 5000])
    text = condense(CommandResult("x", 1, output, False, False, False, 0.1), budget=300)
    assert len(text) <= 300
    assert text.startswith("exit 1")

"""``planloop demo`` end to end: the offline loop a new user sees first (``make demo``).

One real process, real git checkpoints and the calculator's real pytest suite; only the
models are scripted, and the output must say so.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "calculator"
CACHES = {"__pycache__", ".pytest_cache"}


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file's hash, except caches a developer's own pytest run may leave."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not CACHES.intersection(p.relative_to(folder).parts)
    }


def section(out: str, title: str) -> str:
    """The demo's output between the rule titled ``title`` and the next rule."""
    start = out.index(title)
    rest = out[start + len(title) :]
    nxt = re.search(r"─{5,} \d\. ", rest)
    return rest[: nxt.start()] if nxt else rest


def test_demo_shows_the_whole_loop_offline_and_leaves_the_example_untouched(
    tmp_path: Path,
) -> None:
    before = fingerprint(EXAMPLE)
    had_state = (EXAMPLE / ".planloop").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env.update(COLUMNS="200", TMPDIR=str(tmp_path))  # the demo's copy lands in tmp_path
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)  # as a user runs it: the demo sets it up
    res = subprocess.run(
        [PLANLOOP, "demo"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    assert "Traceback" not in res.stderr

    # scripted models are labelled as such
    assert "planner: scripted:" in out and "executor: scripted:" in out
    assert "(scripted: replayed model output, not a live model)" in out

    # plan v1 with its steps, approved before anything runs
    plan = section(out, "1. plan")
    assert re.search(r"Plan pln_\w+ v1", plan)
    for title in (
        "Add a CalculatorError exception",
        "Raise CalculatorError on division by zero",
        "Add mean()",
    ):
        assert title in plan, title
    assert "plan v1 approved (--yes)" in plan

    run = section(out, "2. run every step")
    # the edit that breaks an existing test, its failing observation, and the retry
    assert "▶ div-error Raise CalculatorError on division by zero (attempt 1)" in run
    assert "FAILED tests/test_calc.py::test_div_by_zero_raises" in run
    assert "▶ div-error Raise CalculatorError on division by zero (attempt 2)" in run
    # the re-plan with the failing test as evidence, proposed as v2 and approved
    replan = run[run.index("⟳ re-plan (repeated_failure)") :]
    assert "proposed v2" in replan and "revision approved by --yes" in replan
    assert run.index("(attempt 2)") < run.index("⟳ re-plan") < run.index("▶ error-compat")
    assert "done: every step passed · 3/3 steps" in run

    # what each step of the final plan changed, step by step
    changed = section(out, "3. what each step changed")
    per_step = re.findall(r"(add-error-type|error-compat|add-mean) \w{10}\.\.\w{10}", changed)
    assert per_step == ["add-error-type", "error-compat", "add-mean"]
    blocks = re.split(r"\n(?=\S.* (?:add-error-type|error-compat|add-mean) \w{10}\.\.)", changed)
    files = {
        step: re.findall(r"^(\S+) modified \+\d+ −\d+", block, re.M)
        for block in blocks
        for step in per_step
        if f" {step} " in block
    }
    assert files == {
        "add-error-type": ["calculator/calc.py"],
        "error-compat": ["calculator/calc.py"],
        "add-mean": ["calculator/calc.py", "tests/test_calc.py"],
    }

    # the final plan is v2, with the revision's reason and evidence; the run is done
    versions = section(out, "4. plan versions")
    assert re.search(r"# Plan pln_\w+ v2", versions)
    assert "test_div_by_zero_raises" in versions
    final = section(out, "5. final state")
    assert "state: done — every step passed" in final
    assert re.search(r"the calculator's own test suite: 7 passed", final)

    # the user's example folder is untouched and the temporary copy is gone
    assert fingerprint(EXAMPLE) == before
    assert (EXAMPLE / ".planloop").exists() == had_state
    assert not had_state, "a .planloop/ was left in the repository's example folder"
    ws = Path(re.search(r"workspace: (\S+) \(a temporary copy", out).group(1))  # type: ignore[union-attr]
    assert ws.is_relative_to(tmp_path) and not ws.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_the_example_is_found_as_package_data_with_its_recording() -> None:
    from planloop.demo import bundled_example

    found = bundled_example()
    assert (found / "demo.json").is_file() and (found / "calculator" / "calc.py").is_file()
    assert Path(str(found)).resolve() == EXAMPLE.resolve()  # the checkout's copy is the package's


def test_a_missing_bundled_example_is_one_clear_error_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from planloop import demo
    from planloop.errors import UsageError

    monkeypatch.setattr(demo, "EXAMPLE_RESOURCE", ("examples", "no-such-example"))
    calls: list[list[str]] = []

    def cli_main(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    with pytest.raises(
        UsageError, match=r"planloop/examples/no-such-example/demo\.json.*--example"
    ):
        demo.run_demo(cli_main=cli_main)
    assert calls == []


def test_an_example_without_a_recording_is_one_line_on_stderr_not_a_traceback(
    tmp_path: Path,
) -> None:
    res = subprocess.run(
        [PLANLOOP, "demo", "--example", str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "400"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f"error: --example {tmp_path}: no demo.json in {tmp_path}"
    ]
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary copy was made

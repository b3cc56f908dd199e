"""The CLI contract (exit codes, output, errors), through the real console script in fresh processes.

Every test drives ``planloop`` as a user would: a new process per command, stdin not a
terminal (so nobody can be asked and questions wait: exit 3), scripted models whose
position carries over between processes in ``.planloop/scripted-state.json``.
Checks are file checks and workspace checks are off, so each command costs a process
start and no test suite run; the demo test covers real pytest checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import report, step, submit, tool, write
from planloop.models.base import Usage
from planloop.models.pricing import cost_usd
from planloop.state.record import RunRecord
from planloop.state.store import PlanStore

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "calculator"

GOAL = "Add a square() function and a notes file"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"
NO_WORKSPACE_CHECKS = "workspace_checks = []\n"


# --- running the real console script ---------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell would give: no key, no model settings of our own.

    Built explicitly (not inherited from monkeypatch) so module-scoped fixtures, which run
    before the autouse fixtures, get the same one.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env["PLANLOOP_MODE"] = "split"  # these scripts were written for the split loop
    env["PLANLOOP_WARM"] = "off"  # each command its own process (tests/test_warm.py: warm)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["COLUMNS"] = "200"  # rich wraps at 80 columns without a terminal
    env.update(extra)
    return env


def planloop(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLANLOOP, *args],
        cwd=cwd,
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def planloop_bytes(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """As :func:`planloop`, with stdout as raw bytes (``cat`` must not decode it)."""
    return subprocess.run(
        [PLANLOOP, *args],
        cwd=cwd,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


def one_error_line(stderr: str) -> str:
    """The failure's message, asserting it is exactly one line and no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


def models(script_path: Path) -> list[str]:
    spec = f"scripted:{script_path}"
    return ["--planner", spec, "--executor", spec]


def write_script(path: Path, planner: list[Any], executor: list[Any], **top: Any) -> Path:
    path.write_text(json.dumps({**top, "planner": planner, "executor": executor}))
    return path


def contains(path: str, pattern: str) -> dict[str, str]:
    return {"kind": "file_contains", "path": path, "pattern": pattern}


def two_step_plan(goal: str = GOAL) -> list[dict[str, Any]]:
    return submit(
        goal,
        [
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
        ],
    )


def two_step_work(ws: Path) -> list[Any]:
    calc = (ws / "calculator" / "calc.py").read_text() + SQUARE
    return [
        write("calculator/calc.py", calc),
        report(True, "added square()"),
        write("NOTES.md", "square() added\n"),
        report(True, "wrote notes"),
    ]


def status(ws: Path) -> dict[str, Any]:
    res = planloop(ws, "status", "--json")
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def record(ws: Path) -> RunRecord:
    """The live record on disk, read in-process (cheaper than another ``status`` process)."""
    return PlanStore(ws).load()


def plan_dir(ws: Path) -> Path:
    pid = (ws / ".planloop" / "current").read_text().strip()
    return ws / ".planloop" / "plans" / pid


def fresh_copy(dest: Path) -> Path:
    shutil.copytree(
        EXAMPLE,
        dest,
        ignore=shutil.ignore_patterns("demo.json", "__pycache__", ".pytest_cache", ".planloop"),
    )
    (dest / "planloop.toml").write_text(NO_WORKSPACE_CHECKS)
    return dest


@pytest.fixture
def ws(calc_ws: Path) -> Path:
    (calc_ws / "planloop.toml").write_text(NO_WORKSPACE_CHECKS)
    return calc_ws


# --- a finished two-step run, shared by the read-only commands --------------------------

BINARY = bytes(range(256)) + b"\r\n\x00\xff line\r\n"
PLANNER_USAGE = {"input_tokens": 2000, "output_tokens": 300}
EXECUTOR_USAGE = {"input_tokens": 1000, "output_tokens": 100}


class Finished:
    def __init__(self, ws: Path, original_calc: bytes, plan: Any, run: Any) -> None:
        self.ws = ws
        self.original_calc = original_calc
        self.plan = plan
        self.run = run


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """``plan --yes`` then ``run --all --yes``, with usage priced as real models."""
    root = tmp_path_factory.mktemp("finished")
    ws = fresh_copy(root / "calc")
    # a file no step touches, with bytes text handling would mangle: for `cat`
    (ws / "data.bin").write_bytes(BINARY)
    original = (ws / "calculator" / "calc.py").read_bytes()
    planner = [{"content": two_step_plan(), "usage": PLANNER_USAGE}]
    executor = [{"content": turn, "usage": EXECUTOR_USAGE} for turn in two_step_work(ws)]
    s = write_script(
        root / "script.json",
        planner,
        executor,
        price_as={"planner": "claude-opus-5-5", "executor": "claude-sonnet-5-5"},
    )
    plan = planloop(ws, "plan", GOAL, "--yes", *models(s))
    run = planloop(ws, "run", "--all", "--yes", *models(s))
    return Finished(ws, original, plan, run)


def test_plan_with_yes_then_run_all_finishes_and_prints_each_step(finished: Finished) -> None:
    plan, run = finished.plan, finished.run
    assert plan.returncode == 0, plan.stderr
    assert "scripted: replayed model output, not a live model" in plan.stdout
    assert "Add square()" in plan.stdout and "Write notes" in plan.stdout
    assert "plan v1 approved (--yes)" in plan.stdout
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.index("▶ square") < out.index("■ passed calculator/calc.py") < out.index("▶ notes")
    assert "✓ calculator/calc.py contains /def square/" in out
    assert "■ passed NOTES.md" in out
    assert "done: every step passed · 2/2 steps" in out
    assert (finished.ws / "NOTES.md").read_text() == "square() added\n"


def test_status_json_reports_the_contract_fields(finished: Finished) -> None:
    data = status(finished.ws)
    assert data["plan_id"] == plan_dir(finished.ws).name
    assert data["version"] == 1
    assert data["goal"] == GOAL
    assert data["state"] == "done"
    assert data["replans"] == 0
    contract = [{k: s[k] for k in ("id", "title", "status", "attempts")} for s in data["steps"]]
    assert contract == [
        {"id": "square", "title": "Add square()", "status": "passed", "attempts": 1},
        {"id": "notes", "title": "Write notes", "status": "passed", "attempts": 1},
    ]
    # one planner call priced as opus, four executor calls priced as sonnet
    expected = cost_usd("claude-opus-5-5", Usage(2000, 300)) + 4 * cost_usd(
        "claude-sonnet-5-5", Usage(1000, 100)
    )
    assert data["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert data["cost_usd"] > 0


def test_show_md_json_and_an_earlier_version(finished: Finished) -> None:
    md = planloop(finished.ws, "show", "--md")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Plan pln_") and " v1" in md.stdout.splitlines()[0]
    assert f"**Goal:** {GOAL}" in md.stdout
    assert "1. [x] **Add square()** `square`" in md.stdout
    as_json = planloop(finished.ws, "show", "--json")
    assert as_json.returncode == 0, as_json.stderr
    current = json.loads(as_json.stdout)
    assert [s["status"] for s in current["steps"]] == ["passed", "passed"]
    assert current["steps"][0]["result"]["files_changed"][0]["path"] == "calculator/calc.py"
    v1 = planloop(finished.ws, "show", "--json", "--version", "1")
    assert v1.returncode == 0, v1.stderr
    first = json.loads(v1.stdout)
    # the approved version as written: before anything ran
    assert first["version"] == 1 and [s["status"] for s in first["steps"]] == ["pending"] * 2
    assert first == json.loads((plan_dir(finished.ws) / "v1.json").read_text())


def test_show_unknown_version_exits_1_listing_the_versions(finished: Finished) -> None:
    res = planloop(finished.ws, "show", "--version", "7")
    assert res.returncode == 1
    assert "has no version 7 (versions: v1)" in res.stderr
    assert "Traceback" not in res.stderr


def test_diff_shows_the_patch_and_stat_only_the_summary(finished: Finished) -> None:
    full = planloop(finished.ws, "diff", "square")
    assert full.returncode == 0, full.stderr
    assert "calculator/calc.py modified +4 −0" in full.stdout
    assert "+def square(x: float) -> float:" in full.stdout
    assert "@@" in full.stdout
    stat = planloop(finished.ws, "diff", "square", "--stat")
    assert stat.returncode == 0, stat.stderr
    assert "calculator/calc.py modified +4 −0" in stat.stdout
    assert "+def square" not in stat.stdout and "@@" not in stat.stdout
    assert "NOTES.md" not in full.stdout  # the other step's file is not this step's change


def test_log_json_is_one_typed_event_per_line(finished: Finished) -> None:
    res = planloop(finished.ws, "log", "--json")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert events and all(isinstance(e["type"], str) and e["at"] for e in events)
    types = [e["type"] for e in events]
    assert types[0] == "plan_created"
    for t in ("approval", "step_started", "tool_call", "check", "step_finished"):
        assert t in types, t
    assert types.index("step_started") < types.index("check") < types.index("step_finished")
    assert "tool_started" not in types  # told to the front ends, never logged
    calls = [e for e in events if e["type"] == "tool_call" and e["role"] == "executor"]
    assert calls and all(c["call_id"] and c["tool"] == c["line"].split()[0] for c in calls)
    assert events[-1] == {**events[-1], "type": "state", "state": "done"}
    # the same events the file holds, in the same order
    on_disk = (plan_dir(finished.ws) / "log.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in on_disk] == events


def test_unknown_step_exits_1_naming_the_known_steps(finished: Finished) -> None:
    for args in (("diff", "nope"), ("run", "--step", "nope")):
        res = planloop(finished.ws, *args)
        assert res.returncode == 1, args
        assert "unknown step 'nope'; steps of this plan: square, notes" in res.stderr, args
        assert "Traceback" not in res.stderr


def test_workspace_option_before_the_subcommand_is_honoured(
    finished: Finished, tmp_path: Path
) -> None:
    """``planloop --workspace DIR status`` must not silently use the current directory."""
    res = planloop(tmp_path, "--workspace", str(finished.ws), "status", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["plan_id"] == plan_dir(finished.ws).name


def test_cat_prints_a_file_after_or_before_a_step_bytes_exact(finished: Finished) -> None:
    ws = finished.ws
    after = planloop_bytes(ws, "cat", "square", "calculator/calc.py")
    assert after.returncode == 0, after.stderr
    assert after.stdout == (ws / "calculator" / "calc.py").read_bytes()
    assert b"def square" in after.stdout
    before = planloop_bytes(ws, "cat", "square", "calculator/calc.py", "--before")
    assert before.returncode == 0, before.stderr
    assert before.stdout == finished.original_calc
    binary = planloop_bytes(ws, "--workspace", str(ws), "cat", "notes", "data.bin")
    assert binary.returncode == 0, binary.stderr
    assert binary.stdout == BINARY
    notes = planloop_bytes(ws, "cat", "notes", "NOTES.md")
    assert notes.returncode == 0 and notes.stdout == b"square() added\n"


def test_cat_of_a_file_that_did_not_exist_there_exits_1(finished: Finished) -> None:
    res = planloop(finished.ws, "cat", "notes", "NOTES.md", "--before")
    assert res.returncode == 1 and res.stdout == ""
    line = one_error_line(res.stderr)
    assert "NOTES.md did not exist before step 'notes'" in line
    missing = planloop(finished.ws, "cat", "square", "no/such/file.py")
    assert missing.returncode == 1
    assert "no/such/file.py did not exist after step 'square'" in one_error_line(missing.stderr)


def test_cat_of_an_unknown_or_unrun_step_exits_1(
    finished: Finished, ws: Path, tmp_path: Path
) -> None:
    unknown = planloop(finished.ws, "cat", "nope", "calculator/calc.py")
    assert unknown.returncode == 1
    line = one_error_line(unknown.stderr)
    assert "unknown step 'nope'; steps of this plan: square, notes" in line
    s = write_script(tmp_path / "script.json", [two_step_plan()], [])
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    unrun = planloop(ws, "cat", "square", "calculator/calc.py")
    assert unrun.returncode == 1 and unrun.stdout == ""
    assert "step 'square' has not run yet" in one_error_line(unrun.stderr)


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    import planloop as package

    res = planloop(tmp_path, "--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"planloop {package.__version__}\n"
    assert package.__version__ == version("planloop")


def test_plan_without_an_api_key_exits_1_with_one_line(ws: Path) -> None:
    """The default models are Anthropic's; with no key the plan fails before any turn."""
    res = planloop(ws, "plan", GOAL)
    assert res.returncode == 1, res.stdout + res.stderr
    line = one_error_line(res.stderr)
    assert line.startswith("error: planning failed: ANTHROPIC_API_KEY is not set"), line
    assert "--planner scripted:FILE --executor scripted:FILE." in line  # not wrapped away
    assert not (ws / ".planloop" / "current").exists()


def test_unexpected_exception_is_one_redacted_line_and_debug_shows_the_traceback(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process: a bug cannot be provoked through the console script on purpose."""
    from planloop import api, cli

    secret = "sk-ant-api03-not-a-real-key-0123456789"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)

    def broken(self: api.Session) -> api.StatusView:
        raise RuntimeError(f"boom with {secret}\nsecond line")

    monkeypatch.setattr(api.Session, "status_view", broken)
    assert cli.main(["--workspace", str(ws), "status"]) == 1
    out = capsys.readouterr()
    line = one_error_line(out.err)
    assert (
        line
        == "error: internal error: RuntimeError: boom with *** second line (--debug shows where)"
    )
    for argv in (["--debug", "status"], ["status", "--debug"]):
        assert cli.main(["--workspace", str(ws), *argv]) == 1, argv
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "in broken" in err, argv
        assert err.rstrip().endswith("(--debug shows where)") and secret not in err, argv


def test_exit_codes_come_from_one_table_by_error_kind() -> None:
    from planloop.cli.exits import ERROR_EXIT, error_exit
    from planloop.errors import NoPlanError, PlanloopError
    from planloop.models.base import ModelError

    assert error_exit(NoPlanError()) == ERROR_EXIT["no_plan"] == 1
    assert error_exit(ModelError("auth", "no key")) == ERROR_EXIT["model"] == 1  # by family
    assert error_exit(PlanloopError("x", kind="never-heard-of")) == 1
    # what every failure exited with before the table; a planner question left waiting is
    # not a failure but "waiting for you", the same 3 as a run awaiting approval
    assert {v for k, v in ERROR_EXIT.items() if k != "waiting"} == {1}
    assert ERROR_EXIT["waiting"] == 3


# --- flows -----------------------------------------------------------------------------------


def test_plan_without_yes_waits_for_review_then_approve_run_and_revert(
    ws: Path, tmp_path: Path
) -> None:
    s = write_script(tmp_path / "script.json", [two_step_plan()], two_step_work(ws))
    # the specs come from the environment this time (PLANLOOP_PLANNER / PLANLOOP_EXECUTOR)
    env = cli_env(PLANLOOP_PLANNER=f"scripted:{s}", PLANLOOP_EXECUTOR=f"scripted:{s}")
    original = (ws / "calculator" / "calc.py").read_bytes()

    plan = planloop(ws, "plan", GOAL, env=env)
    assert plan.returncode == 0, plan.stderr
    assert "review it, then" in plan.stdout

    waiting = planloop(ws, "run", "--all", env=env)
    assert waiting.returncode == 3, waiting.stdout + waiting.stderr
    assert "awaiting_approval" in waiting.stdout and "waiting for you" in waiting.stdout
    rec = record(ws)
    assert rec.state == "awaiting_approval" and rec.pending and rec.pending.kind == "plan"
    assert [(x.status, x.attempts) for x in rec.plan.steps] == [("pending", 0)] * 2
    assert (ws / "calculator" / "calc.py").read_bytes() == original  # nothing ran

    approve = planloop(ws, "approve", "--by", "reviewer", env=env)
    assert approve.returncode == 0, approve.stdout + approve.stderr
    assert "plan approved by reviewer" in approve.stdout

    run = planloop(ws, "run", "--all", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "done: every step passed" in run.stdout
    assert (ws / "calculator" / "calc.py").read_bytes() != original

    revert = planloop(ws, "revert", "square", "calculator/calc.py")
    assert revert.returncode == 0, revert.stdout + revert.stderr
    assert "restored calculator/calc.py" in revert.stdout
    assert (ws / "calculator" / "calc.py").read_bytes() == original
    assert (ws / "NOTES.md").exists()  # the other step's file is not this step's to undo
    steps = {x.id: x.status for x in record(ws).plan.steps}
    assert steps == {"square": "reverted", "notes": "pending"}


def test_replan_with_reason_and_yes_approves_the_next_version(ws: Path, tmp_path: Path) -> None:
    docs = step("docs", "Document square()", checks=[contains("README.md", "square")])
    planner = [
        two_step_plan(),
        {
            "expect": "also document square() in the README",
            "content": submit(
                GOAL,
                [*two_step_plan()[0]["input"]["steps"], docs],
                revision_reason="the user asked for docs",
            ),
        },
    ]
    s = write_script(tmp_path / "script.json", planner, [])
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    res = planloop(
        ws, "replan", "--reason", "also document square() in the README", "--yes", *models(s)
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "re-plan (user_requested)" in res.stdout
    assert "proposed v2" in res.stdout and "revision approved by --yes" in res.stdout
    rec = record(ws)
    assert rec.plan.version == 2 and rec.replans_used == 1
    assert [x.id for x in rec.plan.steps] == ["square", "notes", "docs"]
    assert sorted(p.name for p in plan_dir(ws).glob("v*.json")) == ["v1.json", "v2.json"]
    v1 = json.loads((plan_dir(ws) / "v1.json").read_text())
    assert [x["id"] for x in v1["steps"]] == ["square", "notes"]  # never overwritten


def test_reject_with_feedback_reproposes_and_plain_reject_stops(ws: Path, tmp_path: Path) -> None:
    first_try = submit(GOAL, [step("everything", checks=[contains("NOTES.md", "x")])])
    planner = [
        two_step_plan(),
        first_try,
        {
            "expect": "keep the two steps",
            "content": submit(GOAL, [step("again", checks=[contains("NOTES.md", "y")])]),
        },
    ]
    s = write_script(tmp_path / "script.json", planner, [])
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0

    proposed = planloop(ws, "replan", "--reason", "merge the steps", *models(s))
    assert proposed.returncode == 3, proposed.stdout + proposed.stderr
    assert "waiting for you" in proposed.stdout
    pending = record(ws).pending
    assert pending and pending.kind == "revision" and pending.proposal
    assert [x.id for x in pending.proposal.steps] == ["everything"]

    again = planloop(ws, "reject", "--feedback", "keep the two steps", *models(s))
    assert again.returncode == 3, again.stdout + again.stderr
    assert "revision rejected" in again.stdout and "proposed v2" in again.stdout
    pending = record(ws).pending
    assert pending and pending.proposal and [x.id for x in pending.proposal.steps] == ["again"]

    stop = planloop(ws, "reject", *models(s))
    assert stop.returncode == 4, stop.stdout + stop.stderr
    assert "stopped: re-plan v2 rejected" in stop.stdout
    rec = record(ws)
    assert rec.state == "stopped" and rec.pending is None
    assert rec.plan.version == 1 and rec.replans_used == 2  # nothing rejected became a version
    assert [x.id for x in rec.plan.steps] == ["square", "notes"]
    assert not (plan_dir(ws) / "v2.json").exists()

    nothing = planloop(ws, "approve", *models(s))
    assert nothing.returncode == 1 and "nothing awaits a decision" in nothing.stderr


def test_replan_budget_exhausted_exits_4_with_the_partial_result(ws: Path, tmp_path: Path) -> None:
    (ws / "planloop.toml").write_text(NO_WORKSPACE_CHECKS + "[budgets]\nreplans = 0\n")
    wrong = write("calculator/calc.py", "def cube(x):\n    return x ** 3\n")
    s = write_script(
        tmp_path / "script.json",
        [two_step_plan()],
        [wrong, report(True, "added"), wrong, report(True, "added again")],
    )
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    res = planloop(ws, "run", "--all", "--yes", *models(s))
    assert res.returncode == 4, res.stdout + res.stderr
    assert "re-plan budget (0) exhausted" in res.stdout and "0/2 steps passed" in res.stdout
    assert "✗ calculator/calc.py contains /def square/" in res.stdout
    assert "↻ retrying once" in res.stdout
    rec = record(ws)
    assert rec.state == "stopped"
    assert [(x.status, x.attempts) for x in rec.plan.steps] == [("failed", 2), ("pending", 0)]


def test_dollar_budget_waits_then_reject_stops_with_exit_4(ws: Path, tmp_path: Path) -> None:
    (ws / "planloop.toml").write_text(NO_WORKSPACE_CHECKS + "[budgets]\nusd = 0.5\n")
    work = two_step_work(ws)
    costly = {"content": work[0], "usage": {"input_tokens": 300_000, "output_tokens": 10}}
    s = write_script(
        tmp_path / "script.json",
        [two_step_plan()],
        [costly, *work[1:]],
        price_as={"executor": "claude-sonnet-5-5"},
    )
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    waiting = planloop(ws, "run", "--all", *models(s))
    assert waiting.returncode == 3, waiting.stdout + waiting.stderr
    assert "budget awaits approval" in waiting.stdout and "of its $0.50 budget" in waiting.stdout
    rec = record(ws)
    assert rec.pending and rec.pending.kind == "budget" and rec.plan.cost_usd > 0.5
    assert [x.status for x in rec.plan.steps] == ["passed", "pending"]

    stop = planloop(ws, "reject", *models(s))
    assert stop.returncode == 4, stop.stdout + stop.stderr
    assert "dollar budget reached" in stop.stdout and "1/2 steps passed" in stop.stdout
    assert not (ws / "NOTES.md").exists()


# --- bad input ---------------------------------------------------------------------------------


def test_usage_error_exits_2(ws: Path) -> None:
    both = planloop(ws, "run", "--all", "--step", "x")
    assert both.returncode == 2
    assert "not allowed with argument --all" in both.stderr
    no_goal = planloop(ws, "plan")
    assert no_goal.returncode == 2 and "goal" in no_goal.stderr
    assert not (ws / ".planloop").exists()


def test_command_before_any_plan_exits_1_saying_no_plan_yet(ws: Path) -> None:
    for args in (("status", "--json"), ("run", "--all", "--yes"), ("diff", "square")):
        res = planloop(ws, *args)
        assert res.returncode == 1, args
        assert "no plan yet: create one first (planloop plan GOAL)" in res.stderr, args
        assert "Traceback" not in res.stderr, args
    assert not (ws / ".planloop" / "current").exists()


def test_missing_workspace_dir_is_a_clear_error(ws: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    for args in (("status",), ("plan", GOAL, "--yes")):
        res = planloop(ws, *args, "--workspace", str(missing))
        assert res.returncode == 1, args
        assert f"workspace {missing} is not a directory" in res.stderr, args
        assert "Traceback" not in res.stderr
    assert not missing.exists()


def test_corrupt_run_json_exits_1_naming_the_file_and_leaves_it(ws: Path, tmp_path: Path) -> None:
    s = write_script(tmp_path / "script.json", [two_step_plan()], two_step_work(ws))
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    run_file = plan_dir(ws) / "run.json"
    damaged = run_file.read_bytes()[:-40]  # a truncated save, as a crashed editor might leave
    run_file.write_bytes(damaged)
    for args in (("status", "--json"), ("run", "--all", "--yes", *models(s))):
        res = planloop(ws, *args)
        assert res.returncode == 1, args
        assert f"{run_file} is corrupt" in res.stderr, args
        assert "Traceback" not in res.stderr
    assert run_file.read_bytes() == damaged
    assert "def square" not in (ws / "calculator" / "calc.py").read_text()  # nothing ran


def test_a_torn_log_line_is_one_warning_naming_the_file_and_line(ws: Path, tmp_path: Path) -> None:
    """Issue 15: tolerated, never fatal (it used to exit 1); the file is left as it is."""
    s = write_script(tmp_path / "script.json", [two_step_plan()], [])
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    log = plan_dir(ws) / "log.jsonl"
    with log.open("a") as f:
        f.write('{"type": "half an ev\n')
    damaged = log.read_bytes()
    n = len(damaged.decode().splitlines())
    res = planloop(ws, "log", "--json")
    assert res.returncode == 0, res.stderr
    assert (
        res.stderr.strip()
        == f"warning: {log}:{n}: not a JSON event (Unterminated string starting at); line skipped"
    )
    assert len(res.stdout.splitlines()) == n - 1
    assert log.read_bytes() == damaged


def test_clean_reset_shadow_starts_fresh_after_a_damaged_checkpoint_repo(
    calc_ws: Path, tmp_path: Path
) -> None:
    from planloop.checkpoints.store import CheckpointStore

    cp = CheckpointStore(calc_ws)
    cp.snapshot("x")
    (calc_ws / ".planloop" / "shadow.git" / "HEAD").write_text("garbage\n")
    before = (calc_ws / "calculator" / "calc.py").read_bytes()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "planloop.cli",
            "--workspace",
            str(calc_ws),
            "clean",
            "--reset-shadow",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "moved aside" in res.stdout
    assert list((calc_ws / ".planloop").glob("shadow.git.broken-*"))
    assert CheckpointStore(calc_ws).snapshot("fresh")
    assert (calc_ws / "calculator" / "calc.py").read_bytes() == before


def test_a_revert_that_left_a_conflict_keeps_the_step_and_says_what_to_do(
    ws: Path, tmp_path: Path
) -> None:
    """Issue i25: a revert that restored one file and left another in conflict marked the
    step ``reverted`` while its change was still in the conflicted file."""
    both = step(
        "both",
        "Add square() and notes",
        checks=[contains("calculator/calc.py", "def square")],
        files=["calculator/calc.py", "NOTES.md"],
    )
    calc = (ws / "calculator" / "calc.py").read_text() + SQUARE
    s = write_script(
        tmp_path / "script.json",
        [submit(GOAL, [both])],
        [write("calculator/calc.py", calc), write("NOTES.md", "notes\n"), report(True)],
    )
    original = (ws / "calculator" / "calc.py").read_bytes()
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    run = planloop(ws, "run", "--all", "--yes", *models(s))
    assert run.returncode == 0, run.stdout + run.stderr

    (ws / "NOTES.md").write_text("the user's own notes\n")
    res = planloop(ws, "revert", "both")
    assert res.returncode == 4, res.stdout + res.stderr
    assert "restored calculator/calc.py" in res.stdout
    assert "conflict NOTES.md" in res.stdout
    assert (ws / "calculator" / "calc.py").read_bytes() == original
    assert (ws / "NOTES.md").read_text() == "the user's own notes\n"  # the user's change wins
    # the step's change is still in NOTES.md, so the step is not reverted
    assert {x.id: x.status for x in record(ws).plan.steps} == {"both": "passed"}
    assert "not reverted" in res.stdout and "planloop revert both" in res.stdout

    # the user puts NOTES.md back as it was before the step: the next revert finishes
    (ws / "NOTES.md").unlink()
    again = planloop(ws, "revert", "both")
    assert again.returncode == 0, again.stdout + again.stderr
    assert {x.id: x.status for x in record(ws).plan.steps} == {"both": "reverted"}


def test_diff_and_revert_after_clean_say_the_checkpoints_were_cleaned(
    ws: Path, tmp_path: Path
) -> None:
    """Issue i25: after ``planloop clean`` dropped a finished plan's checkpoints, ``diff``
    and ``revert`` of its steps answered ``no such checkpoint: '<sha>' in …/shadow.git``."""
    s = write_script(tmp_path / "script.json", [two_step_plan()], two_step_work(ws))
    assert planloop(ws, "plan", GOAL, "--yes", *models(s)).returncode == 0
    assert planloop(ws, "run", "--all", "--yes", *models(s)).returncode == 0
    changed = (ws / "calculator" / "calc.py").read_bytes()
    clean = planloop(ws, "clean")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    for args in (["diff", "square"], ["revert", "square"], ["cat", "square", "NOTES.md"]):
        res = planloop(ws, *args)
        assert res.returncode == 1, (args, res.stdout, res.stderr)
        line = one_error_line(res.stderr)
        assert "no such checkpoint" not in line and "shadow.git" not in line, line
        assert "step 'square'" in line and "planloop clean" in line, line
        assert "git" in line  # what is still possible: the user's own version control
    assert (ws / "calculator" / "calc.py").read_bytes() == changed  # nothing was touched
    assert {x.id: x.status for x in record(ws).plan.steps} == {
        "square": "passed",
        "notes": "passed",
    }


def test_a_rejected_submit_plan_shows_why_in_the_output_and_the_log(
    ws: Path, tmp_path: Path
) -> None:
    """A plan the validation refused names its problems where the user watches (the tool
    line) and in log.jsonl, not a bare "(rejected)": otherwise a planner that burns its
    attempts on invalid plans leaves nothing to go on."""
    bad = submit(
        GOAL,
        [
            step("square", checks=[contains("calculator/calc.py", "def square")]),
            step("square", checks=[contains("calculator/calc.py", "def square")]),
        ],
    )
    s = write_script(tmp_path / "s.json", [bad, two_step_plan()], [])
    res = planloop(ws, "plan", GOAL, "--yes", *models(s))
    assert res.returncode == 0, res.stdout + res.stderr
    line = next(x for x in res.stdout.splitlines() if "submit_plan (rejected" in x)
    assert "duplicate step id" in line.lower() and "square" in line, line
    logged = [json.loads(x) for x in (plan_dir(ws) / "log.jsonl").read_text().splitlines()]
    calls = [e["line"] for e in logged if e["type"] == "tool_call"]
    rejected = [c for c in calls if c.startswith("submit_plan (rejected")]
    assert len(rejected) == 1 and "duplicate step id" in rejected[0].lower(), calls
    assert "\n" not in rejected[0]


def test_a_plan_remembers_its_models_and_a_later_flag_or_setting_overrides(
    ws: Path, tmp_path: Path
) -> None:
    """`plan --planner X --executor Y` then a bare `run --all` runs with X and Y, not the
    defaults (silently another provider, or a key error); status shows them; a flag given
    later wins and is remembered; a planloop.toml model set after planning wins too."""
    s = write_script(tmp_path / "s.json", [two_step_plan()], two_step_work(ws)[:2])
    spec = f"scripted:{s}"
    plan = planloop(ws, "plan", GOAL, "--yes", *models(s))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    data = status(ws)
    assert data["planner_spec"] == spec and data["executor_spec"] == spec
    text = planloop(ws, "status")
    assert f"models: planner {spec} · executor {spec}" in text.stdout, text.stdout

    first = planloop(ws, "run", "--step", "square", "--yes")  # no model flags
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"executor: {spec}" in first.stdout
    assert record(ws).plan.step("square").status == "passed"

    # a flag given later wins, and the plan remembers it
    other = write_script(tmp_path / "other.json", [], two_step_work(ws)[2:])
    later = f"scripted:{other}"
    res = planloop(ws, "run", "--step", "notes", "--yes", "--executor", later)
    assert res.returncode == 0, res.stdout + res.stderr
    data = status(ws)
    assert data["executor_spec"] == later and data["planner_spec"] == spec

    # planloop.toml naming a model after planning wins over the remembered one
    (ws / "planloop.toml").write_text(NO_WORKSPACE_CHECKS + 'executor = "openai:gpt-5-mini"\n')
    env = cli_env(OPENAI_API_KEY="")
    res = planloop(ws, "doctor", env=env)
    assert "openai:gpt-5-mini" in res.stdout + res.stderr
    assert later not in res.stdout


def test_a_waiting_question_remembers_its_planner_for_answer(ws: Path, tmp_path: Path) -> None:
    """`plan --planner X` asks a question; `planloop answer 1` without flags goes on with
    X (the conversation is X's), not the default planner."""
    ask = [tool("ask_user", question="Which file?", options=["NOTES.md", "README.md"])]
    s = write_script(tmp_path / "s.json", [ask, two_step_plan()], [])
    res = planloop(ws, "plan", GOAL, *models(s))
    assert res.returncode == 3, res.stdout + res.stderr
    res = planloop(ws, "answer", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "option 1: NOTES.md" in res.stdout
    assert record(ws).plan.questions[0].answer == "NOTES.md"
    assert status(ws)["planner_spec"] == f"scripted:{s}"


def test_plan_makes_the_checkpoint_repository_while_the_planner_works(tmp_path: Path) -> None:
    """The first run's before-checkpoint should cost a warm index's scan, not a checkpoint
    repository's creation and first full hash: on a big tree ``plan`` stages it meanwhile
    (here 10,000 index entries, written straight into the index: no files to make). A
    small tree is not worth the child process: its first checkpoint is made by the run."""
    s = write_script(tmp_path / "script.json", [two_step_plan()], [])
    for entries, staged in ((10_000, True), (10, False)):
        ws = fresh_copy(tmp_path / f"calc{entries}")
        env = {**cli_env(), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        git = ["git", "-C", str(ws)]
        subprocess.run([*git, "init", "-q"], check=True, env=env)
        blob = subprocess.run(
            [*git, "hash-object", "-w", "--stdin"],
            input="x\n",
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.strip()
        info = "".join(f"100644 {blob}\tgen/f{i}.txt\n" for i in range(entries))
        subprocess.run(
            [*git, "update-index", "--index-info"], input=info, text=True, check=True, env=env
        )
        plan = planloop(ws, "plan", GOAL, "--yes", *models(s))
        assert plan.returncode == 0, plan.stderr
        shadow = ws / ".planloop" / "shadow.git"
        assert (shadow / "index").is_file() == staged, entries
        assert not list(shadow.glob("refs/planloop/*"))  # staged at most, no checkpoint


def test_the_console_script_skips_teardown_but_not_what_a_normal_exit_does(
    tmp_path: Path,
) -> None:
    """``entry`` ends the process without freeing every object (tens of milliseconds),
    yet first does what the interpreter's exit does: threading's exit hooks (an idle
    pool worker is woken, not waited for forever), threads that are not daemons
    joined, the atexit handlers, output a pipe still holds flushed; the exit code is
    main's."""
    script = tmp_path / "entry.py"
    script.write_text(
        "import atexit, sys, threading, time\n"
        "import planloop.cli as cli\n"
        "out = sys.argv[1]\n"
        "def fake_main(argv=None, *, warm=False):\n"
        "    atexit.register(lambda: open(out + '/atexit', 'w').write('ran'))\n"
        "    def late():\n"
        "        time.sleep(0.3)\n"
        "        open(out + '/thread', 'w').write('done')\n"
        "    threading.Thread(target=late).start()\n"
        "    from concurrent.futures import ThreadPoolExecutor\n"
        "    ThreadPoolExecutor(1).submit(lambda: None)  # an idle worker, never shut down\n"
        "    sys.stdout.write('still buffered')\n"
        "    return 3\n"
        "cli.main = fake_main\n"
        "cli.entry()\n"
        "open(out + '/after', 'w').write('entry returned')\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3 and proc.stdout == "still buffered", proc.stderr
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"
    assert not (tmp_path / "after").exists()


def test_loading_a_command_leaves_garbage_collection_as_it_was() -> None:
    import gc

    from planloop.cli import command

    assert gc.isenabled()
    command("status")
    assert gc.isenabled()
    gc.disable()
    try:
        command("status")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_run_starts_its_staging_before_rich_gitpython_or_pydantic_load() -> None:
    """What ``main`` loads before it starts the early staging and the sandbox probe, and
    all the staging's child loads: none of the heavy libraries."""
    code = (
        "import sys\n"
        "from planloop.cli.parser import build_parser\n"
        "build_parser().parse_args(['run'])\n"
        "import planloop.checkpoints.ahead, planloop.checkpoints.shadow_repo\n"
        "import planloop.workspace.bwrap\n"
        "print(sorted(m for m in ('rich', 'git', 'pydantic', 'asyncio') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"

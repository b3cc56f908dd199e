"""Finding 2 of issue 15, and the invariant under ``kill -9`` at every phase of a step.

A real ``planloop run --all --yes`` process (scripted models, real tools, real git)
SIGKILLs itself at a chosen point through ``PLANLOOP_FAULT`` (``planloop.faults``): no
handler, ``finally`` or flush runs. Before the fix, ``diff``/``revert`` of the
interrupted step said "has not run yet" although it had half-edited files, and
``status`` said "running" while no process ran. After each kill now:

- ``status`` says the run was interrupted and that ``planloop run`` resumes it, and
  ``status --json`` has ``"interrupted": true``;
- ``diff`` of the interrupted step shows exactly the half-done edits, ``revert``
  restores exactly them (exit 0);
- the next ``planloop run`` resumes and finishes; no command prints a traceback.

The hypothesis test kills a random short plan at a random point and checks the
invariant itself: every byte that differs from the original workspace belongs to some
step's diff, and reverting every step gives the original workspace back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from killkit import PLANLOOP, cli_env, flat, planloop

from helpers import report, step, submit, tool, trust
from planloop.state.store import PlanStore

GOAL = "Add square() and a notes file"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"
SETTINGS = "workspace_checks = []\n"


def spec(script: Path) -> list[str]:
    s = f"scripted:{script}"
    return ["--planner", s, "--executor", s]


def run_killed(ws: Path, script: Path, fault: str) -> int:
    """``planloop run --all --yes`` with ``PLANLOOP_FAULT=fault``; its exit code."""
    proc = subprocess.run(
        [PLANLOOP, "run", "--all", "--yes", *spec(script)],
        cwd=ws,
        env=cli_env({"PLANLOOP_FAULT": fault}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.returncode


def files_of(ws: Path) -> dict[str, bytes]:
    """Every file of the workspace but planloop's own state, by relative path."""
    return {
        p.relative_to(ws).as_posix(): p.read_bytes()
        for p in ws.rglob("*")
        if p.is_file() and ".planloop" not in p.relative_to(ws).parts
    }


def diff_files(ws: Path, script: Path, step_id: str) -> set[str] | None:
    """The files ``planloop diff STEP --stat`` lists; None: the step has not run."""
    res = planloop(ws, "diff", step_id, "--stat", *spec(script))
    if res.returncode == 1 and "has not run yet" in res.stderr:
        return None
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()[1:]
    return {ln.split()[0] for ln in lines if ln.strip() and ln.strip() != "no changes"}


def status_json(ws: Path) -> dict[str, Any]:
    res = planloop(ws, "status", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


# --- each phase of a step, deterministically ------------------------------------------------

NOTES = [[tool("write_file", path="NOTES.md", content="notes\n")], report(True, "notes")]


def square_turns(calc: str) -> list[Any]:
    return [
        [
            tool("write_file", path="calculator/calc.py", content=calc + SQUARE),
            tool("write_file", path="scratch.txt", content="half done\n"),
        ],
        report(True, "added square()"),
    ]


#: phase: (fault, executor turns the killed run used up, files half-done by ``square``
#: — None when the attempt had not started, so ``square`` has no changes of its own)
#: Snapshots in the run: notes before/after = 1, 2; square before/after = 3, 4. Tool
#: calls: notes' write = 1; square's = 2, 3. run.json saves: notes 1-4, square 5
#: (running), 6 (its attempt's before-checkpoint), 7 (its after-checkpoint).
PHASES: dict[str, tuple[str, int, set[str] | None]] = {
    "before-the-first-tool-call": ("tool@2", 3, set()),
    "between-two-edits": ("tool@3", 3, {"calculator/calc.py"}),
    "during-checks": ("check@2", 4, {"calculator/calc.py", "scratch.txt"}),
    "while-the-after-checkpoint-is-written": (
        "checkpoint@4",
        4,
        {"calculator/calc.py", "scratch.txt"},
    ),
    "while-the-before-checkpoint-is-written": ("checkpoint@3", 2, None),
    "while-run-json-records-the-attempt": ("write:run.json@6", 3, None),
    "while-run-json-records-the-after-checkpoint": (
        "write:run.json@7",
        4,
        {"calculator/calc.py", "scratch.txt"},
    ),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_kill_9_at_each_phase_leaves_a_step_that_status_diff_revert_and_run_handle(
    phase: str, calc_ws: Path, tmp_path: Path
) -> None:
    fault, used, half_done = PHASES[phase]
    (calc_ws / "planloop.toml").write_text(SETTINGS)
    calc_py = calc_ws / "calculator" / "calc.py"
    calc = calc_py.read_text()
    notes = step("notes", "Write notes", checks=[{"kind": "file_exists", "path": "NOTES.md"}])
    square = step(
        "square",
        "Add square()",
        checks=[{"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def square"}],
        deps=["notes"],
    )
    first = ([*NOTES, *square_turns(calc)])[:used]
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "planner": [submit(GOAL, [notes, square])],
                "executor": [*first, *square_turns(calc)],
            }
        )
    )
    assert planloop(calc_ws, "plan", GOAL, "--yes", *spec(script)).returncode == 0
    original = files_of(calc_ws)

    assert run_killed(calc_ws, script, fault) == -signal.SIGKILL

    # status: interrupted, not "running" with nothing running
    res = planloop(calc_ws, "status")
    assert res.returncode == 0 and "interrupted — `planloop run` resumes it" in flat(res.stdout)
    data = status_json(calc_ws)
    assert data["interrupted"] is True and data["state"] == "running"

    # the interrupted step's diff is exactly what it half did
    now = files_of(calc_ws)
    changed = {p for p in set(now) | set(original) if now.get(p) != original.get(p)}
    assert changed == {"NOTES.md"} | (half_done or set())
    assert diff_files(calc_ws, script, "square") == half_done
    assert diff_files(calc_ws, script, "notes") == {"NOTES.md"}

    # revert puts back exactly those files
    res = planloop(calc_ws, "revert", "square", *spec(script))
    if half_done is None:
        assert res.returncode == 1 and "has not run yet" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    else:
        assert res.returncode == 0, res.stdout + res.stderr
        restored = {ln.split()[1] for ln in res.stdout.splitlines() if ln.startswith("restored ")}
        assert restored == half_done
    after_revert = files_of(calc_ws)
    assert after_revert == {**original, "NOTES.md": b"notes\n"}
    assert status_json(calc_ws)["interrupted"] is False

    # the next run resumes and finishes
    res = planloop(calc_ws, "run", "--all", "--yes", *spec(script))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "done: every step passed" in flat(res.stdout)
    assert "▶ notes" not in res.stdout  # the passed step does not run again
    assert calc_py.read_text() == calc + SQUARE
    rec = PlanStore(calc_ws).load()
    assert rec.state == "done"
    sq = rec.plan.step("square")
    assert sq.attempts == 1 and sq.attempt_log[-1].ended == "passed"
    if half_done is not None:
        assert [a.ended for a in sq.attempt_log] == ["interrupted", "passed"]
    assert not PlanStore(calc_ws).touched_path(rec.plan.plan_id).exists()


def test_killed_run_resumed_by_run_alone_rolls_back_the_half_edit_and_keeps_it_diffable(
    calc_ws: Path, tmp_path: Path
) -> None:
    """Without a revert, the next run recovers: it puts the half-done file back, runs the
    step again, and the step's diff still spans the interrupted attempt too."""
    (calc_ws / "planloop.toml").write_text(SETTINGS)
    calc = (calc_ws / "calculator" / "calc.py").read_text()
    square = step(
        "square",
        checks=[{"kind": "file_contains", "path": "calculator/calc.py", "pattern": "def square"}],
    )
    script = tmp_path / "script.json"
    first = square_turns(calc)[:1]
    script.write_text(
        json.dumps({"planner": [submit(GOAL, [square])], "executor": [*first, *square_turns(calc)]})
    )
    assert planloop(calc_ws, "plan", GOAL, "--yes", *spec(script)).returncode == 0
    assert run_killed(calc_ws, script, "tool@2") == -signal.SIGKILL
    assert diff_files(calc_ws, script, "square") == {"calculator/calc.py"}

    res = planloop(calc_ws, "run", "--all", "--yes", *spec(script))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "recovered an interrupted step square" in flat(res.stdout)
    sq = PlanStore(calc_ws).load().plan.step("square")
    assert [a.ended for a in sq.attempt_log] == ["interrupted", "passed"]
    first_attempt = sq.attempt_log[0]
    assert first_attempt.partial and first_attempt.files == []  # rolled back at recovery
    assert diff_files(calc_ws, script, "square") == {"calculator/calc.py", "scratch.txt"}


def test_kill_while_a_plan_version_is_written_leaves_the_revision_to_approve_again(
    calc_ws: Path, tmp_path: Path
) -> None:
    """Killed while v2.json is written (its temp file complete, not yet renamed): no torn
    version on disk, the re-plan still awaits its answer, and the next run adopts it."""
    (calc_ws / "planloop.toml").write_text(SETTINGS)
    check = {"kind": "file_contains", "path": "out.txt", "pattern": "right"}
    v1 = [step("a", "Write out.txt", checks=[check])]
    v2 = [step("b", "Write out.txt properly", checks=[check])]
    wrong = [tool("write_file", path="out.txt", content="wrong\n")]
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "planner": [submit(GOAL, v1), submit(GOAL, v2)],
                "executor": [
                    wrong,
                    report(True, "written"),
                    wrong,
                    report(True, "written again"),
                    [tool("write_file", path="out.txt", content="right\n")],
                    report(True, "right this time"),
                ],
            }
        )
    )
    assert planloop(calc_ws, "plan", GOAL, "--yes", *spec(script)).returncode == 0
    assert run_killed(calc_ws, script, "write:v2.json") == -signal.SIGKILL

    store = PlanStore(calc_ws)
    rec = store.load()
    assert store.versions(rec.plan.plan_id) == [1]  # no half-written version
    assert rec.state == "awaiting_approval" and rec.pending and rec.pending.kind == "revision"
    assert status_json(calc_ws)["interrupted"] is False  # nothing was running: it waits
    assert diff_files(calc_ws, script, "a") == {"out.txt"}

    res = planloop(calc_ws, "run", "--all", "--yes", *spec(script))
    assert res.returncode == 0, res.stdout + res.stderr
    rec = store.load()
    assert rec.state == "done" and rec.plan.version == 2
    assert store.versions(rec.plan.plan_id) == [1, 2]
    assert (calc_ws / "out.txt").read_text() == "right\n"
    # the replaced step's attempts stay reachable: its diff still answers
    assert [s.id for s in rec.replaced_steps] == ["a"]
    assert diff_files(calc_ws, script, "a") == {"out.txt"}


def test_kill_9_from_outside_mid_command_status_diff_and_revert_see_the_half_edit(
    calc_ws: Path, tmp_path: Path
) -> None:
    """The finding as a user hit it, without the fault hook: ``kill -9`` of the process
    group while the executor waits on a command after writing a file."""
    (calc_ws / "planloop.toml").write_text(SETTINGS + '[command_policy]\nallow = ["sleep*"]\n')
    trust(calc_ws)
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "planner": [
                    submit(
                        GOAL, [step("half", checks=[{"kind": "file_exists", "path": "half.txt"}])]
                    )
                ],
                "executor": [
                    [
                        tool("write_file", path="half.txt", content="half done\n"),
                        tool("run_command", command="sleep 4"),
                    ]
                ],
            }
        )
    )
    assert planloop(calc_ws, "plan", GOAL, "--yes", *spec(script)).returncode == 0
    original = files_of(calc_ws)
    proc = subprocess.Popen(
        [PLANLOOP, "run", "--all", "--yes", *spec(script)],
        cwd=calc_ws,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (calc_ws / "half.txt").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # into the command
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    res = planloop(calc_ws, "status")
    assert "interrupted — `planloop run` resumes it" in flat(res.stdout), res.stdout
    assert "running — running half" not in flat(res.stdout)
    assert status_json(calc_ws)["interrupted"] is True
    assert diff_files(calc_ws, script, "half") == {"half.txt"}  # was: "has not run yet"
    res = planloop(calc_ws, "revert", "half", *spec(script))
    assert res.returncode == 0 and "restored half.txt" in flat(res.stdout), res.stdout
    assert files_of(calc_ws) == original


# --- a random kill point in a random short plan ----------------------------------------------

POOL = ["a.txt", "b.txt", "src/c.txt", "src/d.txt"]


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[list[tuple[str, str]]], str]:
    """Steps, each writing 1-2 files (path, content), and a fault point within the run."""
    n = draw(st.integers(1, 3))
    steps = [
        [
            (path, f"step {i} wrote {path} {draw(st.integers(0, 9))}\n")
            for path in draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=2, unique=True))
        ]
        for i in range(n)
    ]
    tools = sum(len(s) for s in steps)
    fault = draw(
        st.sampled_from(
            [f"tool@{k}" for k in range(1, tools + 1)]
            + [f"checkpoint@{k}" for k in range(1, 2 * n + 1)]
            + [f"check@{k}" for k in range(1, n + 1)]
            + [f"write:run.json@{k}" for k in range(1, 4 * n + 2)]
        )
    )
    return steps, fault


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=plans())
def test_after_a_kill_at_a_random_point_every_changed_byte_is_in_some_steps_diff(
    case: tuple[list[list[tuple[str, str]]], str],
) -> None:
    steps, fault = case
    with tempfile.TemporaryDirectory() as d:
        ws = Path(d) / "ws"
        (ws / "src").mkdir(parents=True)
        (ws / "a.txt").write_text("original a\n")
        (ws / "src" / "c.txt").write_text("original c\n")
        (ws / "planloop.toml").write_text(SETTINGS)
        plan_steps = [
            step(
                f"s{i}",
                checks=[{"kind": "file_contains", "path": w[-1][0], "pattern": f"step {i}"}],
                deps=[f"s{i - 1}"] if i else [],
            )
            for i, w in enumerate(steps)
        ]
        executor: list[Any] = []
        for writes in steps:
            executor += [[tool("write_file", path=p, content=c) for p, c in writes]]
            executor += [report(True, "written")]
        script = Path(d) / "script.json"
        script.write_text(json.dumps({"planner": [submit(GOAL, plan_steps)], "executor": executor}))
        assert planloop(ws, "plan", GOAL, "--yes", *spec(script)).returncode == 0
        original = files_of(ws)

        rc = run_killed(ws, script, fault)
        assert rc in (0, -signal.SIGKILL), rc  # 0: the point was never reached
        data = status_json(ws)
        assert data["interrupted"] is (data["state"] == "running")

        now = files_of(ws)
        changed = {p for p in set(now) | set(original) if now.get(p) != original.get(p)}
        covered: set[str] = set()
        for s in plan_steps:
            covered |= diff_files(ws, script, s["id"]) or set()
        assert changed <= covered, f"changed outside any step's diff: {changed - covered}"

        for s in reversed(plan_steps):
            res = planloop(ws, "revert", s["id"], *spec(script))
            assert res.returncode in (0, 1), res.stdout + res.stderr
            if res.returncode == 1:
                assert "has not run yet" in res.stderr
        assert files_of(ws) == original
        shutil.rmtree(ws / ".planloop", ignore_errors=True)

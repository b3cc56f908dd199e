"""A run killed mid-step resumes consistently; a command that hangs does not hang the run.

The run is a real ``planloop run --all --yes`` process, SIGKILLed (no cleanup code runs)
while its executor waits on a real ``sleep`` after writing files. The next
``planloop run`` must find the step ``running``, report it with its partial files, put
them back to the step's before-checkpoint and run the step again, continuing the same
script (its position is kept in ``.planloop/scripted-state.json``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import report, step, submit, tool, trust, write
from planloop.state.store import PlanStore

PLANLOOP = str(Path(sys.executable).with_name("planloop"))
GOAL = "Add square() and a notes file"
SQUARE = "\n\ndef square(x: float) -> float:\n    return x * x\n"
DIV_TAIL = '        raise ZeroDivisionError("division by zero")\n    return a / b\n'
SETTINGS = """workspace_checks = []

[command_policy]
allow = ["sleep*"]
"""


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLANLOOP_"))}
    env["PLANLOOP_MODE"] = "split"  # these scripts were written for the split loop
    env["PLANLOOP_WARM"] = "off"  # the process signalled is the command's own (warm: test_warm)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["COLUMNS"] = "200"
    return env


def args_for(script_path: Path, *args: str) -> list[str]:
    spec = f"scripted:{script_path}"
    return [PLANLOOP, *args, "--planner", spec, "--executor", spec]


def planloop(ws: Path, script_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args_for(script_path, *args),
        cwd=ws,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_script(path: Path, planner: list[Any], executor: list[Any]) -> Path:
    path.write_text(json.dumps({"planner": planner, "executor": executor}))
    return path


def contains(path: str, pattern: str) -> dict[str, str]:
    return {"kind": "file_contains", "path": path, "pattern": pattern}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (commands run in their own session, outside its group)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            out += [child, *descendants(child)]
    return out


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def wait_for(what: str, ok: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not ok():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def logged(ws: Path, event_type: str, step_id: str) -> bool:
    plans = ws / ".planloop" / "plans"
    for log in plans.glob("*/log.jsonl") if plans.is_dir() else []:
        for line in log.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:  # a line being appended right now
                continue
            if e.get("type") == event_type and e.get("step_id") == step_id:
                return True
    return False


def test_killed_run_resumes_from_the_steps_before_checkpoint(calc_ws: Path, tmp_path: Path) -> None:
    (calc_ws / "planloop.toml").write_text(SETTINGS)
    trust(calc_ws)
    calc = calc_ws / "calculator" / "calc.py"
    original = calc.read_text()
    assert DIV_TAIL in original
    planner = [
        submit(
            GOAL,
            [
                step("notes", "Write notes", checks=[{"kind": "file_exists", "path": "NOTES.md"}]),
                step(
                    "square",
                    "Add square()",
                    checks=[contains("calculator/calc.py", "def square")],
                    files=["calculator/calc.py"],
                    deps=["notes"],
                ),
            ],
        )
    ]
    executor = [
        # notes: passes before the crash and must not run again
        write("NOTES.md", "notes\n"),
        report(True, "notes written"),
        # square, attempt 1: clobbers calc.py, adds a file, then waits on a slow command
        [
            tool("write_file", path="calculator/calc.py", content="PARTIAL = True\n"),
            tool("write_file", path="scratch.txt", content="half done\n"),
            tool("run_command", command="sleep 30"),
        ],
        # square after the restart: it must find calc.py as it was before attempt 1
        [tool("read_file", path="calculator/calc.py")],
        {
            "expect": 'raise ZeroDivisionError("division by zero")',
            "content": [
                tool("edit_file", path="calculator/calc.py", old=DIV_TAIL, new=DIV_TAIL + SQUARE)
            ],
        },
        report(True, "added square()"),
    ]
    s = write_script(tmp_path / "script.json", planner, executor)
    assert planloop(calc_ws, s, "plan", GOAL, "--yes").returncode == 0

    out_file = tmp_path / "killed.out"
    with out_file.open("wb") as out:
        proc = subprocess.Popen(
            args_for(s, "run", "--all", "--yes"),
            cwd=calc_ws,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sleepers: list[int] = []
    try:
        wait_for("square to start", lambda: logged(calc_ws, "step_started", "square"), proc)
        wait_for("the partial file", lambda: (calc_ws / "scratch.txt").exists(), proc)

        def sleeping() -> bool:
            sleepers[:] = [p for p in descendants(proc.pid) if "sleep" in cmdline(p)]
            return bool(sleepers)

        wait_for("the slow command", sleeping, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no handler, no finally: a crash
        proc.wait(timeout=10)
        for pid in sleepers:  # the command has its own session; end it too
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode == -signal.SIGKILL
    assert "▶ square" in out_file.read_text()

    # the record on disk is valid and says what was happening
    rec = PlanStore(calc_ws).load()
    assert rec.state == "running"
    notes, square = rec.plan.step("notes"), rec.plan.step("square")
    assert notes.status == "passed"
    assert square.status == "running" and square.attempts == 1
    assert square.result and square.result.checkpoint_before
    assert calc.read_text() == "PARTIAL = True\n"

    res = planloop(calc_ws, s, "run", "--all", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    recovered = next(
        line for line in res.stdout.splitlines() if "recovered an interrupted step" in line
    )
    assert "step square" in recovered
    assert "calculator/calc.py" in recovered and "scratch.txt" in recovered
    assert "put back to its before-checkpoint" in recovered
    assert "done: every step passed · 2/2 steps" in res.stdout
    assert "▶ notes" not in res.stdout  # a passed step is not run again

    # the partial edits were undone before the re-run (the script's `expect` saw the
    # original text) and the re-run's edit landed on the original file
    assert calc.read_text() == original.replace(DIV_TAIL, DIV_TAIL + SQUARE)
    assert not (calc_ws / "scratch.txt").exists()
    assert (calc_ws / "NOTES.md").read_text() == "notes\n"
    rec = PlanStore(calc_ws).load()
    assert rec.state == "done"
    assert [(x.status, x.attempts) for x in rec.plan.steps] == [("passed", 1), ("passed", 1)]
    events = PlanStore(calc_ws).events(rec.plan.plan_id)
    restore = next(e for e in events if e["type"] == "recovered_restore")
    assert sorted(restore["restored"]) == ["calculator/calc.py", "scratch.txt"]
    assert restore["conflicts"] == []


def test_command_that_hangs_past_its_timeout_does_not_hang_the_run(
    calc_ws: Path, tmp_path: Path
) -> None:
    (calc_ws / "planloop.toml").write_text(SETTINGS)
    trust(calc_ws)
    calc = calc_ws / "calculator" / "calc.py"
    # a value no other process uses, so a survivor can be found by its command line
    seconds = f"30.{random.randrange(10**6, 10**7)}"
    planner = [
        submit(GOAL, [step("square", checks=[contains("calculator/calc.py", "def square")])])
    ]
    executor = [
        [tool("run_command", command=f"sleep {seconds}", timeout_s=1)],
        {
            "expect": "timed out after 1 s",
            "content": write("calculator/calc.py", calc.read_text() + SQUARE),
        },
        report(True, "added square(); the slow command was skipped"),
    ]
    s = write_script(tmp_path / "script.json", planner, executor)
    assert planloop(calc_ws, s, "plan", GOAL, "--yes").returncode == 0
    start = time.monotonic()
    res = planloop(calc_ws, s, "run", "--all", "--yes")
    took = time.monotonic() - start
    assert res.returncode == 0, res.stdout + res.stderr
    assert f'run_command "sleep {seconds}" → timed out after 1 s' in res.stdout
    assert "done: every step passed" in res.stdout
    assert took < 15, f"the run took {took:.1f}s"
    survivors = [p for p in os.listdir("/proc") if p.isdigit() and seconds in cmdline(int(p))]
    assert survivors == [], "the timed-out command was left running"


def test_ctrl_c_cancels_the_step_rolls_it_back_and_the_run_resumes(
    calc_ws: Path, tmp_path: Path
) -> None:
    """SIGINT (Ctrl-C) is the terminal's Cancel: the command's process group is killed, the
    attempt's edits are rolled back, the run ends 'cancelled'; the next run does the step."""
    (calc_ws / "planloop.toml").write_text(SETTINGS)
    trust(calc_ws)
    calc = calc_ws / "calculator" / "calc.py"
    original = calc.read_text()
    seconds = f"30.{random.randrange(10**6, 10**7)}"
    planner = [
        submit(GOAL, [step("square", checks=[contains("calculator/calc.py", "def square")])])
    ]
    executor = [
        [
            tool("write_file", path="calculator/calc.py", content="PARTIAL = True\n"),
            tool("run_command", command=f"sleep {seconds}"),
        ],
        write("calculator/calc.py", original + SQUARE),
        report(True, "added square()"),
    ]
    s = write_script(tmp_path / "script.json", planner, executor)
    assert planloop(calc_ws, s, "plan", GOAL, "--yes").returncode == 0
    proc = subprocess.Popen(
        args_for(s, "run", "--all", "--yes"),
        cwd=calc_ws,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            "the slow command",
            lambda: any(seconds in " ".join(cmdline(p)) for p in descendants(proc.pid)),
            proc,
        )
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out
    assert "cancelling" in out and "cancelled" in out
    assert calc.read_text() == original  # the attempt's edit was rolled back
    survivors = [
        p for p in os.listdir("/proc") if p.isdigit() and seconds in " ".join(cmdline(int(p)))
    ]
    assert survivors == []
    rec = PlanStore(calc_ws).load()
    assert rec.state == "cancelled"
    assert rec.plan.step("square").status == "pending" and rec.plan.step("square").attempts == 0

    res = planloop(calc_ws, s, "run", "--all", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "def square" in calc.read_text()

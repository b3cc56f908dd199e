"""The CLI asks at a real terminal (a pty): review the plan, see the re-plan diff, answer."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from helpers import PYTEST_ALL, report, script, step, submit, write

GOAL = "Add a square() function"


class Terminal:
    """A child process on a pseudo-terminal, read and typed at like a person would."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 30.0, since: int = 0) -> str:
        """Wait for ``text`` to appear at or after offset ``since`` of the output."""
        end = time.monotonic() + timeout
        while text not in self.seen[since:]:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"exited before {text!r}:\n{self.seen}")
                self.seen += chunk.decode("utf-8", "replace")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def finish(self, timeout: float = 60.0) -> int:
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
        code = self.proc.wait(5)
        os.close(self.master)
        return code


def test_terminal_user_reviews_plan_and_approves_a_replan_after_seeing_the_diff(
    calc_ws: Path, tmp_path: Path
) -> None:
    calc = calc_ws / "calculator" / "calc.py"
    bad = calc.read_text() + "\n\ndef square(x):\n    return x +\n"
    good = calc.read_text() + "\n\ndef square(x: float) -> float:\n    return x * x\n"
    s = script(
        tmp_path,
        [
            submit(GOAL, [step("square", checks=[PYTEST_ALL])]),
            submit(GOAL, [step("square-again", checks=[PYTEST_ALL])], revision_reason="retry"),
        ],
        [write("calculator/calc.py", bad), report(True)] * 2
        + [write("calculator/calc.py", good), report(True)],
    )
    spec = f"scripted:{s}"
    cli = [sys.executable, "-m", "planloop.cli"]
    common = ["--workspace", str(calc_ws), "--planner", spec, "--executor", spec]
    subprocess.run([*cli, "plan", *common, GOAL], check=True, capture_output=True)

    term = Terminal([*cli, "run", *common, "--all"], calc_ws)
    term.expect("Review the plan")
    term.expect("Approve?")
    term.type("y")
    term.expect("Re-plan v2 proposed")
    # the re-plan's own prompt, not the plan review's earlier one: with a long diff the
    # prompt arrives well after the heading, and 'd' typed early is answered before it
    term.expect("Approve?", since=term.seen.index("Re-plan v2 proposed"))
    before = len(term.seen)
    term.type("d")  # the diff of the plan documents, again on request
    term.expect("Approve?", since=before)
    assert "+++ proposed" in term.seen[before:] and "square-again" in term.seen[before:]
    term.type("y")
    assert term.finish() == 0, term.seen
    assert "every step passed" in term.seen
    assert "def square(x: float)" in calc.read_text()


def test_terminal_user_rejects_with_feedback_and_the_run_stops(
    calc_ws: Path, tmp_path: Path
) -> None:
    s = script(tmp_path, [submit(GOAL, [step("square", checks=[PYTEST_ALL])])], [])
    spec = f"scripted:{s}"
    cli = [sys.executable, "-m", "planloop.cli"]
    common = ["--workspace", str(calc_ws), "--planner", spec, "--executor", spec]
    subprocess.run([*cli, "plan", *common, GOAL], check=True, capture_output=True)
    term = Terminal([*cli, "run", *common, "--all"], calc_ws)
    term.expect("Approve?")
    term.type("n")
    term.expect("Feedback for the planner")
    term.type("")
    assert term.finish() == 4, term.seen
    assert "rejected" in term.seen

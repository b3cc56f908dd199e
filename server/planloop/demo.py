"""``planloop demo``: the whole loop, offline, on a temporary copy of the bundled calculator.

It drives the same CLI commands a person would type, with scripted models (labelled as
such) so it runs anywhere without a key: plan → a step whose edit breaks an existing
test → the retry fails too → a re-plan with the failing test as evidence → approved →
every test passes. The user's files are never touched: everything happens in a copy.

The example project ships inside the package (``planloop/examples/calculator``, found
with :mod:`importlib.resources`), so ``pip install planloop && planloop demo`` works
the same as ``make demo`` in a checkout. The CLI's entry point is passed in
(``cli_main``): this module drives the CLI but does not import it, so ``cli`` → ``demo``
is the only edge between the two.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from planloop.approvals import NoApprover
from planloop.config import load_config
from planloop.errors import UsageError
from planloop.wiring import command_sandbox, open_session
from planloop.workspace.commands import run_command

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

console = Console(highlight=False)

CliMain = Callable[[list[str]], int]
"""The CLI's entry point: arguments in, exit code out (``planloop.cli.main``)."""

# where the example lives inside the package, and what a copy of it leaves out
EXAMPLE_RESOURCE = ("examples", "calculator")
SCRIPT = "demo.json"
SKIP = frozenset({".planloop", "__pycache__", ".pytest_cache"})


def bundled_example() -> Traversable:
    """The calculator shipped as package data; a clear error if this install lacks it.

    A wheel carries it inside the package; a source checkout (an editable install) keeps
    the one copy in the repository's top-level ``examples/``, which users also copy from.
    """
    found: Traversable = resources.files("planloop")
    for part in EXAMPLE_RESOURCE:
        found = found / part
    if not (found / SCRIPT).is_file():
        checkout = Path(str(resources.files("planloop"))).parents[1].joinpath(*EXAMPLE_RESOURCE)
        if (checkout / SCRIPT).is_file():
            return checkout
    if not (found / SCRIPT).is_file():
        where = "/".join(("planloop", *EXAMPLE_RESOURCE, SCRIPT))
        raise UsageError(
            f"the bundled demo project ({where}) is missing from this installation; "
            "reinstall planloop or pass --example DIR"
        )
    return found


def _example(example: str | None) -> Traversable:
    if not example:
        return bundled_example()
    src = Path(example).resolve()
    if not (src / SCRIPT).is_file():
        raise UsageError(f"--example {example}: no {SCRIPT} in {src}")
    return src


def _copy_tree(src: Traversable, dest: Path) -> None:
    """Copy a package-data folder (a real directory or inside a zip) to ``dest``."""
    dest.mkdir(parents=True)
    for entry in src.iterdir():
        if entry.name in SKIP:
            continue
        if entry.is_dir():
            _copy_tree(entry, dest / entry.name)
        else:
            (dest / entry.name).write_bytes(entry.read_bytes())


def run_demo(*, cli_main: CliMain, example: str | None = None, keep: bool = False) -> int:
    """Run the demo on a temporary copy of ``example`` (default: the bundled calculator).

    Raises :class:`UsageError` (one line, no traceback in the CLI) when the example or
    its ``demo.json`` cannot be found.
    """
    main = cli_main
    src = _example(example)
    if importlib.util.find_spec("pytest") is None:
        # the example's checks are `python -m pytest` run with this interpreter
        raise UsageError(
            f"the demo runs the example's pytest suite with {sys.executable}, "
            "which has no pytest: install it there (pip install pytest)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="planloop-demo-"))
    ws = tmp / src.name
    _copy_tree(src, ws)
    script = ws / SCRIPT
    # checks run `python -m pytest`: make `python` the interpreter planloop runs on
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    # the calculator needs no pytest plugins; skipping those of planloop's own environment
    # makes each check start in a fraction of a second
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    common = [
        "--workspace",
        str(ws),
        "--planner",
        f"scripted:{script}",
        "--executor",
        f"scripted:{script}",
        # the demo shows the split loop (plan, retry, re-plan); joint is `planloop eval`'s
        "--mode",
        "split",
    ]
    try:
        console.print(Rule("[bold]planloop demo[/] — offline, scripted models"))
        console.print(f"workspace: {ws} (a temporary copy of {src})\n")
        console.print(Rule("1. plan"))
        code = main(
            [
                "plan",
                *common,
                "--yes",
                "Make division by zero raise a clear CalculatorError instead of a bare "
                "ZeroDivisionError, and add a mean() function",
            ]
        )
        if code:
            return code
        console.print(Rule("2. run every step (re-plans approved with --yes)"))
        code = main(["run", *common, "--all", "--yes"])
        console.print(Rule("3. what each step changed"))
        for step_id, step_status in _status(common):
            if step_status in ("passed", "failed", "reverted"):
                main(["diff", *common, step_id, "--stat"])
        console.print(Rule("4. plan versions"))
        main(["show", *common, "--md"])
        console.print(Rule("5. final state"))
        main(["status", *common])
        # the suite runs the code the models wrote: in the sandbox, like every check
        tests = run_command(
            f"{shlex.quote(sys.executable)} -m pytest -q",
            cwd=ws,
            sandbox=command_sandbox(ws, load_config(ws)),
        )
        summary = (tests.output.strip().splitlines() or [f"no output ({tests.status})"])[-1]
        console.print(f"the calculator's own test suite: {summary}")
        return code
    finally:
        if keep:
            console.print(f"[dim]kept {ws}[/]")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _status(common: list[str]) -> list[tuple[str, str]]:
    """(step id, status) for each step of the current plan, read through the core API."""
    ws = Path(common[1])
    session = open_session(
        ws,
        config=load_config(ws, {"planner": common[3], "executor": common[5]}),
        approver=NoApprover(),
    )
    return [(step.id, step.status) for step in session.status().plan.steps]

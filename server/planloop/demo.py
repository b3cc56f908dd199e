"""``planloop demo``: the whole loop, offline, on a temporary copy of examples/calculator.

It drives the same CLI commands a person would type, with scripted models (labelled as
such) so it runs anywhere without a key: plan → a step whose edit breaks an existing
test → the retry fails too → a re-plan with the failing test as evidence → approved →
every test passes. The user's files are never touched: everything happens in a copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

console = Console(highlight=False)


def bundled_example() -> Path:
    """The calculator shipped inside the package, or the repository's copy in a checkout."""
    here = Path(__file__).resolve().parent
    for cand in (here / "_examples" / "calculator", here.parents[1] / "examples" / "calculator"):
        if (cand / "demo.json").is_file():
            return cand
    raise FileNotFoundError("examples/calculator with demo.json not found; pass --example DIR")


def run_demo(example: str | None = None, keep: bool = False) -> int:
    from .cli import main

    src = Path(example).resolve() if example else bundled_example()
    tmp = Path(tempfile.mkdtemp(prefix="planloop-demo-"))
    ws = tmp / src.name
    shutil.copytree(
        src, ws, ignore=shutil.ignore_patterns(".planloop", "__pycache__", ".pytest_cache")
    )
    script = ws / "demo.json"
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
        status = _status(common)
        for step in status["steps"]:
            if step["status"] in ("passed", "failed", "reverted"):
                main(["diff", *common, step["id"], "--stat"])
        console.print(Rule("4. plan versions"))
        main(["show", *common, "--md"])
        console.print(Rule("5. final state"))
        main(["status", *common])
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q"],
            cwd=ws,
            capture_output=True,
            text=True,
            check=False,
        )
        console.print(f"the calculator's own test suite: {tests.stdout.strip().splitlines()[-1]}")
        return code
    finally:
        if keep:
            console.print(f"[dim]kept {ws}[/]")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _status(common: list[str]) -> dict:
    import json

    from .approvals import NoApprover
    from .cli import status_json
    from .config import load_config
    from .wiring import build_orchestrator

    ws = Path(common[1])
    orch = build_orchestrator(
        ws,
        config=load_config(ws, {"planner": common[3], "executor": common[5]}),
        approver=NoApprover(),
    )
    return json.loads(json.dumps(status_json(orch)))

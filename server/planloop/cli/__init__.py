"""The headless front end: ``planloop plan | run | status | show | diff | cat | ...``.

A translation of :class:`planloop.api.Session`, arguments in and results out, like the
language server. Its modules, one concern each: ``parser`` (the grammar), ``console``
(terminal or pipe, colour or not: decided once per command), ``render`` (each shape of
output in its terminal and its plain form), ``progress`` (a run's event lines),
``approver`` (asking at a terminal), ``exits`` (the exit codes), ``common`` and the
``*_commands`` modules (the commands by group).

What it may import: anything below it (the api, the wiring, the eval runner, the demo,
the language server it starts with ``serve``), and rich and argparse; nothing imports it.
This module is the entry point (``planloop = "planloop.cli:main"``) and the table from a
subcommand to its function.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable

from rich.markup import escape

from planloop.cli import console
from planloop.cli.decision_commands import (
    cmd_answer,
    cmd_approve,
    cmd_edit,
    cmd_mode,
    cmd_reject,
)
from planloop.cli.eval_command import cmd_eval
from planloop.cli.exits import ERROR_EXIT, error_exit
from planloop.cli.inspect_commands import cmd_cat, cmd_diff, cmd_log, cmd_show, cmd_status
from planloop.cli.maintenance_commands import (
    cmd_acp,
    cmd_clean,
    cmd_doctor,
    cmd_serve,
    cmd_trust,
)
from planloop.cli.parser import build_parser
from planloop.cli.plan_commands import cmd_plan, cmd_replan, cmd_revert, cmd_run
from planloop.cli.render import one_line
from planloop.errors import PlanloopError
from planloop.redaction import redact

__all__ = ["main"]


def cmd_demo(args: argparse.Namespace) -> int:
    """Here, not with the other commands: the demo drives this module's ``main``."""
    from planloop.demo import run_demo

    return run_demo(example=args.example, keep=args.keep, cli_main=main)


#: subcommand → its function
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "plan": cmd_plan,
    "answer": cmd_answer,
    "run": cmd_run,
    "status": cmd_status,
    "show": cmd_show,
    "diff": cmd_diff,
    "cat": cmd_cat,
    "revert": cmd_revert,
    "replan": cmd_replan,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "mode": cmd_mode,
    "edit": cmd_edit,
    "log": cmd_log,
    "doctor": cmd_doctor,
    "trust": cmd_trust,
    "clean": cmd_clean,
    "serve": cmd_serve,
    "acp": cmd_acp,
    "eval": cmd_eval,
    "demo": cmd_demo,
}


def _fail(message: str, debug: bool) -> None:
    if debug:
        sys.stderr.write(redact(traceback.format_exc()))
    # soft_wrap: rich would otherwise wrap at 80 columns when stderr is not a terminal
    console.err.print(f"[red]error:[/] {escape(one_line(message))}", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Exactly one exit code for every outcome, and never a traceback without ``--debug``."""
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    with console.configured(getattr(args, "color", None)):
        try:
            return int(COMMANDS[args.cmd](args))
        except PlanloopError as e:
            _fail(str(e), debug)
            return error_exit(e)
        except BrokenPipeError:  # `planloop log | head`: the reader left, nothing is wrong
            sys.stderr.close()
            return 0
        except KeyboardInterrupt:
            console.err.print("[red]interrupted[/]")
            return 1
        except Exception as e:  # a bug: still one line and an exit code, never a traceback
            _fail(f"internal error: {type(e).__name__}: {e} (--debug shows where)", debug)
            return ERROR_EXIT["internal"]

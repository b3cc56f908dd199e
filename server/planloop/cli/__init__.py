"""The headless front end: ``planloop plan | run | status | show | diff | cat | ...``.

A translation of :class:`planloop.api.Session`, arguments in and results out, like the
language server. Its modules, one concern each: ``parser`` (the grammar), ``console``
(terminal or pipe, colour or not: decided once per command), ``render`` (each shape of
output in its terminal and its plain form), ``progress`` (a run's event lines),
``approver`` (asking at a terminal), ``exits`` (the exit codes), ``common`` and the
``*_commands`` modules (the commands by group).

What it may import: anything below it (the api, the wiring, the eval runner, the demo,
the language server it starts with ``serve``), and rich and argparse; nothing imports it.
This module is the entry point (``planloop = "planloop.cli:entry"``, which calls
:func:`main`) and the table from a subcommand to its function.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

# all a command handed to a warm planloop loads: the rest is imported where it is used
from planloop.cli.warm import COLD_COMMANDS, eligible, handoff, setting, start_beside

if TYPE_CHECKING:  # the import graph sees them; at run time, see COMMANDS
    import argparse

    from planloop.cli import (  # noqa: F401  (for the graph only)
        decision_commands,
        eval_command,
        inspect_commands,
        maintenance_commands,
        plan_commands,
    )

__all__ = ["entry", "main", "run_main"]


def cmd_demo(args: argparse.Namespace) -> int:
    """Here, not with the other commands: the demo drives this module's ``main``."""
    from planloop.demo import run_demo

    return run_demo(example=args.example, keep=args.keep, cli_main=main)


def cmd_acp(args: argparse.Namespace) -> int:
    """Here, with nothing but the settings flags: an editor waits for ``initialize``.
    Each session's folder is the client's ``cwd``, so ``--workspace`` plays no part."""
    from planloop.acp_agent.main import main as serve_acp
    from planloop.cli.overrides import overrides

    return serve_acp(overrides(args))


#: subcommand → its module and function. A command's module is imported when it runs, so
#: `planloop acp` answers an editor's ``initialize`` without loading every other command
#: (the models, checkpoints and rich's Markdown): bench/acp_latency.py measures it.
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("plan_commands", "cmd_plan"),
    "answer": ("decision_commands", "cmd_answer"),
    "run": ("plan_commands", "cmd_run"),
    "status": ("inspect_commands", "cmd_status"),
    "show": ("inspect_commands", "cmd_show"),
    "diff": ("inspect_commands", "cmd_diff"),
    "cat": ("inspect_commands", "cmd_cat"),
    "revert": ("plan_commands", "cmd_revert"),
    "replan": ("plan_commands", "cmd_replan"),
    "approve": ("decision_commands", "cmd_approve"),
    "reject": ("decision_commands", "cmd_reject"),
    "mode": ("decision_commands", "cmd_mode"),
    "edit": ("decision_commands", "cmd_edit"),
    "log": ("inspect_commands", "cmd_log"),
    "doctor": ("maintenance_commands", "cmd_doctor"),
    "trust": ("maintenance_commands", "cmd_trust"),
    "clean": ("maintenance_commands", "cmd_clean"),
    "serve": ("maintenance_commands", "cmd_serve"),
    "acp": ("", "cmd_acp"),
    "eval": ("eval_command", "cmd_eval"),
    "demo": ("", "cmd_demo"),
}


def command(name: str) -> Callable[[argparse.Namespace], int]:
    module, function = COMMANDS[name]
    if not module:  # defined here
        here: Callable[[argparse.Namespace], int] = globals()[function]
        return here
    # a command's imports make objects that all live on: collecting garbage among them
    # while they load is wasted time
    collecting = gc.isenabled()
    gc.disable()
    try:
        found: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"planloop.cli.{module}"), function
        )
    finally:
        if collecting:
            gc.enable()
    return found


def _fail(message: str, debug: bool) -> None:
    if debug:
        import traceback

        from planloop.redaction import redact

        sys.stderr.write(redact(traceback.format_exc()))
    # soft_wrap: rich would otherwise wrap at 80 columns when stderr is not a terminal
    from rich.markup import escape

    from planloop.cli import console
    from planloop.cli.render import one_line

    console.err.print(f"[red]error:[/] {escape(one_line(message))}", soft_wrap=True)


def main(argv: list[str] | None = None, *, warm: bool = False) -> int:
    """Exactly one exit code for every outcome, and never a traceback without ``--debug``.
    ``warm``: planloop is loaded already (see :mod:`.warm`), so no staging ahead: its
    point is to overlap git's scan with the loading, and a child process of its own
    would start later than the scan in this one."""
    from planloop.cli.exits import ERROR_EXIT, error_exit
    from planloop.cli.parser import build_parser
    from planloop.errors import PlanloopError

    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    if args.cmd == "run":  # git stages the work tree while Python loads the rest
        from pathlib import Path

        from planloop.checkpoints.ahead import stage_ahead
        from planloop.workspace.bwrap import start_probe

        if not warm:
            stage_ahead(Path(args.workspace))
        if (getattr(args, "sandbox", None) or os.environ.get("PLANLOOP_SANDBOX")) != "off":
            start_probe(Path(args.workspace))  # and the kernel answers the sandbox's probe
    # rich loads only now: parsing needs none of it, and a run's staging has started
    from planloop.cli import console

    with console.configured(getattr(args, "color", None)):
        try:
            return int(command(args.cmd)(args))
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


def load_commands() -> None:
    """Every command's modules but the cold ones': what a warm process loads once for all."""
    from planloop.cli import console  # noqa: F401  (rich)

    for name, (module, _) in COMMANDS.items():
        if module and name not in COLD_COMMANDS:
            importlib.import_module(f"planloop.cli.{module}")


def serve_warm(path: str, print_: str) -> None:
    """The warm process's start (see :mod:`.warm_server`): this CLI's commands, served."""
    from planloop.cli.warm_server import serve

    serve(path, print_, load=load_commands, run=lambda argv: run_main(argv, warm=True))


def run_main(argv: list[str], *, warm: bool = False) -> int:
    """:func:`main`, then what the interpreter's exit does first, in its order: threading's
    own exit hooks (which wake idle concurrent.futures workers) and every non-daemon
    thread joined, the ``atexit`` handlers (logging's flush, the early staging's child),
    both streams flushed. What it skips, the caller's ``os._exit`` skips: freeing every
    module and object one by one, 50-90 ms after the work is done."""
    import threading  # here: a command handed to a warm planloop needs none of it

    try:
        code = main(argv, warm=warm)
    except SystemExit as e:  # argparse's --help and usage errors
        code = _exit_code(e)
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    _flush()
    return code


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter makes of a ``SystemExit``."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")
    return 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            pass


def entry() -> NoReturn:
    """The console script and ``python -m planloop.cli``: the command handed to a warm
    planloop when one is running (:mod:`.warm`), else run here, with a warm one started
    beside it for the next command; then an exit without the interpreter's teardown."""
    argv = sys.argv[1:]
    try:
        code = handoff(argv)
    except KeyboardInterrupt:  # Ctrl-C before anything ran
        os._exit(130)
    if code is None and setting(os.environ) == "require" and eligible(argv, os.environ):
        sys.stderr.write("planloop: PLANLOOP_WARM=require, and no warm planloop took the command\n")
        os._exit(1)
    if code is None:
        start_beside(argv)
        code = run_main(argv)
    else:
        _flush()
    os._exit(code)

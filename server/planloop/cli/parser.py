"""The command line's grammar: every subcommand and flag, each with its help text.

Only the grammar: the command a parse names is looked up by ``args.cmd`` in the
package's table, so this module imports no command and each command module can use
what is defined here (:class:`Default`) without a cycle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from planloop import __version__
from planloop.cli.look import COLOR_CHOICES
from planloop.lsp.launch import add_serve_arguments


class Default(str):
    """The default ``--workspace``, told apart from an explicit ``--workspace .``: for
    ``serve`` an unset workspace means "the client's folders"."""


class _Subcommand(argparse.ArgumentParser):
    """A subcommand's parser that reports an unknown argument itself, with its own usage
    (``planloop serve --bogus`` shows serve's flags), instead of handing it up to the
    top level, whose usage lists only the subcommands."""

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _shared(defaults: bool, mode: bool = True) -> argparse.ArgumentParser:
    # the options are accepted before and after the subcommand; only the top level holds
    # defaults, so a subcommand's unset option cannot overwrite a value given before it
    # (`planloop --workspace DIR status`)
    d: Callable[[Any], Any] = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    c = argparse.ArgumentParser(add_help=False)
    c.add_argument("--workspace", default=d(Default(".")), help="workspace root (default: .)")
    c.add_argument(
        "--planner",
        default=d(None),
        help="planner model spec, e.g. anthropic:claude-opus-5-5 "
        "or scripted:FILE (env PLANLOOP_PLANNER)",
    )
    c.add_argument(
        "--executor", default=d(None), help="executor model spec (env PLANLOOP_EXECUTOR)"
    )
    if mode:  # eval's own --mode takes several
        c.add_argument(
            "--mode",
            choices=["auto", "split", "joint"],
            default=d(None),
            help="how a new plan runs: auto (the planner's horizon decides; default), "
            "split (planner + executor per step) or joint (one model, one loop) "
            "(env PLANLOOP_MODE)",
        )
    c.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default=d(None),
        help="colour the output: auto (default: on a terminal, unless NO_COLOR is set), "
        "always (a pipe too) or never. To a pipe or a file the output is plain text "
        "either way: no wrapping, no boxes",
    )
    c.add_argument(
        "--sandbox",
        choices=["auto", "off"],
        default=d(None),
        help="run model commands in the OS sandbox (auto, the default: refuse where none "
        "works) or off: with your full rights (env PLANLOOP_SANDBOX; docs/security.md)",
    )
    c.add_argument(
        "--sandbox-network",
        action="store_true",
        default=d(False),
        help="let sandboxed commands reach the network (loopback always works)",
    )
    c.add_argument(
        "--sandbox-writable",
        action="append",
        metavar="DIR",
        default=d(None),
        help="another folder sandboxed commands may write (repeatable; relative to the workspace)",
    )
    c.add_argument(
        "--repo-map-budget",
        type=float,
        metavar="SECONDS",
        default=d(None),
        help="seconds the repo map may take before the planner starts (default 2; the "
        "rest is parsed in the background) (env PLANLOOP_REPO_MAP_BUDGET_S)",
    )
    c.add_argument(
        "--debug",
        action="store_true",
        default=d(False),
        help="on an error, show the traceback too",
    )
    return c


def build_parser() -> argparse.ArgumentParser:
    common = _shared(defaults=False)
    common_no_mode = _shared(defaults=False, mode=False)
    p = argparse.ArgumentParser(
        prog="planloop", description="A plan-then-act coding agent.", parents=[_shared(True)]
    )
    # top level only: `show --version N` is a different option of one subcommand
    p.add_argument("--version", action="version", version=f"planloop {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Subcommand)

    def command(
        name: str, help: str, parents: list[argparse.ArgumentParser] | None = None
    ) -> argparse.ArgumentParser:
        # parents are plain parsers of shared options (typeshed wants the subcommand class)
        shared: Any = parents or [common]
        return sub.add_parser(name, parents=shared, help=help)

    yes_v1 = "approve plan v1 without asking"

    s = command("plan", "write a plan for GOAL")
    s.add_argument("goal", nargs="+", help="what the plan is for, in your words")
    s.add_argument("--yes", action="store_true", help=yes_v1)
    s.add_argument(
        "--in-repo",
        action="store_true",
        help="keep plan versions and plan.md committable (plans_in_repo; run state stays ignored)",
    )

    s = command("answer", "answer the planner's waiting question, go on planning")
    s.add_argument("text", nargs="+", help="your answer (an option's text or your own words)")
    s.add_argument("--yes", action="store_true", help=yes_v1)

    s = command("run", "run the next step, one step, or all")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--all", action="store_true", help="run every remaining step")
    g.add_argument("--step", help="run this step (its id)")
    s.add_argument(
        "--yes",
        action="store_true",
        help="approve plan reviews, re-plans and pauses (not unlisted commands, not the dollar budget)",
    )

    s = command("status", "the plan's state")
    s.add_argument("--json", action="store_true", help="as JSON, for scripts")

    s = command("show", "the plan document (its Markdown itself when piped)")
    f = s.add_mutually_exclusive_group()
    f.add_argument(
        "--md",
        action="store_true",
        help="the plan's Markdown document even on a terminal (what `edit --from` reads)",
    )
    f.add_argument("--json", action="store_true", help="the plan version as JSON")
    s.add_argument("--version", type=int, help="an earlier version (default: the current one)")

    s = command("diff", "what a step changed")
    s.add_argument("step", help="the step's id")
    s.add_argument("--stat", action="store_true", help="only the changed files and line counts")

    s = command("cat", "a file as a step left it (or found it: --before)")
    s.add_argument("step", help="the step's id")
    s.add_argument("path", help="the file, relative to the workspace")
    s.add_argument(
        "--before",
        action="store_true",
        help="as it was before the step (its first attempt), not as the step left it",
    )

    s = command("revert", "undo a step's changes")
    s.add_argument("step", help="the step's id")
    s.add_argument("paths", nargs="*", help="only these files (default: all the step changed)")

    s = command("replan", "ask the planner for a new version")
    s.add_argument("--reason", help="why, for the planner")
    s.add_argument("--goal", help="change the goal (a goal_changed revision)")
    s.add_argument("--yes", action="store_true", help="approve the new version without asking")

    s = command("approve", "approve what is pending")
    s.add_argument("--by", help="who decides, as recorded (default: $USER)")

    s = command("reject", "reject what is pending")
    s.add_argument(
        "--feedback", help="for the planner: a rejected re-plan with feedback is re-proposed"
    )
    s.add_argument("--by", help="who decides, as recorded (default: $USER)")

    s = command("mode", "at review: run the plan split or joint instead")
    s.add_argument(
        "run_mode", choices=["split", "joint"], metavar="split|joint", help="how the plan runs"
    )
    s.add_argument("--by", help="who decides, as recorded (default: $USER)")

    s = command(
        "edit", "edit the plan document in $VISUAL/$EDITOR (or apply --from FILE): a new version"
    )
    s.add_argument("--from", dest="from_file", metavar="FILE", help="apply FILE, no editor")
    s.add_argument("--by", help="the author recorded (default: $USER)")

    s = command("log", "the event log")
    s.add_argument("--json", action="store_true", help="one JSON event per line")

    s = command(
        "doctor",
        "check each role's model: endpoint, key present, one live tool call (exit 1 on failure)",
    )
    s.add_argument("--json", action="store_true", help="as JSON, for scripts")

    s = command(
        "trust",
        "trust this folder's planloop.toml to choose providers' URLs and keys, the sandbox "
        "and the allow list (remembered in your config directory, not the repository)",
    )
    t = s.add_mutually_exclusive_group()
    t.add_argument("--revoke", action="store_true", help="stop trusting the folder")
    t.add_argument("--list", action="store_true", help="the folders you answered for")

    s = command("clean", "drop checkpoints of finished plans")
    s.add_argument(
        "--keep-current", action="store_true", help="keep the current plan's checkpoints too"
    )
    s.add_argument(
        "--reset-shadow",
        action="store_true",
        help="start the checkpoint repository afresh (after a 'damaged' error); moves it aside",
    )

    s = command(
        "serve",
        "the language server on stdio (--workspace: its default folder; "
        "--planner/--executor: its models, overridden by the editor's settings)",
        [common_no_mode],
    )
    add_serve_arguments(s)

    command(
        "acp",
        "an Agent Client Protocol agent on stdio, for Zed, JetBrains, Neovim, Emacs "
        "(the flags are settings, as for serve; docs/editors/)",
    )

    s = command(
        "eval",
        "run a task set (default: the starter set) and report solved, cost, tokens, time",
        [common_no_mode],
    )
    s.add_argument("tasks", nargs="?", help="a task folder or a folder of them")
    eval_modes = ["split", "joint", "auto"]
    s.add_argument("--mode", nargs="+", choices=eval_modes, help="one or more modes")
    s.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        choices=eval_modes,
        help="two modes side by side, with a comparison table",
    )
    s.add_argument("--repeat", type=int, default=1, help="runs of each task (default: 1)")
    s.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    s.add_argument("--json", metavar="FILE", help="write the report as JSON to FILE")
    s.add_argument("--csv", metavar="FILE", help="write the report as CSV to FILE")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--record", metavar="DIR", help="store every model request/response")
    g.add_argument("--replay", metavar="DIR", help="answer from a --record DIR, offline")

    s = command("demo", "the offline demo on the bundled calculator example")
    s.add_argument("--example", help="example folder (default: the bundled calculator)")
    s.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    return p

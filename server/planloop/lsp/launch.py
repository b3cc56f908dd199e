"""How ``planloop serve`` was started: its flags, and the ones editors add on their own.

Neovim, Helix, Emacs and Zed configure a language server by its command line, so a flag
that is accepted and then ignored silently gives the user models they did not choose.
Every flag listed here reaches the server: ``--planner`` / ``--executor`` become
settings (``config.build`` layers them between planloop.toml and initializationOptions),
``--workspace`` becomes the default folder, ``--log-level`` / ``--debug`` the level of
``window/logMessage``. ``--stdio`` and ``--clientProcessId N`` are what
vscode-languageclient and other clients append; they are accepted and have no effect
(stdio is the only transport).

Only the standard library: ``server.py`` parses these before ``initialize``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the ``--log-level`` names, quietest last
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
LOG_LEVEL_ENV = "PLANLOOP_LOG_LEVEL"


@dataclass(frozen=True)
class LaunchOptions:
    planner: str | None = None
    executor: str | None = None
    #: the folder commands use by default, ahead of the client's workspace folders
    workspace: Path | None = None
    #: ``--log-level`` as given (None: not given)
    log_level: int | None = None
    debug: bool = False

    def settings(self) -> dict[str, Any]:
        """The flags that are settings, as planloop.toml keys."""
        out: dict[str, Any] = {}
        if self.planner:
            out["planner"] = self.planner
        if self.executor:
            out["executor"] = self.executor
        return out

    def base_log_level(self) -> int:
        """window/logMessage's level until the client asks for more with ``$/setTrace``:
        ``--log-level``, else ``--debug`` (debug), else $PLANLOOP_LOG_LEVEL, else info."""
        if self.log_level is not None:
            return self.log_level
        if self.debug:
            return logging.DEBUG
        env = os.environ.get(LOG_LEVEL_ENV, "").strip().lower()
        return LOG_LEVELS.get(env, logging.INFO)


def _level(text: str) -> int:
    try:
        return LOG_LEVELS[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"invalid log level {text!r} (choose from {', '.join(LOG_LEVELS)})"
        ) from None


def _directory(text: str) -> Path:
    p = Path(text).expanduser()
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return p.resolve()


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The options only ``serve`` has (the CLI adds its shared ones itself)."""
    p.add_argument(
        "--log-level",
        type=_level,
        default=None,
        metavar="{" + ",".join(LOG_LEVELS) + "}",
        help="level of the logs sent to the editor (window/logMessage); stderr carries "
        "only warnings and errors (default: info, or $PLANLOOP_LOG_LEVEL)",
    )
    # what editors append on their own; stdio is the only transport
    p.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--clientProcessId", "--client-process-id", type=int, default=None, help=argparse.SUPPRESS
    )


def parser() -> argparse.ArgumentParser:
    """``python -m planloop.lsp``'s own parser: the same flags as ``planloop serve``."""
    p = argparse.ArgumentParser(
        prog="planloop serve", description="The planloop language server on stdio."
    )
    p.add_argument("--workspace", type=_directory, default=None, help="default folder")
    p.add_argument("--planner", default=None, help="planner model spec")
    p.add_argument("--executor", default=None, help="executor model spec")
    p.add_argument("--debug", action="store_true", help="log at debug level")
    add_serve_arguments(p)
    return p


def from_namespace(ns: argparse.Namespace) -> LaunchOptions:
    workspace = getattr(ns, "workspace", None)
    if isinstance(workspace, str):
        try:
            workspace = _directory(workspace)
        except argparse.ArgumentTypeError as e:  # argparse's form and status
            sys.stderr.write(f"planloop serve: error: argument --workspace: {e}\n")
            raise SystemExit(2) from None
    return LaunchOptions(
        planner=getattr(ns, "planner", None),
        executor=getattr(ns, "executor", None),
        workspace=workspace,
        log_level=getattr(ns, "log_level", None),
        debug=bool(getattr(ns, "debug", False)),
    )


def parse(argv: list[str]) -> LaunchOptions:
    """Bad flags exit with status 2 and argparse's one-line error, before any I/O."""
    return from_namespace(parser().parse_args(argv))

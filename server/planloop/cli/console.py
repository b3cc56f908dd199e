"""Where the CLI's output goes and how it looks: the one place that decides.

Scripts read planloop's output as much as people do (git's and gh's convention): on a
terminal the rendering is rich, to a pipe or a file it is plain text, with no wrapping
at an imagined 80 columns, no box drawing and no colour, so ``planloop show > plan.md``
is the plan document itself and ``planloop eval > report.txt`` keeps every cell whole.
Colour is decided apart from the layout: ``--color always`` colours a pipe too (for
``less -R``), ``never`` or ``NO_COLOR`` (https://no-color.org) leave a terminal plain.

Every other module prints through :data:`out` and :data:`err`, looked up at call time,
so :func:`configured` can swap them for each command (the demo and the fault suite call
``main`` many times in one process, with ``sys.stdout`` replaced in between).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Literal, TextIO

from rich.console import Console

from planloop.cli.look import ColorChoice, Look, decide


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: not a terminal
        return False


def _piped_colors(environ: Mapping[str, str]) -> Literal["truecolor", "256", "standard"]:
    # rich detects the colour system only for a terminal; a pipe asked for colour gets
    # what the terminal it will end up on (TERM, COLORTERM) most likely shows
    if environ.get("COLORTERM", "").strip().lower() in ("truecolor", "24bit"):
        return "truecolor"
    if environ.get("TERM", "").strip().lower().endswith("256color"):
        return "256"
    return "standard"


def make_console(look: Look, *, stderr: bool, environ: Mapping[str, str]) -> Console:
    """A console that writes to the current ``sys.stdout``/``sys.stderr`` at print time.

    ``force_terminal`` is always given, so rich's own guesses (``FORCE_COLOR``,
    ``TTY_COMPATIBLE``) cannot undo the decision; a pipe gets ``soft_wrap``, so no line
    is broken at the width rich assumes for a file.
    """
    if look.terminal:
        return Console(
            stderr=stderr,
            highlight=False,
            force_terminal=True,
            color_system="auto" if look.color else None,
            no_color=not look.color,
        )
    return Console(
        stderr=stderr,
        highlight=False,
        force_terminal=False,
        color_system=_piped_colors(environ) if look.color else None,
        no_color=not look.color,
        soft_wrap=True,
    )


#: stdout and stderr as this command writes them (replaced by :func:`configured`)
out: Console
err: Console
_choice: ColorChoice | None = None


def _install(choice: ColorChoice) -> None:
    global out, err
    environ = os.environ
    out = make_console(decide(choice, _isatty(sys.stdout), environ), stderr=False, environ=environ)
    err = make_console(decide(choice, _isatty(sys.stderr), environ), stderr=True, environ=environ)


@contextlib.contextmanager
def configured(choice: ColorChoice | None) -> Iterator[None]:
    """The consoles for one command; ``None`` (no ``--color``) keeps an enclosing
    command's choice, so ``planloop --color always demo`` colours the commands it runs."""
    global out, err, _choice
    saved = out, err, _choice
    _choice = choice or _choice or "auto"
    _install(_choice)
    try:
        yield
    finally:
        out, err, _choice = saved


_install("auto")

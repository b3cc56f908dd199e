"""The colour decision without rich: the parser offers ``--color`` from here, so parsing
a command line does not load rich (``planloop run`` starts its early staging before
rich and the rest are loaded). :mod:`planloop.cli.console` acts on the decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ColorChoice = Literal["auto", "always", "never"]
COLOR_CHOICES: tuple[ColorChoice, ...] = ("auto", "always", "never")


@dataclass(frozen=True)
class Look:
    """How one stream is written: rich layout on a terminal, and colour or not."""

    terminal: bool
    color: bool


def decide(choice: ColorChoice, isatty: bool, environ: Mapping[str, str]) -> Look:
    """An explicit ``--color`` wins over ``NO_COLOR``; ``auto`` colours only a terminal."""
    if choice == "always":
        color = True
    elif choice == "never":
        color = False
    else:
        color = isatty and not environ.get("NO_COLOR")
    return Look(terminal=isatty, color=color)

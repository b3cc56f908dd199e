"""One way to say what is wrong with data that failed validation.

Settings, stored records, model tool input, a plan the planner submitted and LSP
arguments all fail through pydantic; each audience (a person, a model) reads the same
``where: what`` items, so they are produced here and only joined differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    where: str  # dotted location, "" at the top level
    type: str  # pydantic's error type: "missing", "extra_forbidden", ...
    msg: str
    input: Any


def problems(e: ValidationError, *, limit: int | None = None) -> list[Problem]:
    errs = e.errors()
    if limit is not None:
        errs = errs[:limit]
    return [
        Problem(".".join(str(p) for p in err["loc"]), err["type"], err["msg"], err.get("input"))
        for err in errs
    ]


def describe(
    e: ValidationError, *, top: str = "(top level)", sep: str = "; ", limit: int | None = None
) -> str:
    """``where: msg`` for each problem, joined; ``top`` names the top-level location."""
    return sep.join(f"{p.where or top}: {p.msg}" for p in problems(e, limit=limit))

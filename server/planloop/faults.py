"""Fault injection: ``PLANLOOP_FAULT`` makes this process SIGKILL itself at a named point.

Why it exists: the crash-safety promises (write-ahead attempt records, atomic state
files, recovery on the next run) are only worth what a real ``kill -9`` at the worst
moment shows, and a test that kills from outside can only guess where the process is.
The points are placed where a crash hurts most:

- ``tool`` — just before a model's tool call is carried out (after the tools before it);
- ``check`` — just before a step's acceptance or workspace check runs;
- ``checkpoint`` — while a checkpoint is written: its commit exists, its ref does not;
- ``write:<file>`` — while a state file under ``.planloop/`` is written (its temp file
  is complete, the rename has not happened), e.g. ``write:run.json`` or ``write:v2.json``.

``@n`` picks the n-th time that point is reached in this process (default 1), e.g.
``PLANLOOP_FAULT=tool@2`` dies between the first and the second tool call. Unset (the
normal case) every hook is one dictionary lookup; SIGKILL means no handler, ``finally``
or buffered write runs, exactly like a crash or the OOM killer.
"""

from __future__ import annotations

import os
import signal

ENV = "PLANLOOP_FAULT"

_counts: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(ENV, "").strip()
    if not spec:
        return None
    point, _, nth = spec.rpartition("@") if "@" in spec else (spec, "", "1")
    try:
        n = int(nth)
    except ValueError:
        return None  # a malformed spec injects nothing rather than killing at random
    return point, max(n, 1)


def point(name: str) -> None:
    """Die here if ``PLANLOOP_FAULT`` names this point and this is its n-th arrival."""
    target = _target()
    if target is None or target[0] != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def write(filename: str) -> None:
    """The ``write:<file>`` point for a state file about to replace ``filename``."""
    if ENV in os.environ:
        point(f"write:{filename}")

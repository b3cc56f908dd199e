"""Errors every front end turns into a clear message (CLI exit code, JSON-RPC error).

One small hierarchy so the LSP layer and the CLI map failures the same way instead of
each guessing from exception text.
"""

from __future__ import annotations


class PlanloopError(Exception):
    """A failure with a message meant for the user; never carries secrets."""


class NoPlanError(PlanloopError):
    def __init__(self, message: str = "no plan yet: create one first (planloop plan GOAL)") -> None:
        super().__init__(message)


class UnknownStepError(PlanloopError):
    def __init__(self, step_id: str, known: list[str]) -> None:
        shown = ", ".join(known) if known else "none"
        super().__init__(f"unknown step {step_id!r}; steps of this plan: {shown}")
        self.step_id = step_id


class BusyError(PlanloopError):
    """A second run in the same workspace: refused, never raced."""


class StoreError(PlanloopError):
    """A file under .planloop/ that cannot be read; the message names it."""


class InvalidRequestError(PlanloopError):
    """A request that does not fit the current state (e.g. no revision awaits a decision)."""

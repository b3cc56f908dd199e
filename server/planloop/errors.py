"""One error family for the whole core, so every front end maps failures the same way.

Every failure meant for a person is a :class:`PlanloopError` with a stable ``kind``
string. Front ends never guess from exception text or class names: the CLI turns a
kind into an exit code with one table (``cli``), the language server into a JSON-RPC
code with another (``lsp.rpc_errors``). Model, workspace and checkpoint errors are
members of this family too (their classes live beside the code that raises them,
so this module stays import-free).

A message never carries a secret: adapters redact before raising, and front ends run
:func:`planloop.redaction.redact` over whatever leaves the process as a last guard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from planloop.document.edits import EditProblem


class PlanloopError(Exception):
    """A failure with a message meant for the user.

    ``kind`` defaults to the class's ``default_kind``; subclasses whose instances differ
    in kind (a model error may be ``auth`` or ``rate_limit``) pass one explicitly.
    """

    default_kind: ClassVar[str] = "error"

    def __init__(self, message: str = "", *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind: str = kind or self.default_kind

    @property
    def family(self) -> str:
        """The class-level kind: what a table falls back to for a kind it does not list."""
        return self.default_kind


class NoPlanError(PlanloopError):
    default_kind = "no_plan"

    def __init__(self, message: str = "no plan yet: create one first (planloop plan GOAL)") -> None:
        super().__init__(message)


class UnknownStepError(PlanloopError):
    default_kind = "unknown_step"

    def __init__(self, step_id: str, known: list[str]) -> None:
        shown = ", ".join(known) if known else "none"
        super().__init__(f"unknown step {step_id!r}; steps of this plan: {shown}")
        self.step_id = step_id


class BusyError(PlanloopError):
    """A second run in the same workspace: refused, never raced."""

    default_kind = "busy"


class StoreError(PlanloopError):
    """A file under .planloop/ that cannot be read; the message names it."""

    default_kind = "store"


class InvalidRequestError(PlanloopError):
    """A request that does not fit the current state (e.g. no revision awaits a decision)."""

    default_kind = "invalid_request"


class ConfigError(PlanloopError):
    """Settings (planloop.toml, environment, editor settings) that cannot be used."""

    default_kind = "config"


class UsageError(PlanloopError):
    """A request that is wrong whatever the state (bad arguments, a missing file)."""

    default_kind = "usage"


class PlanEditError(PlanloopError):
    """An edit of the plan document that breaks a rule; nothing was written.

    ``problems`` carries each problem with its line so a front end can put it where it
    belongs (the CLI prints ``line N: …``, the language server a diagnostic)."""

    default_kind = "plan_edit"

    def __init__(self, problems: list[EditProblem]) -> None:
        shown = "; ".join(f"line {p.line}: {p.message}" if p.line else p.message for p in problems)
        super().__init__(f"the plan edit was not applied: {shown}")
        self.problems = list(problems)

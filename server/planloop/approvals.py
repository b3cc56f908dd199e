"""The approver port: how the orchestrator asks a person, whatever the front end.

The CLI prompts on a terminal, the LSP asks the editor; both answer ``None`` when no
one is there to answer, and the orchestrator then stops in ``awaiting_approval`` with
the question persisted, so the decision can come later from another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from planloop.cancel import CancelToken

ApprovalKind = Literal["plan", "revision", "pause", "budget", "command"]


@dataclass
class ApprovalRequest:
    kind: ApprovalKind
    plan_id: str
    reason: str
    evidence: list[str] = field(default_factory=list)
    current_markdown: str = ""
    proposed_markdown: str | None = None
    version: int | None = None
    step_id: str | None = None
    command: str | None = None


@dataclass
class Decision:
    approve: bool
    by: str
    feedback: str | None = None
    #: a rule answered (``--yes``), not a person: fine for this command, but not an
    #: answer to remember (the MCP consent of a workspace waits for a person instead)
    automatic: bool = False


class Approver(Protocol):
    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        """A decision, or None when nobody can answer now (the run then waits)."""
        ...


class AutoApprover:
    """``--yes``: approves plan reviews, re-plans and pauses — not commands, not money.

    Commands the policy would ask about stay refused unless ``commands`` is set: a
    blanket yes to a plan is not a yes to arbitrary shell commands the executor invents
    later. The dollar budget is not lifted either: it exists to stop an unattended run,
    which is exactly when ``--yes`` is used (the run stops with exit 4).
    """

    def __init__(self, by: str = "--yes", commands: bool = False) -> None:
        self.by = by
        self.commands = commands

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        if req.kind == "command" and not self.commands:
            return Decision(
                False, self.by, "commands outside the allow list need a person", automatic=True
            )
        if req.kind == "budget":
            return Decision(False, self.by, "--yes does not raise the dollar budget")
        return Decision(True, self.by)


class NoApprover:
    """Nobody is there (no terminal, CI): every question waits for a later decision."""

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        return None

"""The payloads' shapes as typed models: every command's result, every notification's
params and the approval request's, camelCase as on the wire.

Why apart from :mod:`planloop.lsp.contract`: these are the shapes, the contract is the
table of who sends which shape when (command, params model, result, summary, CLI twin).
A client author reads the table; a payload change touches only its model here, and both
docs/protocol.md and the protocol.ts comparison follow from the JSON Schema of these.

Conventions: the envelope is camelCase; the plan inside it is ``Plan.model_dump(mode=
"json")`` verbatim (snake_case). A field declared with ``_absent()`` is left out when it
has no value (never sent as null); a ``X | None`` field is always sent, possibly null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from planloop.approvals import ApprovalKind
from planloop.document.plan import Plan, RunState


def _absent() -> Any:
    """A field the server omits when it has no value (``field?: T`` in TypeScript)."""
    return Field(default=None, json_schema_extra=_not_null)


def _not_null(schema: dict[str, Any]) -> None:
    schema.pop("default", None)
    schema[ABSENT] = True


#: JSON Schema key of a field the server may leave out; every other field of a payload
#: (plan fields included: ``model_dump`` keeps defaults) is always sent
ABSENT = "x-absent"


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=False
    )


class Progress(_Wire):
    done: int
    total: int


class PendingPayload(_Wire):
    """The question a run waits on (``getPlan`` → ``pending``); kind ``question`` is the
    planner's clarifying question, answered with ``planloop.answer``."""

    kind: Literal["plan", "revision", "pause", "budget", "question"]
    reason: str
    evidence: list[str]
    current_markdown: str
    asked_at: str
    version: int = _absent()
    step_id: str = _absent()
    proposed_markdown: str = _absent()
    #: kind ``question``: the planner's question and the answers it offers (may be empty)
    question: str = _absent()
    options: list[str] = _absent()


class PlanPayload(_Wire):
    """A plan with its run state: ``getPlan``'s result and ``planloop/planChanged``."""

    plan: Plan
    markdown: str
    state: RunState
    reason: str
    cost_usd: float
    #: False when some calls went to a model with no price: show ``cost_text``, never $0.00
    cost_known: bool
    #: the cost as it must be shown: ``$0.0123`` or ``12,345 tokens, cost unknown``
    cost_text: str
    #: every token the run was billed (input, output, cache), for any model
    tokens: int
    progress: Progress
    pending: PendingPayload | None
    #: ``state`` is ``running`` but no process runs it (a crash or ``kill -9``); the
    #: next run (``planloop run``, ``runStep``, ``runAll``) resumes it
    interrupted: bool


class QuestionPayload(_Wire):
    """``getPlan`` while the planner of a folder's *first* plan waits for an answer: there
    is no plan yet, only the goal and the question (with a plan, the question is that
    plan's ``pending`` instead)."""

    plan: None
    goal: str
    state: Literal["awaiting_answer"]
    reason: str
    pending: PendingPayload


class AnswerRequestParams(_Wire):
    """``planloop/requestAnswer`` (server → client request) params."""

    question: str
    options: list[str]
    asked_at: str


class RunPayload(_Wire):
    state: RunState
    reason: str
    plan: PlanPayload
    #: the step that ran last (absent when none ran)
    step_id: str = _absent()


class DiffFile(_Wire):
    path: str
    status: Literal["added", "modified", "deleted", "renamed", "typechange"]
    old_path: str | None
    added: int
    removed: int
    binary: bool
    patch: str


class StepDiffPayload(_Wire):
    step_id: str
    checkpoint_before: str | None
    checkpoint_after: str | None
    files: list[DiffFile]


class FileAtCheckpointPayload(_Wire):
    path: str
    checkpoint: str
    exists: bool
    #: null when the file is binary (not UTF-8, or has NUL bytes) or absent
    text: str | None
    binary: bool


class RevertConflict(_Wire):
    path: str
    reason: str


class RevertPayload(_Wire):
    step_id: str
    restored: list[str]
    conflicts: list[RevertConflict]
    plan: PlanPayload


class ReplanPayload(_Wire):
    #: the proposed plan (not yet current unless approved), in the PlanPayload shape
    proposal: PlanPayload
    decision: Literal["approved", "rejected", "pending"]
    plan: PlanPayload
    state: RunState
    reason: str


class LogPayload(_Wire):
    #: the plan's events, oldest first, as ``planloop log --json`` prints them (each has
    #: ``at`` and ``type``; the other keys depend on the type)
    events: list[dict[str, Any]]


class CleanPayload(_Wire):
    freed_bytes: int
    in_use_bytes: int


class ResetShadowPayload(_Wire):
    #: where the checkpoint repository was moved; null when there was none
    moved_to: str | None


class CancelPayload(_Wire):
    cancelled: bool


class ModelCheckPayload(_Wire):
    role: Literal["planner", "executor"]
    spec: str
    #: the model as runs show it, e.g. ``ollama:qwen3``
    label: str
    #: the URL the requests go to (or how a cloud/scripted model is reached)
    endpoint: str
    #: the variable the key is read from; null when the endpoint takes none
    key_env: str | None
    #: whether that variable is set (never its value); null when no key applies
    key_present: bool | None
    ok: bool
    #: the live request's duration; null when none was made (bad spec, scripted)
    seconds: float | None
    #: what happened, in one line: the error a run would have met, or what answered
    detail: str


class SandboxCheckPayload(_Wire):
    """Whether model commands can run sandboxed here (docs/security.md)."""

    #: the setting: ``auto`` (sandboxed, or refused where no sandbox works) or ``off``
    mode: Literal["auto", "off"]
    #: a trivial sandboxed command ran
    available: bool
    #: ``bwrap``, ``sandbox-exec``, ``off`` (the setting) or ``none`` (unavailable)
    backend: str
    #: what commands run in, in one line
    summary: str
    #: why it is unavailable, or what works
    reason: str
    #: what to install or allow, when it is unavailable
    fix: str
    #: commands will run: sandboxed, or unsandboxed by the user's explicit choice
    ok: bool


class McpServerCheckPayload(_Wire):
    """One MCP server (docs/mcp.md), started as a run would start it, then stopped."""

    name: str
    #: ``stdio`` or ``http``
    transport: str
    #: where it is defined: ``.vscode/mcp.json``, ``.mcp.json``, ``settings`` or ``client``
    source: str
    started: bool
    #: tools it lists (0 when it did not start)
    tools: int
    #: seconds from launch to its tool list; null when it did not start
    seconds: float | None
    #: why it did not start, or how many tools in how long
    detail: str


class DoctorPayload(_Wire):
    #: false when any role's check failed, no sandbox works or an MCP server did not
    #: start (``planloop doctor`` then exits 1)
    ok: bool
    checks: list[ModelCheckPayload]
    sandbox: SandboxCheckPayload
    #: each MCP server; empty when none is configured
    mcp: list[McpServerCheckPayload]


# --- notifications and the approval request ------------------------------------------------


class StepEventPayload(_Wire):
    """``planloop/stepEvent``: one line of a step's live log."""

    plan_id: str | None
    step_id: str
    event: Literal["started", "tool", "check", "finished"]
    line: str
    #: "running" on started; the step's status on finished
    status: str = _absent()
    #: on finished, when the step passed or failed normally
    cost_usd: float = _absent()
    #: on finished: the step's cost as it must be shown (``$…`` or ``… cost unknown``)
    cost_text: str = _absent()
    #: on check
    passed: bool = _absent()


class ApprovalRequestParams(_Wire):
    """``planloop/requestApproval`` (server → client request) params."""

    kind: ApprovalKind
    plan_id: str
    reason: str
    evidence: list[str]
    current_markdown: str
    version: int = _absent()
    step_id: str = _absent()
    proposed_markdown: str = _absent()
    #: for kind "command": the shell command the executor wants to run
    command: str = _absent()


class ProgressBegin(_Wire):
    """``$/progress`` begin for planning, re-planning and each step (server-created
    tokens, only for clients that declared ``window.workDoneProgress``)."""

    kind: Literal["begin"]
    title: str
    message: str
    cancellable: Literal[True]
    percentage: int = _absent()


class ProgressReport(_Wire):
    kind: Literal["report"]
    message: str
    percentage: int = _absent()


class ProgressEnd(_Wire):
    kind: Literal["end"]
    message: str

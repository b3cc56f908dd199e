"""The wire contract as typed models: every command's params and result, every
notification and the approval request, in one place.

Why models and not prose: a Neovim, Helix, Emacs or Zed user drives ``planloop serve``
from docs/protocol.md, and the VS Code client from client-vscode/src/protocol.ts; both
are checked against these models (docs/protocol.md is generated from them by
``protocol_doc``; tests/lsp/test_lsp_contract.py validates every payload the real
server sends in the end-to-end tests and compares protocol.ts with the JSON Schema).
The payloads themselves are still built as plain dicts (``payloads``): validating a
200-step plan on every notification would cost more than the round trip.

Conventions: the envelope is camelCase; the plan inside it is ``Plan.model_dump(mode=
"json")`` verbatim (snake_case). A field declared with ``_absent()`` is left out when it
has no value (never sent as null); a ``X | None`` field is always sent, possibly null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

from planloop.approvals import ApprovalKind
from planloop.document.plan import Plan, RunState
from planloop.lsp import args as A
from planloop.lsp.approvals import AnswerReply, ApprovalAnswer


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


# --- payloads ----------------------------------------------------------------------------


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


class DoctorPayload(_Wire):
    #: false when any role's check failed or no sandbox works (``planloop doctor`` then
    #: exits 1)
    ok: bool
    checks: list[ModelCheckPayload]
    sandbox: SandboxCheckPayload


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


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str
    params: type[A._Args]
    result: Any  # a model, or a union of them / None
    summary: str
    #: the CLI action it mirrors (the parity table)
    cli: str
    #: holds the folder's run slot (BusyError while another runs), cancellable
    long: bool


COMMANDS: tuple[Command, ...] = (
    Command(
        "planloop.createPlan",
        A.CreatePlanArgs,
        PlanPayload,
        "Draft a plan for a goal (the planner model explores the workspace read-only).",
        "planloop plan GOAL",
        True,
    ),
    Command(
        "planloop.getPlan",
        A.GetPlanArgs,
        PlanPayload | QuestionPayload | None,
        "The current plan (or `planId`'s, or a recorded `version`) with its run state; "
        "null when the folder has no plan. Needs no settings or model. With `version`, "
        "`plan`/`markdown`/`progress` are that version's and `pending` is null. While the "
        "planner waits for an answer, `pending` is that question (kind `question`), and "
        "with no plan yet the result is a QuestionPayload (`plan` null).",
        "planloop show [--version N] / planloop status",
        False,
    ),
    Command(
        "planloop.runStep",
        A.RunStepArgs,
        RunPayload,
        "Run one step (default: the next runnable one).",
        "planloop run [--step ID]",
        True,
    ),
    Command(
        "planloop.runAll",
        A.RunAllArgs,
        RunPayload,
        "Run steps until done, paused, stopped or awaiting a decision.",
        "planloop run --all",
        True,
    ),
    Command(
        "planloop.stepDiff",
        A.StepDiffArgs,
        StepDiffPayload,
        "What a step changed: one entry per file, with its unified diff.",
        "planloop diff STEP",
        False,
    ),
    Command(
        "planloop.fileAtCheckpoint",
        A.FileAtCheckpointArgs,
        FileAtCheckpointPayload,
        "A file's content at a checkpoint (a step's `checkpointBefore`/`checkpointAfter`).",
        "planloop cat STEP PATH",
        False,
    ),
    Command(
        "planloop.revertStep",
        A.RevertStepArgs,
        RevertPayload,
        "Restore the files a step changed (or only `paths`); files changed since are "
        "reported as conflicts and left alone.",
        "planloop revert STEP [PATH...]",
        True,
    ),
    Command(
        "planloop.replan",
        A.ReplanArgs,
        ReplanPayload,
        "Propose a revised plan (optionally for a new `goal`); the proposal is approved "
        "through the approval flow or left pending.",
        "planloop replan [--reason R] [--goal G]",
        True,
    ),
    Command(
        "planloop.decideRevision",
        A.DecideRevisionArgs,
        PlanPayload,
        "Approve or reject a pending re-plan (its `version`).",
        "planloop approve / planloop reject",
        True,
    ),
    Command(
        "planloop.approvePause",
        A.ApprovePauseArgs,
        PlanPayload,
        "Continue past a pause step.",
        "planloop approve",
        True,
    ),
    Command(
        "planloop.decidePending",
        A.DecidePendingArgs,
        PlanPayload,
        "Answer whatever question waits (plan review, pause, budget, re-plan), yes or no.",
        "planloop approve / planloop reject",
        True,
    ),
    Command(
        "planloop.answer",
        A.AnswerArgs,
        PlanPayload,
        "Answer the planner's waiting question (`text`: an option or free text); planning "
        "goes on in the planner's saved conversation (it may ask again: error kind `waiting`).",
        'planloop answer "TEXT"',
        True,
    ),
    Command(
        "planloop.setMode",
        A.SetModeArgs,
        PlanPayload,
        "At review, before any step runs: run the plan `split` or `joint` instead of what "
        "`auto` chose (a new plan version, still reviewed before it runs).",
        "planloop mode split|joint",
        True,
    ),
    Command(
        "planloop.log",
        A.LogArgs,
        LogPayload,
        "The plan's event log (default: the current plan). Needs no settings or model.",
        "planloop log --json",
        False,
    ),
    Command(
        "planloop.clean",
        A.CleanArgs,
        CleanPayload | ResetShadowPayload,
        "Drop the checkpoints of finished plans (the current one is kept unless done, or "
        "always with `keepCurrent`); with `resetShadow`, move a damaged checkpoint "
        "repository aside instead and answer `{movedTo}`.",
        "planloop clean [--keep-current] [--reset-shadow]",
        True,
    ),
    Command(
        "planloop.doctor",
        A.DoctorArgs,
        DoctorPayload,
        "Check each role's model: the endpoint, whether its key is set (never the key), "
        "and one tiny live request that must call a tool, timed.",
        "planloop doctor --json",
        False,
    ),
    Command(
        "planloop.cancel",
        A.CancelArgs,
        CancelPayload,
        "Cancel the running command of `folder` (default: of every folder); its edits "
        "are rolled back and the run stops in `cancelled`.",
        "Ctrl-C",
        False,
    ),
)
BY_NAME = {c.name: c for c in COMMANDS}


@dataclass(frozen=True)
class Message:
    method: str
    direction: Literal["server → client notification", "server → client request"]
    params: Any
    result: Any
    summary: str


MESSAGES: tuple[Message, ...] = (
    Message(
        "planloop/planChanged",
        "server → client notification",
        PlanPayload,
        None,
        "After every save of the run record: the whole plan, as `getPlan` returns it. "
        "Only to clients that declared `experimental.planloopNotifications`.",
    ),
    Message(
        "planloop/stepEvent",
        "server → client notification",
        StepEventPayload,
        None,
        "A line of a running step's log: started, each tool call, each check, finished. "
        "Only to clients that declared `experimental.planloopNotifications`.",
    ),
    Message(
        "planloop/requestApproval",
        "server → client request",
        ApprovalRequestParams,
        ApprovalAnswer | None,
        "Only to clients that declared `experimental.planloopApprovals: true`. Answer "
        "null (or not within `approvalTimeoutS`) and the run waits in "
        "`awaiting_approval`, to be decided with `decidePending`/`decideRevision`.",
    ),
    Message(
        "planloop/requestAnswer",
        "server → client request",
        AnswerRequestParams,
        AnswerReply | None,
        "The planner's clarifying question, only to clients that declared "
        "`experimental.planloopQuestions: true` (others get `window/showMessageRequest` "
        "with the options as actions). Answer `{answer}` (an option or free text); null, "
        "or no answer within `approvalTimeoutS`, and planning stops to wait (`getPlan` "
        "shows it in `pending`; answer later with `planloop.answer`).",
    ),
    Message(
        "$/progress",
        "server → client notification",
        ProgressBegin | ProgressReport | ProgressEnd,
        None,
        "Work-done progress for planning, re-planning and each step, cancellable "
        "(cancel = `planloop.cancel`). Tokens are created with "
        "`window/workDoneProgress/create`, only if the client declared "
        "`window.workDoneProgress`.",
    ),
)

NOTIFICATION_MODELS: dict[str, Any] = {
    m.method: m.params for m in MESSAGES if m.direction.endswith("notification")
}


def schema(tp: Any, *, mode: Literal["validation", "serialization"] = "serialization") -> Any:
    """The JSON Schema of a model or union, camelCase as on the wire."""
    return TypeAdapter(tp).json_schema(mode=mode, by_alias=True)


def check(tp: Any, value: Any) -> Any:
    """Validate a payload against the contract (tests: what the server really sends)."""
    return TypeAdapter(tp).validate_python(value)

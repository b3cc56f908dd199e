"""The wire contract as typed models: every command's params and result, every
notification and the approval request, in one table.

Why models and not prose: a Neovim, Helix, Emacs or Zed user drives ``planloop serve``
from docs/protocol.md, and the VS Code client from client-vscode/src/protocol.ts; both
are checked against these models (docs/protocol.md is generated from them by
``protocol_doc``; tests/lsp/test_lsp_contract.py validates every payload the real
server sends in the end-to-end tests and compares protocol.ts with the JSON Schema).
The payloads themselves are still built as plain dicts (``payloads``): validating a
200-step plan on every notification would cost more than the round trip.

The payloads' shapes (and their camelCase and absent-field conventions) are the models of
``payload_models``; this module is the table of which command and message carries which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

from planloop.lsp import args as A
from planloop.lsp.approvals import AnswerReply, ApprovalAnswer
from planloop.lsp.payload_models import (
    AnswerRequestParams,
    ApprovalRequestParams,
    CancelPayload,
    CleanPayload,
    DoctorPayload,
    FileAtCheckpointPayload,
    LogPayload,
    PlanPayload,
    ProgressBegin,
    ProgressEnd,
    ProgressReport,
    QuestionPayload,
    ReplanPayload,
    ResetShadowPayload,
    RevertPayload,
    RunPayload,
    StepDiffPayload,
    StepEventPayload,
)


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
        "reported as conflicts and left alone, and then the step is not marked `reverted` "
        "(its change is still in those files: put them as wanted and revert again).",
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

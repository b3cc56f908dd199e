"""What the core tells the outside world while it works: one typed union of events.

Three consumers read the same events — the event log (``log.jsonl``), the CLI printer
and the language server's notifications — so an event is a class, not a dict with a
string to switch on: a consumer matches on the class and mypy sees every field it
uses. :func:`to_dict` is the one place an event becomes JSON; its key order and key
set are the on-disk format of ``log.jsonl`` (``at`` first, then ``type``, then the
fields in the order declared here), so changing a field here changes that format.

Two wire types have two shapes each, because the log always had both: an ``approval``
or ``approval_requested`` of a *command* carries the command instead of the reason,
version and step, and a planner's ``tool_call`` has no ``step_id``. Each shape is its
own class, so the dict of an event is always exactly its fields.

Reading the log back stays dict-based (:meth:`PlanStore.events`): old logs hold events
no class describes any more, and ``planloop log`` must still show them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from planloop.document.plan import (
    DecisionAction,
    ModeSetting,
    RunMode,
    RunState,
    StepStatus,
    Trigger,
    now_iso,
)

if TYPE_CHECKING:
    from planloop.approvals import ApprovalKind


@dataclass(frozen=True, kw_only=True)
class _Event:
    type: ClassVar[str]
    #: when it happened; the log line's first key
    at: str = field(default_factory=now_iso)


# --- the run -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Saved(_Event):
    """run.json was just written; never logged (the record itself is the durable copy)."""

    type: ClassVar[Literal["saved"]] = "saved"
    plan_id: str


@dataclass(frozen=True, kw_only=True)
class StateChanged(_Event):
    type: ClassVar[Literal["state"]] = "state"
    state: RunState
    reason: str


@dataclass(frozen=True, kw_only=True)
class BudgetReached(_Event):
    type: ClassVar[Literal["budget"]] = "budget"
    spent_usd: float
    allowed_usd: float
    #: set when the token budget (``budgets.tokens``) is what was reached
    spent_tokens: int | None = None
    allowed_tokens: int | None = None


@dataclass(frozen=True, kw_only=True)
class BaselineStarted(_Event):
    """The workspace checks run once before the first edit step, to learn which were green."""

    type: ClassVar[Literal["baseline"]] = "baseline"
    checks: list[str]


# --- planning ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Planning(_Event):
    type: ClassVar[Literal["planning"]] = "planning"
    goal: str


@dataclass(frozen=True, kw_only=True)
class PlanCreated(_Event):
    type: ClassVar[Literal["plan_created"]] = "plan_created"
    plan_id: str
    version: int
    goal: str
    steps: list[str]
    cost_usd: float


@dataclass(frozen=True, kw_only=True)
class ModeChosen(_Event):
    """How the plan will run (split or joint) and why; logged before anything acts."""

    type: ClassVar[Literal["mode_chosen"]] = "mode_chosen"
    mode: RunMode
    requested: ModeSetting
    reason: str
    horizon: int | None
    by: str


@dataclass(frozen=True, kw_only=True)
class SandboxChosen(_Event):
    """What the run's commands execute in (bwrap, sandbox-exec, or off by the user's
    choice); logged when a run starts with a different answer than the last one."""

    type: ClassVar[Literal["sandbox_chosen"]] = "sandbox_chosen"
    sandbox: str


@dataclass(frozen=True, kw_only=True)
class RulesWarning(_Event):
    """A project instruction file (AGENTS.md, ...) was cut at the cap, decoded with
    replacement characters, or skipped (rules.py); ``message`` names the sizes."""

    type: ClassVar[Literal["rules_warning"]] = "rules_warning"
    path: str
    message: str


@dataclass(frozen=True, kw_only=True)
class McpServerStarted(_Event):
    """An MCP server answered and listed its tools (``seconds``: time to start)."""

    type: ClassVar[Literal["mcp_started"]] = "mcp_started"
    server: str
    tools: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class McpWarning(_Event):
    """An MCP server (or its config) failed: not started, died, a name clash, a bad
    file. A warning, never an error: the run goes on without that server's tools."""

    type: ClassVar[Literal["mcp_warning"]] = "mcp_warning"
    server: str
    message: str


@dataclass(frozen=True, kw_only=True)
class McpToolCalled(_Event):
    """One MCP tool call and its result (condensed, capped): the log's record of it."""

    type: ClassVar[Literal["mcp_call"]] = "mcp_call"
    role: Literal["planner", "executor", "check"]
    step_id: str | None = None
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    is_error: bool = False
    result: str = ""


@dataclass(frozen=True, kw_only=True)
class PlannerToolCall(_Event):
    type: ClassVar[Literal["tool_call"]] = "tool_call"
    role: Literal["planner"] = "planner"
    line: str
    #: the model's id of the call; a :class:`ToolStarted` before it has the same one
    call_id: str = ""
    #: the structured facts a front end shows (the line is for people): the tool's
    #: name, whether it failed, the file and line range or the command it was about
    tool: str = ""
    is_error: bool = False
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    #: a command's exit status and the tail of its output (capped, secrets redacted);
    #: told to the front ends, blank in log.jsonl (a command can print any secret)
    output: str = ""


@dataclass(frozen=True, kw_only=True)
class QuestionAsked(_Event):
    """The planner asked the user a clarifying question (``ask_user``) before its plan."""

    type: ClassVar[Literal["question_asked"]] = "question_asked"
    question: str
    options: list[str]


@dataclass(frozen=True, kw_only=True)
class QuestionWaiting(_Event):
    """Nobody could answer now: planning stopped, the question is saved for ``answer``."""

    type: ClassVar[Literal["question_waiting"]] = "question_waiting"
    question: str
    options: list[str]


@dataclass(frozen=True, kw_only=True)
class QuestionAnswered(_Event):
    type: ClassVar[Literal["question_answered"]] = "question_answered"
    question: str
    answer: str
    by: str


@dataclass(frozen=True, kw_only=True)
class ReplanStarted(_Event):
    type: ClassVar[Literal["replan_started"]] = "replan_started"
    trigger: Trigger
    reason: str
    evidence: list[str]


@dataclass(frozen=True, kw_only=True)
class RevisionProposed(_Event):
    type: ClassVar[Literal["revision_proposed"]] = "revision_proposed"
    version: int
    trigger: Trigger
    reason: str
    evidence: list[str]
    cost_usd: float
    #: how to show the cost: ``$0.0123`` or ``N tokens, cost unknown`` (``plan.cost_text``)
    cost_text: str = ""


@dataclass(frozen=True, kw_only=True)
class PlanVersionRecorded(_Event):
    """An approved revision became the current plan."""

    type: ClassVar[Literal["plan_version"]] = "plan_version"
    version: int
    steps: list[str]


@dataclass(frozen=True, kw_only=True)
class PlanEdited(_Event):
    """A person's edit of the plan document became the current version (no approval:
    they made it). ``old_goal`` is set only when the edit changed the goal."""

    type: ClassVar[Literal["plan_edited"]] = "plan_edited"
    version: int
    parent_version: int
    author: str
    steps: list[str]
    added: list[str]
    removed: list[str]
    changed: list[str]
    goal: str
    old_goal: str | None = None


# --- steps ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StepStarted(_Event):
    type: ClassVar[Literal["step_started"]] = "step_started"
    step_id: str
    attempt: int
    title: str


@dataclass(frozen=True, kw_only=True)
class ExecutorToolCall(_Event):
    type: ClassVar[Literal["tool_call"]] = "tool_call"
    role: Literal["executor"] = "executor"
    step_id: str
    line: str
    #: the model's id of the call; a :class:`ToolStarted` before it has the same one
    call_id: str = ""
    #: the structured facts a front end shows (the line is for people): the tool's
    #: name, whether it failed, the file and line range or the command it was about
    tool: str = ""
    is_error: bool = False
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    #: a command's exit status and the tail of its output (capped, secrets redacted);
    #: told to the front ends, blank in log.jsonl (a command can print any secret)
    output: str = ""


@dataclass(frozen=True, kw_only=True)
class ToolStarted(_Event):
    """A workspace tool is about to run (a command may take minutes), so a front end can
    show it running; its :class:`ExecutorToolCall` / :class:`PlannerToolCall` (same
    ``call_id``) says how it ended. Never logged: the finished call is the record."""

    type: ClassVar[Literal["tool_started"]] = "tool_started"
    role: Literal["planner", "executor"]
    step_id: str | None = None
    call_id: str
    tool: str
    path: str | None = None
    command: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckRan(_Event):
    type: ClassVar[Literal["check"]] = "check"
    step_id: str
    passed: bool
    check: str
    observation: str
    workspace_check: bool


@dataclass(frozen=True, kw_only=True)
class StepFinished(_Event):
    type: ClassVar[Literal["step_finished"]] = "step_finished"
    step_id: str
    status: StepStatus
    attempt: int
    cost_usd: float
    files: list[str]
    #: how to show the cost: ``$0.0123`` or ``N tokens, cost unknown`` (``plan.cost_text``)
    cost_text: str = ""


@dataclass(frozen=True, kw_only=True)
class Retry(_Event):
    type: ClassVar[Literal["retry"]] = "retry"
    step_id: str
    observation: str


@dataclass(frozen=True, kw_only=True)
class StepCancelled(_Event):
    """The attempt was rolled back to its before-checkpoint; ``conflicts`` are paths kept."""

    type: ClassVar[Literal["step_cancelled"]] = "step_cancelled"
    step_id: str
    restored: list[str]
    conflicts: list[str]


@dataclass(frozen=True, kw_only=True)
class StepError(_Event):
    """The executor's model call failed (not the step): ``kind`` is the error's kind."""

    type: ClassVar[Literal["step_error"]] = "step_error"
    step_id: str
    error: str
    kind: str


@dataclass(frozen=True, kw_only=True)
class UnsavedBuffer(_Event):
    type: ClassVar[Literal["unsaved_buffer"]] = "unsaved_buffer"
    step_id: str
    path: str


@dataclass(frozen=True, kw_only=True)
class PauseReached(_Event):
    type: ClassVar[Literal["pause"]] = "pause"
    step_id: str


@dataclass(frozen=True, kw_only=True)
class DecisionPointReached(_Event):
    type: ClassVar[Literal["decision_point"]] = "decision_point"
    step_id: str
    action: DecisionAction


# --- questions to a person -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(_Event):
    type: ClassVar[Literal["approval_requested"]] = "approval_requested"
    kind: ApprovalKind
    reason: str
    version: int | None
    step_id: str | None


@dataclass(frozen=True, kw_only=True)
class ApprovalWaiting(_Event):
    """Nobody could answer now; the question stays in run.json for later."""

    type: ClassVar[Literal["approval_waiting"]] = "approval_waiting"
    kind: ApprovalKind


@dataclass(frozen=True, kw_only=True)
class ApprovalGiven(_Event):
    """A decision on a pending question (plan, revision, pause, budget), either way."""

    type: ClassVar[Literal["approval"]] = "approval"
    kind: ApprovalKind
    approve: bool
    by: str
    feedback: str | None
    version: int | None
    step_id: str | None


@dataclass(frozen=True, kw_only=True)
class CommandApprovalRequested(_Event):
    type: ClassVar[Literal["approval_requested"]] = "approval_requested"
    kind: Literal["command"] = "command"
    command: str


@dataclass(frozen=True, kw_only=True)
class CommandApproval(_Event):
    """``by`` is None when nobody answered (the command is then refused)."""

    type: ClassVar[Literal["approval"]] = "approval"
    kind: Literal["command"] = "command"
    command: str
    approve: bool
    by: str | None


@dataclass(frozen=True, kw_only=True)
class CommandRefused(_Event):
    type: ClassVar[Literal["command_refused"]] = "command_refused"
    command: str
    by: Literal["policy"] = "policy"


# --- reverts and recovery ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RevertStarted(_Event):
    type: ClassVar[Literal["revert_started"]] = "revert_started"
    step_id: str
    paths: list[str] | None


@dataclass(frozen=True, kw_only=True)
class Reverted(_Event):
    """``conflicts``: ``{"path", "reason"}`` for each file left alone (edited since)."""

    type: ClassVar[Literal["revert"]] = "revert"
    step_id: str
    restored: list[str]
    conflicts: list[dict[str, str]]


@dataclass(frozen=True, kw_only=True)
class Recovered(_Event):
    """A step found ``running`` after a crash; ``partial_files`` it had changed."""

    type: ClassVar[Literal["recovered"]] = "recovered"
    step_id: str
    partial_files: list[str]


@dataclass(frozen=True, kw_only=True)
class RecoveredRestore(_Event):
    type: ClassVar[Literal["recovered_restore"]] = "recovered_restore"
    step_id: str
    restored: list[str]
    conflicts: list[str]


# --- long work ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Progress(_Event):
    """Work that may take more than a second (the first checkpoint of a big workspace,
    building the repo map): told to the front ends as it goes, never logged (the log is
    for decisions, and a progress line per 2,000 parsed files would drown them)."""

    type: ClassVar[Literal["progress"]] = "progress"
    task: Literal["checkpoint", "repo_map"]
    message: str
    done: int = 0
    total: int = 0
    finished: bool = False


Event = (
    Saved
    | StateChanged
    | BudgetReached
    | BaselineStarted
    | Planning
    | PlanCreated
    | ModeChosen
    | SandboxChosen
    | RulesWarning
    | McpServerStarted
    | McpWarning
    | McpToolCalled
    | PlannerToolCall
    | QuestionAsked
    | QuestionWaiting
    | QuestionAnswered
    | ReplanStarted
    | RevisionProposed
    | PlanVersionRecorded
    | PlanEdited
    | StepStarted
    | ToolStarted
    | ExecutorToolCall
    | CheckRan
    | StepFinished
    | Retry
    | StepCancelled
    | StepError
    | UnsavedBuffer
    | PauseReached
    | DecisionPointReached
    | ApprovalRequested
    | ApprovalWaiting
    | ApprovalGiven
    | CommandApprovalRequested
    | CommandApproval
    | CommandRefused
    | RevertStarted
    | Reverted
    | Recovered
    | RecoveredRestore
    | Progress
)

EventSink = Callable[[Event], None]


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON object of an event: ``at``, ``type``, then its fields in declared order."""
    out: dict[str, Any] = {"at": event.at, "type": event.type}
    for f in fields(event):
        if f.name != "at":
            value = getattr(event, f.name)
            out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """A copy, so a consumer mutating the dict cannot change the (frozen) event."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

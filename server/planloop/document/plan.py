"""The plan document: the one durable artifact every part of planloop agrees on.

A plan is data, not a conversation. It is validated here (pydantic v2), stored as
JSON by ``state/store.py``, rendered as Markdown for people, and its JSON schema is what
the planner's ``submit_plan`` tool accepts. Field names are the public
contract: the CLI's ``--json`` output and the LSP payloads use them as-is.

This module imports nothing else of planloop's, so every other module can use it; the
plan as a Markdown document (rendering, parsing back) is :mod:`.markdown`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StepKind = Literal["edit", "command", "pause"]
#: the state of a run as a whole (the run record's ``state``)
RunState = Literal[
    "idle", "running", "done", "awaiting_approval", "paused", "stopped", "cancelled", "error"
]

StepStatus = Literal[
    "pending",
    "running",
    "passed",
    "failed",
    "blocked",
    "skipped",
    "awaiting_approval",
    "reverted",
]
CheckKind = Literal["command", "file_exists", "file_contains", "mcp"]
Trigger = Literal[
    "check_failed",
    "repeated_failure",
    "unexpected_state",
    "step_unreachable",
    "goal_changed",
    "user_requested",
    #: a person edited the plan document (planloop edit, the editor's plan.md)
    "user_edited",
]
DecisionAction = Literal["complete", "pause", "replan"]
#: how a plan is carried out: step by step by the executor, or in one joint loop
RunMode = Literal["split", "joint"]
#: what a person asks for; ``auto`` lets the planner's horizon decide
ModeSetting = Literal["auto", "split", "joint"]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def now_iso() -> str:
    """UTC timestamps, second precision: stable in files people diff."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def new_plan_id() -> str:
    return "pln_" + secrets.token_hex(4)


class _Model(BaseModel):
    # Unknown keys are an error: a typo in a hand-edited plan or a model's
    # submit_plan must be reported, not silently dropped.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Check(_Model):
    """An executable acceptance criterion; passing is decided by code, not a model."""

    kind: CheckKind
    description: str = ""
    command: str | None = None
    path: str | None = None
    pattern: str | None = None
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    #: an ``mcp`` check: a read-only MCP tool, its arguments; ``pattern`` (a regular
    #: expression) must occur in the result, and the call must not be an error
    tool: str | None = None
    arguments: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Check:
        if self.kind == "mcp" and not (self.tool and self.tool.startswith("mcp__")):
            raise ValueError("an 'mcp' check needs a 'tool' named mcp__SERVER__TOOL")
        if self.kind == "command" and not (self.command and self.command.strip()):
            raise ValueError("a 'command' check needs a non-empty 'command'")
        if self.kind in ("file_exists", "file_contains") and not self.path:
            raise ValueError(f"a '{self.kind}' check needs a 'path'")
        if self.kind == "file_contains" and not self.pattern:
            raise ValueError("a 'file_contains' check needs a 'pattern'")
        return self

    def label(self) -> str:
        if self.description:
            return self.description
        if self.kind == "command":
            return f"`{self.command}` exits 0"
        if self.kind == "file_exists":
            return f"{self.path} exists"
        if self.kind == "mcp":
            return f"{self.tool} answers" + (f" /{self.pattern}/" if self.pattern else "")
        return f"{self.path} contains /{self.pattern}/"


class CheckResult(_Model):
    check: Check
    passed: bool
    observation: str = ""
    workspace_check: bool = False


class Outcome(_Model):
    """What the executor reports for a step: structured, never prose to be parsed."""

    ok: bool
    summary: str = ""
    surprising: bool = False
    surprising_why: str = ""
    blocked: bool = False
    blocked_why: str = ""
    observations: list[str] = Field(default_factory=list)


class FileChange(_Model):
    path: str
    status: Literal["added", "modified", "deleted", "renamed", "typechange"] = "modified"
    old_path: str | None = None
    added: int = 0
    removed: int = 0
    binary: bool = False


class RoleUsage(_Model):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    #: calls to a model with no known price: their cost is not in ``cost_usd``, so any
    #: cost shown with these is "cost unknown", never $0.00
    unpriced_calls: int = 0
    #: the tokens of those calls (all kinds), shown in place of a dollar figure
    unpriced_tokens: int = 0

    @property
    def tokens(self) -> int:
        """Every token billed: what ``budgets.tokens`` counts, for any model."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    @property
    def cost_known(self) -> bool:
        return self.unpriced_calls == 0

    def add(self, other: RoleUsage) -> RoleUsage:
        return RoleUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 6),
            calls=self.calls + other.calls,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
            unpriced_tokens=self.unpriced_tokens + other.unpriced_tokens,
        )


def total_usage(usages: Iterable[RoleUsage]) -> RoleUsage:
    out = RoleUsage()
    for u in usages:
        out = out.add(u)
    return out


def cost_text(usd: float, usage: RoleUsage | None = None, *, digits: int = 4) -> str:
    """A cost as every front end shows it: ``$0.0123``, or with unpriced calls
    ``12,345 tokens, cost unknown`` (``$0.0123 + …`` when some calls were priced).

    One function so the CLI, the LSP payloads and the log never disagree, and an
    unpriced model can never read as free.
    """
    dollars = f"${usd:.{digits}f}"
    if usage is None or usage.cost_known:
        return dollars
    unknown = f"{usage.unpriced_tokens:,} tokens, cost unknown"
    return unknown if usage.calls == usage.unpriced_calls else f"{dollars} + {unknown}"


#: characters of an MCP result kept in the step's record and the log (the model saw more)
MCP_RECORD_CHARS = 2000


class McpCall(_Model):
    """One call to a user's MCP tool during a step: what was asked, what came back."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    is_error: bool = False
    result: str = ""

    def capped(self) -> McpCall:
        if len(self.result) <= MCP_RECORD_CHARS:
            return self
        cut = len(self.result) - MCP_RECORD_CHARS
        return self.model_copy(
            update={"result": self.result[:MCP_RECORD_CHARS] + f"\n[… {cut:,} characters cut]"}
        )


class StepResult(_Model):
    outcome: Outcome | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    files_changed: list[FileChange] = Field(default_factory=list)
    checkpoint_before: str | None = None
    checkpoint_after: str | None = None
    usage: dict[str, RoleUsage] = Field(default_factory=dict)
    cost_usd: float = 0.0
    duration_s: float = 0.0
    error: str | None = None
    #: the user's MCP tools the executor called, in order (results capped)
    mcp_calls: list[McpCall] = Field(default_factory=list)

    @property
    def checks_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def total_usage(self) -> RoleUsage:
        return total_usage(self.usage.values())

    @property
    def cost_text(self) -> str:
        return cost_text(self.cost_usd, self.total_usage)


AttemptEnd = Literal[
    "running", "passed", "failed", "blocked", "model_error", "cancelled", "interrupted"
]


class Attempt(_Model):
    """One attempt at a step, recorded before it touches anything (write-ahead).

    ``before`` is saved to the run record before the executor's first tool call, so an
    attempt killed at any later point still names the state it started from. ``after``
    is the workspace as the attempt left it — for a rolled-back attempt (cancel, crash
    recovery) the state after the rollback, with the work it had done kept under
    ``partial`` for inspection. ``files`` are the paths it changed (or, while it has no
    ``after``, may have changed). ``counted``: it counts toward the retry limit (a model
    error, a cancel or a crash does not).
    """

    n: int = Field(ge=1)
    before: str
    after: str | None = None
    partial: str | None = None
    ended: AttemptEnd = "running"
    counted: bool = True
    files: list[str] = Field(default_factory=list)
    error: str | None = None
    started_at: str = Field(default_factory=now_iso)


class Step(_Model):
    id: str
    title: str
    kind: StepKind = "edit"
    instructions: str = ""
    files: list[str] = Field(default_factory=list)
    expected_output: str = ""
    acceptance: list[Check] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    #: the MCP tools (``mcp__SERVER__TOOL``, globs) the step needs: only their schemas go
    #: into its requests; empty offers every running server's tools
    tools: list[str] = Field(default_factory=list)
    status: StepStatus = "pending"
    attempts: int = 0
    result: StepResult | None = None
    #: every attempt ever started, counted or not, oldest first: what diff/revert span
    attempt_log: list[Attempt] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(
                f"step id {v!r} must be a slug: lowercase letters, digits, '-' or '_', "
                "at most 64 characters"
            )
        return v


class DecisionPoint(_Model):
    after_step: str
    condition: str = ""
    action: DecisionAction = "pause"


class StopConditions(_Model):
    success: str = "every step passed its acceptance checks"
    failure: str = "re-plan budget exhausted or a re-plan rejected"


class Estimate(_Model):
    cost_usd: float | None = None
    duration_s: float | None = None


class Revision(_Model):
    trigger: Trigger
    reason: str = ""
    evidence: list[str] = Field(default_factory=list)
    failing_step: str | None = None
    proposed_by: str = ""
    decided: Literal["approved", "rejected"] | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    feedback: str | None = None


class ModeChoice(_Model):
    """How this plan runs and why, recorded in the plan so every view can show it.

    ``outline``: the planner's steps when they run as one joint step, so a person who
    overrides the choice at review gets the split plan back without a new planner call.
    """

    mode: RunMode
    requested: ModeSetting
    reason: str
    horizon: int | None = None
    decided_by: str = "planloop"
    outline: list[Step] = Field(default_factory=list)


class Question(_Model):
    """A clarifying question the planner asked before it submitted the plan, and its answer.

    Kept in the plan (and rendered in its ``## Questions`` section) because the answer
    shaped the plan: a reviewer must see what the planner was told, and a re-plan must
    not ask again or contradict it.
    """

    question: str
    options: list[str] = Field(default_factory=list)
    answer: str | None = None
    asked_at: str = Field(default_factory=now_iso)
    answered_at: str | None = None
    #: who answered (the terminal's user, ``editor``, ``planloop answer``)
    answered_by: str | None = None


class Plan(_Model):
    plan_id: str = Field(default_factory=new_plan_id)
    version: int = Field(default=1, ge=1)
    goal: str
    steps: list[Step]
    decision_points: list[DecisionPoint] = Field(default_factory=list)
    stop_conditions: StopConditions = Field(default_factory=StopConditions)
    estimate: Estimate = Field(default_factory=Estimate)
    created_at: str = Field(default_factory=now_iso)
    parent_version: int | None = None
    revision: Revision | None = None
    #: None on plans written before modes existed, and on re-plans: both run split
    mode_choice: ModeChoice | None = None
    #: the project's instruction files its roles were given (rules.py): AGENTS.md, ...
    rules_followed: list[str] = Field(default_factory=list)
    #: the planner's clarifying questions and the user's answers (kept across re-plans)
    questions: list[Question] = Field(default_factory=list)

    @property
    def mode(self) -> RunMode:
        return self.mode_choice.mode if self.mode_choice is not None else "split"

    @field_validator("plan_id")
    @classmethod
    def _plan_id(cls, v: str) -> str:
        if not re.fullmatch(r"pln_[0-9a-f]{8}", v):
            raise ValueError(f"plan_id {v!r} must be 'pln_' + 8 hex digits")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        problems = plan_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def has_step(self, step_id: str) -> bool:
        return any(s.id == step_id for s in self.steps)

    def dependents(self, step_id: str) -> list[str]:
        """Every step that depends on ``step_id``, directly or transitively."""
        out: list[str] = []
        frontier = {step_id}
        changed = True
        while changed:
            changed = False
            for s in self.steps:
                if s.id not in out and frontier.intersection(s.depends_on):
                    out.append(s.id)
                    frontier.add(s.id)
                    changed = True
        return out

    def next_runnable(self) -> Step | None:
        """The first step not done whose dependencies have all passed."""
        done = {s.id for s in self.steps if s.status in ("passed", "skipped")}
        for s in self.steps:
            runnable = s.status in ("pending", "failed", "running", "awaiting_approval", "reverted")
            if runnable and all(d in done for d in s.depends_on):
                return s
        return None

    @property
    def complete(self) -> bool:
        return all(s.status in ("passed", "skipped") for s in self.steps)

    @property
    def progress(self) -> tuple[int, int]:
        return sum(1 for s in self.steps if s.status in ("passed", "skipped")), len(self.steps)

    @property
    def cost_usd(self) -> float:
        return round(sum(s.result.cost_usd for s in self.steps if s.result), 6)


def plan_problems(plan: Plan) -> list[str]:
    """Structural problems code can find without a model; the planner gets these back."""
    problems: list[str] = []
    if not plan.goal.strip():
        problems.append("the goal is empty")
    if not plan.steps:
        problems.append("a plan needs at least one step")
    seen: set[str] = set()
    for s in plan.steps:
        if s.id in seen:
            problems.append(f"duplicate step id {s.id!r}")
        seen.add(s.id)
    order = {s.id: i for i, s in enumerate(plan.steps)}
    for i, s in enumerate(plan.steps):
        for d in s.depends_on:
            if d not in order:
                problems.append(f"step {s.id!r} depends on {d!r}, which is not a step of this plan")
            elif order[d] >= i:
                problems.append(f"step {s.id!r} depends on {d!r}, which does not come before it")
        # a joint step's acceptance is the workspace's own checks (plus any it carries)
        if s.kind == "edit" and not s.acceptance and plan.mode != "joint":
            problems.append(f"edit step {s.id!r} has no acceptance check")
    for dp in plan.decision_points:
        if dp.after_step not in order:
            problems.append(f"decision point after {dp.after_step!r}: no such step")
    return problems


# --- the planner's submit_plan tool ------------------------------------------------


class StepDraft(_Model):
    """A step as the planner writes it: no status or results (the orchestrator owns those)."""

    id: str
    title: str
    kind: StepKind = "edit"
    instructions: str
    files: list[str] = Field(default_factory=list)
    expected_output: str = ""
    acceptance: list[Check] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)


class PlanDraft(_Model):
    goal: str
    steps: list[StepDraft]
    decision_points: list[DecisionPoint] = Field(default_factory=list)
    stop_conditions: StopConditions | None = None
    estimate: Estimate | None = None
    revision_reason: str | None = None


def submit_plan_schema() -> dict[str, Any]:
    """JSON schema for ``submit_plan``, derived from the model so the two cannot drift."""
    schema = PlanDraft.model_json_schema()
    return schema

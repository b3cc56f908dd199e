"""The joint role: one model plans and acts in one context, with every tool.

This is the single-loop agent seed 001 recommends for short tasks: no planner call per
step, no fresh executor context per step, so fewer model calls and less latency. It is
still run *as a step* by :class:`step_runner.StepRunner`, so it keeps all of planloop's
safety: checkpoints before and after (diff and revert work), the workspace checks (and
any outline checks) as its acceptance, the turn and dollar budgets, the command policy,
cost and events. It has the executor's interface (``run(plan, step, ...) -> Outcome``)
and runs on the executor's model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from .cancel import CancelToken
from .events import ExecutorToolCall
from .ledger import Ledger
from .models.base import Model, ToolCall
from .plan import Outcome, Plan, Step
from .rules import ProjectRules
from .tool_loop import EventFn, TurnBudgetExhausted, tool_loop
from .tools import EXECUTOR_TOOLS, ToolBox
from .validation import describe
from .workspace import Workspace

SYSTEM = """You are planloop's joint agent: you plan and carry out a whole (short) coding
task yourself, in one conversation, with tools: list_files, read_file, search, write_file,
edit_file (exact, unique match), run_command. Explore what you need, make the change, check
your work (run the project's tests if it has them). Make no unrelated refactors. Then call
report_outcome once: ok (is the task done?), a one-paragraph summary, surprising +
surprising_why if the workspace was not as expected, blocked + blocked_why if the task
cannot be done, and short observations. After you report, planloop runs the acceptance
checks; if they fail, a planner takes over with a step-by-step plan."""

NUDGE = "Continue with the tools, and end with report_outcome."


def build_prompt(plan: Plan, step: Step) -> str:
    lines = [f"Task: {step.instructions or plan.goal}"]
    if step.acceptance:
        lines.append("Acceptance checks (run by planloop after you report):")
        for c in step.acceptance:
            lines.append(f"- {c.label()}" + (f"  [command: {c.command}]" if c.command else ""))
    return "\n".join(lines)


class JointAgent:
    def __init__(
        self,
        model: Model,
        ws: Workspace,
        *,
        max_turns: int = 30,
        command_gate: Callable[[str], str | None] | None = None,
        command_timeout_s: float = 120.0,
        max_tokens: int = 8192,
        on_event: EventFn | None = None,
        ledger: Ledger | None = None,
        rules: ProjectRules | None = None,
    ) -> None:
        self.model = model
        #: the project's instruction files, appended to the system prompt per step
        self.rules = rules
        self.ledger = ledger or Ledger()
        self.ws = ws
        self.max_turns = max_turns
        self.command_gate = command_gate
        self.command_timeout_s = command_timeout_s
        self.on_event = on_event
        self.max_tokens = max_tokens

    def system_prompt(self, step: Step) -> str:
        """The fixed instructions, then the project rules for this step's files: the
        same on every turn of the step, so the whole is the cached prefix."""
        if self.rules is None:
            return SYSTEM
        return self.rules.system(SYSTEM, self.rules.for_step(step))

    def run(
        self,
        plan: Plan,
        step: Step,
        *,
        retry_observation: str | None = None,
        cancel: CancelToken | None = None,
    ) -> Outcome:
        """The agent's report, or a failed one when its turns ran out.

        ``retry_observation`` is accepted for the step runner's sake and ignored: a
        joint run is never retried, it escalates to a split re-plan.
        """
        toolbox = ToolBox(
            self.ws,
            writable=True,
            command_gate=self.command_gate,
            cancel=cancel,
            command_timeout_s=self.command_timeout_s,
        )

        def report(call: ToolCall) -> tuple[str, bool, Any]:
            try:
                outcome = Outcome.model_validate(call.input)
            except ValidationError as e:
                return f"report_outcome input is invalid: {describe(e)}. Call it again.", True, None
            return "Outcome recorded.", False, outcome

        def on_tool(line: str) -> None:
            if self.on_event:
                self.on_event(ExecutorToolCall(step_id=step.id, line=line))

        try:
            res = tool_loop(
                model=self.model,
                system=self.system_prompt(step),
                first_message=build_prompt(plan, step),
                tools=EXECUTOR_TOOLS,
                toolbox=toolbox,
                terminal={"report_outcome": report},
                max_turns=self.max_turns,
                nudge=NUDGE,
                cancel=cancel,
                meter=self.ledger.meter("joint"),
                on_tool=on_tool,
                max_tokens=self.max_tokens,
            )
        except TurnBudgetExhausted as e:
            return Outcome(
                ok=False,
                summary=f"the joint agent used its {e.turns} turns without reporting an outcome",
                observations=[f"turn budget ({e.turns}) exhausted"],
            )
        outcome: Outcome = res.value
        return outcome

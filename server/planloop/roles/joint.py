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

from planloop.document.plan import Plan, Step
from planloop.roles.executor import Executor
from planloop.roles.ledger import Role

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


class JointAgent(Executor):
    """The executor's loop with the joint prompt: the whole task as one step, charged to
    the ``joint`` role. A joint run is never retried (it escalates to a split re-plan), so
    a retry observation is not part of its prompt."""

    role: Role = "joint"
    who = "the joint agent"
    system = SYSTEM
    nudge = NUDGE

    def first_message(self, plan: Plan, step: Step, retry_observation: str | None) -> str:
        return build_prompt(plan, step)

"""Split or joint: the choice of mode, and the one-step plan a joint run is shown as.

Seed 001's rule is "keep the joint loop for short tasks and split only when the task
horizon exceeds five steps". planloop judges the horizon with the plan the planner
already writes, not a separate triage call: the number of steps in its ``submit_plan``
*is* its estimate of the horizon, costs nothing extra, and is kept (as the joint plan's
``outline``) so a person who disagrees at review switches back without a new call.

A joint run is shown as a plan of one step, ``joint: <goal>``, so the CLI, the language
server and the tree need nothing new to show it, diff it or revert it. Its acceptance
is the union of the outline's checks plus the workspace's own checks (which every step
runs). A re-plan of a joint plan is always split (``mode_choice`` is not carried over),
which is why a failing joint run escalates at most once and never loops (a split
plan's revision keeps its split choice; nothing turns a revision joint).

Pure functions over :mod:`plan`: no model, no I/O.
"""

from __future__ import annotations

from planloop.document.plan import Check, ModeChoice, ModeSetting, Plan, RunMode, Step

JOINT_STEP_ID = "joint"
TITLE_MAX = 120


def choose(plan: Plan, requested: ModeSetting, joint_max_steps: int) -> ModeChoice:
    """Which mode ``plan`` (the planner's draft) runs in, and the reason shown to the user."""
    n = len(plan.steps)
    if requested == "split":
        return ModeChoice(mode="split", requested="split", reason="mode = split", horizon=n)
    if requested == "joint":
        return ModeChoice(mode="joint", requested="joint", reason="mode = joint", horizon=n)
    pauses = [s.id for s in plan.steps if s.kind == "pause"]
    if pauses:
        # a joint loop has no place to stop for a person mid-way
        return ModeChoice(
            mode="split",
            requested="auto",
            reason=f"auto: the plan has a pause step ({pauses[0]}) a person must answer",
            horizon=n,
        )
    if plan.decision_points:
        return ModeChoice(
            mode="split",
            requested="auto",
            reason="auto: the plan has decision points, which need step boundaries",
            horizon=n,
        )
    if n <= joint_max_steps:
        return ModeChoice(
            mode="joint",
            requested="auto",
            reason=f"auto: the planner judged {n} step(s), at most joint_max_steps="
            f"{joint_max_steps}, so one model plans and acts in one loop",
            horizon=n,
        )
    return ModeChoice(
        mode="split",
        requested="auto",
        reason=f"auto: the planner judged {n} steps, more than joint_max_steps="
        f"{joint_max_steps}, so each step gets its own executor context",
        horizon=n,
    )


def joint_step(goal: str, outline: list[Step]) -> Step:
    """The one step of a joint plan: the goal, the planner's outline, all their checks."""
    lines = [goal]
    if outline:
        lines += ["", "A planner's outline (a suggestion; do it in any order that works):"]
        for n, s in enumerate(outline, 1):
            lines.append(f"{n}. {s.title}: {s.instructions.strip()}")
    checks: list[Check] = []
    for s in outline:
        for c in s.acceptance:
            if c not in checks:
                checks.append(c)
    files: list[str] = []
    for s in outline:
        files += [f for f in s.files if f not in files]
    title = f"joint: {' '.join(goal.split())}"
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    return Step(
        id=JOINT_STEP_ID,
        title=title,
        kind="edit",
        instructions="\n".join(lines),
        files=files,
        acceptance=checks,
    )


def as_mode(plan: Plan, choice: ModeChoice) -> Plan:
    """``plan`` shaped for ``choice``: collapsed into one joint step, or its outline back."""
    if choice.mode == "joint":
        outline = plan.mode_choice.outline if plan.mode == "joint" and plan.mode_choice else None
        steps = outline if outline is not None else plan.steps
        kept = [s.model_copy(deep=True) for s in steps]
        new_choice = choice.model_copy(update={"outline": kept})
        return _rebuilt(
            plan, steps=[joint_step(plan.goal, kept)], decision_points=[], mode_choice=new_choice
        )
    steps = plan.steps
    if plan.mode == "joint" and plan.mode_choice is not None:
        steps = plan.mode_choice.outline
    return _rebuilt(
        plan,
        steps=[s.model_copy(deep=True) for s in steps],
        mode_choice=choice.model_copy(update={"outline": []}),
    )


def _rebuilt(plan: Plan, **update: object) -> Plan:
    """A validated copy (``model_copy`` would skip the plan's consistency rules)."""
    data = {k: v for k, v in plan if k not in update}
    return Plan.model_validate({**data, **update})


def needs_planner(plan: Plan, mode: RunMode) -> bool:
    """Switching to split needs the planner when the joint plan was made without one."""
    return (
        mode == "split"
        and plan.mode == "joint"
        and not (plan.mode_choice and plan.mode_choice.outline)
    )


def joint_without_planner(goal: str, plan_id: str | None = None) -> Plan:
    """mode = joint: no planner call at all; the joint model plans in its own context."""
    choice = ModeChoice(
        mode="joint",
        requested="joint",
        reason="mode = joint: one model plans and acts; no separate planner call",
    )
    fields: dict[str, object] = {"goal": goal, "steps": [joint_step(goal, [])]}
    if plan_id:
        fields["plan_id"] = plan_id
    return Plan.model_validate({**fields, "mode_choice": choice})

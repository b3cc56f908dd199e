"""A person's edit of the plan document: the rules it must keep, each naming its line.

The plan is the user's document (issue 12): they may rewrite steps, add and remove
them, change the goal. What they may not do is rewrite history or hand the executor a
plan it cannot carry out, so :func:`check_edit` enforces, against the current version:

- a passed step is immutable — its title, kind, instructions, files, expected output,
  checks and dependencies stay, and it cannot be removed (its changes are in the
  workspace; a re-plan or a revert is the way to undo them);
- step ids are unique slugs; every dependency is a step of the edited plan that comes
  before it (so no cycle, and no step left depending on one the edit removed);
- every edit or command step has at least one acceptance check (a joint plan's step is
  checked by the workspace's own checks);
- the text is a plan document at all (a ``**Goal:**`` line and a ``## Steps`` section).

A changed goal is allowed; :attr:`EditResult.goal_changed` says so and the new version's
revision records it. The check is pure and cheap — the language server calls it on
every keystroke — and writes nothing; :meth:`planloop.api.Session.edit_plan` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from planloop.document.markdown_parse import EditProblem, Parsed, ParsedStep, parse
from planloop.document.plan import (
    Check,
    DecisionPoint,
    Plan,
    Revision,
    Step,
    StopConditions,
    now_iso,
)

#: the step fields a person edits in the document; everything else is carried over
EDITABLE = (
    "title",
    "kind",
    "instructions",
    "files",
    "expected_output",
    "acceptance",
    "depends_on",
    "tools",
)
#: the plan fields the document edits
PLAN_EDITABLE = ("goal", "steps", "decision_points", "stop_conditions")

__all__ = ["EDITABLE", "EditProblem", "EditResult", "check_edit"]


@dataclass
class EditResult:
    """``plan``: the new version (None when there are problems); ``changed``: it differs
    from the base in something the document edits (False: saving writes nothing)."""

    problems: list[EditProblem] = field(default_factory=list)
    plan: Plan | None = None
    changed: bool = False
    goal_changed: bool = False
    old_goal: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def check_edit(text: str, base: Plan, *, author: str = "user") -> EditResult:
    """Check ``text`` (the plan document, edited) against ``base`` (the current version)."""
    parsed = parse(text)
    problems = list(parsed.problems)
    if parsed.goal is None or not parsed.has_steps_section:
        return EditResult(problems=problems)
    checks = _checks(parsed, problems)
    decisions = _decisions(parsed, problems)
    problems += _rules(parsed, checks, base)
    if problems:
        return EditResult(problems=_sorted(problems))
    steps = [_step(ps, checks[i], base) for i, ps in enumerate(parsed.steps)]
    goal = parsed.goal
    candidate = base.model_copy(
        update={
            "goal": goal,
            "steps": steps,
            "decision_points": decisions,
            "stop_conditions": StopConditions(
                success=base.stop_conditions.success if parsed.success is None else parsed.success,
                failure=base.stop_conditions.failure if parsed.failure is None else parsed.failure,
            ),
        }
    )
    changed = _editable(candidate) != _editable(base)
    goal_changed = goal != base.goal
    now = now_iso()
    reason = f"edited by {author}"
    if goal_changed:
        reason += f"; goal changed from {base.goal!r} to {goal!r}"
    new = candidate.model_copy(
        update={
            "version": base.version + 1,
            "parent_version": base.version,
            "created_at": now,
            "revision": Revision(
                trigger="user_edited",
                reason=reason,
                proposed_by=author,
                decided="approved",
                decided_by=author,
                decided_at=now,
            ),
        }
    )
    try:
        new = Plan.model_validate(new.model_dump())
    except ValidationError as e:  # a rule this module missed: still a problem, not a crash
        return EditResult(problems=[EditProblem(0, _first_error(e))])
    return EditResult(
        plan=new, changed=changed, goal_changed=goal_changed and changed, old_goal=base.goal
    )


def _editable(plan: Plan) -> object:
    return (
        plan.goal,
        [tuple(getattr(s, f) for f in ("id", *EDITABLE)) for s in plan.steps],
        plan.decision_points,
        plan.stop_conditions,
    )


def _checks(parsed: Parsed, problems: list[EditProblem]) -> list[list[Check]]:
    """Each step's checks as models; a check that does not validate is a problem on its line."""
    out: list[list[Check]] = []
    for ps in parsed.steps:
        mine: list[Check] = []
        for values, line in zip(ps.acceptance, ps.check_lines, strict=True):
            try:
                mine.append(Check.model_validate(values))
            except ValidationError as e:
                problems.append(EditProblem(line, f"check: {_first_error(e)}"))
        out.append(mine)
    return out


def _decisions(parsed: Parsed, problems: list[EditProblem]) -> list[DecisionPoint]:
    out: list[DecisionPoint] = []
    for values, line in zip(parsed.decision_points, parsed.decision_lines, strict=True):
        try:
            out.append(DecisionPoint.model_validate(values))
        except ValidationError as e:
            problems.append(EditProblem(line, f"decision point: {_first_error(e)}"))
    return out


def _step(ps: ParsedStep, checks: list[Check], base: Plan) -> Step:
    values: dict[str, object] = {
        "title": ps.title,
        "kind": ps.kind,
        "instructions": ps.instructions,
        "files": ps.files,
        "expected_output": ps.expected_output,
        "acceptance": checks,
        "depends_on": ps.depends_on,
        "tools": ps.tools,
    }
    if base.has_step(ps.id):
        # status, attempts, results and any field the document does not show: the base's
        return base.step(ps.id).model_copy(update=values, deep=True)
    return Step.model_validate({"id": ps.id, **values})


def _rules(parsed: Parsed, checks: list[list[Check]], base: Plan) -> list[EditProblem]:
    out: list[EditProblem] = []
    if not parsed.goal or not parsed.goal.strip():
        out.append(EditProblem(parsed.goal_line, "the goal is empty"))
    if not parsed.steps:
        out.append(EditProblem(0, "a plan needs at least one step (none under ## Steps)"))
    order: dict[str, int] = {}
    for i, ps in enumerate(parsed.steps):
        try:
            Step.model_validate({"id": ps.id, "title": ps.title})
        except ValidationError as e:
            out.append(EditProblem(ps.line, _first_error(e)))
        if ps.id in order:
            first = parsed.steps[order[ps.id]].line
            out.append(EditProblem(ps.line, f"duplicate step id {ps.id!r} (first on line {first})"))
        else:
            order[ps.id] = i
    edited = {ps.id for ps in parsed.steps}
    for i, ps in enumerate(parsed.steps):
        for d in ps.depends_on:
            if d == ps.id:
                out.append(EditProblem(ps.line, f"step {ps.id!r} depends on itself"))
            elif d not in order:
                gone = " (this edit removes it)" if base.has_step(d) else ""
                out.append(
                    EditProblem(
                        ps.line, f"step {ps.id!r} depends on {d!r}, which is not a step{gone}"
                    )
                )
            elif order[d] > i:
                cycle = ps.id in _deps_closure(parsed, d)
                what = "a dependency cycle" if cycle else "a step must come after what it needs"
                out.append(
                    EditProblem(
                        ps.line, f"step {ps.id!r} depends on {d!r}, which comes after it ({what})"
                    )
                )
        needs_check = ps.kind in ("edit", "command") and base.mode != "joint"
        if needs_check and not ps.acceptance:
            out.append(
                EditProblem(
                    ps.line,
                    f"{ps.kind} step {ps.id!r} has no acceptance check (add a '   - check:' line)",
                )
            )
        if base.has_step(ps.id) and order.get(ps.id) == i:
            old = base.step(ps.id)
            if old.status == "passed":
                new = _step(ps, checks[i], base)
                changed = [f for f in EDITABLE if getattr(old, f) != getattr(new, f)]
                if changed:
                    fields = ", ".join(f.replace("_", " ") for f in changed)
                    out.append(
                        EditProblem(
                            ps.line,
                            f"step {ps.id!r} has passed, so it cannot change (changed: {fields}); "
                            "revert it or ask for a re-plan instead",
                        )
                    )
    for s in base.steps:
        if s.status == "passed" and s.id not in edited:
            out.append(
                EditProblem(
                    0,
                    f"step {s.id!r} has passed and cannot be removed (its changes are in the "
                    "workspace); revert it first",
                )
            )
    for dp, line in zip(parsed.decision_points, parsed.decision_lines, strict=True):
        after = dp.get("after_step")
        if isinstance(after, str) and after not in order:
            out.append(EditProblem(line, f"decision point after {after!r}: no such step"))
    return out


def _deps_closure(parsed: Parsed, start: str) -> set[str]:
    deps = {ps.id: ps.depends_on for ps in parsed.steps}
    seen: set[str] = set()
    todo = [start]
    while todo:
        cur = todo.pop()
        for d in deps.get(cur, []):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def _first_error(e: ValidationError) -> str:
    errs = e.errors()
    msg = str(errs[0].get("msg", "invalid")) if errs else str(e)
    return msg.removeprefix("Value error, ")


def _sorted(problems: list[EditProblem]) -> list[EditProblem]:
    seen: set[EditProblem] = set()
    out = []
    for p in sorted(problems, key=lambda p: p.line):
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out

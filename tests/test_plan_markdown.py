"""The plan document is lossless: plan → Markdown → plan gives the same plan.

``planloop show`` prints it and ``planloop edit`` (or an editor through the language
server) reads it back, so every editable field has to survive the trip — checks with
every field, files, dependencies, pause steps, decision points, multi-line text and the
characters Markdown cares about (backticks, ``|``, a leading ``-``, ``#``, unicode).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planloop.document.edits import EDITABLE, check_edit
from planloop.document.markdown import render_markdown
from planloop.document.plan import (
    Check,
    DecisionPoint,
    Plan,
    Revision,
    Step,
    StopConditions,
)

#: Markdown's and the format's own troublemakers, mixed into arbitrary unicode
NASTY = ["`", "``", "|", "- ", "-", "#", "## ", "**", "**Goal:**", "* ", "1. ", "> ", "\\", "→"]
NASTY += [" — ", "(after a)", "- check: ", "```", "~~~", "é", "日本", "🙂", "\t", '"', "{", "}"]

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_word = st.one_of(st.sampled_from(NASTY), st.text(_chars, min_size=1, max_size=8))
#: any text: several lines, odd characters, spaces at either end
any_text = st.lists(st.one_of(_word, st.just("\n"), st.just(" ")), max_size=12).map("".join)
some_text = any_text.map(lambda s: s if s.strip() else "x" + s)
#: a title is one line (a line break would end the step line); anything else goes
title = some_text.map(lambda s: " ".join(s.splitlines())).map(lambda s: s if s.strip() else "t")
slug = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True)


def _check(kind: str, text: Any, timeout: float) -> Check:
    if kind == "command":
        return Check(kind="command", command=text[0], description=text[1], timeout_s=timeout)
    if kind == "file_exists":
        return Check(kind="file_exists", path=text[0], description=text[1], timeout_s=timeout)
    return Check(
        kind="file_contains", path=text[0], pattern=text[2], description=text[1], timeout_s=timeout
    )


checks = st.builds(
    _check,
    st.sampled_from(["command", "file_exists", "file_contains"]),
    st.tuples(some_text, any_text, some_text),
    st.one_of(st.just(120.0), st.sampled_from([1.0, 0.5, 60.0, 3600.0]), st.floats(0.001, 3600.0)),
)


@st.composite
def plans(draw: st.DrawFn, statuses: tuple[str, ...] = ("pending", "passed", "failed")) -> Plan:
    ids = draw(st.lists(slug, min_size=1, max_size=5, unique=True))
    steps: list[Step] = []
    for i, sid in enumerate(ids):
        kind = draw(st.sampled_from(["edit", "command", "pause"]))
        acceptance = draw(st.lists(checks, min_size=0 if kind == "pause" else 1, max_size=3))
        steps.append(
            Step(
                id=sid,
                title=draw(title),
                kind=kind,  # type: ignore[arg-type]
                instructions=draw(any_text),
                files=draw(st.lists(some_text, max_size=3)),
                expected_output=draw(any_text),
                acceptance=acceptance,
                depends_on=draw(st.lists(st.sampled_from(ids[:i]), unique=True)) if i else [],
                status=draw(st.sampled_from(statuses)),  # type: ignore[arg-type]
            )
        )
    decisions = draw(
        st.lists(
            st.builds(
                DecisionPoint,
                after_step=st.sampled_from(ids),
                condition=any_text,
                action=st.sampled_from(["complete", "pause", "replan"]),
            ),
            max_size=2,
        )
    )
    stop = draw(st.builds(StopConditions, success=some_text, failure=some_text))
    return Plan(
        goal=draw(some_text),
        steps=steps,
        decision_points=decisions,
        stop_conditions=stop,
        version=draw(st.integers(1, 9)),
    )


def editable(plan: Plan) -> Any:
    return (
        plan.goal,
        [{"id": s.id, **{f: getattr(s, f) for f in EDITABLE}} for s in plan.steps],
        plan.decision_points,
        plan.stop_conditions,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_a_plan_reads_back_from_its_markdown_unchanged(plan: Plan) -> None:
    text = render_markdown(plan)
    res = check_edit(text, plan)
    assert res.problems == [], text
    assert res.plan is not None
    assert editable(res.plan) == editable(plan), text
    assert not res.changed and not res.goal_changed
    # status, attempts and results come from the base by step id, never from the text
    assert [(s.status, s.attempts, s.result) for s in res.plan.steps] == [
        (s.status, s.attempts, s.result) for s in plan.steps
    ]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(statuses=("pending", "failed")), st.data())
def test_the_text_not_the_base_decides_every_editable_field(
    plan: Plan, data: st.DataObject
) -> None:
    """Parsed against a base that differs in every editable field, the text still wins:
    the round trip above is not the base's values coming back."""
    base = Plan(
        plan_id=plan.plan_id,
        version=plan.version,
        goal="something else entirely",
        steps=[Step(id=s.id, title="old", kind="pause") for s in reversed(plan.steps)],
    )
    text = render_markdown(plan)
    res = check_edit(text, base)
    assert res.problems == [], text
    assert res.plan is not None
    assert editable(res.plan) == editable(plan), text
    assert res.changed and res.goal_changed
    assert res.plan.version == base.version + 1 and res.plan.parent_version == base.version
    assert res.plan.revision is not None and res.plan.revision.trigger == "user_edited"


def test_the_rendered_document_stays_readable() -> None:
    """Readable wherever it can be: plain lines, no JSON, for an ordinary plan."""
    plan = Plan(
        goal="Add square()",
        steps=[
            Step(
                id="square",
                title="Add square()",
                instructions="Add the function.\nKeep the style of the file.",
                files=["calculator/calc.py"],
                expected_output="a new function",
                acceptance=[
                    Check(kind="command", command="pytest -q", timeout_s=60),
                    Check(kind="file_contains", path="calculator/calc.py", pattern="def square"),
                    Check(kind="file_exists", path="NOTES.md", description="notes written"),
                ],
            ),
            Step(id="look", title="Look at it", kind="pause", depends_on=["square"]),
        ],
        decision_points=[DecisionPoint(after_step="square", condition="it is slow")],
    )
    text = render_markdown(plan)
    assert "**Goal:** Add square()" in text
    assert "1. [ ] **Add square()** `square` — edit" in text
    assert "2. [ ] **Look at it** `look` — pause (after square)" in text
    assert "     Keep the style of the file." in text  # the whole of the instructions
    assert "`calculator/calc.py`" in text and "pytest -q" in text and "60" in text
    assert "def square" in text and "notes written" in text
    assert "json" not in text
    res = check_edit(text, plan)
    assert res.plan is not None and editable(res.plan) == editable(plan)


def test_derived_lines_and_unknown_sections_are_ignored_and_keep_the_base_values() -> None:
    """``**Mode:**``/``**Revision**``/``**Rules followed:**`` lines and sections such as
    ``## Questions`` are derived: the parser skips them, even when a person edits them."""
    plan = Plan(
        goal="g",
        steps=[Step(id="a", title="A", acceptance=[Check(kind="file_exists", path="x")])],
        revision=Revision(trigger="user_requested", reason="r"),
        parent_version=1,
        version=2,
    )
    text = render_markdown(plan)
    text = text.replace(
        "**Goal:** g",
        "**Goal:** g\n\n**Rules followed:** AGENTS.md, CLAUDE.md\n**Mode:** split (edited)",
    )
    text = text.replace(
        "## Stop conditions",
        "## Questions\n\n- Q: which file?\n  - A: `x`\n1. not a step\n\n## Stop conditions",
    )
    res = check_edit(text, plan)
    assert res.problems == [], text
    assert res.plan is not None and not res.changed
    assert editable(res.plan) == editable(plan)


def _one_step(**over: Any) -> Plan:
    return Plan(
        goal="g",
        steps=[Step(id="a", title="A", acceptance=[Check(kind="file_exists", path="x")], **over)],
    )


def test_fields_other_modules_add_flow_through_from_the_base() -> None:
    """A field the document does not show is copied from the base (model_copy), so a new
    Plan field (questions, rules followed, …) needs no change here."""
    base = _one_step(status="failed", attempts=2)
    base = base.model_copy(update={"estimate": base.estimate.model_copy(update={"cost_usd": 1.5})})
    text = render_markdown(base).replace("**A**", "**A, renamed**")
    res = check_edit(text, base)
    assert res.plan is not None and res.changed
    assert res.plan.steps[0].title == "A, renamed"
    assert res.plan.steps[0].attempts == 2 and res.plan.steps[0].status == "failed"
    assert res.plan.estimate.cost_usd == 1.5 and res.plan.plan_id == base.plan_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(), st.data())
def test_any_edit_of_the_document_gives_problems_or_a_plan_never_an_exception(
    plan: Plan, data: st.DataObject
) -> None:
    """The language server checks the document on every keystroke: whatever a half-typed
    edit looks like, the answer is problems (with lines inside the text) or a plan."""
    lines = render_markdown(plan).splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, max(len(lines) - 1, 0)))
        op = data.draw(st.sampled_from(["delete", "duplicate", "insert", "cut"]))
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, data.draw(st.one_of(any_text, st.sampled_from(NASTY))) + "\n")
        elif lines:
            cut = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:cut]
    text = "".join(lines)
    res = check_edit(text, plan)
    assert (res.plan is None) == bool(res.problems)
    n = len(text.splitlines()) or 1
    assert all(0 <= p.line <= n and p.message for p in res.problems), res.problems

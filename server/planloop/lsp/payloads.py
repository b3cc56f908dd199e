"""JSON the client renders without another round trip (the wire contract's payloads).

The plan itself goes out exactly as ``Plan.model_dump(mode="json")`` (snake_case, the
same document the CLI's ``--json`` prints and ``.planloop/`` stores); the envelope
around it is camelCase like every other LSP payload. Keeping the plan unconverted means
one schema for the plan everywhere, and clients never guess which spelling they have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planloop.api import RunResult, Status
from planloop.document.markdown import render_markdown
from planloop.document.plan import Plan, Step
from planloop.events import (
    CheckRan,
    Event,
    ExecutorToolCall,
    StepCancelled,
    StepError,
    StepFinished,
    StepStarted,
)

if TYPE_CHECKING:
    from planloop.checkpoints.store import FileDiff
    from planloop.roles.questions import PendingQuestion
    from planloop.state.record import Pending, RunRecord


def status_of(rec: RunRecord) -> Status:
    """A Status from a stored record, for plans other than the session's current one and
    for payloads built inside the event sink (where calling the running session back
    would re-enter it)."""
    return Status.of(rec)


def plan_payload(status: Status) -> dict[str, Any]:
    plan = status.plan
    markdown = render_markdown(plan)
    done, total = plan.progress
    return {
        "plan": plan.model_dump(mode="json"),
        "markdown": markdown,
        "state": status.state,
        "reason": status.reason,
        "costUsd": status.cost_usd,
        "costKnown": status.usage.cost_known,
        "costText": status.cost_text,
        "tokens": status.usage.tokens,
        "progress": {"done": done, "total": total},
        "pending": pending_payload(status.pending, markdown),
        "interrupted": status.interrupted,
    }


def proposal_payload(proposal: Plan, status: Status) -> dict[str, Any]:
    """A proposed (not yet current) plan, in the PlanPayload shape."""
    done, total = proposal.progress
    return {
        "plan": proposal.model_dump(mode="json"),
        "markdown": render_markdown(proposal),
        "state": status.state,
        "reason": status.reason,
        "costUsd": status.cost_usd,
        "costKnown": status.usage.cost_known,
        "costText": status.cost_text,
        "tokens": status.usage.tokens,
        "progress": {"done": done, "total": total},
        "pending": None,
        "interrupted": status.interrupted,
    }


def pending_payload(pending: Pending | None, current_markdown: str) -> dict[str, Any] | None:
    if pending is None:
        return None
    out: dict[str, Any] = {
        "kind": pending.kind,
        "reason": pending.reason,
        "evidence": list(pending.evidence),
        "currentMarkdown": current_markdown,
        "askedAt": pending.asked_at,
    }
    if pending.version is not None:
        out["version"] = pending.version
    if pending.step_id is not None:
        out["stepId"] = pending.step_id
    if pending.proposal is not None:
        out["proposedMarkdown"] = render_markdown(pending.proposal)
    return out


def question_pending(waiting: PendingQuestion, current_markdown: str) -> dict[str, Any]:
    """The planner's waiting question in the PendingPayload shape (kind ``question``)."""
    q = waiting.question
    return {
        "kind": "question",
        "reason": f"the planner asks before planning {waiting.goal!r}: {q.question}",
        "evidence": [],
        "currentMarkdown": current_markdown,
        "askedAt": q.asked_at,
        "question": q.question,
        "options": list(q.options),
    }


def question_payload(waiting: PendingQuestion) -> dict[str, Any]:
    """``getPlan`` with no plan yet, while the first plan's planner waits for an answer."""
    return {
        "plan": None,
        "goal": waiting.goal,
        "state": "awaiting_answer",
        "reason": "the planner waits for an answer (planloop.answer)",
        "pending": question_pending(waiting, ""),
    }


def run_payload(result: RunResult, plan: dict[str, Any], step_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"state": result.state, "reason": result.reason, "plan": plan}
    sid = result.step_id or step_id
    if sid is not None:
        out["stepId"] = sid
    return out


def diff_payload(step: Step, diffs: list[FileDiff], before: str, after: str) -> dict[str, Any]:
    """``before``/``after``: the span of all the step's attempts (``Session.diff``), so a
    client's side-by-side view shows the same change as the patch, not the last attempt's."""
    return {
        "stepId": step.id,
        "checkpointBefore": before or None,
        "checkpointAfter": after or None,
        "files": [
            {
                "path": d.path,
                "status": d.status,
                "oldPath": d.old_path,
                "added": d.added,
                "removed": d.removed,
                "binary": d.binary,
                "patch": d.patch,
            }
            for d in diffs
        ],
    }


def file_payload(checkpoint: str, path: str, data: bytes | None) -> dict[str, Any]:
    """Text when it decodes as UTF-8 without NULs; otherwise flagged binary, no text."""
    if data is None:
        return {
            "path": path,
            "checkpoint": checkpoint,
            "exists": False,
            "text": None,
            "binary": False,
        }
    text: str | None
    try:
        text = data.decode("utf-8")
        binary = "\x00" in text
    except UnicodeDecodeError:
        binary = True
    if binary:
        text = None
    return {"path": path, "checkpoint": checkpoint, "exists": True, "text": text, "binary": binary}


def step_event(event: Event, plan_id: str | None) -> dict[str, Any] | None:
    """planloop/stepEvent for a core event, or None when it is not a step event."""
    # planner tool calls and run-level events go to progress only
    out: dict[str, Any]
    if isinstance(event, StepStarted):
        out = _step_base(plan_id, event.step_id)
        title = event.title or event.step_id
        out.update(event="started", line=f"{title} (attempt {event.attempt})", status="running")
    elif isinstance(event, ExecutorToolCall):
        out = _step_base(plan_id, event.step_id)
        out.update(event="tool", line=event.line)
    elif isinstance(event, CheckRan):
        out = _step_base(plan_id, event.step_id)
        mark = "✓" if event.passed else "✗"
        obs = event.observation.strip().splitlines()
        line = f"{mark} {event.check}" + (f": {obs[0]}" if obs else "")
        out.update(event="check", line=line, passed=event.passed)
    elif isinstance(event, StepFinished):
        out = _step_base(plan_id, event.step_id)
        out.update(
            event="finished",
            line=f"{event.step_id} {event.status}",
            status=event.status,
            costUsd=float(event.cost_usd),
            costText=event.cost_text or f"${event.cost_usd:.4f}",
        )
    elif isinstance(event, StepCancelled):
        out = _step_base(plan_id, event.step_id)
        out.update(
            event="finished",
            line=f"{event.step_id} cancelled; its edits were rolled back",
            status="pending",
        )
    elif isinstance(event, StepError):
        out = _step_base(plan_id, event.step_id)
        out.update(event="finished", line=f"{event.step_id}: {event.error}", status="failed")
    else:
        return None
    return out


def _step_base(plan_id: str | None, step_id: str) -> dict[str, Any]:
    return {"planId": plan_id, "stepId": step_id}

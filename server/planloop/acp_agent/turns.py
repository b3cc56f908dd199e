"""What a prompt means, and running it on the core in a worker thread.

A prompt (not a slash command: ``commands`` has those) is, in this order: the answer to the planner's
waiting question; with a plan or re-plan waiting for review, the review's answer
(``approve`` / ``reject [feedback]``) — any other text there is a new goal, and the
reply says the waiting plan was set aside; ``continue`` resumes a plan that has steps
left; anything else is a new goal: plan it, show it, and run it (asking for approval
as the session's mode says).

The core blocks, so each turn runs in a worker thread; the core's cancel token is the
turn's, so ``session/cancel`` stops the model call or command at once and the run ends
as a cancelled CLI or editor run does (the attempt rolled back, its work kept in a
checkpoint, the step pending).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from acp.helpers import update_agent_message_text

from planloop.acp_agent.plan_updates import plan_document
from planloop.acp_agent.session import AcpSession
from planloop.api import RunResult, Status, WaitingForAnswer
from planloop.cancel import CancelToken
from planloop.document.plan import Plan
from planloop.errors import PlanloopError
from planloop.redaction import redact

StopReason = Literal["end_turn", "cancelled"]
#: a prompt longer than this is refused: a goal is a paragraph, not a pasted repository
MAX_PROMPT_CHARS = 100_000
APPROVE_WORDS = {"approve", "approved", "yes", "y", "ok", "lgtm", "go", "run it"}
REJECT_WORDS = {"reject", "rejected", "no", "n"}
CONTINUE_WORDS = {"continue", "resume", "run", "go on", "next"}


def say(s: AcpSession, text: str) -> None:
    s.send(update_agent_message_text(text.rstrip() + "\n\n"))


async def in_thread(s: AcpSession, work: Callable[[CancelToken], None]) -> StopReason:
    """Run ``work`` with a fresh cancel token; the stop reason once its updates are sent."""
    s.cancel = CancelToken()
    s.asker.unanswered = False
    cancel = s.cancel

    def working() -> None:
        s.working.set()
        try:
            work(cancel)
        except PlanloopError as e:
            if not cancel.cancelled:
                say(s, f"error: {redact(str(e))}")
        except Exception as e:  # a bug: one message, the agent serves on
            say(s, f"internal error: {type(e).__name__}: {redact(str(e))}")
        finally:
            s.working.clear()

    await asyncio.to_thread(working)
    why = "cancelled" if cancel.cancelled else "the run stopped before this tool call ended"
    for update in s.tools.close_open(why):
        s.send(update)
    await s.outbox.flush()
    return "cancelled" if cancel.cancelled or s.asker.unanswered else "end_turn"


async def prompt(s: AcpSession, text: str) -> StopReason:
    text = text.strip()
    api = s.api
    try:
        waiting = api.pending_question()
    except PlanloopError as e:
        say(s, f"warning: {e}")
        waiting = None
    if waiting is not None:
        return await in_thread(s, lambda c: _answered(s, text, c))
    status = _status(s)
    word = text.lower().rstrip(".!")
    if status is not None and status.pending is not None:
        first, _, rest = text.partition(" ")
        if word in APPROVE_WORDS:
            return await in_thread(s, lambda c: _decided(s, True, None, c))
        if first.lower().rstrip(".!,:") in REJECT_WORDS:
            return await in_thread(s, lambda c: _decided(s, False, rest.strip() or None, c))
        say(
            s,
            f"plan v{status.plan.version}'s {status.pending.kind} waited for your review; it is "
            "set aside (it stays on disk) and your text is planned as a new goal",
        )
    elif status is not None and status.state not in ("done",) and word in CONTINUE_WORDS:
        return await in_thread(s, lambda c: _run(s, c))
    if not text:
        say(s, "give a goal to plan (or a slash command: /status, /diff STEP, …)")
        return "end_turn"
    return await in_thread(s, lambda c: _planned(s, text, c))


def _status(s: AcpSession) -> Status | None:
    try:
        return s.api.status()
    except PlanloopError:
        return None  # no plan yet


# --- the turns, in the worker thread ------------------------------------------------


def _planned(s: AcpSession, goal: str, cancel: CancelToken) -> None:
    try:
        plan = s.api.create_plan(goal, cancel, s.asker)
    except WaitingForAnswer as e:
        _ask_in_words(s, e)
        return
    _show(s, plan, "plan")
    _run(s, cancel)


def _answered(s: AcpSession, text: str, cancel: CancelToken) -> None:
    try:
        plan = s.api.answer(text, by=s.asker.by, cancel=cancel, answerer=s.asker)
    except WaitingForAnswer as e:
        _ask_in_words(s, e)
        return
    _show(s, plan, "plan")
    _run(s, cancel)


def _decided(s: AcpSession, approve: bool, feedback: str | None, cancel: CancelToken) -> None:
    res = s.api.decide_pending(approve, by=s.asker.by, feedback=feedback, cancel=cancel)
    if approve and res.state == "idle":
        _run(s, cancel)
    else:
        report(s, res)


def _run(s: AcpSession, cancel: CancelToken) -> None:
    res = s.api.run(all_steps=True, cancel=cancel)
    report(s, res)


def _show(s: AcpSession, plan: Plan, what: str) -> None:
    s.send_plan(plan)
    say(s, plan_document(plan, heading=f"{what} v{plan.version} ({s.api.document_path()})"))


def _ask_in_words(s: AcpSession, e: WaitingForAnswer) -> None:
    q = e.pending.question
    options = "".join(f"\n{i}. {o}" for i, o in enumerate(q.options, 1))
    say(
        s,
        f"**The planner asks:** {q.question}{options}\n\nYour next prompt is the answer"
        + (" (an option's number or text, or your own words)." if q.options else "."),
    )


def report(s: AcpSession, res: RunResult) -> None:
    st = s.api.status()
    s.send_plan(st.plan)
    done, total = st.plan.progress
    lines = [f"**{res.state}**: {res.reason} · {done}/{total} steps · {st.cost_text}"]
    if res.state == "awaiting_approval" and st.pending is not None:
        lines.append(
            f"waiting for you ({st.pending.kind}): prompt `approve`, or `reject` with "
            "feedback for the planner"
        )
    elif res.state in ("cancelled", "paused", "stopped", "error") and done < total:
        lines.append("nothing is lost: prompt `continue` to run the remaining steps")
    say(s, "\n\n".join(lines))

"""The LSP approver: asks the editor, from the orchestrator's worker thread.

Two ways to ask, chosen by what the client declared at ``initialize``:
- ``capabilities.experimental.planloopApprovals = true`` → the custom request
  ``planloop/requestApproval`` with both plans' Markdown, so a rich client can show a
  real review (a modal, a diff of the plan documents);
- anything else → ``window/showMessageRequest`` with "Approve" / "Reject", which every
  LSP client implements, so Neovim or Emacs users can approve too.

The planner's clarifying questions (``ask_user``) go the same two ways: clients that
declare ``experimental.planloopQuestions: true`` get ``planloop/requestAnswer`` (options
plus free text: VS Code shows a quick pick); every other client gets
``window/showMessageRequest`` with the options as its actions, and free text goes through
the ``planloop.answer`` command once planning has stopped to wait.

The orchestrator calls ``ask`` from a worker thread and blocks on it. The request is
sent on the event loop thread (the transport is not thread-safe) and the wait is
bounded: after ``timeout_s``, on cancel, or when the client answers null, the answer is
None and the run stops in ``awaiting_approval``, resumable through
``planloop.decideRevision`` / ``planloop.approvePause``. No thread waits forever.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pydantic import BaseModel, ConfigDict, ValidationError

from planloop.approvals import ApprovalRequest, Decision
from planloop.cancel import CancelToken
from planloop.document.plan import Question

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger("planloop.lsp")

REQUEST_APPROVAL = "planloop/requestApproval"
REQUEST_ANSWER = "planloop/requestAnswer"
APPROVE = "Approve"
REJECT = "Reject"
#: how long to wait for the event loop to send the request (it is never busy for long)
_SEND_TIMEOUT_S = 10.0


class ApprovalAnswer(BaseModel):
    """The client's answer to ``planloop/requestApproval``."""

    model_config = ConfigDict(extra="ignore", strict=True)
    approve: bool
    feedback: str | None = None
    by: str | None = None


class AnswerReply(BaseModel):
    """The client's answer to ``planloop/requestAnswer`` (null: not now, planning waits)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    answer: str


def answer_params(q: Question) -> dict[str, Any]:
    """The ``planloop/requestAnswer`` params."""
    return {"question": q.question, "options": list(q.options), "askedAt": q.asked_at}


def question_text(q: Question) -> str:
    """A showMessageRequest text for a plain client: free text goes via planloop.answer."""
    lines = [f"planloop: the planner asks: {q.question}"]
    if q.options:
        lines.append("Pick an option, or dismiss and answer freely with planloop.answer.")
    else:
        lines.append("Dismiss, then answer with planloop.answer {text}.")
    return "\n".join(lines)


def request_params(req: ApprovalRequest) -> dict[str, Any]:
    """The ``planloop/requestApproval`` params (camelCase, absent fields omitted)."""
    out: dict[str, Any] = {
        "kind": req.kind,
        "planId": req.plan_id,
        "reason": req.reason,
        "evidence": list(req.evidence),
        "currentMarkdown": req.current_markdown,
    }
    if req.version is not None:
        out["version"] = req.version
    if req.step_id is not None:
        out["stepId"] = req.step_id
    if req.proposed_markdown is not None:
        out["proposedMarkdown"] = req.proposed_markdown
    if req.command is not None:
        out["command"] = req.command
    return out


def message_text(req: ApprovalRequest) -> str:
    """A showMessageRequest text that stands on its own in a toast or a minibuffer."""
    what = {
        "revision": f"approve re-plan v{req.version}" if req.version else "approve the re-plan",
        "pause": f"continue past pause step {req.step_id}" if req.step_id else "continue",
        "plan": "start running this plan",
        "budget": "continue past the budget",
        "command": f"run the command `{req.command}`" if req.command else "run this command",
    }.get(req.kind, f"approve ({req.kind})")
    lines = [f"planloop ({req.plan_id}): {what}?", req.reason]
    lines += [f"- {e}" for e in req.evidence[:5]]
    if req.proposed_markdown:
        lines.append("The proposed plan is in planloop.getPlan → pending.proposedMarkdown.")
    return "\n".join(line for line in lines if line)


def _plain(value: Any) -> Any:
    """pygls turns custom results into namedtuples; back to JSON-shaped values."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class LspApprover:
    def __init__(
        self,
        server: LanguageServer,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout_s: float,
        client_name: str,
        custom_request: bool,
        custom_questions: bool = False,
        before_ask: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.server = server
        self.loop = loop
        self.timeout_s = timeout_s
        self.client_name = client_name
        self.custom_request = custom_request
        self.custom_questions = custom_questions
        #: who answered, as the plan records it
        self.by = client_name
        #: flushes queued notifications first, so the client's view (the failing step,
        #: the pending question) is current when the question arrives
        self.before_ask = before_ask

    # --- the Approver port ---------------------------------------------------------

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        if cancel is not None and cancel.cancelled:
            return None
        params: Any
        if self.custom_request:
            method, params = REQUEST_APPROVAL, request_params(req)
        else:
            method = types.WINDOW_SHOW_MESSAGE_REQUEST
            params = types.ShowMessageRequestParams(
                type=types.MessageType.Warning,
                message=message_text(req),
                actions=[
                    types.MessageActionItem(title=APPROVE),
                    types.MessageActionItem(title=REJECT),
                ],
            )
        log.info("asking %s: %s (%s)", self.client_name, req.kind, req.reason)
        try:
            reply = self._send(method, params)
        except Exception as e:  # transport gone, loop closed: nobody can answer now
            log.warning("could not ask the client about the %s: %s", req.kind, e)
            return None
        answer = self._wait(reply, cancel)
        if answer is _NO_ANSWER:
            reply.add_done_callback(lambda f: self._late(req, f))
            return None
        return self._decision(req, method, answer)

    # --- the Answerer port (questions.Answerer) ----------------------------------------

    def answer(self, question: Question, cancel: CancelToken | None = None) -> str | None:
        """The client's answer to the planner's question; None: planning waits for
        ``planloop.answer`` (no answer, dismissed, timed out, cancelled)."""
        if cancel is not None and cancel.cancelled:
            return None
        params: Any
        if self.custom_questions:
            method, params = REQUEST_ANSWER, answer_params(question)
        else:
            method = types.WINDOW_SHOW_MESSAGE_REQUEST
            params = types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=question_text(question),
                actions=[types.MessageActionItem(title=o) for o in question.options],
            )
        log.info("asking %s the planner's question: %s", self.client_name, question.question)
        try:
            reply = self._send(method, params)
        except Exception as e:
            log.warning("could not ask the client the planner's question: %s", e)
            return None
        got = self._wait(reply, cancel)
        if got is _NO_ANSWER or got is None:
            return None
        if method == types.WINDOW_SHOW_MESSAGE_REQUEST:
            title = getattr(got, "title", None)
            return title if isinstance(title, str) and title in question.options else None
        try:
            parsed = AnswerReply.model_validate(_plain(got))
        except ValidationError as e:
            log.warning("ignoring a malformed answer (%s); planning waits", e.errors()[0]["msg"])
            return None
        return parsed.answer.strip() or None

    # --- plumbing ----------------------------------------------------------------------

    def _send(self, method: str, params: Any) -> Future[Any]:
        """Send on the loop thread; returns the future pygls resolves with the answer."""

        async def send() -> Future[Any]:
            if self.before_ask is not None:
                await self.before_ask()
            return self.server.protocol.send_request(
                method, params, msg_id=f"approval-{uuid.uuid4()}"
            )

        return asyncio.run_coroutine_threadsafe(send(), self.loop).result(_SEND_TIMEOUT_S)

    def _wait(self, reply: Future[Any], cancel: CancelToken | None) -> Any:
        done = threading.Event()
        reply.add_done_callback(lambda _f: done.set())
        remove = cancel.on_cancel(done.set) if cancel is not None else (lambda: None)
        try:
            done.wait(self.timeout_s)
        finally:
            remove()
        if not reply.done():
            why = (
                "cancelled"
                if cancel is not None and cancel.cancelled
                else (f"no answer within {self.timeout_s:g} s")
            )
            log.warning("approval: %s; the run waits for planloop.decideRevision/approvePause", why)
            return _NO_ANSWER
        if reply.cancelled():  # the server is shutting down
            return None
        try:
            return reply.result()
        except Exception as e:  # the client answered with an error (e.g. method not found)
            log.warning("the client could not answer the approval request: %s", e)
            return None

    def _decision(self, req: ApprovalRequest, method: str, answer: Any) -> Decision | None:
        if method == types.WINDOW_SHOW_MESSAGE_REQUEST:
            title = getattr(answer, "title", None)
            if title == APPROVE:
                return Decision(True, self.client_name)
            if title == REJECT:
                return Decision(False, self.client_name)
            log.info("approval dismissed in %s; the run waits", self.client_name)
            return None
        raw = _plain(answer)
        if raw is None:
            log.info("%s gave no decision; the run waits", self.client_name)
            return None
        try:
            parsed = ApprovalAnswer.model_validate(raw)
        except ValidationError as e:
            log.warning(
                "ignoring a malformed approval answer from %s (%s); the run waits",
                self.client_name,
                e.errors()[0]["msg"],
            )
            return None
        by = f"{parsed.by} via {self.client_name}" if parsed.by else self.client_name
        return Decision(parsed.approve, by, parsed.feedback)

    def _late(self, req: ApprovalRequest, reply: Future[Any]) -> None:
        """An answer after we stopped waiting is not applied: the run state moved on."""
        if reply.cancelled():
            return
        log.warning(
            "an answer to the %s question arrived after planloop stopped waiting; "
            "the run is waiting: decide with planloop.decideRevision or planloop.approvePause",
            req.kind,
        )


class _NoAnswer:
    pass


_NO_ANSWER: Any = _NoAnswer()

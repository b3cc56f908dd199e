"""Every question the core asks a person, as ``session/request_permission``.

Plan approval, re-plan approval (its reason, its evidence and the plan document's
change as a diff), pause steps, the dollar budget and commands outside the allow list
are the approver port's questions; the planner's clarifying questions with options are
the answerer port's. Each becomes one permission request whose options are the answers.

No answer is an answer too: a permission answered ``cancelled`` (or a client gone) is
"nobody can answer now" — the core then keeps the question in run.json (or
question.json) and the next prompt answers it, so nothing is lost. A question without
options is never asked here: the planner's free-text question goes to the user as a
message and the next prompt is the answer.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from acp.helpers import text_block, tool_content, tool_diff_content, update_agent_message_text
from acp.interfaces import Client
from acp.schema import (
    AgentMessageChunk,
    AllowedOutcome,
    ContentToolCallContent,
    FileEditToolCallContent,
    PermissionOption,
    RequestPermissionResponse,
    TerminalToolCallContent,
    ToolCallUpdate,
)

from planloop.acp_agent.modes import AUTO
from planloop.acp_agent.outbox import Outbox
from planloop.approvals import ApprovalRequest, Decision
from planloop.cancel import CancelToken
from planloop.document.plan import Question

APPROVE = PermissionOption(option_id="approve", name="Approve", kind="allow_once")
REJECT = PermissionOption(option_id="reject", name="Reject", kind="reject_once")
#: the kinds ``auto`` mode approves without asking (not commands, not money)
AUTO_APPROVED = ("plan", "revision", "pause")
TITLES = {
    "plan": "Approve the plan and run it?",
    "revision": "Approve re-plan v{version}?",
    "pause": "Pause step {step}: go on?",
    "budget": "Budget reached: go on?",
    "command": "Run this command (not on the allow list)?",
}


class Asker:
    """What both ports share: the connection, the session, who answers, the last outcome."""

    def __init__(
        self,
        conn: Client,
        session_id: str,
        outbox: Outbox,
        *,
        by: str,
        mode: Callable[[], str],
        document: Path,
    ) -> None:
        self._conn = conn
        self._session_id = session_id
        self._outbox = outbox
        self.by = by
        self._mode = mode
        self._document = document
        self._n = 0
        self._lock = threading.Lock()
        #: a question went unanswered (cancelled) during the current turn
        self.unanswered = False

    def request(
        self, tool_call: ToolCallUpdate, options: list[PermissionOption], cancel: CancelToken | None
    ) -> str | None:
        """The chosen option's id; None: cancelled, or the client is gone."""

        async def send() -> RequestPermissionResponse:
            return await self._conn.request_permission(
                session_id=self._session_id, tool_call=tool_call, options=options
            )

        answer = self._outbox.ask(send, cancel)
        if answer is None or not isinstance(answer.outcome, AllowedOutcome):
            self.unanswered = True
            return None
        return answer.outcome.option_id

    def next_id(self, what: str) -> str:
        with self._lock:
            self._n += 1
            return f"planloop-{what}-{self._n}"

    # --- the approver port ------------------------------------------------------------

    def ask(self, req: ApprovalRequest, cancel: CancelToken | None = None) -> Decision | None:
        if self._mode() == AUTO and req.kind in AUTO_APPROVED:
            what = f"plan v{req.version}" if req.version else req.kind
            self._outbox.put(_say(f"{what} approved (auto mode)"))
            return Decision(True, f"{self.by} (auto mode)")
        chosen = self.request(self._approval_call(req), [APPROVE, REJECT], cancel)
        if chosen is None:
            return None
        return Decision(chosen == APPROVE.option_id, self.by)

    def _approval_call(self, req: ApprovalRequest) -> ToolCallUpdate:
        title = TITLES[req.kind].format(version=req.version, step=req.step_id)
        lines = [req.reason] if req.kind != "command" else [f"`{req.command}`", req.reason]
        if req.evidence:
            lines += ["", "Evidence:", *(f"- {e}" for e in req.evidence)]
        content: list[
            ContentToolCallContent | FileEditToolCallContent | TerminalToolCallContent
        ] = []
        if req.proposed_markdown is not None:
            changes = _changes(req.current_markdown, req.proposed_markdown)
            lines += ["", "What changes:", changes]
            content.append(
                tool_diff_content(
                    str(self._document), req.proposed_markdown, req.current_markdown or None
                )
            )
        content.insert(0, tool_content(text_block("\n".join(line for line in lines if line))))
        kind: Literal["execute", "think"] = "execute" if req.kind == "command" else "think"
        raw = {"kind": req.kind, "version": req.version, "step": req.step_id}
        if req.command is not None:
            raw["command"] = req.command
        return ToolCallUpdate(
            tool_call_id=self.next_id("approval"),
            title=title,
            kind=kind,
            status="pending",
            content=content,
            raw_input=raw,
        )

    # --- the answerer port -------------------------------------------------------------

    def answer(self, question: Question, cancel: CancelToken | None = None) -> str | None:
        if not question.options:
            return None  # free text: asked as a message, answered by the next prompt
        options = [
            PermissionOption(option_id=f"option-{i}", name=text, kind="allow_once")
            for i, text in enumerate(question.options, 1)
        ]
        options.append(
            PermissionOption(
                option_id="own-words", name="Answer in my own words", kind="reject_once"
            )
        )
        call = ToolCallUpdate(
            tool_call_id=self.next_id("question"),
            title=f"The planner asks: {question.question}",
            kind="think",
            status="pending",
            content=[tool_content(text_block(question.question))],
            raw_input={"question": question.question, "options": question.options},
        )
        chosen = self.request(call, options, cancel)
        if chosen is None or chosen == "own-words":
            return None
        return question.options[int(chosen.removeprefix("option-")) - 1]


def _changes(current: str, proposed: str) -> str:
    diff = difflib.unified_diff(
        current.splitlines(), proposed.splitlines(), "current", "proposed", lineterm="", n=1
    )
    return "```diff\n" + "\n".join(diff) + "\n```"


def _say(text: str) -> AgentMessageChunk:
    return update_agent_message_text(text + "\n\n")

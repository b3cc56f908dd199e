"""What the planner and executor share: a bounded tool loop over the model port.

Both roles are "call the model, run the tools it asks for, feed results back, until a
terminal tool is called or the turn budget runs out". Keeping that loop here means the
budget, usage accounting, cancellation and the one-line tool events behave the same for
both roles. Every billed turn is charged to the caller's meter (a :class:`Ledger`'s) as
soon as it is billed, so however the loop ends, what it spent is already on record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from planloop import faults
from planloop.cancel import Cancelled, CancelToken
from planloop.document.plan import RoleUsage
from planloop.events import Event, ExecutorToolCall, PlannerToolCall, ToolStarted
from planloop.models.base import Model, ModelError, ModelReply, ToolCall, ToolSpec
from planloop.redaction import redact
from planloop.roles.ledger import Meter
from planloop.roles.tools import ToolBox, ToolTarget

EventFn = Callable[[Event], None]

#: A terminal tool handler returns (result text, is_error, done value or None). A rejected
#: call (is_error) may return its reason, a str, as the value: the event line shows it
#: (condensed by :func:`rejected_line`) instead of the whole text the model is sent, which
#: also tells it how to retry.
TerminalHandler = Callable[[ToolCall], tuple[str, bool, Any]]
#: A role's own non-terminal tool (the planner's ask_user): (result text, is_error).
Handler = Callable[[ToolCall], tuple[str, bool]]


class Suspended(Exception):
    """Raised by a :data:`Handler` that needs a person before the loop can go on.

    :func:`tool_loop` fills in the conversation so far, so a later process can resume
    it with the same history: ``messages`` ends with the assistant turn that made the
    call; ``results`` are that turn's tool results in order, the suspended call's entry
    (``call_id``) left for the answer; ``turns`` is the turns already used.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__("waiting for the user")
        self.reason = reason
        self.messages: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.call_id = ""
        self.turns = 0


@dataclass
class LoopResult:
    value: Any
    turns: int
    request_chars: list[int] = field(default_factory=list)


class TurnBudgetExhausted(Exception):
    def __init__(self, turns: int) -> None:
        super().__init__(f"turn budget of {turns} exhausted")
        self.turns = turns


#: How much of a rejection's reason the one-line tool event keeps.
REASON_CHARS = 300
#: How much of a command's output (its tail) the finished tool event keeps.
OUTPUT_CHARS = 2000


@dataclass(frozen=True)
class ToolReport:
    """One tool call as the roles report it: before it runs (``line`` empty) and after."""

    call_id: str
    tool: str
    line: str = ""
    is_error: bool = False
    target: ToolTarget = field(default_factory=ToolTarget)
    output: str = ""


def started_event(r: ToolReport, step_id: str | None) -> ToolStarted:
    return ToolStarted(
        role="planner" if step_id is None else "executor",
        step_id=step_id,
        call_id=r.call_id,
        tool=r.tool,
        path=r.target.path,
        command=r.target.command,
    )


def finished_event(r: ToolReport, step_id: str | None) -> ExecutorToolCall | PlannerToolCall:
    """The executor's (``step_id`` set) or the planner's tool call, with its facts."""
    t = r.target
    if step_id is None:
        return PlannerToolCall(
            line=r.line,
            call_id=r.call_id,
            tool=r.tool,
            is_error=r.is_error,
            path=t.path,
            start_line=t.start_line,
            end_line=t.end_line,
            output=r.output,
        )
    return ExecutorToolCall(
        step_id=step_id,
        line=r.line,
        call_id=r.call_id,
        tool=r.tool,
        is_error=r.is_error,
        path=t.path,
        start_line=t.start_line,
        end_line=t.end_line,
        output=r.output,
    )


def _tail(text: str) -> str:
    text = redact(text)
    return text if len(text) <= OUTPUT_CHARS else "…" + text[-(OUTPUT_CHARS - 1) :]


def rejected_line(name: str, reason: str) -> str:
    """``name (rejected: reason)`` on one line: the user watching the run (and log.jsonl)
    sees why a terminal call was refused, not a bare "(rejected)" that leaves a planner
    burning its attempts on invalid plans unexplained."""
    one = " ".join(reason.split())
    if len(one) > REASON_CHARS:
        one = one[: REASON_CHARS - 1].rstrip() + "…"
    return f"{name} (rejected: {one})" if one else f"{name} (rejected)"


def usage_of(reply: ModelReply) -> RoleUsage:
    u = reply.usage
    return RoleUsage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_tokens,
        cost_usd=reply.cost_usd,
        calls=1,
        unpriced_calls=0 if reply.priced else 1,
        unpriced_tokens=0
        if reply.priced
        else u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens,
    )


def tool_loop(
    *,
    model: Model,
    system: str,
    first_message: str,
    tools: list[ToolSpec],
    toolbox: ToolBox,
    terminal: dict[str, TerminalHandler],
    max_turns: int,
    nudge: str,
    cancel: CancelToken | None,
    meter: Meter,
    on_tool: Callable[[ToolReport], None] | None = None,
    on_start: Callable[[ToolReport], None] | None = None,
    max_tokens: int = 8192,
    handlers: dict[str, Handler] | None = None,
    resume: list[dict[str, Any]] | None = None,
    turns_used: int = 0,
) -> LoopResult:
    """Run the loop; returns the first terminal tool's accepted value.

    ``resume``: a conversation to go on with (``first_message`` is then unused) after
    ``turns_used`` turns. Raises ModelError (the model call failed), Cancelled,
    TurnBudgetExhausted or :class:`Suspended`; a terminal handler's exception passes
    through. Each billed turn goes to ``meter``. ``on_start`` hears of each workspace
    tool before it runs; ``on_tool`` of every call once it ended (a workspace tool that
    was cancelled, or interrupted by an exception, ends failed: none is left running).
    """
    handlers = handlers or {}
    messages: list[dict[str, Any]] = (
        list(resume) if resume is not None else [{"role": "user", "content": first_message}]
    )
    sizes: list[int] = []
    for turn in range(turns_used + 1, max_turns + 1):
        if cancel is not None and cancel.cancelled:
            raise Cancelled("cancelled by the user")
        sizes.append(len(system) + sum(len(str(m["content"])) for m in messages))
        try:
            reply = model.complete(
                system=system, messages=messages, tools=tools, max_tokens=max_tokens, cancel=cancel
            )
        except ModelError as e:
            if e.kind == "cancelled":
                raise Cancelled(e.message) from e
            if e.reply is not None:  # a cut-off or refused turn is still paid for
                meter(usage_of(e.reply))
            raise
        meter(usage_of(reply))
        messages.append({"role": "assistant", "content": reply.content})
        calls = reply.tool_calls
        if not calls:
            messages.append({"role": "user", "content": nudge})
            continue
        results: list[dict[str, Any]] = []
        done: Any = None
        finished = False
        suspended: Suspended | None = None
        for n, call in enumerate(calls, 1):
            cid = call.id or f"turn{turn}-{n}"
            if cancel is not None and cancel.cancelled:
                raise Cancelled("cancelled by the user")
            if suspended is not None:  # the turn's later calls wait for the answer too
                text, is_error = (
                    "Not run: you were waiting for the user's answer. Call it again if you "
                    "still need it.",
                    True,
                )
            elif call.input_error is not None:  # unreadable arguments: the model tries again
                text, is_error = f"tool error: {call.input_error}", True
                if on_tool:
                    on_tool(ToolReport(cid, call.name, f"{call.name} (unreadable arguments)", True))
            elif call.name in terminal:
                text, is_error, value = terminal[call.name](call)
                if on_tool:
                    reason = value if is_error and isinstance(value, str) else text
                    line = rejected_line(call.name, reason) if is_error else call.name
                    on_tool(ToolReport(cid, call.name, line, is_error))
                if not is_error and not finished:
                    done, finished = value, True
            elif call.name in handlers:
                try:
                    text, is_error = handlers[call.name](call)
                except Suspended as s:
                    suspended, text, is_error = s, "", False
                    s.call_id = call.id
                if on_tool:
                    line = f"{call.name}" + (" (error)" if is_error else "")
                    on_tool(ToolReport(cid, call.name, line, is_error))
            else:
                faults.point("tool")
                report = ToolReport(cid, call.name, target=toolbox.where(call.name, call.input))
                if on_start:
                    on_start(report)
                try:
                    out = toolbox.call(call.name, call.input)
                except BaseException:
                    if on_tool:
                        on_tool(replace(report, line=f"{call.name} ✗ interrupted", is_error=True))
                    raise
                text, is_error = out.content, out.is_error
                if on_tool:
                    stopped = cancel is not None and cancel.cancelled
                    output = _tail(text) if call.name == "run_command" else ""
                    on_tool(
                        replace(report, line=out.line, is_error=is_error or stopped, output=output)
                    )
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": text,
                    "is_error": is_error,
                }
            )
        if finished:
            return LoopResult(done, turn, sizes)
        if suspended is not None:
            suspended.messages, suspended.results, suspended.turns = messages, results, turn
            raise suspended
        messages.append({"role": "user", "content": results})
    raise TurnBudgetExhausted(max_turns)

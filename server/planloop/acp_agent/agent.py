"""The ACP methods: ``initialize``, ``session/new|load|set_mode|prompt|cancel``.

Requests that cannot be served are JSON-RPC errors that say why (invalid params): an
unknown or missing session, a second prompt while one runs (the first goes on), a
prompt over :data:`~planloop.acp_agent.turns.MAX_PROMPT_CHARS`, a ``cwd`` planloop
cannot work in. The agent never calls the client's ``fs/*`` or ``terminal/*`` methods —
the core reads and writes the folder itself and runs every model command in its own
sandbox — so a client without those capabilities gets the same agent.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from acp.interfaces import Client
from acp.schema import (
    AgentCapabilities,
    ClientCapabilities,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SetSessionModeResponse,
)

from acp import PROTOCOL_VERSION
from planloop import __version__
from planloop.acp_agent import modes
from planloop.acp_agent.rpc import bad_params, busy

if TYPE_CHECKING:  # imported by the first session: `initialize` answers without the core
    from planloop.acp_agent.session import AcpSession, McpServer


class PlanloopAgent:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self._overrides = overrides
        self._sessions: dict[str, AcpSession] = {}
        self._by = "acp client"
        self._conn: Client | None = None

    def on_connect(self, conn: Client) -> None:
        self._conn = conn

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **kwargs: Any,
    ) -> InitializeResponse:
        if client_info is not None:
            self._by = f"{client_info.name} (acp)"
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(embedded_context=True),
                # stdio and streamable-HTTP MCP servers (docs/mcp.md); not the legacy SSE
                mcp_capabilities=McpCapabilities(http=True, sse=False),
            ),
            agent_info=Implementation(name="planloop", title="planloop", version=__version__),
        )

    async def new_session(
        self, cwd: str, mcp_servers: list[McpServer] | None = None, **kwargs: Any
    ) -> NewSessionResponse:
        s = self._open(uuid.uuid4().hex, cwd, mcp_servers)
        return NewSessionResponse(session_id=s.id, modes=modes.mode_state(s.mode))

    async def load_session(
        self, cwd: str, session_id: str, mcp_servers: list[McpServer] | None = None, **kwargs: Any
    ) -> LoadSessionResponse:
        """The folder's current plan, replayed as its entries and its document."""
        from planloop.acp_agent import turns
        from planloop.acp_agent.plan_updates import plan_document
        from planloop.errors import PlanloopError

        s = self._open(session_id, cwd, mcp_servers, announce=False)
        try:
            plan = s.api.plan()
        except PlanloopError as e:
            turns.say(s, f"no plan to resume here: {e}")
        else:
            s.send_plan(plan)
            turns.say(s, plan_document(plan, heading=f"resumed plan v{plan.version}"))
        await s.outbox.flush()
        return LoadSessionResponse(modes=modes.mode_state(s.mode))

    def _open(
        self, sid: str, cwd: str, mcp_servers: list[McpServer] | None, *, announce: bool = True
    ) -> AcpSession:
        from planloop.acp_agent import turns
        from planloop.acp_agent.commands import available
        from planloop.acp_agent.session import open_acp_session

        assert self._conn is not None
        old = self._sessions.get(sid)
        if old is not None and old.turn is not None:
            raise busy(f"session {sid} is running a prompt", sessionId=sid)
        s, notes = open_acp_session(
            self._conn, sid, cwd, list(mcp_servers or []), self._overrides, by=self._by
        )
        if old is not None:
            old.outbox.close()
        self._sessions[sid] = s

        def tell() -> None:
            s.send(available())
            for note in notes:
                turns.say(s, note)

        if announce:  # after the response: the client learns the session's id first
            asyncio.get_running_loop().call_soon(tell)
        else:  # session/load: replayed before its response, as ACP asks
            tell()
        return s

    def _session(self, session_id: str) -> AcpSession:
        s = self._sessions.get(session_id)
        if s is None:
            if not self._sessions:
                raise bad_params(
                    f"no session {session_id!r}: no session was opened yet (session/new first)",
                    sessionId=session_id,
                )
            raise bad_params(f"unknown session {session_id!r}", sessionId=session_id)
        return s

    async def set_session_mode(
        self, mode_id: str, session_id: str, **kwargs: Any
    ) -> SetSessionModeResponse:
        s = self._session(session_id)
        if not modes.is_mode(mode_id):
            raise bad_params(f"unknown mode {mode_id!r} (review or auto)", modeId=mode_id)
        s.mode = mode_id
        s.send(modes.announce(mode_id))
        await s.outbox.flush()
        return SetSessionModeResponse()

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        from planloop.acp_agent import turns
        from planloop.acp_agent.commands import run_command

        s = self._session(session_id)
        text = "".join(_text(block) for block in prompt)
        if len(text) > turns.MAX_PROMPT_CHARS:
            raise bad_params(
                f"the prompt is {len(text):,} characters; planloop takes at most "
                f"{turns.MAX_PROMPT_CHARS:,} (a goal, an answer or a command, not a file's "
                "content). Nothing was done",
                length=len(text),
            )
        if s.turn is not None:
            raise busy(
                "a prompt is already running in this session; it goes on (session/cancel stops it)",
                sessionId=session_id,
            )
        s.turn = asyncio.current_task()
        try:
            if text.lstrip().startswith("/"):
                stop = await run_command(s, text.strip())
            else:
                stop = await turns.prompt(s, text)
        finally:
            s.turn = None
        return PromptResponse(stop_reason=stop)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        s = self._sessions.get(session_id)
        if s is not None:
            s.cancel.cancel()

    def working(self) -> bool:
        """Whether the core works for any session now (its thread outlives a cancelled
        request task, so the request's state cannot tell)."""
        return any(s.working.is_set() for s in self._sessions.values())


def _text(block: Any) -> str:
    """A prompt block's text: text blocks as they are, an embedded text resource as its
    text (editors attach a selection or a file that way)."""
    text = getattr(block, "text", None)
    if isinstance(text, str):
        return text
    resource = getattr(block, "resource", None)
    inner = getattr(resource, "text", None)
    return f"\n{inner}\n" if isinstance(inner, str) else ""

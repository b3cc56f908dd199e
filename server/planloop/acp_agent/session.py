"""One ACP session: a folder opened on the core API, with what the session remembers.

``session/new`` gives a ``cwd``; it must be an absolute path to a writable directory
(planloop writes its plans under ``.planloop`` and the executor edits files there). A
folder that is not a git repository still works — checkpoints live in planloop's own
shadow repository — and the session says so once. The settings are ``serve``'s: the
launch flags, then the environment and planloop.toml (``config.load_settings``); a
folder's untrusted keys are ignored with one message naming them.

``mcpServers`` are kept as the SDK parsed them (typed) and handed to the core, which
starts them with each plan or run (docs/mcp.md).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp.interfaces import Client
from acp.schema import AcpMcpServer, HttpMcpServer, McpServerStdio, SseMcpServer

from planloop.acp_agent.modes import REVIEW
from planloop.acp_agent.outbox import Outbox, Update
from planloop.acp_agent.permissions import Asker
from planloop.acp_agent.plan_updates import plan_update
from planloop.acp_agent.rpc import bad_params
from planloop.acp_agent.tool_calls import ToolCalls
from planloop.api import Session
from planloop.cancel import CancelToken
from planloop.config import Config, load_settings
from planloop.document.plan import Check
from planloop.errors import PlanloopError
from planloop.events import Event, Saved
from planloop.mcp_tools.sources import ServerSpec, client_server
from planloop.wiring import open_session

McpServer = HttpMcpServer | SseMcpServer | AcpMcpServer | McpServerStdio


def folder(cwd: str) -> tuple[Path, list[str]]:
    """The session's folder, and notes to tell the user; a RequestError when unusable."""
    path = Path(cwd)
    if not path.is_absolute():
        raise bad_params(f"cwd {cwd!r} is not an absolute path", cwd=cwd)
    if not path.exists():
        raise bad_params(f"cwd {cwd} does not exist", cwd=cwd)
    if not path.is_dir():
        raise bad_params(f"cwd {cwd} is not a directory", cwd=cwd)
    root = path.resolve()
    if not os.access(root, os.W_OK):
        raise bad_params(
            f"cwd {cwd} is not writable: planloop keeps its plans in .planloop there and "
            "the executor edits its files",
            cwd=cwd,
        )
    notes: list[str] = []
    if not _in_git_repo(root):
        notes.append(
            f"{root} is not a git repository: planloop works all the same (each step is "
            "checkpointed in planloop's own shadow repository, so /diff and /revert work), "
            "but nothing is in your own version control"
        )
    return root, notes


def _in_git_repo(root: Path) -> bool:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == "true"


def settings(root: Path, overrides: dict[str, Any]) -> tuple[Config, list[str]]:
    try:
        loaded = load_settings(root, overrides)
    except PlanloopError as e:
        raise bad_params(f"settings: {e}", cwd=str(root)) from None
    warning = loaded.warning()
    return loaded.config, [warning] if warning else []


@dataclass
class AcpSession:
    id: str
    root: Path
    mcp_servers: list[McpServer]
    outbox: Outbox
    asker: Asker
    tools: ToolCalls
    api: Session
    overrides: dict[str, Any]
    mode: str = REVIEW
    #: the prompt turn running now, and its cancel token
    turn: asyncio.Task[Any] | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    #: set while the core works in the worker thread
    working: threading.Event = field(default_factory=threading.Event)
    _last_plan: Any = None

    def send(self, update: Update) -> None:
        self.outbox.put(update)

    def sink(self, event: Event) -> None:
        """The core's events (worker thread): a saved record may change the plan's
        entries; everything else is mapped by :class:`ToolCalls`."""
        if isinstance(event, Saved):
            try:
                plan = self.api.record(event.plan_id).plan
            except PlanloopError:
                return
            self.send_plan(plan)
            return
        for update in self.tools.updates(event):
            self.send(update)

    def send_plan(self, plan: Any) -> None:
        update = plan_update(plan)
        if update != self._last_plan:
            self._last_plan = update
            self.send(update)

    def reopen(self) -> None:
        """Build the core again (after ``/mode`` changed a setting)."""
        config, _ = settings(self.root, self.overrides)
        self.api = _api(self, config)


def open_acp_session(
    conn: Client,
    session_id: str,
    cwd: str,
    mcp_servers: list[McpServer],
    overrides: dict[str, Any],
    *,
    by: str,
) -> tuple[AcpSession, list[str]]:
    root, notes = folder(cwd)
    config, warnings = settings(root, overrides)
    loop = asyncio.get_running_loop()

    async def send(update: Update) -> None:
        await conn.session_update(session_id=session_id, update=update)

    outbox = Outbox(send, loop)
    holder: list[AcpSession] = []
    asker = Asker(
        conn,
        session_id,
        outbox,
        by=by,
        mode=lambda: holder[0].mode,
        document=root / ".planloop" / "plan.md",
    )

    def checks(step_id: str) -> list[Check]:
        try:
            return list(holder[0].api.step(step_id).acceptance)
        except PlanloopError:
            return []

    s = AcpSession(
        id=session_id,
        root=root,
        mcp_servers=list(mcp_servers),
        outbox=outbox,
        asker=asker,
        tools=ToolCalls(root, checks),
        api=None,  # type: ignore[arg-type]  # set just below: the sink needs the session
        overrides=dict(overrides),
    )
    holder.append(s)
    s.api = _api(s, config)
    s.api.document_path()  # the store opened: the folder is usable
    return s, notes + warnings


def client_servers(servers: list[McpServer]) -> list[ServerSpec]:
    """session/new's ``mcpServers`` as the core's server specs (docs/mcp.md): stdio and
    http (an sse entry is read as http: planloop speaks streamable HTTP only)."""
    out = []
    for m in servers:
        raw = m.model_dump(by_alias=True, exclude_none=True)
        try:
            out.append(client_server(raw))
        except ValueError as e:
            raise bad_params(f"mcpServers: {e}") from None
    return out


def _api(s: AcpSession, config: Config) -> Session:
    try:
        return open_session(
            s.root,
            config=config,
            approver=s.asker,
            sink=s.sink,
            on_write=s.tools.on_write,
            mcp_servers=client_servers(s.mcp_servers),
        )
    except PlanloopError as e:
        raise bad_params(f"cannot open {s.root}: {e}", cwd=str(s.root)) from None

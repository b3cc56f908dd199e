"""Workspace folders: one core session per folder, one run at a time per folder.

The multi-root rule (documented for every client):
- every command takes an optional ``folder``: a ``file:`` URI or an absolute path, of
  the folder itself or of anything inside it; the deepest workspace folder containing
  it is used, and a path outside every folder is an error naming the folders;
- without ``folder`` the first workspace folder of ``initialize`` is used (or the
  ``rootUri`` when the client sent no folders); a server started with
  ``planloop serve --workspace DIR`` puts DIR ahead of the client's folders, so it is
  the default;
- ``planloop.cancel`` without ``folder`` cancels the runs of every folder.

Each folder keeps its own ``.planloop/``, settings, event pump and approver. A second
long command in a folder that is running gets a clear BusyError at once; the core's
file lock (``store.run_lock``) also refuses a second *process* (a CLI, another editor
window) on the same folder.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from planloop.errors import BusyError
from planloop.lsp import config as lsp_config
from planloop.lsp.approvals import LspApprover
from planloop.lsp.events import Call, EventPump
from planloop.lsp.plan_cache import PlanPayloads
from planloop.lsp.rpc_errors import NoFolderError

if TYPE_CHECKING:
    from planloop.api import Session
    from planloop.lsp.context import Context

log = logging.getLogger("planloop.lsp")

_CONFIG_TIMEOUT_S = 5.0


class FolderSession:
    def __init__(self, ctx: Context, uri: str, root: Path) -> None:
        self.ctx = ctx
        self.uri = uri
        self.root = root
        #: reads the stored record only (getPlan, log, the event sink's payloads)
        self.query = _query_session(root)
        self.payloads = PlanPayloads(self.query)
        self.pump = EventPump(ctx.server, ctx.loop, self.payloads, notify=ctx.client.notifications)
        self.runner: Session | None = None
        self.reader: Session | None = None
        self.approver: LspApprover | None = None
        self.call: Call | None = None
        self.stale = False

    # --- one run at a time -------------------------------------------------------------

    def begin(self, command: str) -> Call:
        if self.call is not None:
            raise BusyError(
                f"a planloop run is already in progress in {self.root} ({self.call.command}); "
                "wait for it to finish or cancel it with planloop.cancel"
            )
        call = Call(command=command)
        self.call = call
        self.pump.call = call
        return call

    def end(self, call: Call) -> None:
        if self.call is call:
            self.call = None
            self.pump.call = None
            if self.stale:  # settings changed during the run: rebuild on next use
                self.runner = self.reader = None
                self.stale = False

    def settings_changed(self) -> None:
        if self.call is None:
            self.runner = self.reader = None
        else:
            self.stale = True

    # --- the core sessions --------------------------------------------------------------

    async def ensure_session(self, *, reader: bool = False) -> Session:
        """The folder's session with the client's settings; ``reader=True`` gives a second
        one for read-only queries (diffs, files at checkpoints), so they neither wait for
        nor disturb the instance a run is using on another thread."""
        if self.runner is None or self.reader is None:
            section = await self._workspace_section()
            loop = asyncio.get_running_loop()
            built = await loop.run_in_executor(self.ctx.executor, self._build, section)
            if self.runner is None or self.reader is None:
                self.runner, self.reader = built
        return self.reader if reader else self.runner

    def _build(self, section: Any) -> tuple[Session, Session]:
        from planloop.approvals import NoApprover
        from planloop.wiring import open_session

        ctx = self.ctx
        cfg, lsp = lsp_config.build(
            self.root, ctx.client.init_options, section, ctx.launch.settings()
        )
        self.approver = LspApprover(
            ctx.server,
            ctx.loop,
            timeout_s=lsp.approval_timeout_s,
            client_name=ctx.client.name,
            custom_request=ctx.client.custom_approvals,
            custom_questions=ctx.client.custom_questions,
            before_ask=self.pump.drain,
        )
        runner = open_session(
            self.root,
            config=cfg,
            approver=self.approver,
            sink=self.pump.sink,
            buffer_text=ctx.buffers.buffer_text,
            on_write=ctx.buffers.written,
            open_files=ctx.buffers.open_paths,
            mcp_servers=lsp.mcp_servers,
        )
        reader = open_session(
            self.root, config=cfg, approver=NoApprover(), mcp_servers=lsp.mcp_servers
        )
        return runner, reader

    async def _workspace_section(self) -> Any:
        caps = self.ctx.server.client_capabilities
        if not (caps and caps.workspace and caps.workspace.configuration):
            return None
        params = types.ConfigurationParams(
            items=[types.ConfigurationItem(scope_uri=self.uri, section=lsp_config.SECTION)]
        )
        try:
            result = await asyncio.wait_for(
                self.ctx.server.workspace_configuration_async(params), _CONFIG_TIMEOUT_S
            )
        except Exception as e:  # the client could not answer: initializationOptions still apply
            log.warning("workspace/configuration failed (%s); using initializationOptions", e)
            return None
        return result[0] if result else None


def _query_session(root: Path) -> Session:
    """A session for reading the stored record only: built without the client's settings,
    because showing a plan must work while the settings are broken (the error shows up
    on the first command that needs them) and must never wait for workspace/configuration."""
    from planloop.approvals import NoApprover
    from planloop.config import Config
    from planloop.wiring import open_session

    return open_session(root, config=Config(), approver=NoApprover())


class Folders:
    """The folders' sessions; the ``context.Runs`` the lean features talk to."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._sessions: dict[str, FolderSession] = {}

    def settings_changed(self) -> None:
        for s in self.all():
            s.settings_changed()

    def cancel_all(self) -> None:
        for s in self.all():
            if s.call is not None:
                s.call.cancel.cancel()

    def roots(self) -> list[tuple[str, Path]]:
        """(uri, resolved path) of each folder, in the client's order."""
        out: list[tuple[str, Path]] = []
        flag = self.ctx.launch.workspace  # `planloop serve --workspace DIR` comes first
        if flag is not None:
            out.append((flag.as_uri(), flag))
        ws = self.ctx.server.workspace
        for uri in ws.folders:
            path = to_fs_path(uri)
            if path is not None and Path(path).resolve() != flag:
                out.append((uri, Path(path).resolve()))
        if len(out) == (flag is not None) and ws.root_uri:
            path = to_fs_path(ws.root_uri)
            if path is not None and Path(path).resolve() != flag:
                out.append((ws.root_uri, Path(path).resolve()))
        return out

    def pick(self, folder: str | None) -> tuple[str, Path]:
        roots = self.roots()
        if not roots:
            raise NoFolderError(
                "no workspace folder is open: the client sent neither workspaceFolders nor "
                "rootUri at initialize; open a folder first"
            )
        if folder is None:
            return roots[0]
        target = _as_path(folder)
        best: tuple[str, Path] | None = None
        for uri, root in roots:
            if (target == root or root in target.parents) and (
                best is None or len(root.parts) > len(best[1].parts)
            ):
                best = (uri, root)
        if best is None:
            shown = ", ".join(str(r) for _, r in roots)
            raise NoFolderError(f"folder {folder!r} is not inside a workspace folder ({shown})")
        return best

    def session(self, folder: str | None) -> FolderSession:
        uri, root = self.pick(folder)
        key = str(root)
        s = self._sessions.get(key)
        if s is None:
            s = FolderSession(self.ctx, from_fs_path(key) or uri, root)
            self._sessions[key] = s
        return s

    def all(self) -> list[FolderSession]:
        return list(self._sessions.values())


def _as_path(folder: str) -> Path:
    if "://" in folder:
        fs = to_fs_path(folder)
        if fs is None:
            raise NoFolderError(f"folder {folder!r} is not a file: URI")
        return Path(fs).resolve()
    p = Path(folder).expanduser()
    if not p.is_absolute():
        raise NoFolderError(f"folder {folder!r} must be a file: URI or an absolute path")
    return p.resolve()

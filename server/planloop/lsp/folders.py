"""Workspace folders: one orchestrator per folder, one run at a time per folder.

The multi-root rule (documented for every client):
- every command takes an optional ``folder``: a ``file:`` URI or an absolute path, of
  the folder itself or of anything inside it; the deepest workspace folder containing
  it is used, and a path outside every folder is an error naming the folders;
- without ``folder`` the first workspace folder of ``initialize`` is used (or the
  ``rootUri`` when the client sent no folders);
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

from ..errors import BusyError
from . import config as lsp_config
from .approvals import LspApprover
from .events import Call, EventPump
from .plan_cache import PlanPayloads
from .rpc_errors import NoFolderError

if TYPE_CHECKING:
    from ..orchestrator import Orchestrator
    from .server import PlanloopServer

log = logging.getLogger("planloop.lsp")

_CONFIG_TIMEOUT_S = 5.0


class FolderSession:
    def __init__(self, server: PlanloopServer, uri: str, root: Path) -> None:
        self.server = server
        self.uri = uri
        self.root = root
        self.payloads = PlanPayloads(root)
        self.pump = EventPump(server, server.loop, self.payloads)
        self.orchestrator: Orchestrator | None = None
        self.reader: Orchestrator | None = None
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
                self.orchestrator = self.reader = None
                self.stale = False

    def settings_changed(self) -> None:
        if self.call is None:
            self.orchestrator = self.reader = None
        else:
            self.stale = True

    # --- the orchestrator ---------------------------------------------------------------

    async def ensure_orchestrator(self, *, reader: bool = False) -> Orchestrator:
        """The folder's orchestrator; ``reader=True`` gives a second one for read-only
        queries (diffs, files at checkpoints), so they neither wait for nor disturb
        the instance a run is using on another thread."""
        if self.orchestrator is None or self.reader is None:
            section = await self._workspace_section()
            loop = asyncio.get_running_loop()
            built = await loop.run_in_executor(self.server.executor, self._build, section)
            if self.orchestrator is None or self.reader is None:
                self.orchestrator, self.reader = built
        return self.reader if reader else self.orchestrator

    def _build(self, section: Any) -> tuple[Orchestrator, Orchestrator]:
        from ..approvals import NoApprover
        from ..wiring import build_orchestrator

        server = self.server
        cfg, lsp = lsp_config.build(self.root, server.init_options, section)
        self.approver = LspApprover(
            server,
            server.loop,
            timeout_s=lsp.approval_timeout_s,
            client_name=server.client_name,
            custom_request=server.custom_approvals,
            before_ask=self.pump.drain,
        )
        runner = build_orchestrator(
            self.root,
            config=cfg,
            approver=self.approver,
            sink=self.pump.sink,
            buffer_text=server.buffers.buffer_text,
            on_write=server.buffers.written,
        )
        reader = build_orchestrator(self.root, config=cfg, approver=NoApprover())
        return runner, reader

    async def _workspace_section(self) -> Any:
        caps = self.server.client_capabilities
        if not (caps and caps.workspace and caps.workspace.configuration):
            return None
        params = types.ConfigurationParams(
            items=[types.ConfigurationItem(scope_uri=self.uri, section=lsp_config.SECTION)]
        )
        try:
            result = await asyncio.wait_for(
                self.server.workspace_configuration_async(params), _CONFIG_TIMEOUT_S
            )
        except Exception as e:  # the client could not answer: initializationOptions still apply
            log.warning("workspace/configuration failed (%s); using initializationOptions", e)
            return None
        return result[0] if result else None


class Folders:
    def __init__(self, server: PlanloopServer) -> None:
        self.server = server
        self._sessions: dict[str, FolderSession] = {}

    def roots(self) -> list[tuple[str, Path]]:
        """(uri, resolved path) of each folder, in the client's order."""
        out: list[tuple[str, Path]] = []
        ws = self.server.workspace
        for uri in ws.folders:
            path = to_fs_path(uri)
            if path is not None:
                out.append((uri, Path(path).resolve()))
        if not out and ws.root_uri:
            path = to_fs_path(ws.root_uri)
            if path is not None:
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
            s = FolderSession(self.server, from_fs_path(key) or uri, root)
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

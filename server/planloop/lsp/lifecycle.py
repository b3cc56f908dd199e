"""initialize / initialized / workspace folders: what the client declares, and warm-up.

Start-up cost matters (an editor waits for ``initialize``), so nothing here imports the
core: it is warmed up in a background thread right after ``initialized``, so the first
command does not pay for the imports either.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .context import Context

log = logging.getLogger("planloop.lsp")


def register(server: LanguageServer, ctx: Context) -> None:
    @server.feature(types.INITIALIZE)
    def on_initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
        ctx.attach(asyncio.get_running_loop())
        ctx.client.init_options = params.initialization_options
        if params.client_info is not None and params.client_info.name:
            ctx.client.name = params.client_info.name
        experimental = params.capabilities.experimental
        ctx.client.custom_approvals = (
            isinstance(experimental, dict) and experimental.get("planloopApprovals") is True
        )

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: LanguageServer, params: types.InitializedParams) -> None:
        threading.Thread(target=_warm_up, name="planloop-warmup", daemon=True).start()
        log.info(
            "planloop ready for %s (approvals via %s)",
            ctx.client.name,
            "planloop/requestApproval"
            if ctx.client.custom_approvals
            else "window/showMessageRequest",
        )

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(
        ls: LanguageServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        log.info("workspace folders changed; the first folder is now the default")


def _warm_up() -> None:
    try:
        from . import commands  # noqa: F401 - the import is the point
    except Exception:  # a broken install shows up on the first command, with its message
        log.exception("warm-up import failed")

"""initialize / initialized / $/setTrace / workspace folders: what the client declares
(approvals, notifications, trace level), and warm-up.

Start-up cost matters (an editor waits for ``initialize``), so nothing here imports the
core: it is warmed up in a background thread right after ``initialized``, so the first
command does not pay for the imports either.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from planloop.lsp.context import Context

log = logging.getLogger("planloop.lsp")

#: the initialization option that opts in to planloop/planChanged and planloop/stepEvent
#: for a client that cannot declare an experimental capability (most editors' configs)
NOTIFICATIONS_OPTION = "planloopNotifications"


def _settings(options: Any) -> dict[str, Any]:
    """initializationOptions, flat or under "planloop" (``config.unwrap``, which loads the
    core, reads them the same way)."""
    if not isinstance(options, dict):
        return {}
    inner = options.get("planloop")
    return inner if isinstance(inner, dict) else options


def register(server: LanguageServer, ctx: Context) -> None:
    @server.feature(types.INITIALIZE)
    def on_initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
        ctx.attach(asyncio.get_running_loop())
        ctx.client.init_options = params.initialization_options
        if params.client_info is not None and params.client_info.name:
            ctx.client.name = params.client_info.name
        experimental = params.capabilities.experimental
        declared = experimental if isinstance(experimental, dict) else {}
        ctx.client.custom_approvals = declared.get("planloopApprovals") is True
        ctx.client.custom_questions = declared.get("planloopQuestions") is True
        ctx.client.notifications = (
            declared.get("planloopNotifications") is True
            or _settings(params.initialization_options).get(NOTIFICATIONS_OPTION) is True
        )
        ctx.on_trace(params.trace.value if params.trace is not None else None)

    @server.feature(types.SET_TRACE)
    def on_set_trace(ls: LanguageServer, params: types.SetTraceParams) -> None:
        ctx.on_trace(params.value.value)

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: LanguageServer, params: types.InitializedParams) -> None:
        threading.Thread(target=_warm_up, name="planloop-warmup", daemon=True).start()
        log.info(
            "planloop ready for %s (approvals via %s; plan notifications %s)",
            ctx.client.name,
            "planloop/requestApproval"
            if ctx.client.custom_approvals
            else "window/showMessageRequest",
            "on" if ctx.client.notifications else "off",
        )

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(
        ls: LanguageServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        log.info("workspace folders changed; the first folder is now the default")


def _warm_up() -> None:
    try:
        from planloop.lsp import commands  # noqa: F401 - the import is the point
    except Exception:  # a broken install shows up on the first command, with its message
        log.exception("warm-up import failed")

"""workspace/didChangeConfiguration: every folder rebuilds its sessions with new settings.

How settings are read and layered is ``config.py`` (it imports the core's Config, so
it loads with the first command); this module only hears that they changed. A folder
in the middle of a run rebuilds when the run ends (``FolderSession.settings_changed``).
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from planloop.lsp.context import Context


def register(server: LanguageServer, ctx: Context) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: LanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ctx.settings_changed()

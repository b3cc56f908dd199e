"""Open editor buffers, so a step never overwrites a file the user is still editing.

The workspace asks ``buffer_text(path)`` before it writes a file; it compares the
answer with the disk and refuses, naming the file, when they differ. The question is
asked from the orchestrator's worker thread while the event loop applies didChange
notifications, so the texts are mirrored here under a lock instead of reading pygls's
document table (a plain dict mutated on the loop thread) from another thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path


class OpenBuffers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, str] = {}  # uri -> resolved absolute path
        self._texts: dict[str, str] = {}  # resolved absolute path -> buffer text

    def opened(self, uri: str, text: str) -> None:
        path = _path_of(uri)
        if path is None:  # untitled:, vscode-notebook-cell:, ... have no file on disk
            return
        with self._lock:
            self._paths[uri] = path
            self._texts[path] = text

    def changed(self, uri: str, text: str) -> None:
        with self._lock:
            path = self._paths.get(uri)
            if path is not None:
                self._texts[path] = text

    def closed(self, uri: str) -> None:
        with self._lock:
            path = self._paths.pop(uri, None)
            if path is not None and path not in self._paths.values():
                self._texts.pop(path, None)

    def written(self, path: Path, old: str, new: str) -> None:
        """The server wrote ``path``: a clean buffer (equal to the old disk text) follows.

        The editor reloads a clean buffer from disk and reports it with didChange a
        moment later; until then the mirror would hold stale text and the next write to
        the file would be refused as if the user had unsaved changes. A buffer that
        differed from the disk (the user's typing) is left alone and still protects.
        """
        key = str(path.resolve())
        with self._lock:
            if self._texts.get(key, None) is not None and _same(self._texts[key], old):
                self._texts[key] = new

    def buffer_text(self, path: Path) -> str | None:
        """The open buffer's text for ``path``, or None when no editor has it open."""
        key = str(path.resolve())
        with self._lock:
            return self._texts.get(key)

    def open_paths(self) -> list[str]:
        with self._lock:
            return sorted(self._texts)


def _same(a: str, b: str) -> bool:
    return a.replace("\r\n", "\n") == b.replace("\r\n", "\n")


def _path_of(uri: str) -> str | None:
    fs = to_fs_path(uri)
    if fs is None:
        return None
    return str(Path(fs).resolve())


class _WithBuffers(Protocol):
    buffers: OpenBuffers


class DocumentListener(Protocol):
    """A feature that follows open documents (``plan_document``): pygls takes one handler
    per method, so the mirror below owns didOpen/didChange/didClose and tells these after
    the workspace has applied the change (``ls.workspace`` holds the new text)."""

    def opened(self, uri: str) -> None: ...

    def changed(self, uri: str) -> None: ...

    def closed(self, uri: str) -> None: ...


def register(
    server: LanguageServer, ctx: _WithBuffers, listeners: Sequence[DocumentListener] = ()
) -> None:
    """Mirror didOpen/didChange/didClose into ``ctx.buffers``, then tell ``listeners``."""
    buffers = ctx.buffers

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        buffers.opened(params.text_document.uri, params.text_document.text)
        for listener in listeners:
            listener.opened(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.workspace.text_documents.get(params.text_document.uri)
        if doc is not None:
            buffers.changed(params.text_document.uri, doc.source)
        for listener in listeners:
            listener.changed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        buffers.closed(params.text_document.uri)
        for listener in listeners:
            listener.closed(params.text_document.uri)

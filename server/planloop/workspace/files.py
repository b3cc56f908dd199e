"""The workspace sandbox: every file access and command a model causes goes through here.

Why one module: the guarantees planloop makes to the user (nothing outside the workspace,
never the user's ``.git``, never an unsaved editor buffer, no orphaned processes, no API
key in a child's environment) only hold if there is exactly one place that enforces them.
The tool layer (``tools.py``) and the acceptance checks (``checks.py``) build on this.
How a command becomes a bounded child process is ``commands.py``'s job; how files are
listed and searched, ``search.py``'s; :class:`Workspace` is the one door to both.
"""

from __future__ import annotations

import difflib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from planloop.cancel import CancelToken
from planloop.errors import PlanloopError
from planloop.workspace.commands import CommandError, CommandResult, run_command
from planloop.workspace.listing import JUNK_DIRS, glob_matcher
from planloop.workspace.policy import CommandPolicy
from planloop.workspace.sandbox import CommandSandbox
from planloop.workspace.search import (
    BINARY_PROBE,
    MAX_SEARCH_BYTES,
    Searcher,
    SearchError,
    SearchResult,
)
from planloop.workspace.search_tools import Tools

__all__ = ["JUNK_DIRS", "MAX_SEARCH_BYTES", "SearchResult", "Tools"]

#: reading more than this into a model's context is never useful and may exhaust memory
MAX_READ_BYTES = 20_000_000
#: a file with a NUL byte in its first block is treated as binary
_BINARY_PROBE = BINARY_PROBE


class WorkspaceError(PlanloopError):
    """A refused or failed workspace operation; the message is meant for the model and user."""

    default_kind = "workspace"


class PathError(WorkspaceError):
    """A path that escapes the root, points into .git/.planloop, or symlinks out."""

    default_kind = "path"


class UnsavedBufferError(WorkspaceError):
    """The editor holds unsaved changes to the file, so writing it would lose them."""

    default_kind = "unsaved_buffer"


# --- the workspace -----------------------------------------------------------------


class Workspace:
    def __init__(
        self,
        root: Path,
        policy: CommandPolicy | None = None,
        buffer_text: Callable[[Path], str | None] | None = None,
        on_write: Callable[[Path, str, str], None] | None = None,
        search_tools: Tools | None = None,
        sandbox: CommandSandbox | None = None,
    ) -> None:
        resolved = Path(root).expanduser().resolve()
        if not resolved.is_dir():
            raise WorkspaceError(f"workspace root {root} is not a directory")
        self.root: Path = resolved
        #: every command runs in it; sandboxed ("auto") unless the settings say "off"
        self.sandbox: CommandSandbox = sandbox or CommandSandbox(resolved)
        self.policy: CommandPolicy = policy or CommandPolicy()
        self.buffer_text = buffer_text
        #: told (path, old disk text, new text) after each write, so an editor mirror
        #: that still holds the old, clean text follows the file instead of looking dirty
        self.on_write = on_write
        #: told a path (or ``*`` for a command, which may write anything) *before* it is
        #: written, while a step attempt runs: the write-ahead record that lets an attempt
        #: killed before its after-checkpoint still be diffed and reverted exactly
        self.write_ahead: Callable[[str], None] | None = None
        #: writes and commands so far: none means a checkpoint staged at start-up still holds
        self.mutations = 0

        #: ripgrep / git grep / Python, chosen on first use (see ``search.py``)
        self.searcher = Searcher(self.root, search_tools)

    # -- paths

    def resolve(self, rel: str, *, for_write: bool = False) -> Path:
        """The real absolute path for ``rel``, or PathError saying why it is refused.

        Checked twice: lexically (``..``) and after following symlinks, so that a link
        inside the workspace cannot be used to read or write outside it or into ``.git``.
        """
        if not isinstance(rel, str) or not rel.strip():
            raise PathError("empty path: give a path relative to the workspace root")
        if "\x00" in rel:
            raise PathError(f"path {rel!r} contains a NUL byte")
        raw = Path(rel)
        candidate = raw if raw.is_absolute() else self.root / raw
        lexical = Path(os.path.normpath(candidate))
        if not lexical.is_relative_to(self.root):
            raise PathError(
                f"{rel!r} is outside the workspace {self.root}; "
                "use a path relative to the workspace root"
            )
        real = Path(os.path.realpath(candidate))
        if not real.is_relative_to(self.root):
            raise PathError(
                f"{rel!r} resolves through a symlink to {real}, outside the workspace {self.root}"
            )
        for path in (lexical, real):
            parts = [p.lower() for p in path.relative_to(self.root).parts]
            if ".planloop" in parts:
                raise PathError(
                    f"{rel!r} is inside .planloop/, planloop's own state; "
                    "tools may not read or write it"
                )
            if for_write and ".git" in parts:
                raise PathError(
                    f"{rel!r} is inside a .git directory; planloop never writes a git repository"
                )
        return real

    def rel(self, path: Path) -> str:
        p = Path(path)
        full = Path(os.path.normpath(p if p.is_absolute() else self.root / p))
        if not full.is_relative_to(self.root):
            raise PathError(f"{path} is outside the workspace {self.root}")
        return full.relative_to(self.root).as_posix() or "."

    # -- files

    def _read_bytes(self, rel: str, path: Path) -> bytes:
        if path.is_dir():
            raise WorkspaceError(f"{rel} is a directory, not a file; use list_files to see it")
        if not path.exists():
            raise WorkspaceError(f"{rel} does not exist")
        size = path.stat().st_size
        if size > MAX_READ_BYTES:
            raise WorkspaceError(
                f"{rel} is {size} bytes, too large to read (limit {MAX_READ_BYTES})"
            )
        try:
            return path.read_bytes()
        except OSError as exc:
            raise WorkspaceError(f"cannot read {rel}: {exc.strerror or exc}") from exc

    def read_text(
        self, rel: str, start_line: int | None = None, end_line: int | None = None
    ) -> str:
        """The file's text (lines ``start_line``..``end_line``, 1-based, inclusive)."""
        path = self.resolve(rel)
        data = self._read_bytes(rel, path)
        if b"\x00" in data[:_BINARY_PROBE]:
            raise WorkspaceError(f"{rel} is a binary file; it cannot be read as text")
        text = data.decode("utf-8", errors="replace")
        if start_line is None and end_line is None:
            return text
        lines = text.splitlines(keepends=True)
        start = max(start_line or 1, 1)
        end = len(lines) if end_line is None else end_line
        if end < start:
            raise WorkspaceError(f"end_line {end} is before start_line {start}")
        return "".join(lines[start - 1 : end])

    def check_buffer(self, path: Path, *also: Path) -> None:
        """UnsavedBufferError if an editor holds text for ``path`` that differs from the disk.

        Writing such a file would silently discard what the user typed, or be discarded
        by the editor's next save; either way someone's work is lost.
        """
        if self.buffer_text is None:
            return
        path = Path(path)
        rel = self.rel(path)
        on_disk = self._disk_text(path)
        for candidate in dict.fromkeys((path, *also)):
            try:
                buffered = self.buffer_text(candidate)
            except Exception as exc:  # the editor link failed: refusing keeps the user's work
                raise WorkspaceError(
                    f"cannot check the editor for unsaved changes to {rel} ({exc}); not written"
                ) from exc
            if buffered is None:
                continue
            if buffered.replace("\r\n", "\n") != on_disk.replace("\r\n", "\n"):
                raise UnsavedBufferError(
                    f"{rel} has unsaved changes in the editor; save or revert them first "
                    "(nothing was written)"
                )

    def write_text(self, rel: str, content: str) -> None:
        """Atomic write: a reader (or a crash) sees the old file or the new, never half."""
        path = self.resolve(rel, for_write=True)
        lexical = Path(os.path.normpath(self.root / rel))
        if path.is_dir():
            raise WorkspaceError(f"{rel} is a directory; cannot write it as a file")
        self.check_buffer(path, lexical)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise WorkspaceError(
                f"cannot create the folder for {rel}: a file is in the way ({exc.filename})"
            ) from exc
        self.mutations += 1
        if self.write_ahead is not None:
            self.write_ahead(self.rel(path))
        mode = path.stat().st_mode & 0o7777 if path.exists() else None
        old = self._disk_text(path) if self.on_write is not None else ""
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.planloop-tmp")
        try:
            # O_EXCL with 0o666 lets the umask decide a new file's mode, as an editor would
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise WorkspaceError(f"cannot write {rel}: {exc.strerror or exc}") from exc
        if self.on_write is not None:
            self.on_write(path, old, content)

    @staticmethod
    def _disk_text(path: Path) -> str:
        try:
            return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else ""
        except OSError:
            return ""

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace the one exact occurrence of ``old``; anything else is an error saying why."""
        if not old:
            raise WorkspaceError(
                f"edit of {rel}: 'old' is empty; give the exact text to replace "
                "(use write_file to create a file)"
            )
        if old == new:
            raise WorkspaceError(f"edit of {rel}: 'old' and 'new' are identical; nothing to change")
        path = self.resolve(rel, for_write=True)
        data = self._read_bytes(rel, path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WorkspaceError(
                f"{rel} is not UTF-8 text; refusing to edit it so nothing is corrupted"
            ) from exc
        if "\r\n" in text and "\r\n" not in old and old not in text:
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        count = text.count(old)
        if count == 0:
            raise WorkspaceError(
                f"edit of {rel}: 'old' was not found in the file.{_hint(text, old)}"
            )
        if count > 1:
            lines = _match_lines(text, old)
            raise WorkspaceError(
                f"edit of {rel}: 'old' matches {count} times (lines {', '.join(lines)}); "
                "include more surrounding lines so it matches exactly once"
            )
        self.write_text(rel, text.replace(old, new, 1))

    # -- listing and search

    def list_files(self, path: str = ".", glob: str | None = None, limit: int = 500) -> list[str]:
        """Files under ``path`` (posix, relative to the root), sorted, ignored files skipped."""
        base = self.resolve(path)
        if not base.exists():
            raise WorkspaceError(f"{path} does not exist")
        base_rel = self.rel(base)
        if base.is_file():
            found = [base_rel]
            if glob:
                found = [f for f in found if glob_matcher(glob, base_rel)(f)]
        else:
            found = self.searcher.list_files(base_rel, glob)
        return found[: max(limit, 0)]

    def search(self, pattern: str, path: str | None = None, limit: int = 100) -> list[str]:
        """``path:line: text`` for each line matching the regex, binary and huge files skipped."""
        return self.search_result(pattern, path, limit=limit).hits

    def search_result(
        self, pattern: str, path: str | None = None, *, limit: int = 100
    ) -> SearchResult:
        """The hits and what cut them short (the limit, the time limit), by the fastest
        backend present (ripgrep, git grep, Python)."""
        rel: str | None = None
        if path not in (None, "", "."):
            assert path is not None
            target = self.resolve(path)
            if not target.exists():
                raise WorkspaceError(f"{path} does not exist")
            rel = self.rel(target)
            if target.is_file() and target.stat().st_size > MAX_SEARCH_BYTES:
                size = target.stat().st_size
                raise WorkspaceError(
                    f"{rel} is {size} bytes; search skips files over {MAX_SEARCH_BYTES} bytes. "
                    "Read the part you need with read_file start_line/end_line"
                )
        try:
            return self.searcher.search(pattern, rel, limit=limit)
        except SearchError as exc:
            raise WorkspaceError(str(exc)) from exc

    # -- commands

    def run(
        self,
        command: str,
        timeout_s: float = 120,
        cancel: CancelToken | None = None,
        max_output: int = 200_000,
    ) -> CommandResult:
        """``bash -c command`` in the root, in its own process group, bounded in time and output
        (see :func:`~planloop.workspace.commands.run_command`); recorded as a write-ahead
        ``*`` first, since a command may write anything."""
        if not command.strip():
            raise WorkspaceError("empty command")
        if cancel is not None and cancel.cancelled:
            return CommandResult(command, None, "", False, True, False, 0.0, timeout_s)
        self.mutations += 1
        if self.write_ahead is not None:
            self.write_ahead("*")
        try:
            return run_command(
                command,
                cwd=self.root,
                timeout_s=timeout_s,
                cancel=cancel,
                max_output=max_output,
                sandbox=self.sandbox,
            )
        except CommandError as exc:
            raise WorkspaceError(str(exc)) from exc


# --- helpers -----------------------------------------------------------------------


def _match_lines(text: str, old: str) -> list[str]:
    lines: list[str] = []
    at = text.find(old)
    while at != -1 and len(lines) < 10:
        lines.append(str(text.count("\n", 0, at) + 1))
        at = text.find(old, at + 1)
    return lines


def _hint(text: str, old: str) -> str:
    """A cheap pointer to what the model probably meant: whitespace, or the closest line."""
    squash = " ".join(old.split())
    if squash and squash in " ".join(text.split()):
        return " The text exists with different whitespace or indentation; copy it exactly."
    first = next((ln.strip() for ln in old.splitlines() if ln.strip()), "")
    if not first:
        return ""
    lines = text.splitlines()
    stripped = [ln.strip() for ln in lines]
    close = difflib.get_close_matches(first, stripped, n=1, cutoff=0.6)
    if not close:
        return " Read the file again to copy the exact text."
    n = stripped.index(close[0]) + 1
    return f" The closest line is line {n}: {lines[n - 1].strip()!r}"

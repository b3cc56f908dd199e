"""The repo map's cache, under ``.planloop/repomap/``: tags by content hash, and the
ranked index of the last tree seen.

Why two files: parsing 100,000 files takes minutes, and even loading every file's tags
takes seconds; a plan must not wait for either when nothing changed.

- ``tags.json`` maps a file's *content id* (its git blob id: for a clean tracked file git
  already knows it, so nothing is read) to its definitions and the names it uses. A
  second plan parses only contents it has not seen, whatever their path.
- ``index.json`` holds, for one fingerprint of the tree (every path with its content id),
  each file's rank and its definitions in a compact form. When the fingerprint matches,
  a map is rendered from this file alone.

Both are written atomically; a cache that cannot be read is ignored and rebuilt, never an
error (it is only a cache).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("planloop.repomap")

_VERSION = 2


@dataclass
class FileTags:
    """``[name, line, text of that line]`` per definition; the names the file uses, as
    one space-separated string (identifiers hold no spaces, and one JSON string per file
    loads several times faster than a list of thousands)."""

    defs: list[list[Any]]
    refs: str

    @property
    def ref_names(self) -> list[str]:
        return self.refs.split()


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.info("repo map cache %s unreadable (%s); rebuilding it", path, e)
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return {}
    return data


def _write(path: Path, body: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": _VERSION, **body}, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError as e:  # a read-only .planloop costs speed next time, nothing else
        log.info("cannot write the repo map cache %s (%s)", path, e)


class TagCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._blobs: dict[str, Any] | None = None

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self._blobs = None

    # -- tags by content id -----------------------------------------------------------------

    def _tags(self) -> dict[str, Any]:
        if self._blobs is None:
            blobs = _read(self.directory / "tags.json").get("blobs")
            self._blobs = blobs if isinstance(blobs, dict) else {}
        return self._blobs

    def known(self, content_id: str) -> bool:
        return content_id in self._tags()

    def get(self, content_id: str) -> FileTags | None:
        e = self._tags().get(content_id)
        if not isinstance(e, list) or len(e) != 2:
            return None
        return FileTags(e[0], e[1])

    def put(self, content_id: str, tags: FileTags | None) -> None:
        """``None``: this content has no tags (no grammar, binary, too big)."""
        self._tags()[content_id] = [tags.defs, tags.refs] if tags is not None else None

    def save_tags(self, live: set[str]) -> None:
        """Keep the tags of contents still in the tree (the cache does not grow forever)."""
        blobs = {k: v for k, v in self._tags().items() if k in live}
        self._blobs = blobs
        _write(self.directory / "tags.json", {"blobs": blobs})

    # -- the ranked index of one tree -------------------------------------------------------

    def index(self, key: str) -> dict[str, list[Any]] | None:
        """rel → [rank, names joined by spaces, defs as JSON text] for fingerprint ``key``."""
        data = _read(self.directory / "index.json")
        files = data.get("files")
        if data.get("key") != key or not isinstance(files, dict):
            return None
        return files

    def save_index(self, key: str, files: dict[str, list[Any]]) -> None:
        _write(self.directory / "index.json", {"key": key, "files": files})

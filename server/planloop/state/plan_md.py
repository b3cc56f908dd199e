""".planloop/plan.md and its fingerprint: how a person's hand edit is told from planloop's
own rendering, so the one is never written over by the other.

planloop rewrites plan.md on every save of the current plan; a person may edit it too.
The SHA-256 of the bytes planloop last wrote, kept beside it, tells the two apart without
parsing anything: bytes that no longer match are the person's text.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from pathlib import Path

from planloop.fsutil import atomic_write

log = logging.getLogger("planloop.store")

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: the largest ``.planloop/plan.md`` read as a person's edit (as ``planloop edit --from``)
MAX_DOCUMENT_BYTES = 1_000_000


def edited_text(document: Path, fingerprint: Path) -> str | None:
    """``document``'s text when a person changed it since planloop wrote it (None: it is
    planloop's own, missing, or damage rather than an edit).

    Damage is what no editor saving Markdown leaves: a binary or non-UTF-8 file, one over
    1 MB, an emptied one — that is rewritten like any derived file. Without a readable
    fingerprint (a workspace from before it existed, or a damaged one) no edit can be told
    apart, and the document is treated as planloop's own."""
    try:
        want = fingerprint.read_bytes().decode("ascii").strip()
        data = document.read_bytes()
    except (OSError, UnicodeDecodeError):
        return None
    if not _SHA256.fullmatch(want) or hashlib.sha256(data).hexdigest() == want:
        return None
    if len(data) > MAX_DOCUMENT_BYTES or b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.strip() else None


def write(document: Path, fingerprint: Path, markdown: str) -> bool:
    """Write ``markdown`` and then its fingerprint (False: it could not be written).

    The fingerprint goes after the document, so a crash between the two leaves planloop's
    own rendering looking edited — which reads back as "no change". An unchanged document
    is not rewritten: an editor showing it need not reload."""
    try:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if document.read_text("utf-8") == markdown:
                _write_fingerprint(fingerprint, markdown)
                return True
        atomic_write(document, markdown)
        _write_fingerprint(fingerprint, markdown)
    except OSError as e:  # derived: a failure to refresh it must not stop the run
        log.warning("cannot write %s: %s", document, e)
        return False
    return True


def _write_fingerprint(fingerprint: Path, markdown: str) -> None:
    digest = hashlib.sha256(markdown.encode("utf-8")).hexdigest() + "\n"
    try:
        current: str | None = fingerprint.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != digest:
        atomic_write(fingerprint, digest)

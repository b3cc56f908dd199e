"""Plan payloads from the stored run record, cached by the file's identity.

Clients call ``getPlan`` on every refresh, and a 200-step record takes longer to parse
and validate than the rest of the round trip together. The store replaces run.json
atomically (a new inode each save), so (inode, mtime, size) identifies its content;
the cache is checked with one ``stat`` and can never serve an older plan than the file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..store import PlanStore, RunRecord
from .payloads import plan_payload, status_of

_Key = tuple[int, int, int]


class PlanPayloads:
    def __init__(self, root: Path) -> None:
        self.store = PlanStore(root)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[_Key, RunRecord, dict[str, Any]]] = {}

    def current_id(self) -> str | None:
        return self.store.current_id()

    def get(self, plan_id: str) -> tuple[RunRecord, dict[str, Any]]:
        """(record, PlanPayload) of ``plan_id``; StoreError when it cannot be read."""
        path = self.store.plan_dir(plan_id) / "run.json"
        key = _identity(path)
        with self._lock:
            hit = self._cache.get(plan_id)
        if hit is not None and key is not None and hit[0] == key:
            return hit[1], hit[2]
        rec = self.store.load(plan_id)
        payload = plan_payload(status_of(rec))
        if key is not None:
            with self._lock:
                self._cache[plan_id] = (key, rec, payload)
        return rec, payload


def _identity(path: Path) -> _Key | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)

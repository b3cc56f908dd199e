"""Plan payloads from the stored run record, cached by the record's identity.

Clients call ``getPlan`` on every refresh, and a 200-step record takes longer to parse
and validate than the rest of the round trip together. ``Session.record_stamp`` changes
with every save (the store replaces run.json atomically), so the cache is checked with
one ``stat`` and can never serve an older plan than the file.

The session given here is a query session of its own (see ``folders.py``): reading
must not touch the orchestrator a run is using on another thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from planloop.lsp.payloads import plan_payload, status_of

if TYPE_CHECKING:
    from planloop.api import Session
    from planloop.state.record import RunRecord

_Key = tuple[int, int, int]


class PlanPayloads:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[_Key, RunRecord, dict[str, Any]]] = {}

    def current_id(self) -> str | None:
        return self.session.current_plan_id()

    def plan_ids(self) -> list[str]:
        return self.session.plan_ids()

    def get(self, plan_id: str) -> tuple[RunRecord, dict[str, Any]]:
        """(record, PlanPayload) of ``plan_id``; StoreError when it cannot be read.

        ``interrupted`` is not in the record but in whether its run's process lives, so
        it is probed on every call (only while the record says ``running``), never cached.
        """
        key = self.session.record_stamp(plan_id)
        with self._lock:
            hit = self._cache.get(plan_id)
        if hit is not None and key is not None and hit[0] == key:
            rec, payload = hit[1], hit[2]
        else:
            rec = self.session.record(plan_id)
            payload = plan_payload(status_of(rec))
            if key is not None:
                with self._lock:
                    self._cache[plan_id] = (key, rec, payload)
        interrupted = rec.state == "running" and not self.session.run_in_progress()
        return rec, {**payload, "interrupted": interrupted}

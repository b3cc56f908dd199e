"""``interrupted`` comes from whether a live process holds the run lock, not from the record.

A record saying ``running`` is interrupted exactly when nobody holds ``run.lock``; the
LSP's plan payloads are cached by the record's stamp, so the flag must be probed on
every read (a run killed in another process changes no file). And the fault hook itself:
unset or malformed it does nothing; set, it kills at the n-th arrival and not before.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from helpers import script, session, step, submit
from planloop.api import Session
from planloop.lsp.plan_cache import PlanPayloads
from planloop.state.store import PlanStore


def _running_record(ws: Path, tmp: Path) -> tuple[Session, PlanStore, str]:
    s = script(tmp, [submit("g", [step("a", checks=[{"kind": "file_exists", "path": "x"}])])], [])
    orch = session(ws, s)
    plan = orch.create_plan("g")
    store = PlanStore(ws)
    rec = store.load()
    rec.state, rec.reason = "running", "running a"
    store.save(rec)
    return Session(orch), store, plan.plan_id


def test_a_running_record_is_interrupted_only_while_no_process_holds_the_lock(
    calc_ws: Path, tmp_path: Path
) -> None:
    api, store, plan_id = _running_record(calc_ws, tmp_path)
    payloads = PlanPayloads(api)
    assert api.status().interrupted is True
    assert payloads.get(plan_id)[1]["interrupted"] is True
    with store.run_lock():  # a live run (here: this process, through another descriptor)
        assert api.run_in_progress() is True
        assert api.status().interrupted is False
        assert payloads.get(plan_id)[1]["interrupted"] is False  # a cache hit, probed anew
    assert payloads.get(plan_id)[1]["interrupted"] is True


def test_a_record_that_is_not_running_is_never_interrupted(calc_ws: Path, tmp_path: Path) -> None:
    api, store, plan_id = _running_record(calc_ws, tmp_path)
    rec = store.load()
    rec.state = "paused"
    store.save(rec)
    assert api.status().interrupted is False
    assert PlanPayloads(api).get(plan_id)[1]["interrupted"] is False


def _hook(spec: str | None) -> subprocess.CompletedProcess[str]:
    code = (
        "from planloop import faults\n"
        "for i in range(3):\n"
        "    faults.point('tool')\n"
        "    print('after', i + 1, flush=True)\n"
    )
    env = {"PATH": "/usr/bin:/bin"} | ({"PLANLOOP_FAULT": spec} if spec is not None else {})
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_fault_hook_kills_at_the_nth_arrival_and_is_inert_otherwise() -> None:
    killed = _hook("tool@2")
    assert killed.returncode == -signal.SIGKILL
    assert killed.stdout.split("\n")[:-1] == ["after 1"]
    assert _hook("tool").stdout == ""  # @1 by default: before the first arrival's work
    for inert in (None, "", "check@1", "tool@x", "tool@9"):
        res = _hook(inert)
        assert res.returncode == 0, (inert, res.stderr)
        assert res.stdout.split() == ["after", "1", "after", "2", "after", "3"]

"""The sandbox through the language server, as any editor drives it: commands run in it,
``planloop.doctor`` reports it, and where none works a run is refused with the fix and
nothing changes. Real bubblewrap; the broken one is a script first on the server's PATH."""

from __future__ import annotations

import os
from pathlib import Path

from lsp_harness import fixture_script, make_workspace, open_session, options


def broken_bwrap(tmp_path: Path) -> dict[str, str]:
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    fake = fakebin / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    return {"PATH": f"{fakebin}{os.pathsep}{os.environ.get('PATH', '')}"}


async def test_doctor_reports_the_sandbox_and_a_run_records_it(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        doctor = await s.cmd("planloop.doctor")
        sandbox = doctor["sandbox"]
        assert sandbox["ok"] is True and sandbox["available"] is True
        assert sandbox["backend"] == "bwrap" and sandbox["mode"] == "auto"
        assert sandbox["summary"] == "bwrap · network off (loopback only)"
        await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]
    logged = "".join(p.read_text() for p in (ws / ".planloop").rglob("log.jsonl"))
    assert '"type": "sandbox_chosen"' in logged or '"type":"sandbox_chosen"' in logged, logged


async def test_no_working_sandbox_refuses_the_run_with_the_fix(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    env = broken_bwrap(tmp_path)
    async with open_session(ws, options(script), env=env) as s:
        doctor = await s.cmd("planloop.doctor")
        assert doctor["ok"] is False and doctor["sandbox"]["ok"] is False
        assert "namespaces" in doctor["sandbox"]["reason"]
        assert 'sandbox = "off"' in doctor["sandbox"]["fix"]
        created = await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        err = await s.error("planloop.runAll")
        assert "cannot be sandboxed" in str(err) and "user namespaces" in str(err), str(err)
        plan = await s.cmd("planloop.getPlan")
        assert plan["plan"]["steps"] == created["plan"]["steps"]
        assert not (ws / "alpha.txt").exists()


async def test_the_editors_sandbox_off_setting_is_the_users_choice(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    env = broken_bwrap(tmp_path)
    async with open_session(ws, options(script, sandbox="off"), env=env) as s:
        doctor = await s.cmd("planloop.doctor")
        assert doctor["sandbox"]["ok"] is True and doctor["sandbox"]["backend"] == "off"
        await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]

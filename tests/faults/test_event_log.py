"""Finding 3 of issue 15: a damaged ``log.jsonl`` is reported line by line and tolerated.

The log is a record for people; a crash mid-append leaves a torn last line and a disk
or an editor can leave bytes that are not UTF-8. Neither may turn ``planloop log`` into
a traceback, nor hide the events around them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from faultkit import assert_one_clean_line, clean_env, cli, console_script
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planloop.events import StateChanged
from planloop.state.store import PlanStore


def _log_of(ws: Path) -> Path:
    pid = (ws / ".planloop" / "current").read_text().strip()
    return ws / ".planloop" / "plans" / pid / "log.jsonl"


def test_non_utf8_bytes_in_the_log_are_one_warning_not_a_traceback(built_run, tmp_path) -> None:
    ws, _ = built_run.copy(tmp_path / "c")
    log = _log_of(ws)
    lines = log.read_bytes().splitlines(keepends=True)
    lines.insert(2, b'{"type": "\xff\xfe garbage"}\n')
    log.write_bytes(b"".join(lines))
    damaged = log.read_bytes()
    res = console_script(ws, "log", "--json", env=clean_env())
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    warnings = [line for line in res.stderr.splitlines() if line.strip()]
    assert warnings == [f"warning: {log}:3: not UTF-8 (byte 11); line skipped"], res.stderr
    printed = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(printed) == len(lines) - 1  # every other event is still shown
    assert log.read_bytes() == damaged  # reported, never rewritten


def test_a_torn_last_line_is_reported_and_the_rest_shown(built_run, tmp_path) -> None:
    ws, _ = built_run.copy(tmp_path / "c")
    log = _log_of(ws)
    whole = len(log.read_bytes().splitlines())
    with log.open("ab") as f:
        f.write(b'{"type": "step_sta')  # a crash cut the append short
    res = cli(ws, "log")
    assert res.code == 0
    assert_one_clean_line(res)
    assert res.err.strip() == f"warning: {log}:{whole + 1}: torn last line; line skipped"
    assert len(re.findall(r"^\d{4}-\d\d-\d\dT", res.out, re.M)) == whole


def test_the_next_append_after_a_torn_line_stays_readable(built_run, tmp_path) -> None:
    ws, _ = built_run.copy(tmp_path / "c")
    log = _log_of(ws)
    with log.open("ab") as f:
        f.write(b'{"type": "half')
    store = PlanStore(ws)
    pid = store.current_id()
    assert pid is not None
    before = len(store.read_log(pid).events)
    store.log(pid, StateChanged(state="idle", reason="after a crash"))
    read = store.read_log(pid)
    assert read.events[-1]["reason"] == "after a crash" and len(read.events) == before + 1
    assert len(read.skipped) == 1 and "not a JSON event" in read.skipped[0]


def test_an_unreadable_log_stops_with_one_line(built_run, tmp_path) -> None:
    ws, _ = built_run.copy(tmp_path / "c")
    log = _log_of(ws)
    log.unlink()
    log.mkdir()
    res = cli(ws, "log")
    assert res.code == 1
    assert_one_clean_line(res)
    assert f"{log}: cannot read the event log" in res.err


def test_a_json_value_that_is_not_an_event_is_skipped(built_run, tmp_path) -> None:
    ws, _ = built_run.copy(tmp_path / "c")
    log = _log_of(ws)
    n = len(log.read_bytes().splitlines())
    with log.open("ab") as f:
        f.write(b"[1, 2, 3]\n")
    res = cli(ws, "log", "--json")
    assert res.code == 0
    assert res.err.strip() == f"warning: {log}:{n + 1}: not a JSON object; line skipped"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.integers(min_value=0, max_value=40),
    garbage=st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b),
)
def test_random_garbage_lines_never_hide_an_intact_event(
    built_run, tmp_path_factory, where, garbage
) -> None:
    """Whatever bytes replace one line, every other line is still read, in order."""
    ws, _ = built_run.copy(tmp_path_factory.mktemp("h") / "c")
    store = PlanStore(ws)
    pid = store.current_id()
    assert pid is not None
    log = _log_of(ws)
    lines = log.read_bytes().splitlines()
    at = where % len(lines)
    intact = [json.loads(line) for n, line in enumerate(lines) if n != at]
    lines[at] = garbage
    log.write_bytes(b"\n".join(lines) + b"\n")
    read = store.read_log(pid)
    assert [e for e in read.events if e in intact] == intact
    assert len(read.skipped) <= 1

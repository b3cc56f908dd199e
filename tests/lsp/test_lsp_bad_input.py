"""Bad input, one test each: the server answers with a clear JSON-RPC error and keeps
serving (every test ends with a getPlan that works). One server for the module, with
two workspace folders: ``empty`` (no plan, the default folder) and ``planned``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsp_harness import Session, fixture_script, make_workspace, open_session, options

from planloop.lsp.server import COMMAND_NAMES

pytestmark = pytest.mark.asyncio(loop_scope="module")

INVALID_PARAMS = -32602
# every advertised command, new ones included (test_lsp_workspace checks the count)
ALL_COMMANDS = list(COMMAND_NAMES)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Session, Path]]:
    base = tmp_path_factory.mktemp("bad")
    empty = make_workspace(base / "empty")
    planned = make_workspace(base / "planned")
    script = fixture_script("plan_only.json", base)
    async with open_session(empty, options(script), folders=[empty, planned]) as s:
        created = await s.cmd(
            "planloop.createPlan", {"goal": "Write alpha", "folder": str(planned)}
        )
        assert created["plan"]["steps"][0]["id"] == "write-alpha"
        yield s, planned


async def still_serving(s: Session, planned: Path) -> None:
    payload = await s.cmd("planloop.getPlan", {"folder": planned.as_uri()})
    assert payload["plan"]["goal"] == "Write alpha"
    assert await s.cmd("planloop.getPlan") is None  # the default (first) folder has no plan


async def test_bad_input_unknown_command(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error("planloop.doesNotExist", {})
    assert e.code == INVALID_PARAMS
    assert "planloop.doesNotExist" in e.message and "not defined" in e.message
    await still_serving(s, planned)


async def test_bad_input_missing_argument(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error("planloop.stepDiff", {"folder": str(planned)})
    assert e.code == INVALID_PARAMS
    assert e.data == {"kind": "bad_arguments"}
    assert "planloop.stepDiff: missing argument 'stepId'" in e.message
    e = await s.error("planloop.decideRevision", {"approve": True})
    assert "missing argument 'version'" in e.message
    e = await s.error("planloop.createPlan")  # no arguments at all means {}
    assert "missing argument 'goal'" in e.message
    await still_serving(s, planned)


async def test_bad_input_extra_argument(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error("planloop.runAll", {"force": True})
    assert e.code == INVALID_PARAMS
    assert "unexpected argument 'force'" in e.message
    e = await s.error("planloop.stepDiff", {"step_id": "write-alpha"})
    assert "unexpected argument 'step_id' (did you mean 'stepId'? keys are camelCase)" in e.message
    await still_serving(s, planned)


async def test_bad_input_mistyped_argument(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error("planloop.decideRevision", {"version": "2", "approve": True})
    assert e.code == INVALID_PARAMS
    assert "'version': Input should be a valid integer (got string '2')" in e.message
    e = await s.error("planloop.decideRevision", {"version": 2, "approve": 1})
    assert "'approve': Input should be a valid boolean (got number 1)" in e.message
    e = await s.error("planloop.revertStep", {"stepId": "write-alpha", "paths": "alpha.txt"})
    assert "'paths'" in e.message and "valid list" in e.message
    e = await s.error("planloop.createPlan", {"goal": ""})
    assert "'goal'" in e.message
    await still_serving(s, planned)


async def test_bad_input_argument_not_one_object(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error("planloop.getPlan", ["planId"])
    assert e.code == INVALID_PARAMS
    assert "takes one JSON object as its argument, got an array" in e.message
    e = await s.error("planloop.getPlan", 7)
    assert "got number 7" in e.message
    params = {"command": "planloop.getPlan", "arguments": [{}, {}]}
    with pytest.raises(Exception) as info:
        await s.raw("workspace/executeCommand", params)
    assert "got 2 arguments" in str(info.value)
    await still_serving(s, planned)


async def test_bad_input_arguments_envelope_not_a_list(two: tuple[Session, Path]) -> None:
    """pygls alone drops such a request unanswered; the client would wait forever."""
    s, planned = two
    with pytest.raises(Exception) as info:
        await s.raw("workspace/executeCommand", {"command": "planloop.getPlan", "arguments": 5})
    assert getattr(info.value, "code", None) == INVALID_PARAMS
    assert "invalid params for workspace/executeCommand" in str(info.value)
    await still_serving(s, planned)


async def test_bad_input_nested_jsonrpc_keys_in_arguments(two: tuple[Session, Path]) -> None:
    s, planned = two
    weird = {"jsonrpc": "2.0", "id": 99, "method": 5}
    e = await s.error("planloop.getPlan", {"planId": weird})
    assert e.code == INVALID_PARAMS and "'planId'" in e.message
    await still_serving(s, planned)


async def test_bad_input_unknown_step_id(two: tuple[Session, Path]) -> None:
    s, planned = two
    for cmd in ("planloop.runStep", "planloop.stepDiff", "planloop.revertStep"):
        e = await s.error(cmd, {"stepId": "no-such-step", "folder": str(planned)})
        assert e.code == INVALID_PARAMS, cmd
        assert e.data == {"kind": "unknown_step"}
        assert (
            "unknown step 'no-such-step'; steps of this plan: write-alpha, ask-human" in e.message
        )
    await still_serving(s, planned)


async def test_bad_input_command_before_any_plan(two: tuple[Session, Path]) -> None:
    s, planned = two
    for cmd, args in [
        ("planloop.runAll", {}),
        ("planloop.runStep", {}),
        ("planloop.stepDiff", {"stepId": "a"}),
        ("planloop.revertStep", {"stepId": "a"}),
        ("planloop.replan", {"reason": "why not"}),
        ("planloop.decideRevision", {"version": 2, "approve": True}),
        ("planloop.approvePause", {"stepId": "a"}),
    ]:
        e = await s.error(cmd, args)
        assert e.code == -32010, (cmd, e.message)
        assert e.data == {"kind": "no_plan"}
        assert "no plan yet" in e.message
    assert await s.cmd("planloop.getPlan") is None
    await still_serving(s, planned)


async def test_bad_input_step_that_has_not_run_has_no_diff(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error("planloop.stepDiff", {"stepId": "write-alpha", "folder": str(planned)})
    assert e.data == {"kind": "invalid_request"}
    assert "has not run yet" in e.message
    await still_serving(s, planned)


async def test_bad_input_decision_when_nothing_is_pending(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error(
        "planloop.decideRevision", {"version": 2, "approve": True, "folder": str(planned)}
    )
    assert e.data == {"kind": "invalid_request"}
    assert "nothing awaits a decision" in e.message
    await still_serving(s, planned)


async def test_bad_input_unknown_folder_and_plan_id(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error("planloop.getPlan", {"folder": "/definitely/not/open"})
    assert e.data == {"kind": "workspace"}
    assert "is not inside a workspace folder" in e.message
    e = await s.error("planloop.getPlan", {"folder": "relative/path"})
    assert "must be a file: URI or an absolute path" in e.message
    e = await s.error("planloop.getPlan", {"planId": "pln_00000000", "folder": str(planned)})
    assert e.data == {"kind": "invalid_request"}
    assert "no plan 'pln_00000000'" in e.message
    await still_serving(s, planned)


async def test_bad_input_checkpoint_that_does_not_exist(two: tuple[Session, Path]) -> None:
    s, planned = two
    e = await s.error(
        "planloop.fileAtCheckpoint",
        {"checkpoint": "deadbeef" * 5, "path": "notes.txt", "folder": str(planned)},
    )
    assert e.code != -32603, e.message  # a clear error, not an internal one
    await still_serving(s, planned)


# --- random shapes at every command ----------------------------------------------------

WORK_COMMANDS = {
    "planloop.createPlan",
    "planloop.runStep",
    "planloop.runAll",
    "planloop.revertStep",
    "planloop.replan",
    "planloop.decideRevision",
    "planloop.approvePause",
    "planloop.clean",
}
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "goal",
        "planId",
        "stepId",
        "checkpoint",
        "path",
        "paths",
        "reason",
        "version",
        "approve",
        "feedback",
        "folder",
        "step_id",
        "x",
    ]
)
_argument = (
    st.dictionaries(_keys, _json, max_size=4)
    | _json
    | st.lists(st.dictionaries(_keys, _json, max_size=3), max_size=3)
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=st.sampled_from(ALL_COMMANDS), argument=_argument, wrap=st.booleans())
async def test_random_argument_shapes_every_command_answers_and_server_survives(
    two: tuple[Session, Path], command: str, argument: Any, wrap: bool
) -> None:
    s, planned = two
    arguments = argument if (wrap and isinstance(argument, list)) else [argument]
    if command in WORK_COMMANDS:
        # keep the fuzz from starting real work (valid calls are tested elsewhere): an
        # extra key makes any object argument invalid
        arguments = [{**a, "x": 1} if isinstance(a, dict) else a for a in arguments]
    params = {"command": command, "arguments": arguments}
    try:
        result = await s.raw("workspace/executeCommand", params, timeout=20)
    except Exception as e:  # an error response is an answer
        code = getattr(e, "code", None)
        assert code is not None and code != -32603, f"{command} {arguments!r}: {e}"
    else:
        assert result is None or isinstance(result, dict)
    await still_serving(s, planned)

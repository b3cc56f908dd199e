"""Plain LSP clients (Neovim, Helix, Emacs, Zed, a script) as first-class users.

They configure the server by its command line, send "no arguments" in odd shapes,
declare none of planloop's extensions and show stderr as errors. Each test here names
one of those habits and what the server must do about it (issue 15, findings 4 and 5).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsp_harness import SERVER, fixture_script, make_workspace, open_session, options
from lsprotocol import types

PLANLOOP = str(Path(sys.executable).with_name("planloop"))


def _plan_script(dest: Path, step_id: str) -> Path:
    """A planner script whose plan has one step named after where the spec came from,
    so the plan shows which setting won."""
    turn = [
        {
            "type": "tool_use",
            "name": "submit_plan",
            "input": {
                "goal": "Write w.txt",
                "steps": [
                    {
                        "id": step_id,
                        "title": "Write w.txt",
                        "kind": "edit",
                        "instructions": "Write w.txt",
                        "files": ["w.txt"],
                        "expected_output": "",
                        "acceptance": [
                            {
                                "kind": "file_contains",
                                "path": "w.txt",
                                "pattern": "w",
                                "description": "w.txt says w",
                            }
                        ],
                        "depends_on": [],
                    }
                ],
            },
        }
    ]
    path = dest / f"{step_id}.json"
    path.write_text(json.dumps({"planner": [turn], "executor": []}), encoding="utf-8")
    return path


# --- finding 4: the serve flags, and one precedence order ----------------------------------

SOURCES = ["env", "toml", "flags", "init", "configuration"]


@pytest.mark.parametrize("winner", ["defaults", *SOURCES])
async def test_precedence_defaults_env_toml_flags_init_configuration(
    tmp_path: Path, winner: str
) -> None:
    """Every source up to ``winner`` sets the planner; ``winner``'s must be the one used."""
    ws = make_workspace(tmp_path / "proj")
    used = SOURCES[: SOURCES.index(winner) + 1] if winner != "defaults" else []
    spec = {src: f"scripted:{_plan_script(tmp_path, 'from-' + src)}" for src in used}
    env = {"PLANLOOP_PLANNER": spec["env"]} if "env" in spec else {}
    if "toml" in spec:
        (ws / "planloop.toml").write_text(f'planner = "{spec["toml"]}"\n', encoding="utf-8")
    server_args = ["--planner", spec["flags"]] if "flags" in spec else []
    init = options(**({"planner": spec["init"]} if "init" in spec else {}))
    configuration = (
        {"planloop": {"planner": spec["configuration"]}} if "configuration" in spec else None
    )
    async with open_session(
        ws, init, env=env, server_args=server_args, configuration=configuration
    ) as s:
        if winner == "defaults":  # the built-in anthropic planner, which needs a key
            err = await s.error("planloop.createPlan", {"goal": "Write w.txt"})
            assert "ANTHROPIC_API_KEY is not set" in str(err)
            return
        created = await s.cmd("planloop.createPlan", {"goal": "Write w.txt"})
        assert [st["id"] for st in created["plan"]["steps"]] == [f"from-{winner}"]


async def test_planloop_serve_honours_its_flags_and_ignores_editor_extras(
    tmp_path: Path,
) -> None:
    """``planloop serve --planner … --executor … --workspace …``, plus the ``--stdio`` and
    ``--clientProcessId`` editors append: the flags' models run, in the flag's folder,
    although the client opened another folder and sent no model settings."""
    client_root = make_workspace(tmp_path / "client-root")
    flag_ws = make_workspace(tmp_path / "flag-ws", {"notes.txt": "hi\n"})
    script = fixture_script("happy.json", tmp_path)
    spec = f"scripted:{script}"
    args = ["serve", "--planner", spec, "--executor", spec, "--workspace", str(flag_ws)]
    args += ["--stdio", "--clientProcessId", "4242"]
    async with open_session(
        client_root, {"reviewPlanFirst": False}, server=[PLANLOOP], server_args=args
    ) as s:
        await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]
    assert (flag_ws / "alpha.txt").read_text() == "alpha\n"
    assert (flag_ws / ".planloop").is_dir()
    assert not (client_root / ".planloop").exists()
    assert not (client_root / "alpha.txt").exists()


async def test_python_m_planloop_lsp_takes_the_same_flags(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    spec = f"scripted:{_plan_script(tmp_path, 'from-flag')}"
    async with open_session(ws, options(), server_args=["--planner", spec, "--stdio"]) as s:
        created = await s.cmd("planloop.createPlan", {"goal": "Write w.txt"})
        assert [st["id"] for st in created["plan"]["steps"]] == ["from-flag"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--log-level", "loud"], "invalid log level 'loud'"),
        (["--workspace", "/nonexistent/planloop-ws"], "is not a directory"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--clientProcessId", "abc"], "invalid int value"),
    ],
)
@pytest.mark.parametrize("entry", ["planloop serve", "python -m planloop.lsp"])
def test_bad_serve_flags_exit_2_with_one_line(argv: list[str], message: str, entry: str) -> None:
    command = [PLANLOOP, "serve"] if entry == "planloop serve" else SERVER
    done = subprocess.run(
        [*command, *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done
    assert done.stdout == ""  # stdout is JSON-RPC's alone
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr


# --- finding 5: lenient arguments --------------------------------------------------------

NO_ARGUMENTS: list[tuple[str, Any]] = [
    ("no arguments key", "omit"),
    ("[]", []),
    ("[{}]", [{}]),
    ("[null]", [None]),
    ("[[]] (Neovim's empty Lua table)", [[]]),
    ("{} (bare object)", {}),
]


async def test_every_command_accepts_every_no_arguments_shape(tmp_path: Path) -> None:
    """Each shape reaches every command as ``{}``: the answer is the command's own
    (a result, or the error about a missing key), never ``bad_arguments`` about shape."""
    from planloop.lsp.names import COMMAND_NAMES

    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("plan_only.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        await s.cmd("planloop.createPlan", {"goal": "Write alpha"})
        for label, arguments in NO_ARGUMENTS:
            params: dict[str, Any] = {"command": "planloop.getPlan"}
            if arguments != "omit":
                params["arguments"] = arguments
            got = await s.raw("workspace/executeCommand", params)
            assert got["plan"]["steps"][0]["id"] == "write-alpha", label
        for name in COMMAND_NAMES:
            if name in ("planloop.runStep", "planloop.runAll", "planloop.replan"):
                continue  # would call the models; the argument path is the same
            for label, arguments in NO_ARGUMENTS:
                params = {"command": name}
                if arguments != "omit":
                    params["arguments"] = arguments
                try:
                    await s.raw("workspace/executeCommand", params)
                except Exception as e:
                    text = str(e)
                    assert "takes one JSON object" not in text, (name, label, text)
                    assert "got an array" not in text and "got string" not in text, (
                        name,
                        label,
                        text,
                    )


async def test_bare_object_and_wrapped_object_carry_the_same_keys(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("plan_only.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        await s.cmd("planloop.createPlan", {"goal": "Write alpha"})
        for arguments in ([{"version": 1}], {"version": 1}):
            got = await s.raw(
                "workspace/executeCommand", {"command": "planloop.getPlan", "arguments": arguments}
            )
            assert got["plan"]["version"] == 1
        err = await s.raw_error(
            "workspace/executeCommand", {"command": "planloop.getPlan", "arguments": {"bogus": 1}}
        )
        assert "unexpected argument 'bogus'" in err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([5], "got number 5"),
        (["x"], "got string 'x'"),
        ([[1]], "got an array"),
        ([{}, {}], "got 2 arguments"),
        ([{"stepID": "a"}], "unexpected argument 'stepID'"),
    ],
)
async def test_what_is_not_one_object_is_still_refused(
    tmp_path: Path, arguments: Any, message: str
) -> None:
    ws = make_workspace(tmp_path / "proj")
    async with open_session(ws, options()) as s:
        err = await s.raw_error(
            "workspace/executeCommand", {"command": "planloop.getPlan", "arguments": arguments}
        )
        assert message in err


# --- finding 5: custom notifications only for clients that asked ---------------------------


@pytest.mark.parametrize("how", ["none", "capability", "initializationOptions"])
async def test_plan_notifications_only_for_clients_that_declare_them(
    tmp_path: Path, how: str
) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    extra = {"planloopNotifications": True} if how == "initializationOptions" else {}
    async with open_session(ws, options(script, **extra), notifications=how == "capability") as s:
        await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]
        if how == "none":
            assert s.plan_changed == [] and s.step_events == []
            assert s.progress_kinds(), "progress ($/progress) is standard LSP and still sent"
        else:
            assert s.plan_changed[-1]["state"] == "done"
            assert [e["stepId"] for e in s.events("started")] == ["write-alpha", "write-beta"]
        assert "ignoring unknown planloop setting" not in s.log_text()


# --- finding 5: stderr carries warnings and errors only; logMessage at the asked level ------

_STDERR_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")


async def test_stderr_has_only_warnings_and_errors(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    stderr = tmp_path / "stderr.log"
    # an unknown setting is a warning: it must reach stderr (so the check can fail)
    init = options(script, bogusSetting=1)
    async with open_session(ws, init, stderr_to=stderr, server_args=["--log-level", "debug"]) as s:
        await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        run = await s.cmd("planloop.runAll")
        assert run["state"] == "done", run["reason"]
        assert "planloop ready" in s.log_text()  # info went to the editor instead
    lines = [line for line in stderr.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert any("ignoring unknown planloop setting(s): bogusSetting" in line for line in lines)
    assert all(_STDERR_LINE.match(line) for line in lines), lines


async def test_log_level_flag_sets_what_window_log_message_carries(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    init = options(bogusSetting=1)
    async with open_session(ws, init, server_args=["--log-level", "warning"]) as s:
        await s.error("planloop.runAll")  # builds the settings (warning), then: no plan
        await s.wait_for(lambda: "bogusSetting" in s.log_text(), what="the warning")
        assert "planloop ready" not in s.log_text()
        assert {m.type for m in s.client.log_messages} == {types.MessageType.Warning}


async def test_set_trace_raises_and_restores_the_log_level(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    async with open_session(ws, options(), server_args=["--log-level", "warning"]) as s:
        await s.cmd("planloop.getPlan")
        assert "command planloop.getPlan" not in s.log_text()
        s.client.protocol.notify(types.SET_TRACE, types.SetTraceParams(types.TraceValue.Verbose))
        await s.cmd("planloop.getPlan")
        await s.wait_for(lambda: "command planloop.getPlan" in s.log_text(), what="the debug line")
        assert any(m.type == types.MessageType.Log for m in s.client.log_messages)
        s.client.protocol.notify(types.SET_TRACE, types.SetTraceParams(types.TraceValue.Off))
        before = len(s.client.log_messages)
        await s.cmd("planloop.getPlan")
        await s.error("planloop.log")  # no plan: an info line, not sent at warning
        assert all("command planloop" not in m.message for m in s.client.log_messages[before:])


async def test_initialize_trace_verbose_logs_debug_from_the_start(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    async with open_session(ws, options(), trace="verbose") as s:
        await s.cmd("planloop.getPlan")
        await s.wait_for(lambda: "command planloop.getPlan" in s.log_text(), what="the debug line")

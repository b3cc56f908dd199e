"""The editor side of the workspace: unsaved buffers, multi-root folders, settings from
workspace/configuration, a clean stdout and a lazy start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lsp_harness import SERVER, fixture_script, make_workspace, open_session, options, step_of
from lsprotocol import types


def _open(s, path: Path, text: str, version: int = 1) -> None:  # type: ignore[no-untyped-def]
    s.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(), language_id="plaintext", version=version, text=text
            )
        )
    )


async def test_unsaved_buffer_stops_the_step_before_writing_and_names_the_file(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
        first = await s.cmd("planloop.runStep")
        assert first["stepId"] == "write-alpha" and first["state"] == "idle"

        _open(s, ws / "notes.txt", "hello, typed in the editor but not saved\n")
        stopped = await s.cmd("planloop.runStep")
        assert stopped["state"] == "paused"
        assert "notes.txt" in stopped["reason"]
        assert (ws / "notes.txt").read_text() == "hello\n"  # nothing written
        assert not (ws / "beta.txt").exists()
        assert step_of(stopped["plan"], "write-beta")["status"] == "pending"

        # the user reverts the buffer to what is on disk: the step may run
        s.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=(ws / "notes.txt").as_uri(), version=2
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text="hello\n")],
            )
        )
        done = await s.cmd("planloop.runStep")
        assert done["state"] == "done", done["reason"]
        assert (ws / "notes.txt").read_text() == "hello beta\n"


async def test_multi_root_one_orchestrator_per_folder_default_first(tmp_path: Path) -> None:
    first = make_workspace(tmp_path / "first")
    second = make_workspace(tmp_path / "second")
    script = fixture_script("plan_only.json", tmp_path)
    async with open_session(first, options(script), folders=[first, second]) as s:
        inside = str(second / "notes.txt")  # any path inside a folder selects it
        created = await s.cmd("planloop.createPlan", {"goal": "Write alpha", "folder": inside})
        assert (second / ".planloop" / "plans" / created["plan"]["plan_id"]).is_dir()
        assert not (first / ".planloop").exists()
        assert await s.cmd("planloop.getPlan") is None
        by_uri = await s.cmd("planloop.getPlan", {"folder": second.as_uri()})
        assert by_uri["plan"]["plan_id"] == created["plan"]["plan_id"]
        run = await s.cmd("planloop.runStep", {"folder": str(second)})
        assert run["stepId"] == "write-alpha"
        assert (second / "alpha.txt").exists() and not (first / "alpha.txt").exists()


async def test_settings_from_workspace_configuration_and_bad_settings(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("plan_only.json", tmp_path)
    spec = f"scripted:{script}"
    section = {
        "planner": spec,
        "executor": spec,
        "reviewPlanFirst": False,
        "trace": {"server": "off"},
    }
    async with open_session(ws, {"budgets": {"usd": -1}}, configuration={"planloop": section}) as s:
        # initializationOptions are invalid; workspace/configuration does not fix budgets
        e = await s.error("planloop.createPlan", {"goal": "Write alpha"})
        assert e.data == {"kind": "config"}
        assert "budgets.usd" in e.message
        assert await s.cmd("planloop.getPlan") is None  # reading needs no settings

    # layering: planloop.toml < initializationOptions < workspace/configuration
    (ws / "planloop.toml").write_text(
        f'planner = "{spec}"\nexecutor = "{spec}"\nreview_plan_first = true\n', encoding="utf-8"
    )
    client_section = {"reviewPlanFirst": False, "trace": {"server": "off"}}
    async with open_session(ws, None, configuration={"planloop": client_section}) as s:
        created = await s.cmd("planloop.createPlan", {"goal": "Write alpha"})  # toml's models
        assert created["state"] == "idle"  # the client's reviewPlanFirst=false won
        assert "ignoring unknown planloop setting(s): trace" in s.log_text()


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _read_message(stream: Any) -> dict[str, Any]:
    """One framed message; anything else on stdout fails the test."""
    length = None
    while True:
        line = stream.readline()
        assert line, "stdout closed before a message"
        if line == b"\r\n":
            break
        name, _, value = line.decode("ascii").partition(":")
        assert name.lower() in ("content-length", "content-type"), f"stray stdout: {line!r}"
        if name.lower() == "content-length":
            length = int(value)
    assert length is not None
    return json.loads(stream.read(length))


def _until(stream: Any, msg_id: int) -> dict[str, Any]:
    while True:
        message = _read_message(stream)
        if message.get("id") == msg_id and "method" not in message:
            return message


def test_stdout_is_only_json_rpc_and_anthropic_is_not_imported(tmp_path: Path) -> None:
    """Raw stdio, no client library: every stdout byte is a framed JSON-RPC message;
    serving initialize and getPlan never imports the anthropic SDK (-X importtime); a
    shutdown while a request is still in flight is answered and the exit code is 0."""
    ws = make_workspace(tmp_path / "proj")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")}
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", *SERVER[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:

        def send(*messages: dict[str, Any]) -> None:
            assert proc.stdin is not None
            proc.stdin.write(b"".join(_frame(m) for m in messages))
            proc.stdin.flush()

        send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"processId": None, "rootUri": ws.as_uri(), "capabilities": {}},
            }
        )
        init = _until(proc.stdout, 1)
        assert init["result"]["serverInfo"]["name"] == "planloop"
        commands = init["result"]["capabilities"]["executeCommandProvider"]["commands"]
        assert "planloop.runAll" in commands and "planloop.answer" in commands
        assert len(commands) == 17  # … setMode, doctor, answer
        send(
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "workspace/executeCommand",
                "params": {"command": "planloop.getPlan", "arguments": [{}]},
            },
        )
        assert _until(proc.stdout, 2) == {"jsonrpc": "2.0", "id": 2, "result": None}
        send(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "workspace/executeCommand",
                "params": {"command": "planloop.getPlan"},
            },
            {"jsonrpc": "2.0", "id": 4, "method": "shutdown"},
        )
        assert _until(proc.stdout, 4)["result"] is None
        send({"jsonrpc": "2.0", "method": "exit"})
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    imported = [
        line.split("|")[-1].strip()
        for line in proc.stderr.read().decode().splitlines()
        if line.startswith("import time:")
    ]
    assert "planloop.state.store" in imported  # the import log is real
    assert not [m for m in imported if m == "anthropic" or m.startswith("anthropic.")]

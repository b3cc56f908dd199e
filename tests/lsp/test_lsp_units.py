"""Small pure pieces of the language server, checked without a server process."""

from __future__ import annotations

from pathlib import Path

from planloop.lsp import commands, server
from planloop.lsp.args import GetPlanArgs, parse_args
from planloop.lsp.config import build
from planloop.lsp.documents import OpenBuffers
from planloop.lsp.payloads import file_payload
from planloop.lsp.rpc_errors import BadArguments


def test_every_advertised_command_has_a_handler() -> None:
    assert set(server.COMMAND_NAMES) == {*commands.COMMANDS, commands.CANCEL}


def test_file_payload_text_binary_and_missing() -> None:
    assert file_payload("c1", "a.txt", "héllo\n".encode()) == {
        "path": "a.txt",
        "checkpoint": "c1",
        "exists": True,
        "text": "héllo\n",
        "binary": False,
    }
    nul = file_payload("c1", "img.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    assert nul["binary"] is True and nul["text"] is None and nul["exists"] is True
    latin = file_payload("c1", "old.txt", b"caf\xe9")
    assert latin["binary"] is True and latin["text"] is None
    assert file_payload("c1", "gone.txt", None)["exists"] is False


def test_omitted_or_null_argument_means_empty_object() -> None:
    assert parse_args("planloop.getPlan", GetPlanArgs, ()).plan_id is None
    assert parse_args("planloop.getPlan", GetPlanArgs, (None,)).plan_id is None
    try:
        parse_args("planloop.getPlan", GetPlanArgs, ({"planId": 3},))
    except BadArguments as e:
        assert "'planId': Input should be a valid string (got number 3)" in str(e)
        assert "Accepted keys: folder, planId" in str(e)
    else:
        raise AssertionError("a number is not a plan id")


def test_open_buffers_follow_open_change_close(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("disk\n")
    b = OpenBuffers()
    assert b.buffer_text(f) is None
    b.opened(f.as_uri(), "typed\n")
    assert b.buffer_text(f) == "typed\n"
    b.changed(f.as_uri(), "typed more\n")
    assert b.buffer_text(tmp_path / "." / "a.py") == "typed more\n"
    b.opened("untitled:Untitled-1", "scratch")  # no file: ignored
    b.closed(f.as_uri())
    assert b.buffer_text(f) is None


def test_settings_nulls_are_unset_and_lsp_keys_are_not_config(tmp_path: Path) -> None:
    cfg, lsp = build(
        tmp_path,
        {"planloop": {"budgets": {"usd": 2.5, "replans": None}, "approvalTimeoutS": 7}},
        {"executorTurns": None, "reviewPlanFirst": False, "pythonPath": "/usr/bin/python3"},
    )
    assert cfg.budgets.usd == 2.5 and cfg.budgets.replans == 3  # null = not set
    assert cfg.review_plan_first is False
    assert lsp.approval_timeout_s == 7

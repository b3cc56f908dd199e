"""State files are written whole or not at all (temp + fsync + rename + directory fsync)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from faultkit import ROOT

from planloop import fsutil

#: the modules that write files under .planloop/ (the store, the checkpoint repository's
#: own files, the scripted models' position)
STATE_WRITERS = [
    "state/store.py",
    "state/plan_md.py",
    "checkpoints/store.py",
    "checkpoints/shadow_repo.py",
    "checkpoints/shadow_config.py",
    "checkpoints/borrowing.py",
    "models/scripted.py",
    "mcp_tools/consent.py",
]


def test_a_failed_rename_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "run.json"
    target.write_text("old")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", broken)
    with pytest.raises(OSError):
        fsutil.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_failed_fsync_leaves_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "current"
    target.write_text("pln_00000000\n")
    real = os.fsync

    def failing(fd: int) -> None:
        real(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fsutil.os, "fsync", failing)
    with pytest.raises(OSError):
        fsutil.atomic_write(target, "pln_11111111\n")
    assert target.read_text() == "pln_00000000\n"
    assert [p.name for p in tmp_path.iterdir()] == ["current"]


def test_the_file_and_its_directory_are_fsynced(tmp_path: Path, monkeypatch) -> None:
    synced: list[bool] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(fsutil.os, "fsync", spy)
    fsutil.atomic_write(tmp_path / "sub" / "v1.json", "{}")
    assert synced == [False, True]  # the temp file, then the directory holding the rename
    assert (tmp_path / "sub" / "v1.json").read_text() == "{}"


def test_append_line_closes_a_torn_line_first(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"a": 1}\n{"torn')
    fsutil.append_line(log, '{"b": 2}')
    assert log.read_bytes() == b'{"a": 1}\n{"torn\n{"b": 2}\n'


@pytest.mark.parametrize("module", STATE_WRITERS)
def test_state_writers_write_only_through_fsutil(module: str) -> None:
    """No ``write_text`` / ``write_bytes`` / ``open(..., "w")``: a crash mid-write there would
    leave half a state file."""
    tree = ast.parse((ROOT / "server" / "planloop" / module).read_text())
    direct = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name in ("write_text", "write_bytes"):
            direct.append(f"{module}:{node.lineno} {name}")
        if name in ("open", "fdopen") and len(node.args) > 1:
            mode = node.args[1]
            if isinstance(mode, ast.Constant) and "w" in str(mode.value):
                direct.append(f"{module}:{node.lineno} open(..., {mode.value!r})")
    assert direct == []

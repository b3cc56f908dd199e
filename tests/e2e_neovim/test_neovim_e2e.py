"""Neovim as a tested editor: headless Neovim (0.7 or newer, its stock LSP client) with
the minimal config docs/editors/neovim.md publishes, driving `planloop serve` through
plan → run → a re-plan approved through window/showMessageRequest → done.

The scripted models (tests/lsp/fixtures/replan.json: the first step fails twice, the
planner proposes v2, which passes) are chosen with `planloop serve` flags, as a Neovim
user would choose real ones. Without nvim the test is skipped locally, but fails under
PLANLOOP_E2E=1 (`make test` sets it; `make provision-nvim` installs Debian's neovim).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "lsp" / "fixtures"
TIMEOUT_S = 600

pytestmark = pytest.mark.e2e


def _nvim() -> str:
    found = shutil.which("nvim")
    if found is None:
        if os.environ.get("PLANLOOP_E2E") == "1":
            pytest.fail("PLANLOOP_E2E=1 but nvim is not installed (run `make provision-nvim`)")
        pytest.skip("nvim is not installed (make provision-nvim; PLANLOOP_E2E=1 makes this fail)")
    return found


def _lua_list(items: list[str]) -> str:
    return "{" + ", ".join(json.dumps(i) for i in items) + "}"


def test_neovim_plans_runs_approves_a_replan_and_finishes(tmp_path: Path) -> None:
    nvim = _nvim()
    ws = tmp_path / "proj"
    ws.mkdir()
    (ws / "notes.txt").write_text("hello\n", encoding="utf-8")
    script = tmp_path / "replan.json"
    shutil.copyfile(FIXTURES / "replan.json", script)
    spec = f"scripted:{script}"
    planloop = str(Path(sys.executable).with_name("planloop"))
    cmd = [planloop, "serve", "--planner", spec, "--executor", spec]
    out = tmp_path / "out.json"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
    }
    # Neovim's lsp.log and state live under the test's own directories
    for var in ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env[var] = str(tmp_path / var.lower())
    env["PLANLOOP_NVIM_OUT"] = str(out)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = subprocess.run(
        [
            nvim,
            "--headless",
            "-n",
            "-i",
            "NONE",
            "--cmd",
            f"lua vim.g.planloop_cmd = {_lua_list(cmd)}",
            "-u",
            str(HERE.parents[1] / "examples" / "editors" / "neovim" / "init.lua"),
            "-c",
            f"luafile {HERE / 'drive.lua'}",
        ],
        cwd=ws,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert out.exists(), f"nvim wrote no result (exit {proc.returncode}): {proc.stderr[-3000:]}"
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert proc.returncode == 0 and seen["errors"] == [], (seen, proc.stderr[-3000:])

    assert seen["before"] == "none"
    # plan review is on (the default): running the plan is the user's approval of v1
    assert seen["created"] == {"version": 1, "state": "awaiting_approval"}
    assert seen["run"]["state"] == "done", seen["run"]
    assert seen["final"]["state"] == "done"
    assert seen["final"]["version"] == 2
    assert seen["final"]["decided"] == "approved"
    assert seen["final"]["decided_by"] == "Neovim"
    assert seen["steps"] == [{"id": "write-c-again", "status": "passed"}]
    (question,) = seen["questions"]
    assert "approve re-plan v2?" in question["message"]
    assert [a["title"] for a in question["actions"]] == ["Approve", "Reject"]
    assert (ws / "c.txt").read_text(encoding="utf-8") == "good\n"

    log_file = Path(seen["log_file"])
    assert log_file.is_relative_to(tmp_path)
    log = log_file.read_text(encoding="utf-8", errors="replace")
    assert "planloop ready for Neovim" in log, log[-3000:]  # info logs do arrive
    errors = [line for line in log.splitlines() if "[ERROR]" in line]
    assert errors == [], errors


def test_missing_nvim_fails_under_planloop_e2e(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test` must not go green by skipping the editor it claims to test."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvim here
    monkeypatch.setenv("PLANLOOP_E2E", "1")
    with pytest.raises(pytest.fail.Exception, match="nvim is not installed"):
        _nvim()
    monkeypatch.delenv("PLANLOOP_E2E")
    with pytest.raises(pytest.skip.Exception):
        _nvim()

"""The editor configs of docs/editors/acp.md parse and name ``planloop acp``, a command
that exists (the editors themselves do not run here; the doc says so); its flags are
``serve``'s settings flags."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from planloop.cli.parser import build_parser

EDITORS = Path(__file__).resolve().parents[2] / "examples" / "editors"


def test_the_json_configs_name_planloop_acp() -> None:
    for rel in ("zed/acp-settings.json", "jetbrains/acp.json"):
        server = json.loads((EDITORS / rel).read_text())["agent_servers"]["planloop"]
        assert [server["command"], *server["args"]] == ["planloop", "acp"], rel
    assert build_parser().parse_args(["acp"]).cmd == "acp"


def test_the_lua_and_elisp_configs_are_balanced_and_name_planloop_acp() -> None:
    lua = (EDITORS / "neovim" / "codecompanion-acp.lua").read_text()
    assert '{ "planloop", "acp" }' in lua
    el = (EDITORS / "emacs" / "planloop-agent-shell.el").read_text()
    assert ':command "planloop"' in el and ':command-params \'("acp")' in el
    code = re.sub(r'"(\\.|[^"\\])*"', '""', re.sub(r";.*", "", el))
    assert code.count("(") == code.count(")")
    for opening, closing in ("()", "{}"):
        assert lua.count(opening) == lua.count(closing)
    # a real parse by Neovim's own Lua (make test provisions Neovim): loadfile compiles, runs nothing
    nvim = shutil.which("nvim")
    assert nvim, "Neovim is provisioned by make test (provision-nvim)"
    path = EDITORS / "neovim" / "codecompanion-acp.lua"
    check = f"lua local f, e = loadfile([[{path}]]); if not f then io.stderr:write(e); vim.cmd('cquit 3') end"
    res = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-c", check, "-c", "qa!"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_the_settings_flags_are_serves() -> None:
    from planloop.cli.overrides import overrides
    from planloop.cli.parser import build_parser

    args = build_parser().parse_args(
        [
            "acp",
            "--planner",
            "scripted:p.json",
            "--executor",
            "scripted:e.json",
            "--mode",
            "joint",
            "--sandbox",
            "off",
            "--sandbox-network",
            "--sandbox-writable",
            "out",
        ]
    )
    assert overrides(args) == {
        "planner": "scripted:p.json",
        "executor": "scripted:e.json",
        "mode": "joint",
        "sandbox": "off",
        "sandbox_network": True,
        "sandbox_writable": ["out"],
    }

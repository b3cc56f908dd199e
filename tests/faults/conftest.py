"""Fixtures of the fault suite (tests/faults): one real run, copied per case."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lsp"))

from faultkit import build_run


class BuiltRun:
    """The pristine run; ``copy`` gives a case its own workspace and script."""

    def __init__(self, root: Path, ws: Path, script: Path) -> None:
        self.root, self.ws, self.script = root, ws, script

    def copy(self, dest: Path) -> tuple[Path, Path]:
        shutil.copytree(self.root, dest, symlinks=True)
        ws = dest / self.ws.relative_to(self.root)
        script = dest / self.script.relative_to(self.root)
        # the scripted state file names the script by path: point it at the copy's
        state = ws / ".planloop" / "scripted-state.json"
        if state.exists():
            state.write_text(state.read_text().replace(str(self.script), str(script)))
        return ws, script


@pytest.fixture(scope="session")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> BuiltRun:
    root = tmp_path_factory.mktemp("built")
    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "PLANLOOP_PLANNER",
            "PLANLOOP_EXECUTOR",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        ws, script = build_run(root)
    return BuiltRun(root, ws, script)

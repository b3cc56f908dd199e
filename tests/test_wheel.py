"""``pip install planloop && planloop demo`` works: the wheel carries everything the demo needs.

Builds the wheel from this checkout, installs it into a fresh virtualenv (uv resolves the
dependencies from the package index, as pip would, in seconds where pip took a minute) and runs the
installed ``planloop demo`` from a folder outside the repository, so nothing of the checkout
or of the development environment can stand in for what the wheel lacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    res = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert res.returncode == 0, f"{cmd} exited {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_outside_the_repository(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "PLANLOOP_", "PYTHON", "VIRTUAL_ENV"))
        and k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
    }
    env.update(COLUMNS="200", PIP_DISABLE_PIP_VERSION_CHECK="1", PLANLOOP_WARM="off")
    dist, venv, cwd, tmp = (tmp_path / d for d in ("dist", "venv", "cwd", "tmp"))
    for d in (cwd, tmp):
        d.mkdir()

    uv = str(Path(sys.executable).with_name("uv"))
    run(
        [uv, "build", "-q", "--wheel", "-o", str(dist), str(ROOT)],
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    (wheel,) = dist.glob("planloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "planloop/examples/calculator/demo.json" in names
    assert not [n for n in names if "__pycache__" in n or ".planloop/" in n]

    run(
        [uv, "venv", "-q", "--python", sys.executable, str(venv)],
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    python = venv / "bin" / "python"
    run(
        [uv, "pip", "install", "-q", "--python", str(python), str(wheel)],
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    where = run(
        [str(python), "-c", "import planloop; print(planloop.__file__)"],
        cwd=cwd,
        env=env,
        timeout=60,
    )
    assert Path(where.strip()).is_relative_to(venv), where  # the wheel, not this checkout

    env["TMPDIR"] = str(tmp)  # the demo's temporary copy lands here
    out = run([str(venv / "bin" / "planloop"), "demo"], cwd=cwd, env=env, timeout=300)
    assert "(scripted: replayed model output, not a live model)" in out
    assert "done: every step passed · 3/3 steps" in out
    assert "state: done — every step passed" in out
    assert "the calculator's own test suite: 7 passed" in out
    assert list(cwd.iterdir()) == [] and list(tmp.iterdir()) == []

"""Eval tasks: a folder with ``task.toml``, the repository to work on, and a hidden check.

Layout of one task folder::

    task.toml        goal, the hidden check, optional per-task timeout and scripts
    repo/            the small repository the models work on (copied for every run)
    hidden/          files the check needs, copied in only after the run (optional)
    scripts/         offline models: split.json, joint.json, auto.json (optional)

``task.toml``::

    goal = "Make add() add"
    horizon = 1                      # informational: steps a person would plan
    timeout_s = 120                  # the whole run, hidden check included
    [check]
    command = "python hidden_check.py"
    timeout_s = 60
    [scripted]                       # mode -> script, relative to the task folder
    split = "scripts/split.json"

The hidden check is never shown to a model: it is not in ``repo/``, its files arrive
after the run, and the goal is all the models get.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from planloop.errors import PlanloopError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TASK_FILE = "task.toml"
MODES = ("split", "joint", "auto")


class EvalError(PlanloopError):
    """An eval that cannot start: a bad task folder, a bad option, a bad cassette."""

    default_kind = "eval"


@dataclass(frozen=True)
class Task:
    name: str
    dir: Path
    goal: str
    check: str
    check_timeout_s: float = 60.0
    timeout_s: float = 300.0
    horizon: int | None = None
    scripts: dict[str, Path] = field(default_factory=dict)

    @property
    def repo(self) -> Path:
        return self.dir / "repo"

    @property
    def hidden(self) -> Path:
        return self.dir / "hidden"


def starter_dir() -> Path:
    """The starter task set shipped as package data."""
    return Path(str(resources.files("planloop.eval") / "suite"))


def load_task(folder: Path) -> Task:
    path = folder / TASK_FILE
    if not path.is_file():
        raise EvalError(
            f"{folder}: no {TASK_FILE} (a task folder needs {TASK_FILE} with a goal and "
            "[check] command, and a repo/ folder)"
        )
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise EvalError(f"{path}: cannot read: {e}") from None

    def bad(why: str) -> EvalError:
        return EvalError(f"{path}: {why}")

    goal = data.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        raise bad('needs goal = "..." (what the models are asked to do)')
    check = data.get("check")
    if not isinstance(check, dict) or not isinstance(check.get("command"), str):
        raise bad('needs [check] command = "..." (the hidden check; exit 0 = solved)')
    if not (folder / "repo").is_dir():
        raise bad("the task folder has no repo/ folder to work on")
    scripts: dict[str, Path] = {}
    raw_scripts = data.get("scripted", {})
    if not isinstance(raw_scripts, dict):
        raise bad("[scripted] must map a mode to a script file")
    for mode, rel in raw_scripts.items():
        if mode not in MODES or not isinstance(rel, str):
            raise bad(f'[scripted] {mode!r}: expected one of {", ".join(MODES)} = "file.json"')
        scripts[mode] = (folder / rel).resolve()
    try:
        return Task(
            name=str(data.get("name", folder.name)),
            dir=folder.resolve(),
            goal=goal.strip(),
            check=check["command"],
            check_timeout_s=float(check.get("timeout_s", 60.0)),
            timeout_s=float(data.get("timeout_s", 300.0)),
            horizon=int(data["horizon"]) if "horizon" in data else None,
            scripts=scripts,
        )
    except (TypeError, ValueError) as e:
        raise bad(f"a number is not a number: {e}") from None


def load_tasks(path: Path | None) -> list[Task]:
    """One task folder, or a folder of task folders (default: the starter set)."""
    root = (path or starter_dir()).resolve()
    if not root.is_dir():
        raise EvalError(f"{root}: no such task folder")
    if (root / TASK_FILE).is_file():
        return [load_task(root)]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not folders:
        raise EvalError(f"{root}: no task folders in it (and no {TASK_FILE})")
    return [load_task(f) for f in folders]

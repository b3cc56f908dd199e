"""docs/architecture.md stays true to the tree: its module map lists exactly the package's
modules with roughly true sizes, and its picture names every subpackage.

The check itself is ``scripts/module_map_sizes.py --check`` (run it, or run the script
without ``--check`` to refresh the counts); these tests run it, and test what it would
catch on a tree made to drift.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "module_map_sizes.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("module_map_sizes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mms = load()


def test_the_map_lists_exactly_the_modules_of_the_tree_with_rough_sizes() -> None:
    text = mms.DOC.read_text(encoding="utf-8")
    assert mms.problems(text, mms.modules(), mms.subpackages(), sizes=True) == [], (
        "refresh with: python3 scripts/module_map_sizes.py (then write a row for each module "
        "it names)"
    )


def test_the_picture_names_every_subpackage() -> None:
    rooms = mms.subpackages()
    # the tree's rooms today; a new one must reach the picture, which the check above enforces
    assert {"document/", "models/", "workspace/", "checkpoints/", "state/", "roles/"} <= set(rooms)
    assert {"loop/", "eval/", "lsp/", "cli/"} <= set(rooms)
    shown = mms.picture(mms.DOC.read_text(encoding="utf-8"))
    assert shown, "docs/architecture.md has no section 'The shape in one picture'"
    assert [room for room in rooms if not mms.names_room(shown, room)] == []


def test_the_check_runs_as_a_command_and_changes_nothing() -> None:
    before = mms.DOC.read_bytes()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert mms.DOC.read_bytes() == before


# --- what the check catches, on a tree of its own -------------------------------------------


def tree(tmp_path: Path) -> Path:
    pkg = tmp_path / "planloop"
    for rel, lines in {
        "__init__.py": 3,
        "api.py": 100,
        "cli/__init__.py": 10,
        "cli/parser.py": 200,
        "eval/__init__.py": 5,
        "eval/runner.py": 50,
        "eval/suite/t1/repo/calc.py": 40,  # task data, not a module
        "examples/notes.py": 7,  # a folder without __init__.py: modules, not a room
    }.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n" * lines)
    return pkg


DOC = """# arch

## The shape in one picture

```
  cli/ (parser) over eval/ over api.py
```

## Module map

### cli/

| module | lines | its one job |
|---|---:|---|
| `cli/__init__.py` | 10 | the package |
| `cli/parser.py` | 150 | the grammar |

### the rest

| `__init__.py` | 3 | the version |
| `api.py` | 100 | the API |
| `eval/__init__.py` | 5 | the package |
| `eval/runner.py` | 50 | runs |
| `examples/notes.py` | 7 | notes |
"""


def test_the_tree_is_read_with_nested_paths_and_without_the_suite(tmp_path: Path) -> None:
    pkg = tree(tmp_path)
    assert mms.modules(pkg) == {
        "__init__.py": 3,
        "api.py": 100,
        "cli/__init__.py": 10,
        "cli/parser.py": 200,
        "eval/__init__.py": 5,
        "eval/runner.py": 50,
        "examples/notes.py": 7,
    }
    assert mms.subpackages(pkg) == ["cli/", "eval/"]


def test_a_true_map_passes_and_a_count_off_by_little_passes(tmp_path: Path) -> None:
    found = mms.modules(tree(tmp_path))
    true = DOC.replace("| 150 |", "| 200 |")
    assert mms.problems(true, found, ["cli/", "eval/"], sizes=True) == []
    # 15 lines off a 200-line module: under 20 lines
    assert mms.problems(DOC.replace("| 150 |", "| 185 |"), found, [], sizes=True) == []
    # 25 lines off: over 20 lines but under 10% of a 300-line module
    found_big = {**found, "cli/parser.py": 300}
    assert mms.problems(DOC.replace("| 150 |", "| 275 |"), found_big, [], sizes=True) == []


def test_a_count_off_by_more_than_10_percent_and_20_lines_fails(tmp_path: Path) -> None:
    found = mms.modules(tree(tmp_path))
    assert mms.problems(DOC, found, [], sizes=True) == [
        "line count off: cli/parser.py is listed as 150, has 200"
    ]
    assert mms.problems(DOC, found, [], sizes=False) == []  # refreshing fixes it anyway


def test_a_missing_a_gone_and_a_doubled_row_fail(tmp_path: Path) -> None:
    pkg = tree(tmp_path)
    (pkg / "cli" / "render.py").write_text("")
    (pkg / "api.py").unlink()
    doc = DOC.replace("| 150 |", "| 200 |") + "| `eval/runner.py` | 50 | runs again |\n"
    for sizes in (True, False):
        assert mms.problems(doc, mms.modules(pkg), [], sizes=sizes) == [
            "not in the module map: cli/render.py",
            "listed but gone: api.py",
            "listed twice: eval/runner.py",
        ]


def test_a_room_the_picture_does_not_name_fails(tmp_path: Path) -> None:
    pkg = tree(tmp_path)
    (pkg / "lsp").mkdir()
    (pkg / "lsp" / "__init__.py").write_text("")
    doc = DOC.replace("| 150 |", "| 200 |") + "| `lsp/__init__.py` | 0 | the package |\n"
    # named in the module map's heading is not enough: the picture must show it
    doc = doc.replace("### the rest", "### the rest, and lsp/")
    assert mms.problems(doc, mms.modules(pkg), mms.subpackages(pkg), sizes=True) == [
        "the picture does not name lsp/"
    ]
    assert not mms.names_room("see planloop/lsp/ and retrieval/", "lsp/")
    assert not mms.names_room("retrieval/", "eval/")


def test_refresh_rewrites_only_the_counts(tmp_path: Path) -> None:
    found = mms.modules(tree(tmp_path))
    new = mms.refresh(DOC + "| `gone.py` | 12 | gone |\n", found)
    assert "| `cli/parser.py` | 200 | the grammar |" in new
    assert "| `gone.py` | 12 | gone |" in new
    assert new.replace("| 200 |", "| 150 |", 1) == DOC + "| `gone.py` | 12 | gone |\n"

"""Keep docs/architecture.md's module map true to the tree under server/planloop.

The map is one table row per module, ``| `sub/path.py` | lines | its one job |``, the path
relative to ``server/planloop`` (the ``eval/suite/`` task data is not code and is left out).
The counts are how a reader spots a module that grew past a few hundred lines, and the rows
are how they find where a job lives, so a module the map does not list, or a row whose
module is gone, is an error either way.

    python3 scripts/module_map_sizes.py           # rewrite the counts; name missing/gone rows
    python3 scripts/module_map_sizes.py --check   # change nothing; fail on any drift below

Both exit 1 naming every module missing from the map, listed twice, or listed but gone.
``--check`` also fails when a listed count is off by more than 10% *and* more than 20
lines (so the map stays roughly true without every edit needing a doc change), and when
the picture (*The shape in one picture*) does not name a subpackage (a folder with an
``__init__.py``), so a new room cannot land undocumented. ``tests/test_architecture_doc.py``
runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PKG = ROOT / "server" / "planloop"
EXCLUDED = (("eval", "suite"),)  # package data: the bundled eval tasks, not planloop's code
ROW = re.compile(r"^\| `([^`]+\.py)` \| (\d+) \|", re.M)
PICTURE = "## The shape in one picture"
#: a listed count may be off by this much before --check fails: both bounds must be exceeded
TOLERANCE_FRACTION = 0.10
TOLERANCE_LINES = 20


def _excluded(rel: Path) -> bool:
    return any(rel.parts[: len(prefix)] == prefix for prefix in EXCLUDED)


def modules(pkg: Path = PKG) -> dict[str, int]:
    """Every module under ``pkg`` (nested paths as ``cli/parser.py``) → its line count."""
    found = {}
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        if not _excluded(rel):
            found[rel.as_posix()] = len(path.read_text(encoding="utf-8").splitlines())
    return found


def subpackages(pkg: Path = PKG) -> list[str]:
    """Every folder under ``pkg`` with an ``__init__.py``, as ``lsp/`` (nested: ``a/b/``)."""
    return sorted(
        init.parent.relative_to(pkg).as_posix() + "/"
        for init in pkg.rglob("__init__.py")
        if init.parent != pkg and not _excluded(init.parent.relative_to(pkg))
    )


def listed(text: str) -> list[tuple[str, int]]:
    """The map's rows in document order: (module path, listed line count)."""
    return [(m.group(1), int(m.group(2))) for m in ROW.finditer(text)]


def too_far(listed_count: int, actual: int) -> bool:
    off = abs(listed_count - actual)
    return off > TOLERANCE_LINES and off > TOLERANCE_FRACTION * actual


def picture(text: str) -> str:
    """The text of the section *The shape in one picture* (empty when it is missing)."""
    start = text.find(PICTURE)
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(PICTURE))
    return text[start : end if end >= 0 else len(text)]


def names_room(shown: str, room: str) -> bool:
    """Whether ``shown`` names the folder ``room`` (``lsp/``) as a word of its own."""
    return re.search(rf"(?<![\w/.]){re.escape(room)}", shown) is not None


def problems(text: str, found: dict[str, int], rooms: list[str], sizes: bool) -> list[str]:
    """What is wrong with the map (and, with ``sizes``, its counts) against the tree."""
    rows = listed(text)
    names = [name for name, _ in rows]
    out = [f"not in the module map: {name}" for name in sorted(set(found) - set(names))]
    out += [f"listed but gone: {name}" for name in sorted(set(names) - set(found))]
    out += [f"listed twice: {name}" for name in sorted({n for n in names if names.count(n) > 1})]
    if sizes:
        out += [
            f"line count off: {name} is listed as {count}, has {found[name]}"
            for name, count in rows
            if name in found and too_far(count, found[name])
        ]
        shown = picture(text)
        out += [
            f"the picture does not name {room}" for room in rooms if not names_room(shown, room)
        ]
    return out


def refresh(text: str, found: dict[str, int]) -> str:
    """``text`` with every listed module's count replaced by the tree's (gone rows kept)."""

    def count(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in found:
            return m.group(0)
        return f"| `{name}` | {found[name]} |"

    return ROW.sub(count, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; fail on a missing, gone or twice-listed module, a count off by "
        "more than 10%% and 20 lines, or a subpackage the picture does not name",
    )
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    found = modules()
    if args.check:
        found_problems = problems(text, found, subpackages(), sizes=True)
    else:
        new = refresh(text, found)
        if new != text:
            DOC.write_text(new, encoding="utf-8")
        found_problems = problems(new, found, subpackages(), sizes=False)
    for line in found_problems:
        print(f"{DOC.relative_to(ROOT)}: {line}", file=sys.stderr)
    return 1 if found_problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

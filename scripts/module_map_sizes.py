"""Refresh the line counts in docs/architecture.md's module map from the source tree, and
name any module the map does not list (run after moving code: the counts are how a reader
spots a module that grew past a few hundred lines).

    python3 scripts/module_map_sizes.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PKG = ROOT / "server" / "planloop"
ROW = re.compile(r"^\| `([^`]+\.py)` \| \d+ \|", re.M)


def main() -> int:
    text = DOC.read_text()

    def count(m: re.Match[str]) -> str:
        path = PKG / m.group(1)
        if not path.is_file():
            print(f"listed but gone: {m.group(1)}", file=sys.stderr)
            return m.group(0)
        return f"| `{m.group(1)}` | {len(path.read_text().splitlines())} |"

    DOC.write_text(ROW.sub(count, text))
    listed = set(ROW.findall(text))
    modules = {
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*.py")
        if p.relative_to(PKG).parts[:2] != ("eval", "suite")
    }
    for name in sorted(modules - listed):
        print(f"not in the module map: {name}", file=sys.stderr)
    return 1 if modules - listed else 0


if __name__ == "__main__":
    raise SystemExit(main())

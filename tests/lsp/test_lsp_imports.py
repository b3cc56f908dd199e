"""The language server's module structure: no import cycle through an lsp module (any
``import`` counts: module level, TYPE_CHECKING-guarded, function-local), and a lean
``server.py`` (an editor waits for ``initialize``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import planloop

PKG = Path(planloop.__file__).resolve().parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every planloop module ``path`` imports, wherever the import statement is."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("planloop"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("planloop"):
                continue
            for a in node.names:  # ``from . import commands`` imports that module
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    names = set(modules)
    return {m: {i for i in _imports(p, names) if i in names and i != m} for m, p in modules.items()}


def test_no_import_cycle_through_the_language_server() -> None:
    graph = _graph()
    lsp = {m for m in graph if m.startswith("planloop.lsp")}
    cycles = []
    for start in sorted(lsp):
        # a path from one of start's imports back to start is a cycle
        stack = [(n, [start, n]) for n in graph[start]]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            if node == start:
                cycles.append(" -> ".join(path))
                break
            if node in seen:
                continue
            seen.add(node)
            stack.extend((n, [*path, n]) for n in graph.get(node, ()))
    assert not cycles, "\n".join(cycles)


def test_server_module_imports_no_core_at_start_up() -> None:
    code = (
        "import sys; import planloop.lsp.server; "
        "heavy = [m for m in ('pydantic', 'git', 'planloop.loop.orchestrator', 'planloop.api', "
        "'planloop.lsp.commands') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout

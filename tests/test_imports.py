"""The package's import graph: no cycles, and the domain core knows no front end.

Read from the source with :mod:`ast`, nothing is imported: every ``import`` and ``from …
import`` statement counts wherever it stands — at the top, inside a function (a lazy
import is still a dependency) or under ``if TYPE_CHECKING:`` (a type is a dependency
too). Relative imports are resolved against the importing module.

Front ends are the language server (``planloop.lsp``), the CLI (``planloop.cli``), the
ACP agent (``planloop.acp_agent``, with the ACP SDK ``acp``) and the demo
(``planloop.demo``, a scripted CLI session: it prints with rich and receives the CLI's
entry point). Everything else is the domain core.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import planloop

PACKAGE = "planloop"
ROOT = Path(planloop.__file__).resolve().parent
FRONT_ENDS = ("planloop.lsp", "planloop.cli", "planloop.demo", "planloop.acp_agent")
FRONT_END_LIBRARIES = ("pygls", "lsprotocol", "argparse", "rich", "acp")
MODEL_SDKS = ("anthropic", "openai")
#: the MCP SDK, behind planloop.mcp_port
MCP_SDK = ("mcp", "mcp_types")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports, absolute (a module, or a package's attribute)
    line: int


def is_under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def modules() -> dict[str, Path]:
    """Every module of the package: folders without ``__init__.py`` (package data) are not."""
    found: dict[str, Path] = {}

    def walk(folder: Path, dotted: str) -> None:
        for path in sorted(folder.iterdir()):
            if path.is_dir() and (path / "__init__.py").is_file():
                walk(path, f"{dotted}.{path.name}")
            elif path.suffix == ".py":
                found[dotted if path.name == "__init__.py" else f"{dotted}.{path.stem}"] = path

    walk(ROOT, PACKAGE)
    return found


def imports(name: str, path: Path, known: set[str]) -> list[Import]:
    """Every import statement of one module, with relative ones made absolute."""
    is_package = path.name == "__init__.py"
    out: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                assert keep > 0, f"{path}:{node.lineno}: relative import beyond the package"
                base = ".".join(parts[:keep])
                source = f"{base}.{node.module}" if node.module else base
            else:
                assert node.module is not None
                source = node.module
            for alias in node.names:
                # `from pkg import mod` depends on the submodule; `from mod import name` on mod
                sub = f"{source}.{alias.name}"
                out.append(Import(name, sub if sub in known else source, node.lineno))
    return sorted(out, key=lambda i: i.line)


def graph(names: Iterable[str] | None = None) -> dict[str, set[str]]:
    """The intra-package import graph, restricted to ``names`` (default: every module)."""
    mods = modules()
    keep = set(mods) if names is None else set(names)
    edges: dict[str, set[str]] = {m: set() for m in keep}
    for m in keep:
        for imp in imports(m, mods[m], set(mods)):
            target = imp.target
            while target not in mods and "." in target:  # `from planloop.x import Class`
                target = target.rsplit(".", 1)[0]
            if target in keep and target != m and is_under(target, [PACKAGE]):
                edges[m].add(target)
    return edges


def components(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: set[str] = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return sorted(components, key=min)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected component."""
    found: list[list[str]] = []
    for comp in components(edges):
        start = min(comp)
        # shortest way back to `start` inside the component (breadth first)
        paths = {start: [start]}
        queue = [start]
        cycle: list[str] = []
        while queue and not cycle:
            v = queue.pop(0)
            for w in sorted(edges[v] & comp):
                if w == start:
                    cycle = [*paths[v], start]
                    break
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    queue.append(w)
        found.append(cycle)
    return found  # in the order of components()


def show(edges: dict[str, set[str]]) -> str:
    """Each tangle of modules that import each other, its members and their edges."""
    lines = []
    for comp, cycle in zip(components(edges), cycles(edges), strict=True):
        lines.append(f"import cycle: {' → '.join(cycle)}")
        lines += [f"    {m} imports {', '.join(sorted(edges[m] & comp))}" for m in sorted(comp)]
    return "\n".join(lines)


# --- the graph reader itself ---------------------------------------------------------------


def test_the_reader_sees_every_kind_of_import_statement(tmp_path: Path) -> None:
    pkg = tmp_path / "planloop"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import planloop.sub.b\n"
        "if TYPE_CHECKING:\n"
        "    from .sub.b import Thing\n"
        "def f():\n"
        "    from .sub import b\n"
        "    from . import c\n"
    )
    (pkg / "sub" / "b.py").write_text("from ..a import x\n")
    known = {"planloop", "planloop.a", "planloop.c", "planloop.sub", "planloop.sub.b"}
    got = imports("planloop.a", pkg / "a.py", known)
    assert [(i.target, i.line) for i in got if i.target.startswith("planloop")] == [
        ("planloop.sub.b", 2),
        ("planloop.sub.b", 4),  # `Thing` is not a module: the dependency is on b
        ("planloop.sub.b", 6),
        ("planloop.c", 7),
    ]
    assert [i.target for i in imports("planloop.sub", pkg / "sub" / "__init__.py", known)] == [
        "planloop.sub.b"
    ]
    assert [i.target for i in imports("planloop.sub.b", pkg / "sub" / "b.py", known)] == [
        "planloop.a"
    ]


def test_cycles_are_found_and_shown_as_paths() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert cycles(edges) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_of_the_package_is_read() -> None:
    mods = modules()
    assert {"planloop", "planloop.cli", "planloop.demo", "planloop.models.base"} <= set(mods)
    assert "planloop.lsp.server" in mods
    assert not [m for m in mods if ".examples" in m]  # package data, not modules
    assert graph()["planloop.cli"] >= {"planloop.demo"}  # a function-local import counts


# --- the package ----------------------------------------------------------------------------


def test_the_package_has_no_import_cycles() -> None:
    edges = graph()
    found = cycles(edges)
    assert not found, show(edges)


def test_no_import_cycle_outside_the_language_server() -> None:
    """The same, for everything but ``planloop.lsp`` (the language server is split on its own)."""
    edges = graph(m for m in modules() if not is_under(m, ["planloop.lsp"]))
    found = cycles(edges)
    assert not found, show(edges)


def third_party(prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    """Modules that import any of ``prefixes``, each with the lines that do."""
    mods = modules()
    users: dict[str, list[str]] = {}
    for m, path in mods.items():
        for imp in imports(m, path, set(mods)):
            if is_under(imp.target, prefixes):
                users.setdefault(m, []).append(f"{imp.target} (line {imp.line})")
    return users


def test_the_domain_core_knows_no_front_end() -> None:
    mods = modules()
    core = {m for m in mods if not is_under(m, FRONT_ENDS)}
    libraries = {m: why for m, why in third_party(FRONT_END_LIBRARIES).items() if m in core}
    assert libraries == {}, "the core imports a front end's library"
    front = {
        m: sorted(t for t in edges if is_under(t, FRONT_ENDS))
        for m, edges in graph().items()
        if m in core
    }
    assert {m: t for m, t in front.items() if t} == {}, "the core imports a front end"
    # the check would see one: the language server and the CLI do use these libraries
    assert {"planloop.cli", "planloop.lsp.server"} <= set(third_party(FRONT_END_LIBRARIES))


def test_only_the_model_adapters_import_a_model_sdk() -> None:
    users = third_party(MODEL_SDKS)
    outside = {m: why for m, why in users.items() if not is_under(m, ["planloop.models"])}
    assert outside == {}, "a module outside planloop.models imports a model SDK"
    assert "planloop.models.anthropic_adapter" in users  # a lazy import counts


def test_only_the_mcp_client_imports_the_mcp_sdk() -> None:
    users = third_party(MCP_SDK)
    outside = {m: why for m, why in users.items() if not is_under(m, ["planloop.mcp_tools"])}
    assert outside == {}, "a module outside planloop.mcp_tools imports the MCP SDK"
    assert "planloop.mcp_tools.server" in users  # a lazy import counts


# --- the layers -----------------------------------------------------------------------------

# The floors of docs/architecture.md's picture, bottom first. A module may import its own
# room (package or module) and any room on a lower floor, never a neighbour on its own floor
# nor anything above: the tree's folders are the layers, and this keeps them a checked fact.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"document": ("planloop.document",)},
    {
        "shared": (
            "planloop.errors",
            "planloop.validation",
            "planloop.redaction",
            "planloop.cancel",
            "planloop.fsutil",
            "planloop.faults",
            "planloop.approvals",
            "planloop.events",
        )
    },
    {"models": ("planloop.models",)},
    {"config": ("planloop.config", "planloop.trust"), "mcp_port": ("planloop.mcp_port",)},
    {
        "workspace": ("planloop.workspace",),
        "mcp_tools": ("planloop.mcp_tools",),  # the MCP SDK, behind mcp_port
        "checkpoints": ("planloop.checkpoints",),
        "state": ("planloop.state",),
    },
    {"roles": ("planloop.roles",)},
    {"loop": ("planloop.loop",)},
    {"doctor": ("planloop.doctor",)},
    {"api": ("planloop.api",)},
    {"wiring": ("planloop.wiring",)},
    {
        "eval": ("planloop.eval",),
        "demo": ("planloop.demo",),
        "lsp": ("planloop.lsp",),
        "acp": ("planloop.acp_agent",),
    },
    {"cli": ("planloop.cli",)},  # the entry point: starts the demo, eval and the server
]


def room(module: str) -> tuple[int, str] | None:
    """The floor and room of a module; the package root (``__version__``) is shared."""
    if module == PACKAGE:
        return 1, "shared"
    for floor, rooms in enumerate(LAYERS):
        for name, prefixes in rooms.items():
            if is_under(module, prefixes):
                return floor, name
    return None


def layer_violations(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(edges.items()):
        here = room(module)
        if here is None:
            found.append(f"{module} is in no layer (add it to LAYERS)")
            continue
        for target in sorted(targets):
            there = room(target)
            if there is None:
                continue  # reported as the importing module of its own row
            if there[0] > here[0]:
                found.append(f"{module} ({here[1]}) imports {target} ({there[1]}), a floor up")
            elif there[0] == here[0] and there[1] != here[1]:
                found.append(f"{module} ({here[1]}) imports {target} ({there[1]}), a neighbour")
    return found


def test_every_import_points_down_the_layers() -> None:
    assert layer_violations(graph()) == []


def test_the_layer_check_sees_an_import_up_and_one_across() -> None:
    edges = {
        "planloop.document.plan": {"planloop.loop.orchestrator"},
        "planloop.workspace.files": {"planloop.checkpoints.store", "planloop.errors"},
        "planloop.cli": {"planloop.lsp.server"},
        "planloop.stray": set(),
    }
    assert layer_violations(edges) == [
        "planloop.document.plan (document) imports planloop.loop.orchestrator (loop), a floor up",
        "planloop.stray is in no layer (add it to LAYERS)",
        "planloop.workspace.files (workspace) imports planloop.checkpoints.store (checkpoints), "
        "a neighbour",
    ]


def test_each_subpackage_says_its_job_and_what_it_may_import() -> None:
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "import" in doc, f"{init.parent.name}/__init__.py: say what it may import"

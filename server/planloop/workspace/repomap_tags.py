"""What one file defines and uses, read with tree-sitter: the repo map's raw material.

Why apart from the map: tagging is about languages — which grammar package serves a
suffix, which node types are definitions, how to survive a grammar that is missing, of
another version, or that fails on one file — while the map is about ranking and fitting
a budget. Each changes for its own reasons (a new language touches only this module).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from typing import Any

from planloop.workspace.repomap_cache import FileTags, pack_hashes

log = logging.getLogger("planloop.repomap")

#: bigger files are listed by name: generated or vendored code, rarely what a plan needs
MAX_PARSE_BYTES = 512_000
#: suffix → language name
LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
}
#: node types whose ``name`` field is a definition, per language
_DEF_NODES = {
    "python": ["function_definition", "class_definition"],
    "javascript": [
        "function_declaration",
        "class_declaration",
        "method_definition",
        "generator_function_declaration",
    ],
    "typescript": [
        "function_declaration",
        "class_declaration",
        "abstract_class_declaration",
        "method_definition",
        "interface_declaration",
        "type_alias_declaration",
        "enum_declaration",
    ],
    "go": ["function_declaration", "method_declaration", "type_spec"],
    "rust": [
        "function_item",
        "struct_item",
        "enum_item",
        "trait_item",
        "mod_item",
        "macro_definition",
    ],
    "java": [
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "method_declaration",
        "record_declaration",
    ],
}
_DEF_NODES["tsx"] = _DEF_NODES["typescript"]
#: the suffixes of files worth parsing
SUFFIXES = tuple(LANGUAGES)
#: language → (grammar package, its function returning the language)
_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
}
#: node type → one-letter kind (what a definition is, stored instead of its line's text)
KINDS = {
    "function_definition": "f",
    "function_declaration": "f",
    "generator_function_declaration": "f",
    "function_item": "f",
    "class_definition": "c",
    "class_declaration": "c",
    "abstract_class_declaration": "c",
    "method_definition": "m",
    "method_declaration": "m",
    "interface_declaration": "i",
    "type_alias_declaration": "t",
    "type_spec": "t",
    "enum_declaration": "e",
    "enum_item": "e",
    "struct_item": "s",
    "trait_item": "k",
    "mod_item": "d",
    "macro_definition": "x",
    "record_declaration": "r",
}
_REF_NODES = ["identifier", "type_identifier", "field_identifier", "property_identifier"]


class Grammars:
    """tree-sitter languages and their queries, loaded on first use; a language whose
    grammar package is missing is simply listed by file name."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple[Any, Any, Any] | None] = {}

    def get(self, lang: str) -> tuple[Any, Any, Any] | None:
        if lang not in self._loaded:
            self._loaded[lang] = self._load(lang)
        return self._loaded[lang]

    @staticmethod
    def _load(lang: str) -> tuple[Any, Any, Any] | None:
        try:
            import importlib

            import tree_sitter as ts

            module, func = _GRAMMARS[lang]
            raw = getattr(importlib.import_module(module), func)()
            language = ts.Language(raw)
        except Exception as e:  # no grammar installed, or an incompatible one
            log.info("repo map: no %s grammar (%s); its files are listed by name", lang, e)
            return None
        defs = _query(ts, language, [f"({n} name: (_) @name) @def" for n in _DEF_NODES[lang]])
        refs = _query(ts, language, [f"({n}) @ref" for n in _REF_NODES])
        if defs is None or refs is None:
            return None
        return ts.Parser(language), defs, refs


def _query(ts: Any, language: Any, patterns: list[str]) -> Any:
    """One query of the patterns this grammar accepts (node names differ by version)."""
    ok = []
    for p in patterns:
        try:
            ts.Query(language, p)
        except Exception:
            continue
        ok.append(p)
    return ts.Query(language, "\n".join(ok)) if ok else None


def name_hash(name: str) -> int:
    """A name as 31 bits of hash, the top bit set for a private name (``_x``): ranking
    joins uses to definitions on these integers in numpy and needs no name text, and
    4 bytes a name keep the cache small (a rare collision adds one weak edge, no more)."""
    raw = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=4).digest()
    h = int.from_bytes(raw, "little")
    return (h & 0x7FFF_FFFF) | (1 << 31 if name.startswith("_") else 0)


def extract(data: bytes, lang: str, grammars: Grammars) -> FileTags | None:
    """Definitions and the names used, of one file, or None without a grammar."""
    loaded = grammars.get(lang)
    if loaded is None:
        return None
    import tree_sitter as ts

    parser, def_q, ref_q = loaded
    tree = parser.parse(data)
    defs: list[tuple[str, str, int]] = []
    names: set[str] = set()
    for _, caps in ts.QueryCursor(def_q).matches(tree.root_node):
        name_nodes = caps.get("name") or []
        if not name_nodes:
            continue
        node = name_nodes[0]
        name = node.text.decode("utf-8", "replace") if node.text else ""
        if not name or (name in names and len(defs) > 400) or any(c.isspace() for c in name):
            continue
        def_node = (caps.get("def") or name_nodes)[0]
        defs.append((name, KINDS.get(def_node.type, "f"), def_node.start_point[0] + 1))
        names.add(name)
    refs: set[str] = set()
    for node in ts.QueryCursor(ref_q).captures(tree.root_node).get("ref", []):
        if node.text and len(node.text) >= 3:
            refs.add(node.text.decode("utf-8", "replace"))
    used = sorted(refs - names)[:2000]
    return FileTags(
        defs=defs[:400],
        def_hashes=pack_hashes([name_hash(d[0]) for d in defs[:400]]),
        refs=pack_hashes(sorted({name_hash(n) for n in used})),
    )


def _cut(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def tag_file(path: str, rel: str, grammars: Grammars, max_bytes: int) -> FileTags | None:
    """One file's tags, or None when it is to be listed by name only: no grammar for its
    suffix, larger than ``max_bytes``, binary, unreadable, or a grammar that fails on it."""
    lang = LANGUAGES.get(os.path.splitext(rel)[1].lower())
    if lang is None:
        return None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None  # a FIFO or device would block the read; a huge file is generated
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return extract(data, lang, grammars)
    except Exception as e:  # a grammar bug must cost one file, not the map
        log.info("repo map: cannot parse %s (%s); listed by name", rel, e)
        return None

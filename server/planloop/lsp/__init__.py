"""planloop's language server (pygls 2.x, stdio): ``python -m planloop.lsp``.

See ``server.py`` for the wiring and DESIGN.md §7 / the wire contract for the protocol.
Importing this package is cheap; the server and the core load on ``main()``.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from .server import main as _main

    return _main(argv)


__all__ = ["main"]

"""planloop's language server (pygls 2.x, stdio): ``python -m planloop.lsp``.

See ``server.py`` for the wiring, ``contract.py`` for the protocol (docs/protocol.md is
generated from it).
Importing this package is cheap; the server and the core load on ``main()``.

A front end: may import ``api``, ``wiring``, ``config`` and the shared modules, and result
types from below; only the CLI (``planloop serve``) imports it.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from planloop.lsp.server import main as _main

    return _main(argv)


__all__ = ["main"]

"""``python -m planloop.lsp``: the language server on stdio."""

from __future__ import annotations

import sys

from planloop.lsp import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

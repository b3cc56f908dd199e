"""``python -m planloop.cli``: the console script without its installed wrapper."""

from planloop.cli import entry

entry()

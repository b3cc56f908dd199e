"""``python -m planloop.cli``: the console script without its installed wrapper."""

import sys

from planloop.cli import main

sys.exit(main())

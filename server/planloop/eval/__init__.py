"""``planloop eval``: the bundled task suite (``suite/``, read by ``tasks``), the runner that
gives each task a fresh copy and its own worker process (``runner``, ``worker``), and the
cassettes that record and replay model calls (``cassette``).

A front end of its own: may import ``wiring``, ``config``, ``models`` and the shared modules.
"""

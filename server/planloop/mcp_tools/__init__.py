"""MCP servers as tools: the user's own tools (database, tracker, docs) for the two roles.

The concrete side of :mod:`planloop.mcp_port`, on the official SDK (``mcp``): where
servers are defined (``sources``), their names as the model sees them (``names``), one
server's life on its own event loop (``server``), all of them as the port (``hub``),
results made safe to show a model (``condense``) and the once-per-workspace consent a
project's file needs before it starts a process (``consent``).

May import: the shared modules, ``models.base`` (ToolSpec), ``config``/``trust`` and
``mcp_port``; never roles, loop or a front end. Only this package imports the MCP SDK.
"""

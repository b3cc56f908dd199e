"""An MCP server written with the SDK's server API, for the MCP tests: ``python
tests/mcp_server.py MODE [PORT]``.

Modes: ``stdio`` (a good server), ``http PORT`` (the same over streamable HTTP),
``garbage`` (prints non-JSON to stdout, then serves), ``exit`` (exits at once), ``hang``
(reads stdin and never answers initialize). Its tools cover what a server may answer:
text, structured content, an error, 10 MB, binary content, silence, a crash, and a name
with characters the model APIs refuse.
"""

from __future__ import annotations

import base64
import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ImageContent, ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)
ROWS = {7: "order 7: status=broken"}

server = MCPServer("planloop-test")


@server.tool(annotations=READ_ONLY, description="Look up an order row by id.")
def lookup(order_id: int) -> str:
    return ROWS.get(order_id, f"order {order_id}: not found")


@server.tool(description="Set an order's status (writes).")
def set_status(order_id: int, status: str) -> str:
    ROWS[order_id] = f"order {order_id}: status={status}"
    return f"updated order {order_id}"


@server.tool(annotations=READ_ONLY, description="Ten megabytes of text.", structured_output=False)
def big() -> str:
    return "x" * 10_000_000


@server.tool(annotations=READ_ONLY, description="A PNG image.")
def picture() -> ImageContent:
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4).decode()
    return ImageContent(type="image", data=data, mime_type="image/png")


@server.tool(annotations=READ_ONLY, description="Always fails.")
def broken() -> str:
    raise ToolError("the database is on fire")


@server.tool(annotations=READ_ONLY, description="Never answers.")
def silent() -> str:
    time.sleep(3600)
    return "late"


@server.tool(description="Exits the server process (a server that dies mid-run).")
def crash() -> str:
    os._exit(1)


@server.tool(name="docs.search/v2 beta", annotations=READ_ONLY, description="Odd name.")
def odd(query: str) -> str:
    return f"found {query}"


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "exit":
        print("cannot connect to the database", file=sys.stderr)
        sys.exit(3)
    if mode == "hang":
        for _ in sys.stdin:
            pass
        return
    if mode == "garbage":
        print("this is not JSON-RPC at all", flush=True)
        print("{ neither is this", flush=True)
    if mode == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
        return
    server.run("stdio")


if __name__ == "__main__":
    main()

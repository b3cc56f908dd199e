"""Real MCP servers for the MCP tests: the SDK-built one (tests/mcp_server.py) over stdio
and streamable HTTP, the published @modelcontextprotocol/server-filesystem on the Node
the e2e set-up provisions, and plain HTTP endpoints that answer 401 / 500."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SERVER = HERE / "mcp_server.py"
#: where scripts/provision-e2e.sh installs Node and the published MCP server
E2E = Path(os.environ.get("PLANLOOP_E2E_CACHE", HERE.parent / ".cache" / "e2e"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stdio_spec(name: str = "db", mode: str = "stdio", **kw: object) -> object:
    """The SDK-built server over stdio (a :class:`ServerSpec`; imported here, not at the
    top, so conftest's import of this module loads none of planloop)."""
    from planloop.mcp_tools.sources import ServerSpec

    return ServerSpec(name, "stdio", command=sys.executable, args=(str(SERVER), mode), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """The SDK-built server over streamable HTTP, for the whole session: its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the MCP test server exited") from None
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("the MCP test server did not listen")
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(timeout=5)


class _Status(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        code = 401 if self.path.startswith("/401") else 500
        body = b'{"error": "no"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def refusing_http() -> Iterator[str]:
    """An HTTP endpoint that answers 401 under /401 and 500 elsewhere: its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def filesystem_server() -> tuple[str, str] | None:
    """(node, the published filesystem server's script), provisioned by
    scripts/provision-e2e.sh; None when absent (an error under PLANLOOP_E2E=1)."""
    script = E2E / "mcp-servers/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
    node = E2E / "bin" / "node"
    if script.is_file() and node.exists():
        return str(node), str(script)
    node_path = shutil.which("node")
    if os.environ.get("PLANLOOP_E2E") == "1":
        raise RuntimeError(
            "PLANLOOP_E2E=1 but @modelcontextprotocol/server-filesystem is not provisioned: "
            f"run scripts/provision-e2e.sh (node on PATH: {node_path})"
        )
    return None

"""Language server latency: how long an editor waits for planloop.

Measures, in one run:
- spawn → ``initialize`` result, for ``python -m planloop.lsp`` and for a bare pygls
  server written inline (the floor: the interpreter, pygls and lsprotocol alone), runs
  interleaved so machine load hits both alike; the ratio is planloop's own start-up cost;
- the ``planloop.getPlan`` round trip on a 200-step plan written straight into a temp
  workspace's ``.planloop/`` with the store API (median of many, after a warm-up).

Talks raw JSON-RPC over pipes (no client library), so the client's own overhead is a
readline and a json.loads. Prints, last:
``init_ratio=<planloop/bare> init_s=<s> getplan_ms=<median>``. Goals: ratio ≤ 1.3,
getPlan ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import IO, Any

BARE_SERVER = textwrap.dedent(
    """
    from pygls.lsp.server import LanguageServer

    server = LanguageServer("bare", "0")

    @server.command("bare.ping")
    def ping(ls, *args):
        return None

    server.start_io()
    """
)


class Conn:
    """A minimal JSON-RPC client over a child's stdin/stdout."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")}
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
        )
        self._id = 0

    def send(self, method: str, params: Any, *, notify: bool = False) -> int:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            self._id += 1
            msg["id"] = self._id
        body = json.dumps(msg).encode()
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        stdin.flush()
        return self._id

    def wait(self, msg_id: int) -> dict[str, Any]:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            message = _read(stdout)
            if message.get("id") == msg_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message

    def request(self, method: str, params: Any) -> dict[str, Any]:
        return self.wait(self.send(method, params))

    def initialize(self, root: Path) -> float:
        """Seconds from spawn to the initialize result."""
        self.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}},
        )
        took = time.perf_counter() - self.t0
        self.send("initialized", {}, notify=True)
        return took

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.send("exit", None, notify=True)
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def _read(stream: IO[bytes]) -> dict[str, Any]:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("server closed its stdout")
        if line == b"\r\n":
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(stream.read(length))


def write_plan(root: Path, n_steps: int) -> str:
    """A plan of ``n_steps`` steps, stored exactly as planloop stores its own."""
    from planloop.document.plan import Check, Plan, Step
    from planloop.state.record import RunRecord
    from planloop.state.store import PlanStore

    steps = [
        Step(
            id=f"step-{i:03d}",
            title=f"Step {i}: change module {i}",
            instructions=f"Edit src/mod_{i}.py so that function f{i} handles empty input.",
            files=[f"src/mod_{i}.py", f"tests/test_mod_{i}.py"],
            acceptance=[
                Check(kind="command", command=f"python -m pytest -q tests/test_mod_{i}.py")
            ],
            depends_on=[f"step-{i - 1:03d}"] if i else [],
        )
        for i in range(n_steps)
    ]
    plan = Plan(goal=f"A {n_steps}-step benchmark plan", steps=steps)
    store = PlanStore(root)
    store.ensure()
    store.write_version(plan)
    store.set_current(plan.plan_id)
    store.save(RunRecord(plan=plan))
    return plan.plan_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spawns", type=int, default=7, help="initialize samples per server")
    ap.add_argument("--calls", type=int, default=200, help="getPlan round trips to time")
    ap.add_argument("--steps", type=int, default=200, help="steps in the benchmark plan")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="planloop-bench-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        bare = Path(tmp) / "bare_server.py"
        bare.write_text(BARE_SERVER, encoding="utf-8")
        planloop_cmd = [sys.executable, "-m", "planloop.lsp"]
        bare_cmd = [sys.executable, str(bare)]

        # start-up: interleaved, one warm-up of each (disk cache), then medians
        for cmd in (planloop_cmd, bare_cmd):
            c = Conn(cmd, root)
            c.initialize(root)
            c.close()
        init = {"planloop": [], "bare": []}
        for _ in range(args.spawns):
            for name, cmd in (("planloop", planloop_cmd), ("bare", bare_cmd)):
                c = Conn(cmd, root)
                init[name].append(c.initialize(root))
                c.close()
        pl_init = statistics.median(init["planloop"])
        bare_init = statistics.median(init["bare"])

        # getPlan on a big plan
        plan_id = write_plan(root, args.steps)
        c = Conn(planloop_cmd, root)
        c.initialize(root)
        params = {"command": "planloop.getPlan", "arguments": [{}]}
        t = time.perf_counter()
        first = c.request("workspace/executeCommand", params)
        first_ms = (time.perf_counter() - t) * 1000
        assert first["result"]["plan"]["plan_id"] == plan_id
        assert len(first["result"]["plan"]["steps"]) == args.steps
        size_kb = len(json.dumps(first["result"])) / 1024
        for _ in range(10):
            c.request("workspace/executeCommand", params)
        samples = []
        for _ in range(args.calls):
            t = time.perf_counter()
            c.request("workspace/executeCommand", params)
            samples.append((time.perf_counter() - t) * 1000)
        c.close()

    getplan_ms = statistics.median(samples)
    print(
        f"initialize: planloop median {pl_init:.3f} s (min {min(init['planloop']):.3f}), "
        f"bare pygls median {bare_init:.3f} s (min {min(init['bare']):.3f}), "
        f"{args.spawns} spawns each"
    )
    print(
        f"getPlan on {args.steps} steps ({size_kb:.0f} KiB payload): median {getplan_ms:.2f} ms, "
        f"p90 {statistics.quantiles(samples, n=10)[-1]:.2f} ms, first call {first_ms:.0f} ms "
        f"(includes loading the core), {args.calls} calls"
    )
    print(f"init_ratio={pl_init / bare_init:.2f} init_s={pl_init:.3f} getplan_ms={getplan_ms:.2f}")


if __name__ == "__main__":
    main()

"""One eval run, in its own process: copy the task, run planloop on it, run the hidden check.

Started by :mod:`planloop.eval.runner` as ``python -m planloop.eval.worker`` with the path of
the job's JSON file; prints the result as one JSON line on stdout. A process per run is
what makes ``--jobs`` parallel, the per-task timeout a clean kill of the whole process
group, and a run's scripted-model state and cost ledger its own.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from planloop.approvals import AutoApprover
from planloop.config import load_config
from planloop.errors import PlanloopError
from planloop.eval.cassette import Cassette
from planloop.models.base import Model
from planloop.wiring import build_orchestrator, command_sandbox
from planloop.workspace.commands import run_command
from planloop.workspace.sandbox import CommandSandbox

ROLES = ("planner", "executor", "joint")
CHECK_OUTPUT_MAX = 2000


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    work = Path(job["work"])
    shutil.copytree(job["repo"], work, ignore=shutil.ignore_patterns(".planloop"))
    over: dict[str, Any] = {"mode": job["mode"]}
    if job.get("planner"):
        over["planner"] = job["planner"]
    if job.get("executor"):
        over["executor"] = job["executor"]
    out: dict[str, Any] = {"state": "error", "reason": "", "error": None}
    cassette = Cassette(config=job.get("config"))
    replay = Path(job["replay"]) if job.get("replay") else None
    if replay is not None:
        cassette = Cassette.load(replay)
        # the cassette answers every call: no model is built, so a replay needs neither
        # the model flags it was recorded with nor their keys
        over.pop("planner", None)
        over.pop("executor", None)
    root = work.resolve()

    def wrap(model: Model, role: str) -> Model:
        if job.get("record"):
            return cassette.recorder(model, role, root)
        return model

    def replayed(role: str) -> Model:
        assert replay is not None
        return cassette.player(role, root, replay)

    t0 = time.monotonic()
    orch = None
    try:
        config = load_config(work, over, trusted=True)  # planloop's own task suite
        orch = build_orchestrator(
            work,
            config=config,
            approver=AutoApprover(by="eval"),
            wrap_model=wrap,
            model_for=replayed if replay is not None else None,
            wrap_mcp=(
                (lambda _live: cassette.mcp_player(replay))
                if replay is not None
                else cassette.mcp_recorder
                if job.get("record")
                else None
            ),
        )
        orch.create_plan(job["goal"])
        res = orch.run(all_steps=True)
        out.update(state=res.state, reason=res.reason)
    except PlanloopError as e:
        out.update(state="error", reason=str(e), error=f"{e.kind}: {e}")
    out["wall_s"] = round(time.monotonic() - t0, 3)
    if job.get("record"):
        cassette.save(Path(job["record"]))
    out.update(_measures(orch))
    try:
        sandbox = command_sandbox(root, load_config(work, over, trusted=True))
        out.update(_hidden_check(job, work, sandbox))
    except PlanloopError as e:  # a broken setting or no sandbox: the check cannot run
        out.update(solved=False, check_error=str(e))
    return out


def _measures(orch: Any) -> dict[str, Any]:
    tokens = {r: {"input": 0, "output": 0} for r in ROLES}
    m: dict[str, Any] = {"tokens": tokens, "cost_usd": 0.0, "replans": 0, "steps": 0, "mode": None}
    if orch is None:
        return m
    calls = 0
    cost = 0.0
    for role in ROLES:
        u = orch.ledger.total(role)
        tokens[role] = {"input": u.input_tokens, "output": u.output_tokens}
        calls += u.calls
        cost += u.cost_usd
    m["model_calls"] = calls
    m["cost_usd"] = round(cost, 6)
    rec = orch.store.load_or_none()
    if rec is not None:
        m["replans"] = rec.replans_used
        m["steps"] = len(rec.plan.steps)
        first = orch.store.read_version(rec.plan.plan_id, 1)
        m["mode"] = first.mode
        m["final_mode"] = rec.plan.mode
    return m


def _hidden_check(job: dict[str, Any], work: Path, sandbox: CommandSandbox) -> dict[str, Any]:
    """The task's hidden tests run the code the model wrote: in the sandbox, like a check."""
    hidden = Path(job["hidden"])
    if hidden.is_dir():
        shutil.copytree(hidden, work, dirs_exist_ok=True)
    # `python` in a check is the interpreter planloop runs on, as in the demo
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    res = run_command(job["check"], cwd=work, timeout_s=job["check_timeout_s"], sandbox=sandbox)
    if res.timed_out:
        return {
            "solved": False,
            "check_error": f"the hidden check did not finish in {job['check_timeout_s']} s",
        }
    output = res.output.strip()[-CHECK_OUTPUT_MAX:]
    if res.exit_code in (126, 127):
        return {
            "solved": False,
            "check_output": output,
            "check_error": f"the hidden check did not run (exit {res.exit_code}): "
            + (output.splitlines()[-1] if output else job["check"]),
        }
    return {"solved": res.exit_code == 0, "check_output": output, "check_error": None}


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    try:
        result = run_job(job)
    except PlanloopError as e:
        result = {"state": "error", "reason": str(e), "error": f"{e.kind}: {e}", "solved": False}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

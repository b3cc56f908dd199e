"""``planloop eval``'s core: run a task set under one or more configurations and report.

Every run happens in a temporary copy of its task (all under one temporary folder,
removed however the eval ends), in its own worker process (:mod:`planloop.eval.worker`), at most
``jobs`` at a time. A run that outlives its task's ``timeout_s`` is killed (its whole
process group) and reported as timed out; an interrupt (Ctrl-C) kills the workers and
returns the runs finished so far, marked ``interrupted``, so a partial report is still
written.

Solved means the task's hidden check passed, not that planloop thought it was done.
Scripted models (the starter set's offline scripts) measure the harness: calls, tokens
the scripts declare, wall time, re-plans — not how good a model is.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planloop.eval.cassette import Cassette
from planloop.eval.tasks import MODES, EvalError, Task

ROLES = ("planner", "executor", "joint")
REPORT_VERSION = 1


@dataclass(frozen=True)
class EvalConfig:
    """One configuration: a mode and, optionally, real models (else each task's scripts)."""

    mode: str
    planner: str | None = None
    executor: str | None = None

    @property
    def label(self) -> str:
        if self.planner or self.executor:
            return f"{self.mode}[{self.planner or '-'}|{self.executor or '-'}]"
        return self.mode


@dataclass
class RunReport:
    task: str
    config: str
    repeat: int
    solved: bool = False
    state: str = "error"
    reason: str = ""
    mode: str | None = None
    final_mode: str | None = None
    cost_usd: float = 0.0
    tokens: dict[str, dict[str, int]] = field(
        default_factory=lambda: {r: {"input": 0, "output": 0} for r in ROLES}
    )
    model_calls: int = 0
    wall_s: float = 0.0
    replans: int = 0
    steps: int = 0
    error: str | None = None
    check_error: str | None = None
    check_output: str = ""
    timed_out: bool = False
    interrupted: bool = False

    @property
    def judged(self) -> bool:
        """The run finished and its hidden check ran (solved or not)."""
        return not (self.timed_out or self.interrupted or self.check_error or self.error)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task": self.task,
            "config": self.config,
            "repeat": self.repeat,
            "solved": self.solved,
            "state": self.state,
            "mode": self.mode,
            "final_mode": self.final_mode,
            "cost_usd": self.cost_usd,
        }
        for r in ROLES:
            out[f"{r}_input_tokens"] = self.tokens[r]["input"]
            out[f"{r}_output_tokens"] = self.tokens[r]["output"]
        out.update(
            model_calls=self.model_calls,
            wall_s=self.wall_s,
            replans=self.replans,
            steps=self.steps,
            timed_out=self.timed_out,
            interrupted=self.interrupted,
            # why the run ended as it did: a csv without it says "error" but not which
            reason=self.reason,
            error=self.error or self.check_error or "",
        )
        return out


@dataclass
class Totals:
    runs: int = 0
    solved: int = 0
    cost_usd: float = 0.0
    tokens: dict[str, dict[str, int]] = field(
        default_factory=lambda: {r: {"input": 0, "output": 0} for r in ROLES}
    )
    model_calls: int = 0
    wall_s: float = 0.0
    replans: int = 0
    steps: int = 0
    unjudged: int = 0

    def add(self, r: RunReport) -> None:
        self.runs += 1
        self.solved += int(r.solved)
        self.cost_usd = round(self.cost_usd + r.cost_usd, 6)
        for role in ROLES:
            for k in ("input", "output"):
                self.tokens[role][k] += r.tokens[role][k]
        self.model_calls += r.model_calls
        self.wall_s = round(self.wall_s + r.wall_s, 3)
        self.replans += r.replans
        self.steps += r.steps
        self.unjudged += int(not r.judged)


@dataclass
class EvalReport:
    configs: list[str]
    runs: list[RunReport]
    interrupted: bool = False

    def totals(self) -> dict[str, Totals]:
        out = {c: Totals() for c in self.configs}
        for r in self.runs:
            out[r.config].add(r)
        return out

    @property
    def all_judged(self) -> bool:
        return not self.interrupted and all(r.judged for r in self.runs)

    def comparable(self) -> dict[str, Any]:
        """What must not change between a recorded run and its replay (no wall times)."""
        keep = (
            *("task", "config", "repeat", "solved", "state", "mode", "cost_usd", "tokens"),
            *("model_calls", "replans", "steps"),
        )
        return {
            "tasks": [{k: getattr(r, k) for k in keep} for r in self.runs],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "interrupted": self.interrupted,
            "configs": self.configs,
            "tasks": [{**r.row(), "tokens": r.tokens} for r in self.runs],
            "totals": {c: t.__dict__ for c, t in self.totals().items()},
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    def write_csv(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [r.row() for r in self.runs]
        fields = list(RunReport("", "", 0).row())
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)


Progress = Callable[[int, int, RunReport], None]


@dataclass
class _Spec:
    task: Task
    config: EvalConfig
    repeat: int
    work: Path
    cassette: Path | None
    #: the configuration's name in the report (a replay: the one that recorded it)
    label: str


def _cassette_path(root: Path, task: Task, config: EvalConfig, repeat: int) -> Path:
    """``DIR/<task>/<mode>-r<N>.json``: by the mode alone, not the model flags, so a replay
    finds what a record wrote without repeating them (a replay asks no model)."""
    return root / task.name / f"{config.mode}-r{repeat}.json"


def check_options(configs: list[EvalConfig], repeat: int, jobs: int) -> None:
    if jobs < 1:
        raise EvalError(f"--jobs {jobs}: run at least 1 task at a time")
    if repeat < 1:
        raise EvalError(f"--repeat {repeat}: run each task at least once")
    if not configs:
        raise EvalError("no configuration to run")
    for c in configs:
        if c.mode not in MODES:
            raise EvalError(f"mode {c.mode!r} is not one of {', '.join(MODES)}")
    labels = [c.label for c in configs]
    if len(set(labels)) != len(labels):
        raise EvalError(f"the same configuration twice: {', '.join(labels)}")


def run_eval(
    tasks: list[Task],
    configs: list[EvalConfig],
    *,
    repeat: int = 1,
    jobs: int = 1,
    record: Path | None = None,
    replay: Path | None = None,
    on_progress: Progress | None = None,
    python: str = sys.executable,
) -> EvalReport:
    """Run every task under every configuration ``repeat`` times; see the module docstring."""
    check_options(configs, repeat, jobs)
    if record is not None and replay is not None:
        raise EvalError("--record and --replay exclude each other")
    modes = [c.mode for c in configs]
    if (record or replay) and len(set(modes)) != len(modes):
        raise EvalError("--record/--replay: cassettes are named by mode; give each mode once")
    for c in configs:
        if c.planner is None or c.executor is None:
            missing = [t.name for t in tasks if c.mode not in t.scripts]
            if missing and replay is None:
                raise EvalError(
                    f"task {missing[0]} has no scripted model for mode {c.mode}; "
                    "give --planner and --executor to run it with real models"
                )
    tmp = Path(tempfile.mkdtemp(prefix="planloop-eval-"))
    specs: list[_Spec] = []
    labels: dict[str, str] = {}
    for c in configs:
        for t in tasks:
            for rep in range(1, repeat + 1):
                work = tmp / f"{len(specs):03d}" / t.name
                cas = None
                label = c.label
                if record is not None:
                    cas = _cassette_path(record, t, c, rep)
                elif replay is not None:
                    cas = _cassette_path(replay, t, c, rep)
                    # a bad cassette fails before any run starts; the report names the
                    # configuration that recorded it, as the recorded report did
                    label = Cassette.load(cas).config or label
                    labels.setdefault(c.label, label)
                specs.append(_Spec(t, c, rep, work, cas, label))
    report = EvalReport([labels.get(c.label, c.label) for c in configs], [])
    done: dict[int, RunReport] = {}
    running: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    queue = list(range(len(specs)))
    try:
        while queue or running:
            while queue and len(running) < jobs:
                i = queue.pop(0)
                running[i] = (_start(specs[i], python, record is not None), time.monotonic())
            time.sleep(0.02)
            for i, (proc, started) in list(running.items()):
                spec = specs[i]
                if proc.poll() is None:
                    if time.monotonic() - started > spec.task.timeout_s:
                        _kill(proc)
                        r = _base(spec)
                        r.timed_out = True
                        r.wall_s = round(time.monotonic() - started, 3)
                        r.error = f"timed out after {spec.task.timeout_s:g} s (task timeout_s)"
                    else:
                        continue
                else:
                    r = _result(spec, proc)
                del running[i]
                done[i] = r
                if on_progress:
                    on_progress(len(done), len(specs), r)
    except KeyboardInterrupt:
        report.interrupted = True
        for proc, _ in running.values():
            _kill(proc)
        for i in [*running, *queue]:
            r = _base(specs[i])
            r.interrupted = True
            r.error = "interrupted before it finished"
            done[i] = r
    finally:
        for proc, _ in running.values():
            _kill(proc)
        _remove(tmp)
    report.runs = [done[i] for i in sorted(done)]
    return report


def _remove(tmp: Path, wait_s: float = 3.0, quiet_s: float = 0.1) -> None:
    """The runs' copies, gone. A killed worker's sandboxed command runs in a session of its
    own and dies only when the kernel delivers its parent's death: a file it still writes
    can make one removal fail or come back, so the removal goes on until the copies stay
    gone for ``quiet_s`` (at most ``wait_s``)."""
    end = time.monotonic() + wait_s
    gone_since: float | None = None
    while time.monotonic() < end:
        if tmp.exists():  # (still, or again since the last look)
            shutil.rmtree(tmp, ignore_errors=True)
            gone_since = None
        elif gone_since is None:
            gone_since = time.monotonic()
        elif time.monotonic() - gone_since >= quiet_s:
            return
        time.sleep(0.02)


def _base(spec: _Spec) -> RunReport:
    return RunReport(task=spec.task.name, config=spec.label, repeat=spec.repeat)


def _start(spec: _Spec, python: str, recording: bool) -> subprocess.Popen[bytes]:
    t, c = spec.task, spec.config
    script = t.scripts.get(c.mode)
    job = {
        "work": str(spec.work),
        "repo": str(t.repo),
        "hidden": str(t.hidden),
        "goal": t.goal,
        "check": t.check,
        "check_timeout_s": t.check_timeout_s,
        "mode": c.mode,
        "config": spec.label,
        "planner": c.planner or (f"scripted:{script}" if script else None),
        "executor": c.executor or (f"scripted:{script}" if script else None),
        "record": str(spec.cassette) if recording and spec.cassette else None,
        "replay": str(spec.cassette) if not recording and spec.cassette else None,
    }
    spec.work.parent.mkdir(parents=True, exist_ok=True)
    box = spec.work.parent
    (box / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PLANLOOP_MODE"}
    # output to files, not pipes: a chatty worker must not block on a full pipe
    with (box / "out.txt").open("wb") as out, (box / "err.txt").open("wb") as err:
        return subprocess.Popen(
            [python, "-m", "planloop.eval.worker", str(box / "job.json")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the runner, which ends the workers
        )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _result(spec: _Spec, proc: subprocess.Popen[bytes]) -> RunReport:
    proc.wait()
    box = spec.work.parent
    out = (box / "out.txt").read_text(encoding="utf-8", errors="replace")
    err = (box / "err.txt").read_text(encoding="utf-8", errors="replace")
    r = _base(spec)
    lines = out.strip().splitlines()
    try:
        data: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        data = {}
    if not data:
        last = (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        r.error = f"the run's worker failed: {last}"
        return r
    for key in ("solved", "state", "reason", "mode", "final_mode", "cost_usd", "wall_s"):
        if key in data and data[key] is not None:
            setattr(r, key, data[key])
    for key in ("model_calls", "replans", "steps"):
        setattr(r, key, int(data.get(key) or 0))
    if isinstance(data.get("tokens"), dict):
        r.tokens.update(data["tokens"])
    r.error = data.get("error")
    r.check_error = data.get("check_error")
    r.check_output = data.get("check_output") or ""
    return r

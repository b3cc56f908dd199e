"""``.planloop/`` on disk: plan versions, the run record, the event log, the run lock.

Why this shape (DESIGN §5, with one addition):
- ``plans/<id>/vN.json`` are the versions the plan has had — v1 as the planner drafted
  it (before its review), every later one when it was approved — written once and never
  overwritten, so the history of a plan is an audit trail rather than whatever the last
  save left. Rejected proposals live only in the event log.
- ``plans/<id>/run.json`` (the addition) is the live record: the current version with
  step statuses and results, the run state and any question awaiting an answer. It is
  the only file rewritten, always atomically (temp file + ``os.replace``).
- ``plans/<id>/log.jsonl`` is append-only and written *before* the orchestrator acts on
  a transition, so a crash at any point leaves a log that says what was about to happen.
- A file that fails to parse or validate raises :class:`StoreError` naming it; nothing
  is rewritten over it, so a hand edit is never silently lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import BusyError, NoPlanError, StoreError
from .events import Event, to_dict
from .plan import (
    Plan,
    RoleUsage,
    RunState,
    Trigger,
    cost_text,
    now_iso,
    render_markdown,
    total_usage,
)
from .validation import describe

DIRNAME = ".planloop"

M = TypeVar("M", bound=BaseModel)


class Pending(BaseModel):
    """A question the run is waiting on; persisted so another process can answer it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["plan", "revision", "pause", "budget"]
    reason: str
    evidence: list[str] = Field(default_factory=list)
    step_id: str | None = None
    version: int | None = None
    trigger: Trigger | None = None
    proposal: Plan | None = None
    asked_at: str = Field(default_factory=now_iso)


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: Plan
    state: RunState = "idle"
    reason: str = ""
    pending: Pending | None = None
    replans_used: int = 0
    usd_allowed: float | None = None
    plan_approved: bool = False
    workspace_baseline: dict[str, bool] = Field(default_factory=dict)
    planner_usage: RoleUsage = Field(default_factory=RoleUsage)
    #: cost of step attempts no longer in the plan (replaced by a revision)
    spent_outside_steps: float = 0.0
    #: tokens (and unpriced calls) of those replaced attempts, beside their dollars above
    usage_outside_steps: RoleUsage = Field(default_factory=RoleUsage)
    #: set when a token budget was approved past ``budgets.tokens``
    tokens_allowed: int | None = None
    updated_at: str = Field(default_factory=now_iso)

    @property
    def cost_usd(self) -> float:
        """Everything the run has spent: steps of the current plan, planner, replaced steps."""
        return round(self.plan.cost_usd + self.planner_usage.cost_usd + self.spent_outside_steps, 6)

    @property
    def usage(self) -> RoleUsage:
        """Every billed turn of the run, whatever model: its tokens and unpriced calls."""
        steps = [u for s in self.plan.steps if s.result for u in s.result.usage.values()]
        return total_usage([*steps, self.planner_usage, self.usage_outside_steps])

    @property
    def cost_known(self) -> bool:
        return self.usage.cost_known

    @property
    def cost_text(self) -> str:
        return cost_text(self.cost_usd, self.usage)


def atomic_write(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class PlanStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / DIRNAME

    # --- layout --------------------------------------------------------------------

    def ensure(self) -> None:
        (self.dir / "plans").mkdir(parents=True, exist_ok=True)
        gi = self.dir / ".gitignore"
        if not gi.exists():
            gi.write_text("*\n", encoding="utf-8")

    def plan_dir(self, plan_id: str) -> Path:
        return self.dir / "plans" / plan_id

    def current_id(self) -> str | None:
        p = self.dir / "current"
        if not p.is_file():
            return None
        pid = p.read_text(encoding="utf-8").strip()
        if not pid:
            return None
        if not self.plan_dir(pid).is_dir():
            raise StoreError(f"{p} points to plan {pid!r}, but {self.plan_dir(pid)} is missing")
        return pid

    def set_current(self, plan_id: str) -> None:
        atomic_write(self.dir / "current", plan_id + "\n")

    def plan_ids(self) -> list[str]:
        d = self.dir / "plans"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    # --- the live record ----------------------------------------------------------------

    def load(self, plan_id: str | None = None) -> RunRecord:
        pid = plan_id or self.current_id()
        if pid is None:
            raise NoPlanError()
        path = self.plan_dir(pid) / "run.json"
        return _read_model(path, RunRecord)

    def load_or_none(self) -> RunRecord | None:
        try:
            return self.load()
        except NoPlanError:
            return None

    def save(self, rec: RunRecord) -> None:
        rec.updated_at = now_iso()
        d = self.plan_dir(rec.plan.plan_id)
        atomic_write(d / "run.json", rec.model_dump_json(indent=2))
        atomic_write(d / "plan.md", render_markdown(rec.plan))

    # --- versions ----------------------------------------------------------------------

    def write_version(self, plan: Plan) -> Path:
        """Record an approved version; refuses to replace a different one already there."""
        path = self.plan_dir(plan.plan_id) / f"v{plan.version}.json"
        data = plan.model_dump_json(indent=2)
        if path.exists():
            existing = _read_model(path, Plan)
            if existing.model_dump() != Plan.model_validate_json(data).model_dump():
                raise StoreError(
                    f"{path} already exists with other content; versions are never overwritten"
                )
            return path
        atomic_write(path, data)
        return path

    def versions(self, plan_id: str) -> list[int]:
        d = self.plan_dir(plan_id)
        out = []
        for p in d.glob("v*.json"):
            with contextlib.suppress(ValueError):
                out.append(int(p.stem[1:]))
        return sorted(out)

    def read_version(self, plan_id: str, version: int) -> Plan:
        path = self.plan_dir(plan_id) / f"v{version}.json"
        if not path.exists():
            have = ", ".join(f"v{v}" for v in self.versions(plan_id)) or "none"
            raise StoreError(f"plan {plan_id} has no version {version} (versions: {have})")
        return _read_model(path, Plan)

    # --- event log ----------------------------------------------------------------------

    def log(self, plan_id: str, event: Event) -> None:
        """Append one event, durably, before the transition it describes is acted on."""
        line = json.dumps(to_dict(event), ensure_ascii=False, default=str)
        path = self.plan_dir(plan_id) / "log.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def events(self, plan_id: str) -> list[dict[str, Any]]:
        path = self.plan_dir(plan_id) / "log.jsonl"
        if not path.exists():
            return []
        out = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise StoreError(f"{path}:{n}: not a JSON event ({e.msg})") from e
        return out

    # --- one run at a time ------------------------------------------------------------------

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[None]:
        """An OS lock, so a second process (another window, a CLI) gets a clear refusal.

        ``flock`` is released by the kernel when a process dies, so a killed run never
        leaves the workspace locked.
        """
        self.ensure()
        path = self.dir / "run.lock"
        f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the with-block
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise BusyError(
                    f"a planloop run is already in progress in {self.root} ({holder}); "
                    "wait for it to finish or cancel it"
                ) from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}")
            f.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()


def _read_model(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot read: {e}") from e
    try:
        return model.model_validate_json(text)
    except ValidationError as e:
        raise StoreError(
            f"{path} is corrupt or was edited into an invalid shape ({describe(e, limit=1)}); "
            "planloop left it as it is — fix it, or move it aside to start that plan afresh"
        ) from e

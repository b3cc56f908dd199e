"""The one core API both front ends call: queries and commands over a workspace's plan.

The CLI and the language server are translations of this class — arguments in,
results out — so an action exists in both or in neither, and neither reaches into
the orchestrator, the store, the checkpoint repository or its ref names. Build one
with :func:`planloop.wiring.open_session`.

Queries read the stored record and need no model, API key or lock; commands that
change the run take the workspace's run lock (through the orchestrator).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from planloop.cancel import CancelToken
from planloop.checkpoints.store import FileDiff, RevertResult
from planloop.config import Config
from planloop.document.edits import EditResult, check_edit
from planloop.document.markdown import render_markdown
from planloop.document.plan import Plan, RunMode, Step
from planloop.errors import InvalidRequestError, StoreError, UnknownStepError
from planloop.loop.orchestrator import Orchestrator, RunResult
from planloop.loop.results import ReplanResult, Status
from planloop.roles.questions import Answerer, PendingQuestion, WaitingForAnswer
from planloop.state.record import RunRecord
from planloop.state.store import EventLog

if TYPE_CHECKING:  # the doctor's checks load only when a doctor runs
    from planloop.doctor import McpServerCheck, ModelCheck, SandboxCheck

Side = Literal["before", "after"]


@dataclass(frozen=True)
class StepDiff:
    step: Step
    files: list[FileDiff]
    before: str
    after: str


@dataclass(frozen=True)
class CleanResult:
    freed_bytes: int
    in_use_bytes: int


@dataclass(frozen=True)
class StatusView:
    """What ``status`` shows: the run record's summary plus checkpoint disk use."""

    status: Status
    checkpoints_bytes: int


class Session:
    def __init__(self, orchestrator: Orchestrator) -> None:
        self._o = orchestrator

    @property
    def config(self) -> Config:
        return self._o.config

    @property
    def root(self) -> Path:
        return self._o.root

    def check_models(self) -> list[ModelCheck]:
        """Each role's model, endpoint and key presence, proven by one tiny live request."""
        from planloop.doctor import check_models

        models = self._o.models()  # the current plan's, as a run would use them
        roles = self._o.roles
        return check_models(
            {"planner": models["planner"].spec, "executor": models["executor"].spec},
            {
                "planner": lambda: roles.fresh_model("planner"),
                "executor": lambda: roles.fresh_model("executor"),
            },
        )

    def models(self, *, new_plan: bool = False) -> dict[str, str]:
        """Each role's model spec as the next command would run it: for a new plan (flags,
        else settings, else defaults), else for the current plan, which remembers the
        models it was planned and run with (``config.choose_model`` has the order)."""
        return {role: c.spec for role, c in self._o.models(new_plan=new_plan).items()}

    def check_mcp(self) -> list[McpServerCheck]:
        """Each MCP server started as a run would start it (a project's file only with the
        consent already given: the doctor asks nobody), then stopped."""
        from planloop.doctor import check_mcp

        return check_mcp(self._o.mcp, None)

    def check_sandbox(self) -> SandboxCheck:
        """Whether model commands can run sandboxed here (one trivial sandboxed command)."""
        from planloop.doctor import check_sandbox

        return check_sandbox(self._o.ws.sandbox)

    # --- queries ------------------------------------------------------------------------

    def status(self) -> Status:
        return self._o.status()

    def status_view(self) -> StatusView:
        return StatusView(self._o.status(), self._o.cp.disk_usage())

    def run_in_progress(self) -> bool:
        """Whether a live process holds this workspace's run lock."""
        return self._o.store.run_in_progress()

    def record(self, plan_id: str | None = None) -> RunRecord:
        """The stored run record of ``plan_id`` (default: the current plan)."""
        return self._o.store.load(plan_id)

    def current_plan_id(self) -> str | None:
        return self._o.store.current_id()

    def plan_ids(self) -> list[str]:
        return self._o.store.plan_ids()

    def plan(self, version: int | None = None) -> Plan:
        """The current plan, or one of its recorded versions.

        A version that was never recorded is an ordinary "no such version" naming the
        ones that exist and a re-plan awaiting approval (:meth:`pending_proposal` reads
        that one): it is not damage, so the message does not say a file is missing."""
        current = self._o.status().plan
        if version is None:
            return current
        have = self._o.store.versions(current.plan_id)
        if version not in have and not 1 <= version <= current.version:
            # beyond the current version: never recorded (below it, a missing file is
            # damage, and the store's message names the file)
            pending = self.pending_proposal()
            names = ", ".join(f"v{v}" for v in have) or "none"
            if pending is not None:
                names += f"; v{pending.version} proposed, awaiting approval"
            raise InvalidRequestError(
                f"plan {current.plan_id} has no version {version} (versions: {names})",
                kind="not_found",
            )
        return self._o.store.read_version(current.plan_id, version)

    def pending_proposal(self) -> Plan | None:
        """The re-plan awaiting approval (None: none is waiting). It is not a version
        yet — versions are written when approved — but a person decides on it, so it
        must be readable before the decision."""
        pending = self._o.status().pending
        if pending is None or pending.kind != "revision":
            return None
        return pending.proposal

    def versions(self) -> list[int]:
        return self._o.store.versions(self._o.status().plan.plan_id)

    def diff(self, step_id: str) -> StepDiff:
        """Everything the step changed over all its attempts (first before → last after,
        or the workspace now for an attempt that was killed or is running)."""
        span, files = self._o.step_diff(step_id)
        return StepDiff(span.step, files, span.before, span.after)

    def file_at(self, checkpoint: str, path: str) -> bytes | None:
        """A file's bytes at a checkpoint (None: the file did not exist there)."""
        return self._o.file_at_checkpoint(checkpoint, path)

    def file_at_step(self, step_id: str, path: str, side: Side = "after") -> bytes | None:
        """A file as it was before the step's first attempt or as its last one left it."""
        # the checkpoints alone, not a diff of the whole step: cat on a large step stays cheap
        span = self._o.step_span(step_id)
        return self._o.file_at_checkpoint(span.before if side == "before" else span.after, path)

    def log(self, plan_id: str | None = None) -> list[dict[str, Any]]:
        """Every readable event of a plan (default: the current one), oldest first."""
        return self.event_log(plan_id).events

    def event_log(self, plan_id: str | None = None) -> EventLog:
        """As :meth:`log`, with the lines that had to be skipped (torn, not UTF-8)."""
        pid = plan_id or self._current_plan_id()
        if pid not in self._o.store.plan_ids():
            raise InvalidRequestError(f"no plan {pid!r}")
        return self._o.store.read_log(pid)

    def _current_plan_id(self) -> str:
        """The current plan's id, read from ``current`` alone: the log of a plan whose
        run record is damaged is the first thing a person wants to read."""
        pid = self._o.store.current_id()
        if pid is None:
            return self._o.status().plan.plan_id  # raises "no plan yet"
        return pid

    def problems(self) -> list[str]:
        """What is wrong on disk without stopping anything, one line each (e.g. .gitignore)."""
        return self._o.store.problems()

    # --- commands -----------------------------------------------------------------------

    def create_plan(
        self, goal: str, cancel: CancelToken | None = None, answerer: Answerer | None = None
    ) -> Plan:
        """Plan v1. The planner may ask ``answerer`` (default: nobody); a question nobody
        answers now raises :class:`WaitingForAnswer` and is kept for :meth:`answer`."""
        return self._o.create_plan(goal, cancel, answerer)

    def pending_question(self) -> PendingQuestion | None:
        """The planner's question waiting for an answer (None: none is waiting)."""
        return self._o.pending_question()

    def answer(
        self,
        text: str,
        *,
        by: str,
        cancel: CancelToken | None = None,
        answerer: Answerer | None = None,
    ) -> Plan:
        """Answer the waiting question; planning goes on in the planner's saved conversation."""
        return self._o.answer(text, by=by, cancel=cancel, answerer=answerer)

    def edit_plan(self, text: str, *, author: str = "user") -> Plan:
        """Apply an edit of the plan document (the Markdown ``show`` prints) as the next
        version, authored by ``author``; no approval asked.

        Raises :class:`~planloop.errors.PlanEditError` (every problem with its line) when
        the edit breaks a rule, :class:`~planloop.errors.BusyError` while a step runs;
        either way nothing is written. An edit that changes nothing returns the current
        plan unchanged (same version)."""
        return self._o.edit_plan(text, author=author)

    def check_edit(self, text: str, *, author: str = "user") -> EditResult:
        """What :meth:`edit_plan` would do with ``text``, writing nothing: its problems
        (each with its line), or the version it would record (the CLI shows it as a diff
        before asking; the language server turns the problems into diagnostics)."""
        return check_edit(text, self.plan(), author=author)

    def keep_edit(self, text: str, *, reuse: bool = False) -> Path:
        """Keep an edit that was not applied (``.planloop/edits/<timestamp>.md``; with
        ``reuse``, an already kept copy of the same text)."""
        return self._o.store.keep_edit(text, reuse=reuse)

    def document_edit(self) -> str | None:
        """``.planloop/plan.md``'s text when a person changed it since planloop wrote it
        (None: it is planloop's own). planloop never writes over such a text; a front end
        applies it (:meth:`adopt_document_edit`) or says why it cannot."""
        return self._o.store.document_edit()

    def adopt_document_edit(self, *, author: str) -> Plan | None:
        """Make a hand edit of ``.planloop/plan.md`` the next version, authored by
        ``author`` — the rules and refusals of :meth:`edit_plan` (``PlanEditError`` with
        each problem's line, ``BusyError`` while a step runs, ``InvalidRequestError``
        while a re-plan awaits a decision), plus one: the text must be made from the
        current version. None: no hand edit, or one that changes nothing."""
        return self._o.adopt_document(author)

    def restore_document(self) -> None:
        """Write the current version over ``.planloop/plan.md``, a hand edit there
        included: for a front end that kept that text first or the user discarded it."""
        self._o.store.write_document(render_markdown(self.plan()), force=True)

    def document_path(self) -> Path:
        """``.planloop/plan.md``: the current version's Markdown, rewritten on each save."""
        return self._o.store.document_path

    def set_mode(self, mode: RunMode, *, by: str, cancel: CancelToken | None = None) -> Plan:
        """Run the plan split or joint instead (at review, before a step runs)."""
        return self._o.set_mode(mode, by=by, cancel=cancel)

    def run(
        self,
        *,
        step_id: str | None = None,
        all_steps: bool = False,
        cancel: CancelToken | None = None,
        plan_reviewed_by: str | None = None,
    ) -> RunResult:
        return self._o.run(
            step_id=step_id, all_steps=all_steps, cancel=cancel, plan_reviewed_by=plan_reviewed_by
        )

    def replan(
        self,
        *,
        reason: str | None = None,
        goal: str | None = None,
        cancel: CancelToken | None = None,
    ) -> ReplanResult:
        return self._o.replan(reason=reason, goal=goal, cancel=cancel)

    def decide_pending(
        self,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        return self._o.decide_pending(approve, by=by, feedback=feedback, cancel=cancel)

    def decide_revision(
        self,
        version: int,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        return self._o.decide_revision(version, approve, by=by, feedback=feedback, cancel=cancel)

    def approve_pause(self, step_id: str, *, by: str) -> RunResult:
        return self._o.approve_pause(step_id, by=by)

    def revert(self, step_id: str, paths: list[str] | None = None) -> RevertResult:
        return self._o.revert_step(step_id, paths)

    def clean(self, *, keep_current: bool = False) -> CleanResult:
        """Drop the checkpoints of finished plans; the current one is kept unless done."""
        store = self._o.store
        keep: list[str] = []
        current = store.current_id()
        if current is None and store.plan_ids():
            # without `current` nobody can tell which plan is live: dropping "finished"
            # plans would drop the checkpoints a running or paused plan still needs
            newest = max(store.plan_ids(), key=lambda p: _mtime(store.plan_dir(p)))
            raise StoreError(
                f"{store.dir / 'current'} is missing, so planloop cannot tell which plan is "
                f"live; clean refused (nothing dropped). Restore it: echo {newest} > "
                f"{store.dir / 'current'}"
            )
        if current is not None:
            rec = store.load(current)
            if rec.state != "done" or keep_current:
                keep.append(current)
        freed = self._o.cp.clean_plans(keep)
        return CleanResult(freed, self._o.cp.disk_usage())

    def reset_checkpoints(self) -> Path | None:
        """Move the checkpoint repository aside (after a 'damaged' error); where it went."""
        return self._o.cp.reset_shadow()

    def step(self, step_id: str) -> Step:
        plan = self._o.status().plan
        if not plan.has_step(step_id):
            raise UnknownStepError(step_id, [s.id for s in plan.steps])
        return plan.step(step_id)

    # --- additions for the language server --------------------------------------------

    def record_stamp(self, plan_id: str) -> tuple[int, int, int] | None:
        """An identity of the stored record that changes with every save (None: no record).

        The store replaces run.json atomically, so (inode, mtime, size) changes whenever
        its content does: a front end can cache what it built from a record and check it
        with one ``stat`` instead of parsing the record on every refresh.
        """
        try:
            st = os.stat(self._o.store.plan_dir(plan_id) / "run.json")
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def plan_version(self, plan_id: str, version: int) -> Plan:
        """A recorded version of any plan (``plan(version)`` only knows the current one)."""
        return self._o.store.read_version(plan_id, version)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


#: the core's result types, re-exported so a front end imports its vocabulary from here
__all__ = [
    "Answerer",
    "CleanResult",
    "PendingQuestion",
    "ReplanResult",
    "RunResult",
    "Session",
    "Side",
    "Status",
    "StatusView",
    "StepDiff",
    "WaitingForAnswer",
]

"""The orchestrator: plain code that holds the plan and decides what happens next.

Loop: next runnable step → checkpoint before → executor → checkpoint after
→ acceptance + workspace checks → decide: pass, retry once with the condensed failure,
re-plan (repeated failure, surprise, blocked, decision point, user request), pause for
a person, or stop with a partial result and a reason.

This module is that loop; each job it delegates has its own module: one attempt at a
step (``step_runner``), what its verdict leads to (``step_decisions``), re-plans
(``revisions``), a person's edit of the plan (``user_edits``), questions to a person
(``approval_desk``), crash recovery (``recovery``), the workspace-check baseline
(``baseline``), diffs and reverts (``step_changes``), what calls cost (``ledger``), the
log-then-save order every transition follows (``journal``), and what its calls return
(``results``).

Every transition is logged before it is acted on and the run record is saved after it,
so a crash anywhere resumes consistently: a step found ``running`` is reported with its
partial diff, its files are put back to the before-checkpoint, and it runs again.

Departures from the first design, on purpose:
- A rejected proposal *with feedback* goes back to the planner for another proposal
  (counting against the re-plan budget); a plain reject stops the run. Feedback is
  only useful if someone acts on it.
- Workspace checks fail a step only when they were green before ("a suite that was
  green and turns red"); a suite that was already red is reported, not blamed on the step.
- A cancelled step attempt is rolled back to its before-checkpoint (file by file, never
  over a user's later edit) and the step returns to ``pending``: resumable, and the
  next attempt starts from the state the step was planned against.

This module imports no SDK, pygls or CLI code: models, workspace, checkpoints, store,
approver and event sink are passed in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from planloop.approvals import Approver, Decision
from planloop.cancel import CancelToken
from planloop.checkpoints.store import CheckpointStore, FileDiff, RevertResult
from planloop.config import Config, ModelChoice, RememberedModels, Role
from planloop.document.markdown import render_markdown
from planloop.document.plan import Plan, RunMode, Step, Trigger
from planloop.errors import InvalidRequestError, PlanloopError, UnknownStepError
from planloop.events import EventSink, Progress, SandboxChosen
from planloop.loop.approval_desk import ApprovalDesk, check_answerable, replans
from planloop.loop.baseline import WorkspaceBaseline
from planloop.loop.journal import Journal, RunEnded, RunResult
from planloop.loop.recovery import close_interrupted, recover
from planloop.loop.results import ReplanResult, Status, replan_decision
from planloop.loop.revisions import RevisionDesk
from planloop.loop.roles import ModelFactory, OpenFiles, Roles
from planloop.loop.step_changes import StepSpan, revert_step, step_span
from planloop.loop.step_decisions import StepDecider, evidence_of
from planloop.loop.step_runner import StepRunner
from planloop.loop.user_edits import adopt_document, apply_edit, edit_lock
from planloop.mcp_port import McpTools
from planloop.roles import questions
from planloop.roles.executor import Executor
from planloop.roles.ledger import Ledger
from planloop.roles.planner import Planner
from planloop.roles.questions import Answerer, NoAnswerer, PendingQuestion
from planloop.state.record import Pending, RunRecord
from planloop.state.store import PlanStore
from planloop.workspace.files import Workspace

__all__ = ["ModelFactory", "Orchestrator", "RunResult"]


class Orchestrator:
    def __init__(
        self,
        *,
        root: Path,
        config: Config,
        store: PlanStore,
        workspace: Workspace,
        checkpoints: CheckpointStore,
        planner_model: ModelFactory,
        executor_model: ModelFactory,
        approver: Approver,
        sink: EventSink | None = None,
        mcp: McpTools | None = None,
        open_files: OpenFiles | None = None,
    ) -> None:
        self.root = root
        #: the user's MCP servers: started for a plan or a run, stopped with it
        self.mcp = mcp
        self.config = config
        self.store = store
        self.ws = workspace
        self.cp = checkpoints
        #: every model turn's cost, charged as billed; calls read theirs from a tab
        self.ledger = Ledger()
        self.journal = Journal(store, sink)
        # the first checkpoint of a big workspace may take seconds: say so as it happens
        journal = self.journal
        checkpoints.on_progress = lambda message, finished: journal.tell(
            Progress(task="checkpoint", message=message, finished=finished)
        )
        self.baseline = WorkspaceBaseline(config, workspace, self.journal)
        self.roles = Roles(
            config=config,
            ws=workspace,
            planner_model=planner_model,
            executor_model=executor_model,
            journal=self.journal,
            ledger=self.ledger,
            command_gate=lambda command: self.desk.command_gate(command),
            mcp=mcp,
            mcp_gate=lambda tool, arguments: self.desk.tool_gate(tool, arguments),
            open_files=open_files,
        )
        self.runner = StepRunner(
            ws=workspace,
            checkpoints=checkpoints,
            journal=self.journal,
            ledger=self.ledger,
            baseline=self.baseline,
            executor=lambda: self.roles.executor,
            joint=lambda: self.roles.joint,
            mcp=mcp,
        )
        self.revisions = RevisionDesk(
            config=config,
            store=store,
            journal=self.journal,
            ledger=self.ledger,
            planner=lambda: self.roles.planner,
            rules=lambda: self.roles.rules,
            models=lambda: self.roles.models,
            priced=lambda: self.roles.priced(),
        )
        self.decider = StepDecider(
            runner=self.runner, journal=self.journal, revisions=self.revisions
        )
        self.desk = ApprovalDesk(
            config=config,
            ws=workspace,
            journal=self.journal,
            approver=approver,
            revisions=self.revisions,
        )

    # --- wiring ---------------------------------------------------------------------------

    @contextmanager
    def tools_open(self) -> Iterator[None]:
        """The MCP servers run for the length of a command that may call a model (a plan,
        an answer, a run, a re-plan, a decision) and stop with it."""
        if self.mcp is None:
            yield
            return
        self.mcp.open(self.desk.mcp_consent, self.journal.event)
        try:
            yield
        finally:
            self.mcp.close()

    @property
    def sink(self) -> EventSink | None:
        """Where events go after the log (a front end may swap it between calls)."""
        return self.journal.sink

    @sink.setter
    def sink(self, sink: EventSink | None) -> None:
        self.journal.sink = sink

    @property
    def approver(self) -> Approver:
        return self.desk.approver

    @approver.setter
    def approver(self, approver: Approver) -> None:
        self.desk.approver = approver

    @property
    def planner(self) -> Planner:
        return self.roles.planner

    @property
    def executor(self) -> Executor:
        return self.roles.executor

    # --- queries --------------------------------------------------------------------------

    def current_plan(self) -> Plan | None:
        rec = self.store.load_or_none()
        return rec.plan if rec else None

    def _load(self) -> RunRecord:
        """The live record, its models chosen for this command (``config.choose_model``):
        a flag's model goes in the record with its next save, so the plan remembers it."""
        rec = self.store.load()
        self.journal.plan_id = rec.plan.plan_id
        rec.remember(self.roles.use(rec))
        return rec

    def models(self, *, new_plan: bool = False) -> dict[Role, ModelChoice]:
        """The model each role would run with now: for a new plan (``plan``), else for
        the current plan, or the question the planner waits on (nothing is saved)."""
        remembered: RememberedModels | None = None
        if not new_plan:
            try:
                remembered = self.store.load_or_none() or questions.load(self.store.dir)
            except PlanloopError:  # damage is reported by the commands that need the file
                remembered = None
        return self.roles.use(remembered)

    def status(self) -> Status:
        rec = self._load()
        return Status.of(rec, interrupted=self.interrupted(rec))

    def interrupted(self, rec: RunRecord) -> bool:
        """``rec`` says a run is in progress, but no process holds the run lock."""
        return rec.state == "running" and not self.store.run_in_progress()

    # --- planning -------------------------------------------------------------------------

    def create_plan(
        self, goal: str, cancel: CancelToken | None = None, answerer: Answerer | None = None
    ) -> Plan:
        with self.store.run_lock(), self.tools_open():
            self.roles.use(None)  # a new plan: flags, else settings, else the defaults
            self.roles.check_dollar_budget(executor=False)
            self.roles.rules.reload()
            return self.revisions.draft(goal, cancel, answerer or NoAnswerer())

    def answer(
        self,
        text: str,
        *,
        by: str,
        cancel: CancelToken | None = None,
        answerer: Answerer | None = None,
    ) -> Plan:
        """Answer the planner's waiting question; planning goes on to a plan (or asks again)."""
        with self.store.run_lock(), self.tools_open():
            pending = questions.load(self.store.dir)
            if pending is None:
                raise questions.nothing_pending()
            self.roles.use(pending)  # the planner that asked, unless a flag says otherwise
            self.roles.check_dollar_budget(executor=False)
            self.roles.rules.reload()
            return self.revisions.answer(text, by=by, cancel=cancel, answerer=answerer)

    def pending_question(self) -> PendingQuestion | None:
        return questions.load(self.store.dir)

    def set_mode(self, mode: RunMode, *, by: str, cancel: CancelToken | None = None) -> Plan:
        """Override split/joint at review, before any step runs (a new plan version)."""
        with self.store.run_lock():
            return self.revisions.switch_mode(self._load(), mode, by, cancel)

    def edit_plan(self, text: str, *, author: str) -> Plan:
        """Apply a person's edit of the plan document (``document.edits`` says what may change).

        Refused, not queued, while a step runs: the run holds the lock, so the edit gets
        a BusyError naming the wait; the user's text stays where they wrote it."""
        with edit_lock(self.store, "the plan edit is refused (nothing written); try again"):
            new = apply_edit(self._load(), text, author, store=self.store, journal=self.journal)
            # the text applied is the document now (an editor saves plan.md, then this)
            self.store.write_document(render_markdown(new), force=True)
            return new

    def adopt_document(self, author: str) -> Plan | None:
        """A hand edit of ``.planloop/plan.md`` becomes the next version, by the rules of
        :meth:`edit_plan` (None: there is none, or it changes nothing). While a step runs
        it is refused the same way, and the run does not write over it."""
        if self.store.document_edit() is None:
            return None
        with edit_lock(
            self.store,
            f"your hand edit of {self.store.document_path} is not applied yet (planloop "
            "does not write over it); it applies with the next command",
        ):
            text = self.store.document_edit()  # as it is now that nobody else writes
            if text is None:
                return None
            rec = self._load()
            return adopt_document(rec, text, author, store=self.store, journal=self.journal)

    # --- running --------------------------------------------------------------------------

    def run(
        self,
        *,
        step_id: str | None = None,
        all_steps: bool = False,
        cancel: CancelToken | None = None,
        plan_reviewed_by: str | None = None,
    ) -> RunResult:
        """Run one step (the next runnable, or ``step_id``) or, with ``all_steps``, to the end.

        ``plan_reviewed_by``: the front end showed the plan and the person chose to run
        it (the editor's Run buttons); that answers a pending plan review, recorded as
        an approval by that name, instead of asking a second time.
        """
        cancel = cancel or CancelToken()
        with self.store.run_lock(), self.tools_open():
            rec = self._load()
            if step_id is not None and not rec.plan.has_step(step_id):
                raise UnknownStepError(step_id, [s.id for s in rec.plan.steps])
            if step_id is not None and (rec.pending is None or rec.pending.kind != "revision"):
                # refused before any question is answered: a run that cannot start must
                # not record an approval (`run --step X --yes` approving the plan, then
                # failing on X); a pending re-plan may change the steps, so it goes first
                self._asked_for(rec, step_id)
            self.runner.last_started = None
            self._keep_sandbox(rec)
            self.roles.rules.reload()  # the project's rules as they are now, for this run
            if rec.state not in ("done", "stopped"):
                self.roles.check_dollar_budget()
            if rec.state == "running":
                recover(rec, self.cp, self.journal)
            try:
                if plan_reviewed_by and rec.pending is not None and rec.pending.kind == "plan":
                    self.desk.apply(rec, Decision(True, plan_reviewed_by), cancel)
                res = self._loop(rec, step_id, all_steps, cancel)
            except RunEnded as end:
                res = end.result
            res.step_id = res.step_id or self.runner.last_started or step_id
            return res

    def _keep_sandbox(self, rec: RunRecord) -> None:
        """Fail closed before anything runs: no working sandbox, no model commands (a
        :class:`SandboxError` naming the fix; the record untouched). The choice goes in the
        log when it differs from the last run's, and in the record with its next save (a
        save of its own would add a write to every run's crash-safe sequence)."""
        self.ws.sandbox.require()
        summary = self.ws.sandbox.summary()
        if rec.sandbox != summary:
            rec.sandbox = summary
            self.journal.event(SandboxChosen(sandbox=summary))

    def _loop(
        self, rec: RunRecord, step_id: str | None, all_steps: bool, cancel: CancelToken
    ) -> RunResult:
        ran_one = False
        while True:
            if rec.pending is not None:
                res = self.desk.answer_pending(rec, cancel)
                if res is not None:
                    return res
                continue
            if ran_one and not all_steps:
                if rec.plan.complete:
                    return self.journal.set_state(rec, "done", "every step passed")
                return self.journal.set_state(rec, "idle", "step finished")
            step: Step | None
            if step_id is not None and not ran_one:
                step = self._asked_for(rec, step_id)
            else:
                step = rec.plan.next_runnable()
            if step is None:
                if rec.plan.complete:
                    return self.journal.set_state(rec, "done", "every step passed")
                stuck = [s.id for s in rec.plan.steps if s.status not in ("passed", "skipped")]
                return self.journal.set_state(
                    rec,
                    "stopped",
                    f"no step can run: {', '.join(stuck)} wait on steps that did not pass",
                )
            if not rec.plan_approved:
                rec.pending = Pending(
                    kind="plan", reason=f"review plan v{rec.plan.version} before it runs"
                )
                self.journal.save(rec)
                continue
            if self.desk.ask_budget(rec):
                continue
            if step.kind == "pause":
                self.desk.ask_pause(rec, step)
                ran_one = True
                continue
            self.decider.run(rec, step, cancel)
            ran_one = True

    def _asked_for(self, rec: RunRecord, step_id: str) -> Step:
        """The step a caller named, if it may run now."""
        step = rec.plan.step(step_id)
        missing = [
            d for d in step.depends_on if rec.plan.step(d).status not in ("passed", "skipped")
        ]
        if missing:
            raise InvalidRequestError(
                f"step {step_id!r} cannot run yet: it depends on {', '.join(missing)}"
            )
        if step.status in ("passed", "skipped"):
            raise InvalidRequestError(f"step {step_id!r} already {step.status}")
        return step

    # --- user decisions from another process or the editor --------------------------------------

    def replan(
        self,
        *,
        reason: str | None = None,
        goal: str | None = None,
        cancel: CancelToken | None = None,
    ) -> ReplanResult:
        cancel = cancel or CancelToken()
        with self.store.run_lock(), self.tools_open():
            rec = self._load()
            self.revisions.watch(rec)
            self.roles.rules.reload()
            new_goal = goal.strip() if goal and goal.strip() != rec.plan.goal else None
            trigger: Trigger = "goal_changed" if new_goal else "user_requested"
            why = reason or (
                "the user changed the goal" if new_goal else "the user asked for a re-plan"
            )
            failing = next((s for s in rec.plan.steps if s.status in ("failed", "blocked")), None)
            try:
                self.revisions.propose(
                    rec,
                    trigger,
                    why,
                    evidence_of(failing.result) if failing else [],
                    failing=failing,
                    cancel=cancel,
                    new_goal=new_goal,
                )
                res = self.desk.answer_pending(rec, cancel) or RunResult(rec.state, rec.reason)
            except RunEnded as end:
                res = end.result
            proposal = self.revisions.proposed
            return ReplanResult(
                res.state, res.reason, res.step_id, proposal, replan_decision(rec, proposal)
            )

    def decide_revision(
        self,
        version: int,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        return self._decide(
            "revision", approve, by=by, feedback=feedback, version=version, cancel=cancel
        )

    def approve_pause(self, step_id: str, *, by: str) -> RunResult:
        return self._decide("pause", True, by=by, step_id=step_id)

    def decide_pending(
        self,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        """Answer whatever is pending (CLI ``approve``/``reject``)."""
        return self._decide(None, approve, by=by, feedback=feedback, cancel=cancel)

    def _decide(
        self,
        kind: str | None,
        approve: bool,
        *,
        by: str,
        feedback: str | None = None,
        version: int | None = None,
        step_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> RunResult:
        cancel = cancel or CancelToken()
        with self.store.run_lock(), ExitStack() as tools:
            rec = self._load()
            check_answerable(rec.pending, kind, version=version, step_id=step_id)
            if replans(rec.pending, approve, feedback):
                # the planner proposes again: with the servers a plan or a run has (other
                # decisions call no model, and starting servers for them would cost seconds)
                tools.enter_context(self.tools_open())
            try:
                self.desk.apply(rec, Decision(approve, by, feedback), cancel)
                if rec.pending is not None:
                    res = self.desk.answer_pending(rec, cancel)
                    if res is not None:
                        return res
            except RunEnded as end:
                return end.result
            return RunResult(rec.state, rec.reason)

    # --- diffs and reverts ----------------------------------------------------------------------

    def step_span(self, step_id: str) -> StepSpan:
        """Where a step's changes start and end, over all its attempts."""
        return step_span(self._load(), step_id, self.cp, self.store)

    def step_diff(self, step_id: str) -> tuple[StepSpan, list[FileDiff]]:
        span = self.step_span(step_id)
        if span.paths is not None and not span.paths:
            return span, []
        return span, self.cp.diff(span.before, span.after, span.paths)

    def file_at_checkpoint(self, checkpoint: str, path: str) -> bytes | None:
        return self.cp.file_at(checkpoint, path)

    def revert_step(self, step_id: str, paths: list[str] | None = None) -> RevertResult:
        with self.store.run_lock():
            rec = self._load()
            if rec.state == "running":  # we hold the lock: that run was interrupted
                # close its attempt as it stands (no rollback: this revert is the undo)
                close_interrupted(rec, self.cp, self.journal, rollback=False)
                rec.state, rec.reason = "idle", "an interrupted run's step was reverted"
                self.journal.save(rec)
            return revert_step(rec, step_id, paths, self.cp, self.journal)

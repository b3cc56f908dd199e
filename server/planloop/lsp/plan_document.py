"""The plan as a language-server document: ``<folder>/.planloop/plan.md``.

The core keeps that file equal to the current plan version's Markdown (the format
``planloop show`` prints and ``planloop edit`` reads back). Any LSP editor that opens it
gets what a source file gets:

- diagnostics while typing: every rule problem of ``plan_edits.check_edit`` against the
  current version, on its line (line 0 of a problem = the whole document, shown on the
  first line); cleared when the text is fine again;
- a code lens on each step line — Run step, Show changes, Revert — as the step's stored
  state allows (the same rules as the VS Code tree); each runs an existing command
  (``planloop.runStep`` / ``stepDiff`` / ``revertStep``) with ``{"stepId", "folder"}``;
- hover on a check line: that check's last result and output, from the step's result;
- didSave: ``Session.edit_plan`` on the saved text, holding the folder's run slot like
  any command; the new version's ``planloop/planChanged`` goes out through the folder's
  event pump. A save with problems writes nothing: the diagnostics stay and a
  ``window/showMessage`` error says why. A save while a step runs is refused the same way.
  Either way the file on disk now holds the user's text, which the core never writes
  over (``PlanStore.document_edit``) until a save applies it or the file is deleted.

The document is matched by its URI only (any language id), so Neovim, Helix or Emacs get
it as soon as their client sends didOpen for that file. When the plan changes elsewhere
(a step runs, a re-plan is approved) the open document is checked again against the new
version and the client is asked to refresh its lenses; the core rewrites the file on disk,
which an editor reloads when its buffer has no unsaved changes (VS Code does so by
itself; Neovim needs ``:checktime`` or ``autoread``). A buffer with unsaved changes is
left alone: its diagnostics then name what no longer fits the new version, and saving
it applies it against that version (VS Code first asks whether to overwrite the newer
file on disk).

Start-up cost: this module imports no core; the core is loaded on the first plan
document event (the warm-up thread has usually loaded it already).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from planloop.lsp.context import Context

if TYPE_CHECKING:
    from planloop.document.plan import Plan, Step
    from planloop.lsp.folders import FolderSession

log = logging.getLogger("planloop.lsp")

PLAN_DIR = ".planloop"
PLAN_FILE = "plan.md"
SOURCE = "planloop"
#: the pseudo-command a plan save holds the folder's run slot under (BusyError names it)
EDIT_COMMAND = "planloop.editPlan"


def plan_root(uri: str) -> Path | None:
    """The folder whose plan document ``uri`` is, or None for any other document."""
    fs = to_fs_path(uri)
    if fs is None:
        return None
    path = Path(fs)
    if path.name != PLAN_FILE or path.parent.name != PLAN_DIR:
        return None
    return path.parent.parent.resolve()


# --- where steps and checks are in the text ------------------------------------------------


@dataclass
class Layout:
    """0-based lines of the steps and their checks in the buffer text."""

    steps: dict[int, str] = field(default_factory=dict)  # line -> step id
    checks: dict[int, tuple[str, int]] = field(default_factory=dict)  # line -> (step, n)


def layout(text: str, step_ids: list[str]) -> Layout:
    """The lines of the known steps and of their checks, as ``document.markdown_parse.parse`` reads
    the buffer (stdlib only, cheap): lenses and hovers sit where the user's text has them
    while they type, and a step id not in the stored plan (just added) gets none."""
    from planloop.document.markdown_parse import parse

    out = Layout()
    known = set(step_ids)
    for ps in parse(text).steps:
        if ps.id not in known or ps.id in out.steps.values():
            continue
        out.steps[ps.line - 1] = ps.id
        for n, line in enumerate(ps.check_lines):
            out.checks[line - 1] = (ps.id, n)
    return out


# --- what the stored state allows ----------------------------------------------------------


def _runnable(step: Step) -> bool:
    return step.status in ("pending", "failed", "reverted", "blocked")


def _has_changes(step: Step) -> bool:
    return step.status != "reverted" and bool(step.result and step.result.files_changed)


def step_lenses(step: Step, *, busy: bool) -> list[tuple[str, str]]:
    """(title, server command) of the lenses a step gets; nothing runs while ``busy``."""
    out: list[tuple[str, str]] = []
    if _runnable(step) and not busy:
        out.append(("▶ Run step", "planloop.runStep"))
    if _has_changes(step):
        out.append(("Show changes", "planloop.stepDiff"))
        if not busy:
            out.append(("Revert", "planloop.revertStep"))
    if step.status == "running":
        out.append(("running…", ""))
    return out


def check_hover(step: Step, n: int) -> str:
    """Markdown for the ``n``-th check of ``step``: its last result and output."""
    if n >= len(step.acceptance):
        return f"Check {n + 1} of `{step.id}` is not in the current version yet (save to add it)."
    check = step.acceptance[n]
    head = f"**{check.label()}** — step `{step.id}` ({step.status})"
    results = step.result.checks if step.result is not None else []
    result = next((r for r in results if r.check == check), None)
    if result is None and n < len(results):
        result = results[n]
    if result is None:
        return f"{head}\n\nNot run yet."
    verdict = "✓ passed" if result.passed else "✗ failed"
    body = result.observation.strip()
    shown = f"\n\n```text\n{body[-4000:]}\n```" if body else "\n\n(no output)"
    return f"{head}\n\nLast result: **{verdict}** (attempt {step.attempts}){shown}"


# --- the feature ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based; 0 = the whole document
    message: str
    severity: types.DiagnosticSeverity = types.DiagnosticSeverity.Error


def diagnostics(text: str, problems: list[Problem]) -> list[types.Diagnostic]:
    lines = text.splitlines()
    out = []
    for p in problems:
        row = max(p.line - 1, 0)
        if row >= len(lines):
            row = max(len(lines) - 1, 0)
        width = len(lines[row]) if lines else 0
        out.append(
            types.Diagnostic(
                range=types.Range(types.Position(row, 0), types.Position(row, width)),
                message=p.message,
                severity=p.severity,
                source=SOURCE,
            )
        )
    return out


class PlanDocuments:
    """The open plan documents of every folder (a ``documents.DocumentListener``)."""

    def __init__(self, server: LanguageServer, ctx: Context) -> None:
        self.server = server
        self.ctx = ctx
        self._generation: dict[str, int] = {}
        self._hooked: set[str] = set()

    # --- didOpen / didChange / didClose (from documents.py) ------------------------------

    def opened(self, uri: str) -> None:
        if plan_root(uri) is not None:
            self._schedule(uri)

    def changed(self, uri: str) -> None:
        if plan_root(uri) is not None:
            self._schedule(uri)

    def closed(self, uri: str) -> None:
        if plan_root(uri) is None:
            return
        self._generation.pop(uri, None)
        self._publish(uri, [])

    # --- checking ---------------------------------------------------------------------------

    def _schedule(self, uri: str) -> None:
        gen = self._generation.get(uri, 0) + 1
        self._generation[uri] = gen
        self.ctx.loop.create_task(self._check(uri, gen))

    def recheck_all(self, root: Path) -> None:
        """The folder's plan changed elsewhere: check its open documents again."""
        for uri in list(self._generation):
            if plan_root(uri) == root:
                self._schedule(uri)
        self._refresh_lenses()

    def _folder(self, root: Path) -> FolderSession | None:
        """The session of the workspace folder ``root`` is, or None: a ``.planloop/plan.md``
        of a sub-folder or of a folder outside the workspace is not a plan this server
        runs, so it gets no diagnostics rather than ones against another folder's plan."""
        from planloop.lsp.commands import folders_of
        from planloop.lsp.rpc_errors import NoFolderError

        try:
            s = folders_of(self.ctx).session(str(root))
        except NoFolderError:
            return None
        if s.root != root:
            return None
        if str(root) not in self._hooked:
            self._hooked.add(str(root))
            s.pump.after_saved.append(lambda: self.recheck_all(root))
        return s

    async def _check(self, uri: str, gen: int) -> None:
        root = plan_root(uri)
        doc = self.server.workspace.text_documents.get(uri)
        if root is None or doc is None:
            return
        text = doc.source
        try:
            s = self._folder(root)
            if s is None:
                return
            problems = await self.ctx.loop.run_in_executor(self.ctx.executor, _problems, s, text)
        except Exception as e:  # a broken store: say so on the document, do not crash
            log.exception("checking %s failed", uri)
            problems = [Problem(0, _message(e))]
        if self._generation.get(uri) == gen:  # a newer text is being checked: drop this
            self._publish(uri, diagnostics(text, problems))

    def _publish(self, uri: str, diags: list[types.Diagnostic]) -> None:
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diags)
        )

    def _refresh_lenses(self) -> None:
        caps = self.server.client_capabilities
        ws = caps.workspace if caps else None
        if ws and ws.code_lens and ws.code_lens.refresh_support:
            self.server.workspace_code_lens_refresh(None)

    # --- didSave -----------------------------------------------------------------------------

    async def saved(self, uri: str, text: str | None) -> None:
        root = plan_root(uri)
        if root is None:
            return
        if text is None:
            doc = self.server.workspace.text_documents.get(uri)
            if doc is None:
                return
            text = doc.source
        from planloop.errors import PlanloopError

        s = self._folder(root)
        if s is None:
            return
        try:
            call = s.begin(EDIT_COMMAND)
        except PlanloopError as e:
            self._refuse(uri, text, [Problem(0, _busy_message(e))], "the plan was not saved")
            return
        try:
            stored = await self.ctx.loop.run_in_executor(self.ctx.executor, _stored, s)
            before = stored[0].version if stored is not None else 0
            core = await s.ensure_session()
            s.pump.start()
            work = self.ctx.executor.submit(core.edit_plan, text)
            self.ctx.track(work)
            plan: Plan = await asyncio.wrap_future(work)
            await s.pump.drain()
        except Exception as e:
            problems = _edit_problems(e)
            if problems is None:
                log.exception("saving the plan in %s failed", root)
                problems = [Problem(0, _message(e))]
            self._refuse(uri, text, problems, "the plan was not saved")
            return
        finally:
            s.end(call)
        if plan.version == before:
            message = f"planloop: nothing to save: the text says what plan v{plan.version} says"
        else:
            message = f"planloop: plan v{plan.version} saved (your edit is the new version)"
            log.info("plan %s v%d saved from %s", plan.plan_id, plan.version, uri)
        self.server.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=message)
        )
        self._schedule(uri)
        self._refresh_lenses()

    def _refuse(self, uri: str, text: str, problems: list[Problem], what: str) -> None:
        self._generation[uri] = self._generation.get(uri, 0) + 1  # older checks are stale
        self._publish(uri, diagnostics(text, problems))
        first = problems[0]
        where = f"line {first.line}: " if first.line else ""
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        self.server.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"planloop: {what}: {where}{first.message}{more}",
            )
        )

    # --- code lens and hover ------------------------------------------------------------------

    async def code_lens(self, uri: str) -> list[types.CodeLens]:
        root = plan_root(uri)
        doc = self.server.workspace.text_documents.get(uri)
        if root is None or doc is None:
            return []
        s = self._folder(root)
        if s is None:
            return []
        state = await self.ctx.loop.run_in_executor(self.ctx.executor, _stored, s)
        if state is None:
            return []
        plan, busy = state
        busy = busy or s.call is not None
        folder = from_fs_path(str(root)) or str(root)
        lenses = []
        where = layout(doc.source, [st.id for st in plan.steps])
        for line, step_id in where.steps.items():
            step = plan.step(step_id)
            for title, command in step_lenses(step, busy=busy):
                cmd = types.Command(
                    title=title,
                    command=command,
                    arguments=[{"stepId": step_id, "folder": folder}] if command else None,
                )
                lenses.append(
                    types.CodeLens(
                        range=types.Range(types.Position(line, 0), types.Position(line, 0)),
                        command=cmd,
                    )
                )
        return lenses

    async def hover(self, uri: str, line: int) -> types.Hover | None:
        root = plan_root(uri)
        doc = self.server.workspace.text_documents.get(uri)
        if root is None or doc is None:
            return None
        s = self._folder(root)
        if s is None:
            return None
        state = await self.ctx.loop.run_in_executor(self.ctx.executor, _stored, s)
        if state is None:
            return None
        plan, _busy = state
        hit = layout(doc.source, [st.id for st in plan.steps]).checks.get(line)
        if hit is None:
            return None
        step_id, n = hit
        text = check_hover(plan.step(step_id), n)
        width = len(doc.lines[line].rstrip("\r\n")) if line < len(doc.lines) else 0
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=types.Range(types.Position(line, 0), types.Position(line, width)),
        )


# --- worker thread ------------------------------------------------------------------------------


def _stored(s: FolderSession) -> tuple[Plan, bool] | None:
    """The current plan as stored, and whether a run is in progress (None: no plan)."""
    from planloop.errors import NoPlanError
    from planloop.lsp.registry import current

    try:
        rec, _payload = current(s)
    except NoPlanError:
        return None
    return rec.plan, rec.state == "running"


def _problems(s: FolderSession, text: str) -> list[Problem]:
    from planloop.document.edits import check_edit

    stored = _stored(s)
    if stored is None:
        return [Problem(0, f"no plan in {s.root} yet: create one first (planloop plan GOAL)")]
    plan, running = stored
    result = check_edit(text, plan)
    out = [Problem(p.line, p.message) for p in result.problems]
    if running or s.call is not None:
        out.append(
            Problem(
                0,
                "a step is running: saving an edit is refused until it ends",
                types.DiagnosticSeverity.Warning,
            )
        )
    return out


def _edit_problems(e: BaseException) -> list[Problem] | None:
    from planloop.errors import PlanEditError, PlanloopError

    if isinstance(e, PlanEditError):
        return [Problem(p.line, p.message) for p in e.problems] or [Problem(0, str(e))]
    if isinstance(e, PlanloopError):
        return [Problem(0, _message(e))]
    return None


def _busy_message(e: BaseException) -> str:
    return f"a step is running, so an edit of the plan is refused until it ends ({_message(e)})"


def _message(e: BaseException) -> str:
    from planloop.redaction import redact

    return redact(str(e)) or type(e).__name__


# --- wiring --------------------------------------------------------------------------------------


def register(server: LanguageServer, ctx: Context) -> PlanDocuments:
    """didSave, codeLens and hover for plan documents; the returned listener gets
    didOpen/didChange/didClose from ``documents.register``."""
    docs = PlanDocuments(server, ctx)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=True))
    async def did_save(ls: LanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        await docs.saved(params.text_document.uri, params.text)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: LanguageServer, params: types.CodeLensParams) -> Any:
        try:
            return await docs.code_lens(params.text_document.uri)
        except Exception:
            log.exception("code lenses for %s", params.text_document.uri)
            return []

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: LanguageServer, params: types.HoverParams) -> Any:
        try:
            return await docs.hover(params.text_document.uri, params.position.line)
        except Exception:
            log.exception("hover for %s", params.text_document.uri)
            return None

    return docs

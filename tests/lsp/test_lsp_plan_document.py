"""``.planloop/plan.md`` as a language-server document, as any LSP client sees it:
diagnostics while typing, code lenses per step state, hover on checks, save → a new
plan version (and planChanged), a save with problems or during a running step refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsp_harness import (
    Session,
    fixture_script,
    make_workspace,
    open_session,
    options,
    processes_running,
    read_json,
)
from lsprotocol import types


def plan_md(ws: Path) -> Path:
    return ws / ".planloop" / "plan.md"


def versions(ws: Path, plan_id: str) -> list[str]:
    return sorted(p.name for p in (ws / ".planloop" / "plans" / plan_id).glob("v*.json"))


class Doc:
    """One open plan document, driven like an editor drives it (full-text changes)."""

    def __init__(self, s: Session, path: Path) -> None:
        self.s = s
        self.uri = path.as_uri()
        self.text = path.read_text(encoding="utf-8")
        self.version = 1
        s.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri, language_id="markdown", version=1, text=self.text
                )
            )
        )

    def lines(self) -> list[str]:
        return self.text.splitlines()

    def line_of(self, needle: str) -> int:
        """0-based line of the first line containing ``needle``."""
        for i, line in enumerate(self.lines()):
            if needle in line:
                return i
        raise AssertionError(f"{needle!r} not in the document:\n{self.text}")

    def replace_on_line(self, needle: str, old: str, new: str) -> int:
        """Change ``old`` to ``new`` on the line containing ``needle``; its 0-based line."""
        lines = self.text.split("\n")
        i = self.line_of(needle)
        assert old in lines[i], (old, lines[i])
        lines[i] = lines[i].replace(old, new, 1)
        self.set("\n".join(lines))
        return i

    def set(self, text: str) -> None:
        self.text = text
        self.version += 1
        self.s.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def save(self, path: Path) -> None:
        """What an editor does: write the file, then send didSave with the text."""
        path.write_text(self.text, encoding="utf-8")
        self.s.client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri), text=self.text
            )
        )

    def diagnostics(self) -> list[types.Diagnostic] | None:
        got = self.s.client.diagnostics.get(self.uri)
        return None if got is None else list(got)

    async def wait_diagnostics(self, pred: Any, what: str) -> list[types.Diagnostic]:
        def ok() -> Any:
            d = self.diagnostics()
            return d is not None and pred(d)

        await self.s.wait_for(ok, what=what)
        return self.diagnostics() or []

    async def lenses(self) -> dict[int, list[tuple[str, str, Any]]]:
        got = await self.s.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=self.uri))
        )
        out: dict[int, list[tuple[str, str, Any]]] = {}
        for lens in got or []:
            assert lens.command is not None
            out.setdefault(lens.range.start.line, []).append(
                (lens.command.title, lens.command.command, list(lens.command.arguments or []))
            )
        return out

    async def hover(self, line: int) -> str | None:
        got = await self.s.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri),
                position=types.Position(line=line, character=4),
            )
        )
        if got is None:
            return None
        assert isinstance(got.contents, types.MarkupContent)
        return got.contents.value


def messages(s: Session, kind: types.MessageType) -> list[str]:
    return [m.message for m in s.client.messages if m.type == kind]


async def _planned(s: Session, ws: Path, *, run_first: bool) -> dict[str, Any]:
    created = await s.cmd("planloop.createPlan", {"goal": "Write alpha and beta files"})
    if run_first:
        run = await s.cmd("planloop.runStep", {"stepId": "write-alpha"})
        assert run["state"] == "idle", run["reason"]
        return dict(run["plan"])
    return dict(created)


async def test_diagnostics_on_the_rule_line_while_typing_and_cleared_when_fixed(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        await _planned(s, ws, run_first=True)
        doc = Doc(s, plan_md(ws))
        assert await doc.wait_diagnostics(lambda d: d == [], "no problems on open") == []

        # a passed step is immutable: the problem sits on that step's line
        line = doc.replace_on_line("`write-alpha`", "Write alpha.txt", "Write ALPHA.txt")
        diags = await doc.wait_diagnostics(bool, "a diagnostic for the passed step")
        assert [d.range.start.line for d in diags] == [line], diags
        assert diags[0].severity == types.DiagnosticSeverity.Error
        assert diags[0].source == "planloop"
        assert "write-alpha" in diags[0].message and "passed" in diags[0].message

        doc.replace_on_line("`write-alpha`", "Write ALPHA.txt", "Write alpha.txt")
        assert await doc.wait_diagnostics(lambda d: d == [], "cleared when fixed") == []

        # a duplicate step id, on the line of the second one
        dup = doc.replace_on_line("`write-beta`", "`write-beta`", "`write-alpha`")
        diags = await doc.wait_diagnostics(bool, "a duplicate-id diagnostic")
        assert any(d.range.start.line == dup and "duplicate" in d.message for d in diags), diags

        # closing the document clears what it showed
        s.client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=doc.uri)
            )
        )
        assert await doc.wait_diagnostics(lambda d: d == [], "cleared on close") == []


async def test_code_lenses_follow_each_steps_state_and_hover_shows_check_results(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        await _planned(s, ws, run_first=True)
        doc = Doc(s, plan_md(ws))
        alpha, beta = doc.line_of("`write-alpha`"), doc.line_of("`write-beta`")
        folder = ws.resolve().as_uri()
        lenses = await doc.lenses()
        assert set(lenses) == {alpha, beta}, lenses
        # passed with changes: show them or revert; no Run
        assert [(t, c) for t, c, _ in lenses[alpha]] == [
            ("Show changes", "planloop.stepDiff"),
            ("Revert", "planloop.revertStep"),
        ]
        assert all(
            a == [{"stepId": "write-alpha", "folder": folder}] for _, _, a in lenses[alpha]
        ), lenses
        # pending: run it
        assert [(t, c) for t, c, _ in lenses[beta]] == [("▶ Run step", "planloop.runStep")]
        # each lens runs the existing command as it stands
        _title, command, args = lenses[beta][0]
        run = await s.cmd(command, args[0])
        assert run["stepId"] == "write-beta" and run["state"] == "done", run

        # hover: the check's last result and output
        check_lines = [i for i, t in enumerate(doc.lines()) if "alpha.txt says alpha" in t]
        assert check_lines, doc.text
        shown = await doc.hover(check_lines[0])
        assert shown is not None and "passed" in shown and "alpha.txt says alpha" in shown, shown
        assert await doc.hover(alpha) is None  # a step line is no check

        # reverted: run again; its changes are gone
        await s.cmd("planloop.revertStep", {"stepId": "write-beta"})
        lenses = await doc.lenses()
        assert [(t, c) for t, c, _ in lenses[beta]] == [("▶ Run step", "planloop.runStep")]


async def test_hover_on_a_check_not_run_yet(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        await _planned(s, ws, run_first=False)
        doc = Doc(s, plan_md(ws))
        line = doc.line_of("beta.txt says beta")
        shown = await doc.hover(line)
        assert shown is not None and "Not run yet" in shown and "write-beta" in shown, shown


async def test_save_writes_a_new_version_and_notifies_plan_changed(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        plan = await _planned(s, ws, run_first=True)
        plan_id = plan["plan"]["plan_id"]
        before = versions(ws, plan_id)
        doc = Doc(s, plan_md(ws))
        await doc.wait_diagnostics(lambda d: d == [], "a clean document")
        seen = len(s.plan_changed)

        doc.replace_on_line("`write-beta`", "Write beta.txt and note it", "Write beta.txt twice")
        await doc.wait_diagnostics(lambda d: d == [], "the edit is fine")
        doc.save(plan_md(ws))

        changed = await s.wait_for(
            lambda: [p for p in s.plan_changed[seen:] if p["plan"]["version"] > 1],
            what="planChanged with the new version",
        )
        new = changed[-1]["plan"]
        titles = {st["id"]: st["title"] for st in new["steps"]}
        assert titles["write-beta"] == "Write beta.txt twice"
        assert {st["id"]: st["status"] for st in new["steps"]}["write-alpha"] == "passed"
        after = versions(ws, plan_id)
        assert len(after) == len(before) + 1
        stored = read_json(ws / ".planloop" / "plans" / plan_id / f"v{new['version']}.json")
        assert {st["id"]: st["title"] for st in stored["steps"]}["write-beta"] == (
            "Write beta.txt twice"
        )
        assert "Write beta.txt twice" in plan_md(ws).read_text(encoding="utf-8")
        got = await s.cmd("planloop.getPlan")
        assert got["plan"]["version"] == new["version"]
        await s.wait_for(
            lambda: any("saved" in m for m in messages(s, types.MessageType.Info)),
            what="the saved message",
        )
        assert messages(s, types.MessageType.Error) == []


async def test_save_with_a_rule_error_writes_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("happy.json", tmp_path)
    async with open_session(ws, options(script)) as s:
        plan = await _planned(s, ws, run_first=True)
        plan_id = plan["plan"]["plan_id"]
        before = versions(ws, plan_id)
        doc = Doc(s, plan_md(ws))
        await doc.wait_diagnostics(lambda d: d == [], "a clean document")
        seen = len(s.plan_changed)

        line = doc.replace_on_line("`write-alpha`", "Write alpha.txt", "Write ALPHA.txt")
        doc.save(plan_md(ws))
        errors = await s.wait_for(
            lambda: messages(s, types.MessageType.Error), what="the refusal message"
        )
        assert "not saved" in errors[0] and f"line {line + 1}" in errors[0], errors
        diags = doc.diagnostics() or []
        assert [d.range.start.line for d in diags] == [line]
        await asyncio.sleep(0.3)
        assert versions(ws, plan_id) == before
        assert s.plan_changed[seen:] == []
        got = await s.cmd("planloop.getPlan")
        assert got["plan"]["version"] == plan["plan"]["version"]


async def test_save_while_a_step_runs_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "proj")
    script = fixture_script("slow_command.json", tmp_path)
    opts = options(script, commandPolicy={"allow": ["sleep *"]})
    async with open_session(ws, opts) as s:
        created = await s.cmd("planloop.createPlan", {"goal": "Produce done.txt"})
        plan_id = created["plan"]["plan_id"]
        before = versions(ws, plan_id)
        doc = Doc(s, plan_md(ws))
        await doc.wait_diagnostics(lambda d: d == [], "a clean document")
        task = asyncio.create_task(s.cmd("planloop.runAll"))
        try:
            await s.wait_for(lambda: processes_running("sleep 29.731"), what="the sleep command")
            doc.replace_on_line("`slow-step`", "Slow step", "Slower step")
            diags = await doc.wait_diagnostics(bool, "the running-step warning")
            assert any("running" in d.message for d in diags), diags
            doc.save(plan_md(ws))
            errors = await s.wait_for(
                lambda: messages(s, types.MessageType.Error), what="the refusal message"
            )
            assert "not saved" in errors[0] and "running" in errors[0], errors
            assert versions(ws, plan_id) == before
            lenses = await doc.lenses()
            assert all(c != "planloop.runStep" for ls in lenses.values() for _, c, _ in ls)
        finally:
            await s.cmd("planloop.cancel")
            await task
        assert versions(ws, plan_id) == before

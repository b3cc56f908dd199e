"""The repo map in the editor: a file open in it lifts the planner's map, and a map made
within its time budget says in the progress bar what the CLI prints ("map: N of M files
parsed, continuing in the background"). One server, two folders: ``whole`` (the map
parses every file) and ``partial`` (a budget too short to parse any)."""

from __future__ import annotations

import re
from pathlib import Path

from lsp_harness import fixture_script, log_events, make_workspace, open_session, options
from lsprotocol import types

#: a hub every module uses, and a scratch file nothing uses that has nothing to do with
#: the goal: unlifted it ranks last, and the small map has room for one file or two
FILES = {
    "app/hub.py": "class Hub:\n    def route(self):\n        return 1\n",
    **{
        f"app/mod{i}.py": f"from app.hub import Hub\n\n\ndef job{i}():\n    return Hub().route()\n"
        for i in range(6)
    },
    "aaa/scratch.py": "def scratch_pad():\n    return 0\n",
}
PARTIAL = re.compile(r"^map: \d+ of 8 files parsed, continuing in the background$")


def folder(root: Path, settings: str) -> Path:
    ws = make_workspace(root, FILES)
    (ws / "planloop.toml").write_text(settings, encoding="utf-8")
    return ws


async def test_the_open_file_lifts_the_map_and_progress_says_the_map_is_partial(
    tmp_path: Path,
) -> None:
    whole = folder(tmp_path / "whole", "repo_map_tokens = 30\n")
    partial = folder(tmp_path / "partial", "repo_map_tokens = 60\nrepo_map_budget_s = 0.000001\n")
    script = fixture_script("open_file_map.json", tmp_path)
    async with open_session(whole, options(script), folders=[whole, partial]) as s:

        def map_reports() -> list[str]:
            return [
                r.message
                for rs in s.client.progress_reports.values()
                for r in rs
                if r.kind == "report" and r.message and r.message.startswith("map: ")
            ]

        for ws in (whole, partial):
            s.client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=(ws / "aaa" / "scratch.py").as_uri(),
                        language_id="python",
                        version=1,
                        text=FILES["aaa/scratch.py"],
                    )
                )
            )
            # the script's second turn expects aaa/scratch.py in the repo_map answer: a
            # map that did not lift the open file fails the plan with script_mismatch
            created = await s.cmd("planloop.createPlan", {"goal": "Write alpha", "folder": str(ws)})
            assert created["plan"]["steps"][0]["id"] == "write-alpha"
            logged = log_events(ws, created["plan"]["plan_id"])
            calls = [e["tool"] for e in logged if e["type"] == "tool_call"]
            assert calls == ["repo_map", "submit_plan"]
            if ws == whole:
                assert map_reports() == []  # every file parsed: nothing to say
        # the editors show the CLI's words (the system prompt's map and the tool's each)
        said = map_reports()
        assert [m for m in said if PARTIAL.match(m)], said

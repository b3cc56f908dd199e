"""The model-facing tools: validation, read-only enforcement, summaries, and never raising."""

from __future__ import annotations

from pathlib import Path

import pytest

from planloop.cancel import CancelToken
from planloop.document.plan import Outcome
from planloop.roles.tools import EXECUTOR_TOOLS, PLANNER_TOOLS, ToolBox
from planloop.workspace.files import Workspace

CALC = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "proj"
    r.mkdir()
    (r / "calc.py").write_text(CALC)
    return r


@pytest.fixture
def box(root: Path) -> ToolBox:
    return ToolBox(Workspace(root), writable=True)


@pytest.fixture
def planner_box(root: Path) -> ToolBox:
    return ToolBox(Workspace(root), writable=False)


# --- specs -------------------------------------------------------------------------


def test_tool_specs_per_role() -> None:
    assert [t.name for t in PLANNER_TOOLS] == ["list_files", "read_file", "search"]
    assert [t.name for t in EXECUTOR_TOOLS] == [
        "list_files",
        "read_file",
        "search",
        "write_file",
        "edit_file",
        "run_command",
        "report_outcome",
    ]
    for spec in EXECUTOR_TOOLS:
        assert spec.description
        assert spec.input_schema["type"] == "object"
        assert spec.input_schema["additionalProperties"] is False


def test_tool_schemas_are_derived_from_the_input_models() -> None:
    schemas = {t.name: t.input_schema for t in EXECUTOR_TOOLS}
    assert schemas["read_file"]["required"] == ["path"]
    assert schemas["read_file"]["properties"]["start_line"] == {
        "description": "First line to show (1-based).",
        "minimum": 1,
        "type": "integer",
    }
    assert schemas["edit_file"]["required"] == ["path", "old", "new"]
    assert schemas["run_command"]["properties"]["timeout_s"]["maximum"] == 600
    outcome = schemas["report_outcome"]
    assert set(outcome["properties"]) == set(Outcome.model_fields)
    assert outcome["required"] == ["ok"]
    assert all(p.get("description") for p in outcome["properties"].values())


# --- malformed input ---------------------------------------------------------------


def test_malformed_input_missing_field(box: ToolBox) -> None:
    out = box.call("read_file", {})
    assert out.is_error
    assert "path: required field is missing" in out.content
    assert "Expected: path (string, required)" in out.content
    assert out.line == "read_file ✗ invalid input"


def test_malformed_input_wrong_type(box: ToolBox) -> None:
    out = box.call("read_file", {"path": "calc.py", "start_line": "two"})
    assert out.is_error
    assert "start_line: Input should be a valid integer" in out.content
    assert "'two'" in out.content


def test_malformed_input_extra_field(box: ToolBox) -> None:
    out = box.call("edit_file", {"path": "calc.py", "old": "a", "new": "b", "replace_all": True})
    assert out.is_error
    assert "replace_all: unexpected field" in out.content
    assert (box.ws.root / "calc.py").read_text() == CALC


def test_malformed_input_several_problems_listed_together(box: ToolBox) -> None:
    out = box.call("write_file", {"contents": "x"})
    assert out.is_error
    assert "path: required field is missing" in out.content
    assert "content: required field is missing" in out.content
    assert "contents: unexpected field" in out.content


def test_malformed_input_timeout_out_of_bounds(box: ToolBox) -> None:
    out = box.call("run_command", {"command": "true", "timeout_s": 100000})
    assert out.is_error and "timeout_s" in out.content and "600" in out.content


def test_malformed_input_not_an_object(box: ToolBox) -> None:
    out = box.call("list_files", ["calc.py"])  # type: ignore[arg-type]
    assert out.is_error and "expected a JSON object" in out.content


def test_unknown_tool_lists_available_tools(box: ToolBox, planner_box: ToolBox) -> None:
    out = box.call("delete_file", {"path": "calc.py"})
    assert out.is_error
    assert "Unknown tool 'delete_file'" in out.content
    assert "list_files, read_file, search, write_file, edit_file, run_command" in out.content
    out = planner_box.call("rm", {})
    assert "Available tools: list_files, read_file, search." in out.content


def test_terminal_tools_are_not_handled_by_the_toolbox(box: ToolBox) -> None:
    out = box.call("report_outcome", {"ok": True})
    assert out.is_error and "handled by the executor" in out.content


# --- read-only ---------------------------------------------------------------------


def test_read_only_toolbox_refuses_write_file(planner_box: ToolBox, root: Path) -> None:
    out = planner_box.call("write_file", {"path": "new.py", "content": "x"})
    assert out.is_error and "read-only" in out.content
    assert not (root / "new.py").exists()


def test_read_only_toolbox_refuses_edit_file(planner_box: ToolBox, root: Path) -> None:
    out = planner_box.call("edit_file", {"path": "calc.py", "old": "a - b", "new": "a + b"})
    assert out.is_error and "read-only" in out.content
    assert (root / "calc.py").read_text() == CALC


def test_read_only_toolbox_refuses_run_command(planner_box: ToolBox, root: Path) -> None:
    out = planner_box.call("run_command", {"command": "touch ran.txt"})
    assert out.is_error and "read-only" in out.content
    assert not (root / "ran.txt").exists()
    assert planner_box.files_written == set()


def test_read_only_toolbox_still_reads(planner_box: ToolBox) -> None:
    assert not planner_box.call("read_file", {"path": "calc.py"}).is_error
    assert planner_box.call("list_files", {}).content == "calc.py"
    assert not planner_box.call("search", {"pattern": "def"}).is_error


# --- read_file, list_files, search -------------------------------------------------


def test_read_file_numbers_lines(box: ToolBox) -> None:
    out = box.call("read_file", {"path": "calc.py", "start_line": 2, "end_line": 2})
    assert not out.is_error
    assert out.content == "     2\t    return a - b"
    assert out.line == "read_file calc.py:2-2 of 6"


def test_read_file_caps_lines_and_says_how_to_page(box: ToolBox, root: Path) -> None:
    (root / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 3001)))
    out = box.call("read_file", {"path": "big.txt"})
    rows = out.content.splitlines()
    assert rows[0] == "     1\tline 1" and rows[1999] == "  2000\tline 2000"
    assert rows[-1] == "[cut: showed lines 1-2000 of 3000; read on with start_line=2001]"
    page = box.call("read_file", {"path": "big.txt", "start_line": 2001})
    assert page.content.splitlines()[0] == "  2001\tline 2001"
    assert page.content.splitlines()[-1] == "  3000\tline 3000"


def test_read_file_caps_characters(box: ToolBox, root: Path) -> None:
    (root / "wide.txt").write_text(("x" * 999 + "\n") * 300)
    out = box.call("read_file", {"path": "wide.txt"})
    assert len(out.content) <= 101_000
    assert "[cut: showed lines 1-" in out.content and "of 300" in out.content


def test_read_file_start_past_end_is_an_error(box: ToolBox) -> None:
    out = box.call("read_file", {"path": "calc.py", "start_line": 50})
    assert out.is_error and "calc.py has 6 lines" in out.content


def test_read_file_path_escape_is_an_error_output(box: ToolBox) -> None:
    out = box.call("read_file", {"path": "../../etc/passwd"})
    assert out.is_error and "outside the workspace" in out.content
    assert out.line.startswith("read_file ../../etc/passwd ✗")


def test_list_files_says_how_many_more(box: ToolBox, root: Path) -> None:
    for i in range(510):
        (root / f"f{i:03}.txt").write_text("")
    out = box.call("list_files", {"glob": "*.txt"})
    assert out.content.splitlines()[-1] == "… 10 more (narrow the listing with path or glob)"
    assert len(out.content.splitlines()) == 501
    assert out.line == "list_files . *.txt (510 files)"


def test_search_results_and_no_match(box: ToolBox) -> None:
    out = box.call("search", {"pattern": r"def \w+"})
    assert out.content == "calc.py:1: def add(a, b):\ncalc.py:5: def sub(a, b):"
    assert out.line == r"search /def \w+/ (2 matches)"
    none = box.call("search", {"pattern": "zzz"})
    assert not none.is_error
    assert none.content == ("(no matches) (binary files and files over 2 MB are not searched)")
    bad = box.call("search", {"pattern": "("})
    assert bad.is_error and "invalid regular expression" in bad.content


# --- write_file, edit_file ---------------------------------------------------------


def test_write_file_new_and_overwrite_track_files_written(box: ToolBox, root: Path) -> None:
    out = box.call("write_file", {"path": "pkg/util.py", "content": "a\nb\n"})
    assert not out.is_error
    assert out.line == "write_file pkg/util.py (new, +2 −0)"
    assert (root / "pkg" / "util.py").read_text() == "a\nb\n"
    out = box.call("write_file", {"path": "pkg/util.py", "content": "a\nc\nd\n"})
    assert out.line == "write_file pkg/util.py (+2 −1)"
    assert box.files_written == {"pkg/util.py"}


def test_edit_file_line_counts_and_files_written(box: ToolBox, root: Path) -> None:
    out = box.call(
        "edit_file",
        {
            "path": "calc.py",
            "old": "def add(a, b):\n    return a - b",
            "new": "def add(a, b):\n    # sum\n    total = a + b\n    return total",
        },
    )
    assert not out.is_error, out.content
    assert out.line == "edit_file calc.py (+3 −1)"
    assert "total = a + b" in (root / "calc.py").read_text()
    assert box.files_written == {"calc.py"}


def test_edit_file_no_match_is_an_error_output(box: ToolBox) -> None:
    out = box.call("edit_file", {"path": "calc.py", "old": "return a * b", "new": "x"})
    assert out.is_error and "not found" in out.content
    assert out.line.startswith("edit_file calc.py ✗")
    assert box.files_written == set()


def test_edit_file_multiple_matches_is_an_error_output(box: ToolBox) -> None:
    out = box.call("edit_file", {"path": "calc.py", "old": "return a - b", "new": "x"})
    assert out.is_error and "2 times" in out.content


def test_write_into_git_is_an_error_output(box: ToolBox, root: Path) -> None:
    (root / ".git").mkdir()
    out = box.call("write_file", {"path": ".git/hooks/post-checkout", "content": "evil"})
    assert out.is_error and ".git" in out.content
    assert not (root / ".git" / "hooks").exists()


def test_tool_call_never_raises_when_the_editor_link_fails(root: Path) -> None:
    def broken(path: Path) -> str | None:
        raise RuntimeError("editor connection lost")

    box = ToolBox(Workspace(root, buffer_text=broken), writable=True)
    out = box.call("write_file", {"path": "x.py", "content": "x"})
    assert out.is_error and "editor connection lost" in out.content


# --- run_command -------------------------------------------------------------------


def test_run_command_exit_code_and_output(box: ToolBox) -> None:
    out = box.call("run_command", {"command": "echo hello; exit 1"})
    assert not out.is_error
    assert out.content == "exit 1\nhello\n"
    assert out.line == 'run_command "echo hello; exit 1" → exit 1'


def test_run_command_summary_line_is_one_short_line(box: ToolBox) -> None:
    out = box.call("run_command", {"command": "echo a\necho " + "b" * 200})
    assert "\n" not in out.line and len(out.line) < 100
    assert out.line.endswith("→ exit 0")


def test_write_file_over_a_binary_file(box: ToolBox, root: Path) -> None:
    (root / "blob.dat").write_bytes(b"\x00\x01")
    out = box.call("write_file", {"path": "blob.dat", "content": "text\n"})
    assert out.line == "write_file blob.dat (+1 −0)"
    assert (root / "blob.dat").read_text() == "text\n"


def test_run_command_goes_through_the_gate_first(root: Path) -> None:
    asked: list[str] = []

    def gate(command: str) -> str | None:
        asked.append(command)
        return "the user said no"

    box = ToolBox(Workspace(root), writable=True, command_gate=gate)
    out = box.call("run_command", {"command": "touch ran.txt"})
    assert out.is_error and "the user said no" in out.content
    assert asked == ["touch ran.txt"]
    assert not (root / "ran.txt").exists()
    assert out.line.endswith("✗ refused")


def test_run_command_denied_by_policy_without_asking(root: Path) -> None:
    asked: list[str] = []
    box = ToolBox(Workspace(root), writable=True, command_gate=lambda c: asked.append(c))
    out = box.call("run_command", {"command": "git commit -am wip"})
    assert out.is_error and "policy denies" in out.content
    assert asked == []


def test_run_command_timeout_from_input(box: ToolBox) -> None:
    out = box.call("run_command", {"command": "sleep 30", "timeout_s": 0.5})
    assert not out.is_error
    assert out.content.startswith("timed out after 0.5 s")
    assert "→ timed out after 0.5 s" in out.line


def test_cancelled_toolbox_runs_nothing(root: Path) -> None:
    token = CancelToken()
    token.cancel()
    box = ToolBox(Workspace(root), writable=True, cancel=token)
    out = box.call("write_file", {"path": "x.py", "content": "x"})
    assert out.is_error and "Cancelled" in out.content
    assert not (root / "x.py").exists()

"""Each core event becomes exactly the log.jsonl line it always was: keys and their order."""

from __future__ import annotations

import json
import threading
import time
import typing
from pathlib import Path
from typing import Any

import pytest

from planloop import events as E
from planloop.cancel import Cancelled, CancelToken
from planloop.models.scripted import ScriptedModel
from planloop.roles.ledger import Ledger
from planloop.roles.tool_loop import finished_event, started_event, tool_loop
from planloop.roles.tools import ToolBox
from planloop.workspace.files import Workspace

# every event type as the log has always written it: (event, keys after "at" and "type")
CASES: list[tuple[E.Event, str, list[str]]] = [
    (E.Saved(plan_id="pln_1"), "saved", ["plan_id"]),
    (E.StateChanged(state="done", reason="r"), "state", ["state", "reason"]),
    (
        E.BudgetReached(spent_usd=1.0, allowed_usd=2.0),
        "budget",
        ["spent_usd", "allowed_usd", "spent_tokens", "allowed_tokens"],
    ),
    (E.BaselineStarted(checks=["pytest"]), "baseline", ["checks"]),
    (E.Planning(goal="g"), "planning", ["goal"]),
    (
        E.Progress(task="repo_map", message="m", done=1, total=2),
        "progress",
        ["task", "message", "done", "total", "finished"],
    ),
    (
        E.PlanCreated(plan_id="p", version=1, goal="g", steps=["a"], cost_usd=0.1),
        "plan_created",
        ["plan_id", "version", "goal", "steps", "cost_usd"],
    ),
    (
        E.ModeChosen(mode="joint", requested="auto", reason="r", horizon=2, by="planloop"),
        "mode_chosen",
        ["mode", "requested", "reason", "horizon", "by"],
    ),
    (
        E.SandboxChosen(sandbox="bwrap · network off (loopback only)"),
        "sandbox_chosen",
        ["sandbox"],
    ),
    (
        E.RulesWarning(path="AGENTS.md", message="project rules: AGENTS.md is 9 bytes; cut"),
        "rules_warning",
        ["path", "message"],
    ),
    (
        E.McpServerStarted(server="db", tools=3, seconds=0.2),
        "mcp_started",
        ["server", "tools", "seconds"],
    ),
    (E.McpWarning(server="db", message="m"), "mcp_warning", ["server", "message"]),
    (
        E.McpToolCalled(role="executor", step_id="s", tool="mcp__db__q", arguments={"a": 1}),
        "mcp_call",
        ["role", "step_id", "tool", "arguments", "is_error", "result"],
    ),
    (
        E.PlannerToolCall(line="read_file x"),
        "tool_call",
        ["role", "line", "call_id", "tool", "is_error", "path", "start_line", "end_line", "output"],
    ),
    (
        E.QuestionAsked(question="Which?", options=["a", "b"]),
        "question_asked",
        ["question", "options"],
    ),
    (E.QuestionWaiting(question="Which?", options=[]), "question_waiting", ["question", "options"]),
    (
        E.QuestionAnswered(question="Which?", answer="a", by="me"),
        "question_answered",
        ["question", "answer", "by"],
    ),
    (
        E.ReplanStarted(trigger="user_requested", reason="r", evidence=["e"]),
        "replan_started",
        ["trigger", "reason", "evidence"],
    ),
    (
        E.RevisionProposed(
            version=2, trigger="repeated_failure", reason="r", evidence=[], cost_usd=0.2
        ),
        "revision_proposed",
        ["version", "trigger", "reason", "evidence", "cost_usd", "cost_text"],
    ),
    (E.PlanVersionRecorded(version=2, steps=["a"]), "plan_version", ["version", "steps"]),
    (
        E.PlanEdited(
            version=3,
            parent_version=2,
            author="ann",
            steps=["a", "b"],
            added=["b"],
            removed=[],
            changed=["a"],
            goal="g",
        ),
        "plan_edited",
        [
            "version",
            "parent_version",
            "author",
            "steps",
            "added",
            "removed",
            "changed",
            "goal",
            "old_goal",
        ],
    ),
    (
        E.StepStarted(step_id="a", attempt=1, title="A"),
        "step_started",
        ["step_id", "attempt", "title"],
    ),
    (
        E.ExecutorToolCall(step_id="a", line="write_file x"),
        "tool_call",
        [
            "role",
            "step_id",
            "line",
            "call_id",
            "tool",
            "is_error",
            "path",
            "start_line",
            "end_line",
            "output",
        ],
    ),
    (
        E.ToolStarted(role="executor", step_id="a", call_id="c1", tool="run_command"),
        "tool_started",
        ["role", "step_id", "call_id", "tool", "path", "command"],
    ),
    (
        E.CheckRan(step_id="a", passed=True, check="c", observation="o", workspace_check=False),
        "check",
        ["step_id", "passed", "check", "observation", "workspace_check"],
    ),
    (
        E.StepFinished(step_id="a", status="passed", attempt=1, cost_usd=0.0, files=["f"]),
        "step_finished",
        ["step_id", "status", "attempt", "cost_usd", "files", "cost_text"],
    ),
    (E.Retry(step_id="a", observation="o"), "retry", ["step_id", "observation"]),
    (
        E.StepCancelled(step_id="a", restored=["f"], conflicts=[]),
        "step_cancelled",
        ["step_id", "restored", "conflicts"],
    ),
    (
        E.StepError(step_id="a", error="boom", kind="rate_limit"),
        "step_error",
        ["step_id", "error", "kind"],
    ),
    (E.UnsavedBuffer(step_id="a", path="f"), "unsaved_buffer", ["step_id", "path"]),
    (E.PauseReached(step_id="a"), "pause", ["step_id"]),
    (
        E.DecisionPointReached(step_id="a", action="pause"),
        "decision_point",
        ["step_id", "action"],
    ),
    (
        E.ApprovalRequested(kind="revision", reason="r", version=2, step_id=None),
        "approval_requested",
        ["kind", "reason", "version", "step_id"],
    ),
    (E.ApprovalWaiting(kind="plan"), "approval_waiting", ["kind"]),
    (
        E.ApprovalGiven(
            kind="plan", approve=True, by="me", feedback=None, version=None, step_id=None
        ),
        "approval",
        ["kind", "approve", "by", "feedback", "version", "step_id"],
    ),
    (E.CommandApprovalRequested(command="make"), "approval_requested", ["kind", "command"]),
    (
        E.CommandApproval(command="make", approve=False, by=None),
        "approval",
        ["kind", "command", "approve", "by"],
    ),
    (E.CommandRefused(command="rm -rf /"), "command_refused", ["command", "by"]),
    (E.RevertStarted(step_id="a", paths=None), "revert_started", ["step_id", "paths"]),
    (
        E.Reverted(step_id="a", restored=[], conflicts=[{"path": "f", "reason": "edited"}]),
        "revert",
        ["step_id", "restored", "conflicts"],
    ),
    (E.Recovered(step_id="a", partial_files=["f"]), "recovered", ["step_id", "partial_files"]),
    (
        E.RecoveredRestore(step_id="a", restored=["f"], conflicts=[]),
        "recovered_restore",
        ["step_id", "restored", "conflicts"],
    ),
]


@pytest.mark.parametrize(("event", "type_", "keys"), CASES, ids=lambda c: getattr(c, "type", ""))
def test_event_becomes_todays_log_line(event: E.Event, type_: str, keys: list[str]) -> None:
    d = E.to_dict(event)
    assert list(d) == ["at", "type", *keys]
    assert d["type"] == type_ == event.type
    assert json.loads(json.dumps(d)) == d  # plain JSON, nothing to stringify


def test_every_event_class_is_covered() -> None:
    covered = {type(ev) for ev, _, _ in CASES}
    assert covered == set(typing.get_args(E.Event))


def test_the_dict_is_a_copy_of_the_event() -> None:
    ev = E.Reverted(step_id="a", restored=["f"], conflicts=[{"path": "g", "reason": "x"}])
    d = E.to_dict(ev)
    d["restored"].append("h")
    d["conflicts"][0]["path"] = "changed"
    assert ev.restored == ["f"] and ev.conflicts == [{"path": "g", "reason": "x"}]


def test_command_shapes_fill_in_their_constant_fields() -> None:
    assert E.to_dict(E.CommandRefused(command="x"))["by"] == "policy"
    assert E.to_dict(E.CommandApproval(command="x", approve=True, by="me"))["kind"] == "command"
    assert E.to_dict(E.PlannerToolCall(line="l"))["role"] == "planner"
    assert E.to_dict(E.ExecutorToolCall(step_id="a", line="l"))["role"] == "executor"


# --- a workspace tool is told twice: before it runs and when it ended ----------------


def _loop(
    tmp_path: Path, calls: list[dict[str, Any]], cancel: CancelToken, seen: list[E.Event]
) -> None:
    """The executor's tool loop over a scripted model and a real workspace; its events
    go to ``seen``."""
    turns = [[{"type": "tool_use", "name": c["name"], "input": c["input"]}] for c in calls]
    turns.append([{"type": "tool_use", "name": "report_outcome", "input": {"ok": True}}])
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"executor": turns}), encoding="utf-8")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    tool_loop(
        model=ScriptedModel(script, "executor"),
        system="s",
        first_message="go",
        tools=[],
        toolbox=ToolBox(Workspace(ws), writable=True, cancel=cancel),
        terminal={"report_outcome": lambda call: ("ok", False, True)},
        max_turns=10,
        nudge="n",
        cancel=cancel,
        meter=Ledger().meter("executor"),
        on_tool=lambda r: seen.append(finished_event(r, "s1")),
        on_start=lambda r: seen.append(started_event(r, "s1")),
    )


def test_a_tool_starts_then_ends_with_the_same_id_and_structured_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    calls = [
        {"name": "write_file", "input": {"path": "./sub/a.txt", "content": "a\n"}},
        {"name": "read_file", "input": {"path": "notes.txt", "start_line": 2, "end_line": 3}},
        {"name": "run_command", "input": {"command": "echo hi; echo key=sk-test-0123456789abcdef"}},
        {"name": "edit_file", "input": {"path": "missing.txt", "old": "x", "new": "y"}},
    ]
    seen: list[E.Event] = []
    _loop(tmp_path, calls, CancelToken(), seen)
    kinds = [(type(e).__name__, getattr(e, "tool", "")) for e in seen]
    assert kinds == [
        ("ToolStarted", "write_file"),
        ("ExecutorToolCall", "write_file"),
        ("ToolStarted", "read_file"),
        ("ExecutorToolCall", "read_file"),
        ("ToolStarted", "run_command"),
        ("ExecutorToolCall", "run_command"),
        ("ToolStarted", "edit_file"),
        ("ExecutorToolCall", "edit_file"),
        ("ExecutorToolCall", "report_outcome"),  # a terminal tool ends at once: no start
    ]
    started = [e for e in seen if isinstance(e, E.ToolStarted)]
    done = [e for e in seen if isinstance(e, E.ExecutorToolCall)]
    assert [s.call_id for s in started] == [d.call_id for d in done[:4]]
    assert len({s.call_id for s in started}) == 4 and all(s.call_id for s in started)
    assert started[0].path == "sub/a.txt" and done[0].path == "sub/a.txt"  # normalised
    assert (done[1].path, done[1].start_line, done[1].end_line) == ("notes.txt", 2, 3)
    assert started[2].command == calls[2]["input"]["command"] and started[2].path is None
    assert done[2].output.startswith("exit 0") and "hi" in done[2].output
    assert "key=***" in done[2].output  # the log never holds a secret
    assert not any(d.is_error for d in done[:3]) and done[3].is_error
    assert done[3].line.startswith("edit_file missing.txt ✗")
    assert all(d.output == "" for d in done if d.tool != "run_command")


def test_a_tool_cancelled_while_it_runs_ends_failed(tmp_path: Path) -> None:
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    calls = [{"name": "run_command", "input": {"command": "sleep 17.317"}}]
    seen: list[E.Event] = []
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        _loop(tmp_path, calls, cancel, seen)
    assert time.monotonic() - t0 < 5
    started, done = seen
    assert isinstance(started, E.ToolStarted) and isinstance(done, E.ExecutorToolCall)
    assert done.call_id == started.call_id and done.is_error  # not left running
    assert "cancelled" in done.line and "cancelled" in done.output


def test_a_commands_output_goes_to_the_front_end_but_never_into_log_jsonl(tmp_path: Path) -> None:
    """An editor watching the step sees the command's output tail; the log keeps only the
    call's line, because a command can print secrets planloop was never told about."""
    from helpers import report, script, session, step, submit, tool, write

    FILE_CHECK = {"kind": "file_contains", "path": "out.txt", "pattern": "done"}

    ws = tmp_path / "ws"
    ws.mkdir()
    secret = "hunter2-notknown"  # printed by the command, not written in it
    path = script(
        tmp_path,
        [submit("print a value", [step("show", checks=[FILE_CHECK])])],
        [
            [
                tool("run_command", command="python3 -c \"print('hunter2-' + 'notknown')\""),
                *write("out.txt", "done\n"),
            ],
            report(),
        ],
    )
    seen: list[dict[str, Any]] = []
    orch = session(ws, path, events=seen)
    orch.create_plan("print a value")
    assert orch.run(all_steps=True).state == "done"
    told = [e for e in seen if e["type"] == "tool_call" and e.get("tool") == "run_command"]
    assert told and secret in told[0]["output"]
    logged = "".join(p.read_text() for p in (ws / ".planloop").rglob("log.jsonl"))
    assert "run_command" in logged
    assert secret not in logged

"""The smaller places a newcomer found the docs and the CLI disagreeing (issue 25, item 10).

Each test names the case it guards and failed before its fix. The CLI is called in
process (``planloop.cli.main``, as the demo does): what is checked is what it prints and
records, which is the same in a child process, and a child would add a second per call.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from helpers import script, step, submit
from planloop.cli import main
from planloop.cli.approver import user
from planloop.cli.inspect_commands import LOG_LINE_CHARS, shortened
from planloop.cli.parser import build_parser
from planloop.models.anthropic_clouds import CLOUDS
from planloop.models.registry import DEFAULT_EXECUTOR_SPEC, DEFAULT_PLANNER_SPEC, SPEC_FORMS
from standin_openai import OpenAIStandIn, chat

ROOT = Path(__file__).resolve().parents[1]


def cli(ws: Path, *argv: str) -> int:
    return main(["--workspace", str(ws), *argv])


def two_step_script(tmp: Path, goal: str = "Add square and notes") -> Path:
    square = step("square", checks=[{"kind": "file_exists", "path": "sq.py"}], files=["sq.py"])
    notes = step("notes", checks=[{"kind": "file_exists", "path": "NOTES.md"}], deps=["square"])
    return script(tmp, [submit(goal, [square, notes])], [])


def planned(ws: Path, goal: str = "Add square and notes") -> None:
    ws.mkdir(exist_ok=True)
    spec = f"scripted:{two_step_script(ws.parent, goal)}"
    assert cli(ws, "plan", goal, "--planner", spec, "--executor", spec) == 0


# -- docs -------------------------------------------------------------------------------


def test_readme_names_the_right_extra_for_vertex_and_bedrock() -> None:
    """Case: the README sent `vertex:` users to `planloop[bedrock]`."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    readme = (ROOT / "README.md").read_text()
    models = (ROOT / "docs" / "models.md").read_text()
    for scheme, (_module, extra) in CLOUDS.items():
        assert extra in extras, f"{scheme}: the extra {extra!r} is not in pyproject.toml"
        assert f"planloop[{extra}]" in readme, f"README does not name planloop[{extra}]"
        row = next(line for line in models.splitlines() if line.startswith(f"| `{scheme}:"))
        assert f"planloop[{extra}]" in row


def test_protocol_flag_table_names_every_spec_and_the_default_models() -> None:
    """Case: docs/protocol.md's serve flags named only anthropic/scripted specs and an old
    model id (claude-opus-4-1)."""
    doc = (ROOT / "docs" / "protocol.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `--planner SPEC`"))
    for form in SPEC_FORMS.split(","):
        assert f"`{form.strip()}`" in row
    assert "`scripted:<file.json>`" in row
    assert DEFAULT_PLANNER_SPEC in row and DEFAULT_EXECUTOR_SPEC in row
    assert "claude-opus-4-1" not in doc
    model = DEFAULT_PLANNER_SPEC.split(":", 1)[1]
    for editor in (ROOT / "examples" / "editors").rglob("*.*"):
        text = editor.read_text()
        if "--planner" in text:
            assert model in text, f"{editor} names another model than the default planner"


def test_cat_help_says_before_is_before_the_first_attempt() -> None:
    """Case: `cat --help` said `--before` was "before the step's last attempt"; it is the
    file as the step found it, before its first attempt (diff and revert span them all)."""
    cat = build_parser()._subparsers._group_actions[0].choices["cat"]  # type: ignore[union-attr]
    before = next(a for a in cat._actions if "--before" in a.option_strings)
    assert before.help is not None
    assert "first attempt" in before.help and "last attempt" not in before.help


# -- the command line --------------------------------------------------------------------


def test_serve_with_an_unknown_flag_prints_serves_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Case: `planloop serve --bogus` printed the top-level usage (the subcommands), not
    serve's flags."""
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--bogus"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: planloop serve ")
    assert "--log-level" in err
    assert err.rstrip().endswith("planloop serve: error: unrecognized arguments: --bogus")


def test_log_never_cuts_an_event_mid_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case: `planloop log` cut each event's JSON at 200 characters, mid-word."""
    goal = "Add square and notes " + " ".join(f"word{n}" for n in range(60))
    planned(tmp_path / "ws", goal)
    capsys.readouterr()
    assert cli(tmp_path / "ws", "log") == 0
    lines = capsys.readouterr().out.splitlines()
    created = next(line for line in lines if " plan_created " in line)
    # to a pipe, the whole event: its JSON reads back
    assert json.loads(created.split(" plan_created ", 1)[1])["goal"] == goal
    # on a terminal, shortened at a field's end and saying so
    fields = json.dumps({"goal": goal, "steps": ["square", "notes"], "cost_usd": 0.0})
    short = shortened(fields)
    assert len(short) < len(fields) and short.endswith("(cut; planloop log --json has every field)")
    kept = short.split(" … ")[0]
    assert fields.startswith(kept) and fields[len(kept)] == " "  # the goal: at a word's end
    two = json.dumps({"reason": "x" * 150, "evidence": "y" * 100})
    assert shortened(two).split(" … ")[0] == json.dumps({"reason": "x" * 150})[:-1]
    one_word = json.dumps({"reason": "x" * 50 + " " + "y" * (LOG_LINE_CHARS + 50)})
    assert shortened(one_word).split(" … ")[0] == one_word[: one_word.index(" ", 20)]


def test_an_approval_without_user_names_the_account_not_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case: with $USER unset an approval was recorded as by "terminal"."""
    for var in ("USER", "USERNAME", "LOGNAME", "LNAME"):
        monkeypatch.delenv(var, raising=False)
    import pwd

    assert user() == pwd.getpwuid(os.getuid()).pw_name

    def no_entry(uid: int) -> Any:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)  # a container's uid without an entry
    assert user() == "unknown user"
    monkeypatch.setenv("LOGNAME", "ann")
    assert user() == "ann"


def test_a_failed_run_step_yes_records_no_approval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case: `run --step notes --yes` on a plan awaiting review approved it, then failed
    (notes depends on square): the approval stayed."""
    ws = tmp_path / "ws"
    planned(ws)
    assert cli(ws, "run", "--step", "notes", "--yes") == 1
    err = capsys.readouterr().err
    assert "step 'notes' cannot run yet: it depends on square" in err
    assert cli(ws, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "awaiting_approval" and status["pending"] == "plan"
    log = (ws / ".planloop" / "plans" / status["plan_id"] / "log.jsonl").read_text()
    assert '"approval"' not in log
    # an unknown step is refused the same way
    assert cli(ws, "run", "--step", "nope", "--yes") == 1
    assert "unknown step 'nope'" in capsys.readouterr().err
    assert cli(ws, "status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["pending"] == "plan"


def test_clean_reset_shadow_says_it_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Case: `clean --reset-shadow` printed its message, then a log warning saying it again
    on stderr."""
    ws = tmp_path / "ws"
    planned(ws)
    (ws / ".planloop" / "shadow.git").mkdir()
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        assert cli(ws, "clean", "--reset-shadow") == 0
    out, err = capsys.readouterr()
    assert out.count("moved aside to") == 1 and "aside" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_mode_change_reasons_do_not_nest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case: split → joint → split read "ann chose split at review (was joint: ann chose
    joint at review (was split: …))"."""
    monkeypatch.setenv("USER", "ann")
    ws = tmp_path / "ws"
    planned(ws)
    assert cli(ws, "mode", "joint") == 0
    assert cli(ws, "mode", "split") == 0
    capsys.readouterr()
    assert cli(ws, "show", "--json") == 0
    reason = json.loads(capsys.readouterr().out)["mode_choice"]["reason"]
    assert reason == "ann chose split at review (was joint, chosen by ann at review)"
    assert cli(ws, "show", "--json", "--version", "2") == 0
    first = json.loads(capsys.readouterr().out)["mode_choice"]["reason"]
    assert first == "ann chose joint at review (was split: mode = split)"


def test_an_unpriced_model_gets_no_dollar_estimate(
    tmp_path: Path, openai_standin: OpenAIStandIn
) -> None:
    """Case: the plan document showed the planner's "**Estimate:** $0.50" while the run's
    cost read "N tokens, cost unknown" (an ollama model has no price)."""
    from test_unpriced_costs import orchestrator

    ws = tmp_path / "ws"
    ws.mkdir()
    draft = submit("Add hello", [step("hello", checks=[{"kind": "file_exists", "path": "h"}])])
    draft[0]["input"]["estimate"] = {"cost_usd": 0.5, "duration_s": 60}
    openai_standin.enqueue(chat(calls=[("submit_plan", draft[0]["input"])]))
    o = orchestrator(ws, openai_standin, None)
    plan = o.create_plan("Add hello")
    assert plan.estimate.cost_usd is None and plan.estimate.duration_s == 60
    md = (ws / ".planloop" / "plan.md").read_text()
    assert re.search(r"^\*\*Estimate:\*\* 60 s$", md, re.M)
    # a priced (scripted) planner keeps its dollar estimate
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    path = script(tmp_path, [draft], [], name="priced.json")
    spec = f"scripted:{path}"
    assert cli(ws2, "plan", "Add hello", "--planner", spec, "--executor", spec) == 0
    assert "**Estimate:** $0.50 · 60 s" in (ws2 / ".planloop" / "plan.md").read_text()

"""The scripted model: replay, usage, exhaustion, bad files, resume, expect, registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from planloop.cancel import CancelToken
from planloop.models.base import ModelError, Usage
from planloop.models.registry import SCRIPTED_STATE_FILE, make_model
from planloop.models.scripted import ScriptedModel

USER = [{"role": "user", "content": "Goal: add subtract()"}]
SCRIPT: dict[str, Any] = {
    "_comment": "two planner turns, three executor turns",
    "planner": [
        [{"type": "tool_use", "name": "list_files", "input": {}}],
        {
            "content": [
                {"type": "text", "text": "Here is the plan."},
                {
                    "type": "tool_use",
                    "id": "toolu_plan",
                    "name": "submit_plan",
                    "input": {"goal": "g"},
                },
            ],
            "usage": {
                "input_tokens": 900,
                "output_tokens": 120,
                "cache_read_input_tokens": 800,
                "cache_creation_input_tokens": 100,
            },
        },
    ],
    "executor": [
        [{"type": "text", "text": "step 1"}],
        [{"type": "text", "text": "step 2"}],
        [{"type": "text", "text": "step 3"}],
    ],
}


def write(tmp_path: Path, data: Any, name: str = "demo.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def turn(m: ScriptedModel, messages: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    return m.complete(system="s", messages=messages or USER, tools=[], **kw)


def fail(m: ScriptedModel, messages: list[dict[str, Any]] | None = None, **kw: Any) -> ModelError:
    with pytest.raises(ModelError) as info:
        turn(m, messages, **kw)
    return info.value


# -- replay --------------------------------------------------------------------------------


def test_replays_each_roles_turns_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    planner = ScriptedModel(path, "planner")
    executor = ScriptedModel(path, "executor")

    assert [turn(executor).text for _ in range(2)] == ["step 1", "step 2"]
    first = turn(planner)
    assert first.stop_reason == "tool_use" and first.tool_calls[0].name == "list_files"
    second = turn(planner)
    assert second.text == "Here is the plan." and second.tool_calls[0].id == "toolu_plan"
    assert turn(executor).text == "step 3"


def test_label_says_scripted_and_usage_is_replayed(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    m = ScriptedModel(str(path), "planner")
    assert m.scripted is True
    assert m.label == f"scripted:{path} (scripted)"
    first, second = turn(m), turn(m)
    assert first.usage == Usage()
    assert second.usage == Usage(
        input_tokens=900, output_tokens=120, cache_read_tokens=800, cache_write_tokens=100
    )
    assert second.cost_usd == 0.0 and second.model == m.label


def test_missing_tool_use_ids_are_generated_unique_and_stable(tmp_path: Path) -> None:
    script = {
        "executor": [
            [{"type": "tool_use", "name": "read_file", "input": {"path": p}}] for p in "ab"
        ]
    }
    path = write(tmp_path, script)
    ids = [turn(ScriptedModel(path, "executor")).tool_calls[0].id for _ in range(2)]
    assert ids[0] == ids[1]  # same turn, same id, in any process
    m = ScriptedModel(path, "executor")
    a, b = turn(m).tool_calls[0].id, turn(m).tool_calls[0].id
    assert a != b and a.startswith("toolu_")


def test_replayed_content_is_a_copy_the_caller_may_change(tmp_path: Path) -> None:
    path = write(tmp_path, {"executor": [[{"type": "tool_use", "name": "x", "input": {"k": 1}}]]})
    m = ScriptedModel(path, "executor")
    reply = turn(m)
    reply.content[0]["input"]["k"] = 99
    m.reset()
    assert turn(m).tool_calls[0].input == {"k": 1}


def test_stop_reason_max_tokens_in_a_script_fails_like_the_real_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"executor": [{"content": [{"type": "text", "text": "cut"}], "stop_reason": "max_tokens"}]},
    )
    err = fail(ScriptedModel(path, "executor"), max_tokens=77)
    assert err.kind == "max_tokens" and "max_tokens=77" in err.message
    assert err.reply is not None and err.reply.text == "cut"


def test_error_turn_raises_that_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "executor": [
                {"error": {"kind": "overloaded", "message": "busy", "retryable": True}},
                [{"type": "text", "text": "after"}],
            ]
        },
    )
    m = ScriptedModel(path, "executor")
    err = fail(m)
    assert (err.kind, err.message, err.retryable) == ("overloaded", "busy", True)
    assert turn(m).text == "after"


def test_cancelled_token_raises_cancelled_without_using_a_turn(tmp_path: Path) -> None:
    m = ScriptedModel(write(tmp_path, SCRIPT), "executor")
    token = CancelToken()
    token.cancel()
    assert fail(m, cancel=token).kind == "cancelled"
    assert m.position == 0


# -- exhaustion and bad files ----------------------------------------------------------------


def test_exhausted_script_names_the_file_and_role(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    m = ScriptedModel(path, "planner")
    turn(m), turn(m)
    err = fail(m)
    assert err.kind == "script_exhausted"
    assert str(path) in err.message and "planner" in err.message and "turn 3" in err.message


def test_role_missing_from_the_script_is_exhausted_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, {"planner": SCRIPT["planner"]})
    err = fail(ScriptedModel(path, "executor"))
    assert err.kind == "script_exhausted" and "executor" in err.message


def test_bad_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        ScriptedModel(tmp_path / "nope.json", "planner")
    assert info.value.kind == "bad_spec" and "nope.json" in info.value.message
    assert "does not exist" in info.value.message


BAD_SCRIPTS = {
    "invalid-json": '{"planner": [',
    "not-an-object": "[1, 2]",
    "unknown-role-key": {"planer": []},
    "no-roles": {"_comment": "empty"},
    "role-not-a-list": {"planner": {"content": []}},
    "turn-not-a-list-or-object": {"planner": ["hello"]},
    "empty-content": {"planner": [{"content": []}]},
    "unknown-turn-key": {"planner": [{"content": [{"type": "text", "text": "x"}], "usge": {}}]},
    "block-unknown-type": {"planner": [[{"type": "image"}]]},
    "text-without-text": {"planner": [[{"type": "text"}]]},
    "tool-use-without-name": {"planner": [[{"type": "tool_use", "input": {}}]]},
    "tool-input-not-object": {"planner": [[{"type": "tool_use", "name": "x", "input": [1]}]]},
    "negative-usage": {
        "planner": [{"content": [{"type": "text", "text": "x"}], "usage": {"input_tokens": -1}}]
    },
    "unknown-usage-field": {
        "planner": [{"content": [{"type": "text", "text": "x"}], "usage": {"tokens": 1}}]
    },
    "bad-stop-reason": {
        "planner": [{"content": [{"type": "text", "text": "x"}], "stop_reason": "done"}]
    },
    "empty-expect": {"planner": [{"content": [{"type": "text", "text": "x"}], "expect": ""}]},
    "error-and-content": {
        "planner": [{"error": {"kind": "server"}, "content": [{"type": "text", "text": "x"}]}]
    },
}


@pytest.mark.parametrize("data", BAD_SCRIPTS.values(), ids=BAD_SCRIPTS.keys())
def test_bad_file_is_bad_spec_naming_the_file(tmp_path: Path, data: Any) -> None:
    path = write(tmp_path, data, "broken.json")
    with pytest.raises(ModelError) as info:
        ScriptedModel(path, "planner")
    assert info.value.kind == "bad_spec"
    assert str(path) in info.value.message


def test_bad_turn_error_names_role_and_turn_number(tmp_path: Path) -> None:
    path = write(tmp_path, {"executor": [[{"type": "text", "text": "ok"}], [{"type": "text"}]]})
    with pytest.raises(ModelError) as info:
        ScriptedModel(path, "planner")  # the whole file is checked, not only this role
    assert "executor turn 2" in info.value.message


# -- resume across processes ----------------------------------------------------------------


def test_position_resumes_from_the_state_file(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    state = tmp_path / ".planloop" / "scripted-state.json"
    first = ScriptedModel(path, "executor", state_path=state)
    assert turn(first).text == "step 1"

    again = ScriptedModel(path, "executor", state_path=state)  # as a later process would
    assert again.position == 1
    assert turn(again).text == "step 2"
    planner = ScriptedModel(path, "planner", state_path=state)  # same file, own position
    assert planner.position == 0
    turn(planner)
    saved = json.loads(state.read_text())
    assert saved["scripts"][str(path.resolve())]["next"] == {"executor": 2, "planner": 1}
    assert [p.name for p in state.parent.iterdir()] == ["scripted-state.json"]  # no temp left


def test_position_resumes_in_a_new_process(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    state = tmp_path / "state.json"
    code = (
        "import sys; from planloop.models.scripted import ScriptedModel; "
        "m = ScriptedModel(sys.argv[1], 'executor', state_path=sys.argv[2]); "
        "print(m.complete(system='', messages=[{'role': 'user', 'content': 'go'}], tools=[]).text)"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code, str(path), str(state)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert outs == ["step 1", "step 2"]


def test_editing_the_script_starts_it_again(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    state = tmp_path / "state.json"
    turn(ScriptedModel(path, "executor", state_path=state))
    edited = {**SCRIPT, "executor": [[{"type": "text", "text": "new 1"}]]}
    write(tmp_path, edited)
    m = ScriptedModel(path, "executor", state_path=state)
    assert m.position == 0 and turn(m).text == "new 1"


def test_reset_starts_the_role_again_and_persists(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    state = tmp_path / "state.json"
    m = ScriptedModel(path, "executor", state_path=state)
    turn(m), turn(m)
    m.reset()
    assert ScriptedModel(path, "executor", state_path=state).position == 0


def test_damaged_state_file_is_bad_spec_saying_how_to_recover(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    state = tmp_path / "state.json"
    state.write_text("{not json")
    err = fail(ScriptedModel(path, "executor", state_path=state))
    assert err.kind == "bad_spec" and str(state) in err.message and "delete it" in err.message


# -- expect ----------------------------------------------------------------------------------


def expecting(expect: Any) -> dict[str, Any]:
    return {"executor": [{"content": [{"type": "text", "text": "fixed"}], "expect": expect}]}


def test_expect_found_in_the_last_user_message_replays(tmp_path: Path) -> None:
    m = ScriptedModel(write(tmp_path, expecting("3 passed")), "executor")
    messages = [
        {"role": "user", "content": "run the tests"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "run", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "=== 3 passed in 0.1s"}
            ],
        },
    ]
    assert turn(m, messages).text == "fixed"


def test_expect_checks_only_the_last_user_message(tmp_path: Path) -> None:
    m = ScriptedModel(write(tmp_path, expecting(["passed", "calc.py"])), "executor")
    messages = [
        {"role": "user", "content": "calc.py: 3 passed"},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": "1 failed in calc.py"}]},
    ]
    err = fail(m, messages)
    assert err.kind == "script_mismatch"
    assert "'passed'" in err.message and "1 failed in calc.py" in err.message
    assert m.position == 0  # a mismatch does not use up the turn


def test_turn_without_expect_replays_whatever_was_said(tmp_path: Path) -> None:
    m = ScriptedModel(write(tmp_path, SCRIPT), "executor")
    assert turn(m, [{"role": "user", "content": "anything at all"}]).text == "step 1"


# -- registry -------------------------------------------------------------------------------


def test_registry_builds_scripted_model_with_state_in_state_dir(tmp_path: Path) -> None:
    path = write(tmp_path, SCRIPT)
    state_dir = tmp_path / "ws" / ".planloop"
    m = make_model(f"scripted:{path}", "executor", state_dir=state_dir)
    assert isinstance(m, ScriptedModel) and m.scripted and m.label.endswith("(scripted)")
    turn(m)
    assert (state_dir / SCRIPTED_STATE_FILE).is_file()
    assert turn(make_model(f"scripted:{path}", "executor", state_dir=state_dir)).text == "step 2"


def test_registry_scripted_bad_file_is_bad_spec(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        make_model(f"scripted:{tmp_path / 'missing.json'}", "planner")
    assert info.value.kind == "bad_spec" and "missing.json" in info.value.message


def test_registry_rejects_unknown_role(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        make_model(f"scripted:{write(tmp_path, SCRIPT)}", "reviewer")  # type: ignore[arg-type]
    assert info.value.kind == "bad_spec" and "reviewer" in info.value.message

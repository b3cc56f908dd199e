"""The scripted adapter: replays recorded assistant turns, for tests and the offline demo.

A script is JSON, ``{"planner": [turn, ...], "executor": [turn, ...]}``, each role's
turns replayed in order. A turn is either a Messages-API ``content`` array (text and
tool_use blocks) or an object::

    {"content": [...],                  # the assistant's blocks
     "usage": {"input_tokens": 900, "output_tokens": 120,
               "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
     "stop_reason": "tool_use",         # default: tool_use if it calls a tool, else end_turn
     "expect": "3 passed"}              # optional: text the last user message must contain

or ``{"error": {"kind": "overloaded", "message": "...", "retryable": true}}`` to replay a
failed call. A tool_use block without an ``id`` gets a stable one. Keys starting with
``_`` are comments, at the top level and in turn objects.

``expect`` keeps a demo honest: the script cannot know what the code under test
really did, so a turn can name text that must appear in the last user message (its
text and tool results, e.g. a check's output). If it does not, the call fails with
``script_mismatch`` instead of replaying an answer to a different situation.

Position across processes: with ``state_path`` set, the index of each role's next
turn is kept in that JSON file (replaced atomically, keyed by the script's absolute
path and content hash). A CLI run that stops for approval (exit 3) and a later
``planloop approve`` / ``planloop run`` in a new process then continue where the
script left off. Editing the script (its hash changes) starts it from the first
turn again; ``reset()`` does so explicitly, e.g. when a new plan is made. Without
``state_path`` the position lives only in this object.

Scripted models always say so: ``label`` ends in ``(scripted)`` and ``scripted`` is
True, so no output can pass a replay off as a real model's work.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from planloop.cancel import CancelToken
from planloop.fsutil import atomic_write
from planloop.models.base import ModelError, ModelReply, ToolSpec, Usage, stop_reason_error
from planloop.models.pricing import cost_usd

ROLES = ("planner", "executor")
STOP_REASONS = (
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "refusal",
    "pause_turn",
    "model_context_window_exceeded",
)
USAGE_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
}
TURN_KEYS = ("content", "usage", "stop_reason", "expect", "error")

# One process-wide lock: the planner and executor models of a run share a state file.
_STATE_LOCK = threading.Lock()


class _Turn:
    __slots__ = ("content", "error", "expect", "stop_reason", "usage")

    def __init__(
        self,
        content: list[dict[str, Any]],
        usage: Usage,
        stop_reason: str,
        expect: list[str],
        error: ModelError | None,
    ) -> None:
        self.content = content
        self.usage = usage
        self.stop_reason = stop_reason
        self.expect = expect
        self.error = error


class ScriptedModel:
    """Replays one role's turns from a script file (see the module docstring)."""

    scripted = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        role: str,
        *,
        state_path: str | os.PathLike[str] | None = None,
        prices: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        if role not in ROLES:
            raise ModelError("bad_spec", f"role must be one of {', '.join(ROLES)}, not {role!r}")
        self.path = Path(path)
        self.role = role
        self.label = f"scripted:{os.fspath(path)} (scripted)"
        self.state_path = Path(state_path) if state_path is not None else None
        raw = self._read()
        self._sha256 = hashlib.sha256(raw).hexdigest()
        self._key = str(self.path.resolve())
        self._turns = _parse(raw, self.path)[role]
        self._price_as = _parse_price_as(raw, self.path).get(role)
        self._prices = prices
        if self._price_as:
            self.label = f"scripted:{os.fspath(path)} (scripted, priced as {self._price_as})"
        self._next = 0

    # -- the port ----------------------------------------------------------------

    def complete(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int = 8192,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        """Replay the next turn; raises ModelError like a real model would."""
        if cancel is not None and cancel.cancelled:
            raise ModelError("cancelled", f"{self.label}: cancelled by the user.")
        index = self.position
        if index >= len(self._turns):
            where = f" (position kept in {self.state_path})" if self.state_path else ""
            raise ModelError(
                "script_exhausted",
                f"{self.label}: the {self.role} script in {self.path} has no turn "
                f"{index + 1}; all {len(self._turns)} {self.role} turn(s) were used"
                f"{where}. The run needed more model turns than the script holds: add "
                f'turns to "{self.role}" in {self.path}, or start the script again.',
            )
        turn = self._turns[index]
        self._check_expect(turn, index, messages)
        self._store_position(index + 1)
        if turn.error is not None:
            raise ModelError(turn.error.kind, turn.error.message, retryable=turn.error.retryable)
        reply = ModelReply(
            content=copy.deepcopy(turn.content),
            stop_reason=turn.stop_reason,
            usage=copy.copy(turn.usage),
            cost_usd=cost_usd(self._price_as, turn.usage, self._prices) if self._price_as else 0.0,
            model=self.label,
        )
        error = stop_reason_error(reply.stop_reason, self.label, max_tokens)
        if error is not None:
            error.reply = reply
            raise error
        return reply

    # -- position ------------------------------------------------------------------

    @property
    def position(self) -> int:
        """Index of this role's next turn (0-based)."""
        if self.state_path is None:
            return self._next
        with _STATE_LOCK:
            entry = self._load_state().get("scripts", {}).get(self._key)
        if not isinstance(entry, dict) or entry.get("sha256") != self._sha256:
            return 0
        value = entry.get("next", {}).get(self.role, 0)
        return value if isinstance(value, int) and value >= 0 else 0

    @property
    def turns(self) -> int:
        """How many turns the script holds for this role."""
        return len(self._turns)

    def reset(self) -> None:
        """Start this role's script from its first turn again."""
        self._store_position(0)

    def _store_position(self, value: int) -> None:
        self._next = value
        if self.state_path is None:
            return
        with _STATE_LOCK:
            state = self._load_state()
            scripts = state.setdefault("scripts", {})
            entry = scripts.get(self._key)
            if not isinstance(entry, dict) or entry.get("sha256") != self._sha256:
                entry = {"sha256": self._sha256, "next": {}}
            entry["next"][self.role] = value
            scripts[self._key] = entry
            state["version"] = 1
            _write_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True) + "\n")

    def _load_state(self) -> dict[str, Any]:
        assert self.state_path is not None
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ModelError(
                "bad_spec", f"cannot read the scripted state file {self.state_path}: {exc}"
            ) from None
        except UnicodeDecodeError:
            text = None
        try:
            if text is None:
                raise ValueError("not UTF-8 text")
            state: object = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON: {exc.msg} at line {exc.lineno}"
        except ValueError as exc:
            problem = str(exc)
        else:
            if isinstance(state, dict) and isinstance(state.get("scripts", {}), dict):
                return state
            problem = 'not an object with a "scripts" table'
        raise ModelError(
            "bad_spec",
            f"the scripted state file {self.state_path} is damaged ({problem}); "
            "delete it to replay the scripts from their first turns.",
        )

    # -- checks --------------------------------------------------------------------

    def _check_expect(self, turn: _Turn, index: int, messages: list[dict[str, Any]]) -> None:
        if not turn.expect:
            return
        last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        text = _message_text(last) if last is not None else ""
        missing = [e for e in turn.expect if e not in text]
        if missing:
            seen = " ".join(text.split())
            seen = seen if len(seen) <= 240 else seen[:239] + "…"
            raise ModelError(
                "script_mismatch",
                f"{self.label}: {self.role} turn {index + 1} expects the last user message "
                f"to contain {missing[0]!r}, but it does not (it reads: {seen!r}). The run "
                f"went differently from what {self.path} was written for; fix the "
                'script\'s "expect" or the code under test.',
            )

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise ModelError(
                "bad_spec",
                f"scripted model file {self.path} does not exist (relative paths start "
                f"at {Path.cwd()}); check the path after 'scripted:'.",
            ) from None
        except IsADirectoryError:
            raise ModelError(
                "bad_spec", f"scripted model file {self.path} is a directory, not a JSON file."
            ) from None
        except OSError as exc:
            raise ModelError(
                "bad_spec", f"cannot read scripted model file {self.path}: {exc.strerror}"
            ) from None


# -- parsing ------------------------------------------------------------------------------


def _parse(raw: bytes, path: Path) -> dict[str, list[_Turn]]:
    """Validate the whole script up front, so a typo fails at start, not mid-run."""

    def bad(where: str, why: str) -> ModelError:
        return ModelError("bad_spec", f"scripted model file {path}: {where}{why}")

    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad("", "is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise bad(
            "", f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if not isinstance(data, dict):
        raise bad("", 'must be a JSON object like {"planner": [...], "executor": [...]}.')
    unknown = [k for k in data if k not in (*ROLES, "price_as") and not k.startswith("_")]
    if unknown:
        raise bad("", f'unknown key {unknown[0]!r}; expected "planner" and/or "executor".')
    if not any(role in data for role in ROLES):
        raise bad("", 'has neither a "planner" nor an "executor" list of turns.')
    result: dict[str, list[_Turn]] = {}
    for role in ROLES:
        turns = data.get(role, [])
        if not isinstance(turns, list):
            raise bad(f'"{role}": ', "must be a list of turns.")
        result[role] = [
            _parse_turn(
                turn, role, i, lambda why, i=i, role=role: bad(f"{role} turn {i + 1}: ", why)
            )
            for i, turn in enumerate(turns)
        ]
    return result


def _parse_price_as(raw: bytes, path: Path) -> dict[str, str]:
    """``"price_as": {"executor": "claude-sonnet-5-5"}``: cost replayed usage like that model.

    A demo that shows cost per step needs numbers; they are labelled as priced-as, and
    a scripted model without ``price_as`` costs nothing.
    """
    data = json.loads(raw.decode("utf-8"))
    price_as = data.get("price_as", {})
    if not isinstance(price_as, dict) or not all(
        isinstance(k, str) and k in ROLES and isinstance(v, str) and v for k, v in price_as.items()
    ):
        raise ModelError(
            "bad_spec",
            f'scripted model file {path}: "price_as" must map "planner"/"executor" to a model id.',
        )
    return price_as


def _parse_turn(turn: Any, role: str, index: int, bad: Any) -> _Turn:
    if isinstance(turn, list):
        turn = {"content": turn}
    if not isinstance(turn, dict):
        raise bad('must be a list of content blocks or an object with "content".')
    unknown = [k for k in turn if k not in TURN_KEYS and not k.startswith("_")]
    if unknown:
        raise bad(f"unknown key {unknown[0]!r}; allowed: {', '.join(TURN_KEYS)}.")
    expect = _parse_expect(turn.get("expect"), bad)
    if "error" in turn:
        if "content" in turn:
            raise bad('has both "error" and "content"; a failed call has no content.')
        return _Turn([], Usage(), "end_turn", expect, _parse_error(turn["error"], bad))
    content = turn.get("content")
    if not isinstance(content, list) or not content:
        raise bad('needs a non-empty "content" list of text/tool_use blocks.')
    blocks = [_parse_block(b, role, index, j, bad) for j, b in enumerate(content)]
    has_tool = any(b["type"] == "tool_use" for b in blocks)
    stop_reason = turn.get("stop_reason", "tool_use" if has_tool else "end_turn")
    if stop_reason not in STOP_REASONS:
        raise bad(f"stop_reason {stop_reason!r} is not one of {', '.join(STOP_REASONS)}.")
    return _Turn(blocks, _parse_usage(turn.get("usage"), bad), stop_reason, expect, None)


def _parse_block(block: Any, role: str, turn: int, index: int, bad: Any) -> dict[str, Any]:
    where = f"block {index + 1} "
    if not isinstance(block, dict):
        raise bad(where + 'must be an object with a "type".')
    kind = block.get("type")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise bad(where + 'is a text block without a "text" string.')
        return {"type": "text", "text": block["text"]}
    if kind == "tool_use":
        name = block.get("name")
        if not isinstance(name, str) or not name:
            raise bad(where + 'is a tool_use block without a "name".')
        tool_input = block.get("input", {})
        if not isinstance(tool_input, dict):
            raise bad(where + f'({name}): "input" must be an object.')
        block_id = block.get("id", f"toolu_scripted_{role}_{turn + 1:03d}_{index + 1}")
        if not isinstance(block_id, str) or not block_id:
            raise bad(where + f'({name}): "id" must be a non-empty string.')
        return {"type": "tool_use", "id": block_id, "name": name, "input": tool_input}
    raise bad(where + f"has type {kind!r}; scripts hold text and tool_use blocks.")


def _parse_usage(usage: Any, bad: Any) -> Usage:
    if usage is None:
        return Usage()
    if not isinstance(usage, dict):
        raise bad('"usage" must be an object.')
    values: dict[str, int] = {}
    for key, value in usage.items():
        if key not in USAGE_FIELDS:
            raise bad(f"usage has unknown field {key!r}; allowed: {', '.join(USAGE_FIELDS)}.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(f"usage.{key} must be a whole number of tokens, not {value!r}.")
        values[USAGE_FIELDS[key]] = value
    return Usage(**values)


def _parse_expect(expect: Any, bad: Any) -> list[str]:
    if expect is None:
        return []
    items = [expect] if isinstance(expect, str) else expect
    if not isinstance(items, list) or not all(isinstance(e, str) and e for e in items):
        raise bad('"expect" must be a non-empty string or a list of them.')
    return list(items)


def _parse_error(error: Any, bad: Any) -> ModelError:
    if not isinstance(error, dict) or not isinstance(error.get("kind"), str):
        raise bad('"error" must be an object with a "kind" (and a "message").')
    message = error.get("message", f"scripted {error['kind']} error")
    retryable = error.get("retryable", False)
    if not isinstance(message, str) or not isinstance(retryable, bool):
        raise bad('"error.message" must be a string and "error.retryable" true or false.')
    return ModelError(error["kind"], message, retryable=retryable)


def _message_text(message: dict[str, Any]) -> str:
    """The text a user turn carries: plain text, text blocks and tool results."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                parts.append(inner)
            elif isinstance(inner, list):
                parts.extend(str(b.get("text", "")) for b in inner if isinstance(b, dict))
    return "\n".join(parts)


def _write_atomic(path: Path, text: str) -> None:
    """Temp file, fsync, rename, fsync the directory: a crash never leaves half a state file."""
    atomic_write(path, text)

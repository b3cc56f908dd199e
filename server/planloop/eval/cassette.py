"""Cassettes: every model request and response of a run, recorded and replayed at the port.

A :class:`RecordingModel` wraps any :class:`~planloop.models.base.Model` and keeps each
call's request (system prompt, messages, tools, max_tokens) with its reply or error; a
:class:`ReplayModel` answers from such a recording without a key or a network, and fails
on the first request that differs from the recorded one, naming where (``messages[3]
.content[0].text``) and both values. So an eval that was recorded once is a regression
test: the same code must ask the same questions.

What varies between two honest runs is masked before requests are compared or stored:
the workspace's path (every run has its own temporary copy), other temporary paths, plan
ids, timestamps, clock times, durations a test runner prints ("3 passed in 0.04s", "12ms")
and memory addresses (``<function add at 0x7f3a…>`` in a traceback). The recorded side is
masked again when compared, so a cassette recorded before a mask was added still replays.
A mismatch names the first differing character of a text with context on both sides: two
long texts cut at the same length would otherwise look identical.

A cassette is found by task, mode and repeat alone (``DIR/<task>/<mode>-r<N>.json``), not
by the model flags: replaying needs no key and no flags, so a run recorded on real models
replays anywhere. The cassette keeps the label of the configuration that recorded it
(``config``), so the replayed report names the same configuration.

The user's MCP tools are recorded at their port too (``role: "mcp"``: the tools each
role was offered and every call's result), so a replay runs without their servers.

A cassette file carries ``format``, ``version`` (of this format) and a sha256 ``digest``
of its interactions: a file from another version, or edited by hand, is refused with a
one-line :class:`CassetteError` instead of replaying something nobody recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from planloop.cancel import CancelToken
from planloop.errors import PlanloopError
from planloop.mcp_port import McpTools, ServerStatus, ToolResult
from planloop.models.base import Model, ModelError, ModelReply, ToolSpec, Usage

FORMAT = "planloop-cassette"
VERSION = 1

#: characters of context shown on each side of the first difference of two texts
CONTEXT = 40


def _temp_paths() -> re.Pattern[str]:
    """A path under a temporary directory, which a run or its tools create afresh every
    time: this process's (as named and as resolved: /tmp vs /private/tmp) and the system's,
    which a sandboxed command sees whatever TMPDIR the worker had."""
    here = tempfile.gettempdir()
    dirs = {here, os.path.realpath(here), "/tmp", "/var/tmp", "/private/tmp"}
    alts = "|".join(re.escape(d.rstrip("/")) for d in sorted(dirs, key=len, reverse=True))
    return re.compile(rf"(?:{alts})/[^\s'\"`<>()\[\]{{}},;:]*")


_MASKS = [
    (re.compile(r"pln_[0-9a-f]{8}"), "pln_<id>"),
    (_temp_paths(), "<tmp>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "<time>"),
    (re.compile(r"\b\d\d?:\d\d:\d\d(?:\.\d+)?\b"), "<clock>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s|secs?|seconds?)\b"), "<secs>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "0x<addr>"),
]


class CassetteError(PlanloopError):
    """A cassette that cannot be used (missing, damaged, another version, edited)."""

    default_kind = "cassette"


def _masked(value: Any, root: str) -> Any:
    if isinstance(value, str):
        text = value.replace(root, "<workspace>") if root else value
        for pattern, repl in _MASKS:
            text = pattern.sub(repl, text)
        return text
    if isinstance(value, list):
        return [_masked(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, root) for k, v in value.items()}
    return value


def request_of(
    system: str, messages: list[dict[str, Any]], tools: list[ToolSpec], max_tokens: int, root: str
) -> dict[str, Any]:
    """The request as recorded: JSON-plain, with the run-specific parts masked."""
    plain = json.loads(
        json.dumps(
            {
                "system": system,
                "messages": messages,
                "tools": [t.name for t in tools],
                "max_tokens": max_tokens,
            },
            default=str,
        )
    )
    masked: dict[str, Any] = _masked(plain, root)
    return masked


def first_difference(recorded: Any, got: Any, where: str = "request") -> str | None:
    """Where two JSON values first differ, as a path and both values; None if equal."""
    if isinstance(recorded, dict) and isinstance(got, dict):
        for key in list(recorded) + [k for k in got if k not in recorded]:
            if key not in got:
                return f"{where}.{key}: recorded, but missing now"
            if key not in recorded:
                return f"{where}.{key}: not in the recording"
            diff = first_difference(recorded[key], got[key], f"{where}.{key}")
            if diff:
                return diff
        return None
    if isinstance(recorded, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(recorded, got, strict=False)):
            diff = first_difference(a, b, f"{where}[{i}]")
            if diff:
                return diff
        if len(recorded) != len(got):
            return f"{where}: {len(recorded)} item(s) recorded, {len(got)} now"
        return None
    if isinstance(recorded, str) and isinstance(got, str) and recorded != got:
        at = next(
            (i for i, (a, b) in enumerate(zip(recorded, got, strict=False)) if a != b),
            min(len(recorded), len(got)),
        )
        return (
            f"{where}, at character {at}: recorded {_around(recorded, at)}, got {_around(got, at)}"
        )
    if recorded != got:
        return f"{where}: recorded {_short(recorded)}, got {_short(got)}"
    return None


def _around(text: str, at: int) -> str:
    """``text`` around offset ``at``: CONTEXT characters each side, JSON-quoted, with …
    where it was cut."""
    start, end = max(0, at - CONTEXT), min(len(text), at + CONTEXT)
    quoted = json.dumps(text[start:end], ensure_ascii=False)[1:-1]
    head = "…" if start > 0 else ""
    tail = "…" if end < len(text) else ""
    return f'"{head}{quoted}{tail}"'


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:119] + "…"


def _digest(interactions: list[dict[str, Any]]) -> str:
    canon = json.dumps(interactions, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


class Cassette:
    """The interactions of one run, in call order, each tagged with its role."""

    def __init__(
        self, interactions: list[dict[str, Any]] | None = None, config: str | None = None
    ) -> None:
        self.interactions: list[dict[str, Any]] = interactions or []
        #: the label of the configuration that recorded it (``split[PLANNER|EXECUTOR]``)
        self.config = config

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "digest": _digest(self.interactions),
            "config": self.config,
            "interactions": self.interactions,
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Cassette:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            there = (
                sorted(q.name for q in path.parent.glob("*.json")) if path.parent.is_dir() else []
            )
            found = (
                f"{path.parent} holds {', '.join(there)}" if there else "none was recorded there"
            )
            raise CassetteError(
                f"no cassette {path} for this task, mode and repeat ({found}); --replay "
                "finds DIR/<task>/<mode>-r<N>.json as --record wrote it"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CassetteError(f"cassette {path} cannot be read: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise CassetteError(f"{path} is not a planloop cassette")
        if doc.get("version") != VERSION:
            raise CassetteError(
                f"cassette {path} is version {doc.get('version')!r}; this planloop reads "
                f"version {VERSION}: record it again with --record"
            )
        interactions = doc.get("interactions")
        if not isinstance(interactions, list) or doc.get("digest") != _digest(interactions):
            raise CassetteError(
                f"cassette {path} was changed after it was recorded (its digest does not "
                "match): record it again instead of editing it"
            )
        config = doc.get("config")
        return cls(interactions, config if isinstance(config, str) else None)

    def recorder(self, model: Model, role: str, root: Path) -> RecordingModel:
        return RecordingModel(model, role, self, str(root))

    def player(self, role: str, root: Path, source: Path) -> ReplayModel:
        return ReplayModel(role, self, str(root), source)

    def mcp_recorder(self, inner: McpTools | None) -> McpTools | None:
        return RecordingMcp(inner, self) if inner is not None else None

    def mcp_player(self, source: Path) -> McpTools:
        return ReplayMcp(self, source)


class RecordingModel:
    """Passes every call to the real model and writes down what was asked and answered."""

    def __init__(self, inner: Model, role: str, cassette: Cassette, root: str) -> None:
        self.inner = inner
        self.role = role
        self.cassette = cassette
        self.root = root
        self.label = inner.label
        self.scripted = inner.scripted

    def complete(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int = 8192,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        request = request_of(system, messages, tools, max_tokens, self.root)
        entry: dict[str, Any] = {"role": self.role, "request": request}
        try:
            reply = self.inner.complete(
                system=system, messages=messages, tools=tools, max_tokens=max_tokens, cancel=cancel
            )
        except ModelError as e:
            entry["error"] = {"kind": e.kind, "message": e.message, "retryable": e.retryable}
            if e.reply is not None:
                entry["error"]["reply"] = _reply_dict(e.reply)
            self.cassette.interactions.append(entry)
            raise
        entry["reply"] = _reply_dict(reply)
        self.cassette.interactions.append(entry)
        return reply


class ReplayModel:
    """Answers from a cassette; a request unlike the recorded one fails, naming the difference."""

    scripted = True

    def __init__(self, role: str, cassette: Cassette, root: str, source: Path) -> None:
        self.role = role
        self.root = root
        self.source = source
        self._mine = [i for i in cassette.interactions if i.get("role") == role]
        self._next = 0
        self.label = f"replay:{source.name} (recorded, replayed offline)"

    def complete(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[ToolSpec],
        max_tokens: int = 8192,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        if cancel is not None and cancel.cancelled:
            raise ModelError("cancelled", f"{self.label}: cancelled by the user.")
        n = self._next
        if n >= len(self._mine):
            raise ModelError(
                "cassette_mismatch",
                f"{self.source}: the {self.role} made call {n + 1}, but only {len(self._mine)} "
                "were recorded",
            )
        entry = self._mine[n]
        self._next += 1
        got = request_of(system, messages, tools, max_tokens, self.root)
        diff = first_difference(_masked(entry["request"], self.root), got)
        if diff:
            raise ModelError(
                "cassette_mismatch",
                f"{self.source}: {self.role} call {n + 1} differs from the recording at {diff}",
            )
        if "error" in entry:
            err = entry["error"]
            e = ModelError(err["kind"], err["message"], retryable=bool(err.get("retryable")))
            if "reply" in err:
                e.reply = _reply_of(err["reply"])
            raise e
        return _reply_of(entry["reply"])


def _reply_dict(reply: ModelReply) -> dict[str, Any]:
    u = reply.usage
    return {
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "usage": [u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens],
        "cost_usd": reply.cost_usd,
        "model": reply.model,
    }


def _reply_of(d: dict[str, Any]) -> ModelReply:
    i, o, cr, cw = d["usage"]
    return ModelReply(
        content=json.loads(json.dumps(d["content"])),
        stop_reason=d["stop_reason"],
        usage=Usage(input_tokens=i, output_tokens=o, cache_read_tokens=cr, cache_write_tokens=cw),
        cost_usd=d["cost_usd"],
        model=d["model"],
    )


# --- the user's MCP tools, at their port ------------------------------------------------


def _spec_dict(spec: ToolSpec, mcp: McpTools) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "input_schema": spec.input_schema,
        "read_only": mcp.read_only(spec.name),
        "allowed": mcp.allowed(spec.name),
    }


class RecordingMcp:
    """Passes everything to the real MCP client and writes down, as ``role: "mcp"``
    interactions, the tools each role was offered and every call with its result: what a
    replay needs to run without the servers."""

    def __init__(self, inner: McpTools, cassette: Cassette) -> None:
        self.inner = inner
        self.cassette = cassette

    def open(self, ask: Any = None, emit: Any = None) -> None:
        self.inner.open(ask, emit)

    def close(self) -> None:
        self.inner.close()

    def flush(self) -> None:
        self.inner.flush()

    def statuses(self) -> list[ServerStatus]:
        return self.inner.statuses()

    def _specs(self, op: str, specs: list[ToolSpec], wanted: list[str] | None) -> list[ToolSpec]:
        if not specs:  # nothing offered: nothing to replay (a run without MCP records none)
            return specs
        entry: dict[str, Any] = {
            "role": "mcp",
            "op": op,
            "specs": [_spec_dict(s, self.inner) for s in specs],
        }
        if wanted is not None:
            entry["wanted"] = list(wanted)
        self.cassette.interactions.append(entry)
        return specs

    def planner_specs(self) -> list[ToolSpec]:
        return self._specs("planner_specs", self.inner.planner_specs(), None)

    def executor_specs(self, wanted: list[str]) -> list[ToolSpec]:
        return self._specs("executor_specs", self.inner.executor_specs(wanted), wanted)

    def read_only(self, name: str) -> bool:
        return self.inner.read_only(name)

    def allowed(self, name: str) -> bool:
        return self.inner.allowed(name)

    def call(self, name: str, arguments: dict[str, Any], cancel: CancelToken | None) -> ToolResult:
        result = self.inner.call(name, arguments, cancel)
        self.cassette.interactions.append(
            {
                "role": "mcp",
                "op": "call",
                "tool": name,
                "arguments": json.loads(json.dumps(arguments, default=str)),
                "result": {"text": result.text, "is_error": result.is_error, "line": result.line},
            }
        )
        return result


class ReplayMcp:
    """The MCP side of a run from its cassette, no server started: the tools each role was
    offered, in order, and each call's recorded result. A call unlike the recorded one is an
    error result naming the difference (the model's replay then fails on it)."""

    def __init__(self, cassette: Cassette, source: Path) -> None:
        self.source = source
        self._mine = [i for i in cassette.interactions if i.get("role") == "mcp"]
        self._next = 0
        self._gates: dict[str, tuple[bool, bool]] = {}
        for i in self._mine:
            for s in i.get("specs", []):
                self._gates[s["name"]] = (bool(s["read_only"]), bool(s["allowed"]))

    def open(self, ask: Any = None, emit: Any = None) -> None:
        pass

    def close(self) -> None:
        pass

    def flush(self) -> None:
        pass  # no server: nothing can die

    def statuses(self) -> list[ServerStatus]:
        return []

    def _take(self, op: str) -> dict[str, Any] | None:
        if self._next < len(self._mine) and self._mine[self._next].get("op") == op:
            self._next += 1
            return self._mine[self._next - 1]
        return None

    def _specs(self, op: str) -> list[ToolSpec]:
        entry = self._take(op)
        if entry is None:
            return []  # not recorded: the run had no MCP tools here (the request says so)
        return [ToolSpec(s["name"], s["description"], s["input_schema"]) for s in entry["specs"]]

    def planner_specs(self) -> list[ToolSpec]:
        return self._specs("planner_specs")

    def executor_specs(self, wanted: list[str]) -> list[ToolSpec]:
        return self._specs("executor_specs")

    def read_only(self, name: str) -> bool:
        return self._gates.get(name, (False, False))[0]

    def allowed(self, name: str) -> bool:
        return self._gates.get(name, (False, False))[1]

    def call(self, name: str, arguments: dict[str, Any], cancel: CancelToken | None) -> ToolResult:
        entry = self._take("call")
        got = {"tool": name, "arguments": json.loads(json.dumps(arguments, default=str))}
        if entry is None:
            return ToolResult(
                f"{self.source}: MCP call {name} was not recorded here", True, f"{name} ✗ replay"
            )
        diff = first_difference(
            {"tool": entry["tool"], "arguments": entry["arguments"]}, got, "mcp_call"
        )
        if diff:
            return ToolResult(
                f"{self.source}: the MCP call differs from the recording at {diff}",
                True,
                f"{name} ✗ replay mismatch",
            )
        r = entry["result"]
        return ToolResult(r["text"], bool(r["is_error"]), r["line"])

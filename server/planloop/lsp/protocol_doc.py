"""docs/protocol.md, generated from the contract: ``python -m planloop.lsp.protocol_doc``.

Generated so it cannot drift: tests/lsp/test_lsp_contract.py fails when the file differs
from what this prints, so a new command, a renamed field or a new error kind has to
reach the document in the same change. The prose that is not derived from the models
(how to start, the approval flow, the example) lives here next to the tables.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from planloop.config import Config
from planloop.lsp import contract as C
from planloop.lsp import payload_models as PM
from planloop.lsp.approvals import APPROVE, REJECT, REQUEST_ANSWER, REQUEST_APPROVAL, ApprovalAnswer
from planloop.lsp.config import LSP_KEYS, SECTION
from planloop.lsp.rpc_errors import _WIRE_KIND, CODES

# --- schema → TypeScript-like notation -------------------------------------------------


def _ref(s: dict[str, Any]) -> str:
    return str(s["$ref"]).rsplit("/", 1)[-1]


def type_of(s: dict[str, Any]) -> str:
    if "$ref" in s:
        return _ref(s)
    if "const" in s:
        return json.dumps(s["const"])
    if "enum" in s:
        return " | ".join(json.dumps(v) for v in s["enum"])
    for key in ("anyOf", "oneOf"):
        if key in s:
            return " | ".join(type_of(x) for x in s[key])
    t = s.get("type")
    if t == "array":
        inner = type_of(s.get("items", {}))
        return f"({inner})[]" if " | " in inner else f"{inner}[]"
    if t == "object":
        extra = s.get("additionalProperties")
        return f"Record<string, {type_of(extra) if isinstance(extra, dict) else 'any'}>"
    return {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean"}.get(
        str(t), "null" if t == "null" else "any"
    )


def _fields(model_schema: dict[str, Any], *, inbound: bool) -> list[tuple[str, str, str]]:
    """(name with ``?`` when it may be absent, type, default) of an object schema."""
    required = set(model_schema.get("required", []))
    out = []
    for name, prop in model_schema.get("properties", {}).items():
        absent = (name not in required) if inbound else bool(prop.get(PM.ABSENT))
        default = json.dumps(prop["default"]) if inbound and prop.get("default") is not None else ""
        out.append((name + ("?" if absent else ""), type_of(prop), default))
    return out


def interface(name: str, model_schema: dict[str, Any], *, inbound: bool = False) -> str:
    lines = [f"interface {name} {{"]
    for field, t, default in _fields(model_schema, inbound=inbound):
        lines.append(f"  {field}: {t};" + (f"  // default {default}" if default else ""))
    lines.append("}")
    return "\n".join(lines)


def _all_defs() -> dict[str, dict[str, Any]]:
    """Every payload model, by name, as the client receives it."""
    defs: dict[str, dict[str, Any]] = {}
    for tp in [c.result for c in C.COMMANDS] + [m.params for m in C.MESSAGES]:
        s = C.schema(tp)
        defs.update(s.get("$defs", {}))
        if "properties" in s and "title" in s:
            defs[s["title"]] = s
    return defs


def _result_type(tp: Any) -> str:
    s = C.schema(tp)
    return str(s["title"]) if "properties" in s and "title" in s else type_of(s)


# --- the document -------------------------------------------------------------------------

_CLIENTS = """\
```lua
-- Neovim (0.7+; the tested config is in editors/neovim.md)
local id = vim.lsp.start_client({ name = "planloop", root_dir = vim.fn.getcwd(),
  cmd = { "planloop", "serve", "--planner", "anthropic:claude-opus-4-1" } })
vim.lsp.get_client_by_id(id).request("workspace/executeCommand",
  { command = "planloop.getPlan", arguments = { {} } }, function(err, res) print(vim.inspect(res)) end)
```

```toml
# Helix: languages.toml
[language-server.planloop]
command = "planloop"
args = ["serve"]
```

```elisp
;; Emacs (eglot)
(add-to-list 'eglot-server-programs '((python-mode markdown-mode) . ("planloop" "serve")))
(eglot-execute-command (eglot-current-server) "planloop.getPlan" [()])
```

Zed: add a language server whose binary is `planloop` with arguments `["serve"]`.
"""

_EXAMPLE: list[tuple[str, dict[str, Any]]] = [
    (
        "client → server",
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "workspace/executeCommand",
            "params": {"command": "planloop.runStep", "arguments": [{"stepId": "write-alpha"}]},
        },
    ),
    (
        "server → client (while the step runs)",
        {
            "jsonrpc": "2.0",
            "method": "planloop/stepEvent",
            "params": {
                "planId": "pln_1a2b3c4d",
                "stepId": "write-alpha",
                "event": "started",
                "line": "Write alpha.txt (attempt 1)",
                "status": "running",
            },
        },
    ),
    (
        "server → client",
        {
            "jsonrpc": "2.0",
            "method": "planloop/stepEvent",
            "params": {
                "planId": "pln_1a2b3c4d",
                "stepId": "write-alpha",
                "event": "check",
                "line": "✓ alpha.txt exists",
                "passed": True,
            },
        },
    ),
    (
        "server → client",
        {
            "jsonrpc": "2.0",
            "method": "planloop/stepEvent",
            "params": {
                "planId": "pln_1a2b3c4d",
                "stepId": "write-alpha",
                "event": "finished",
                "line": "write-alpha passed",
                "status": "passed",
                "costUsd": 0.0123,
                "costText": "$0.0123",
            },
        },
    ),
    (
        "server → client (the result; a planloop/planChanged with the same `plan` came first)",
        {
            "jsonrpc": "2.0",
            "id": 7,
            "result": {
                "state": "idle",
                "reason": "",
                "stepId": "write-alpha",
                "plan": {
                    "plan": {
                        "plan_id": "pln_1a2b3c4d",
                        "version": 1,
                        "goal": "Write alpha.txt",
                        "steps": [
                            {
                                "id": "write-alpha",
                                "title": "Write alpha.txt",
                                "kind": "edit",
                                "instructions": "Create alpha.txt containing 'alpha'.",
                                "files": ["alpha.txt"],
                                "acceptance": [{"kind": "file_exists", "path": "alpha.txt"}],
                                "status": "passed",
                                "attempts": 1,
                            }
                        ],
                    },
                    "markdown": "# Plan: Write alpha.txt\n…",
                    "state": "idle",
                    "reason": "",
                    "costUsd": 0.0123,
                    "costKnown": True,
                    "costText": "$0.0123",
                    "tokens": 4210,
                    "progress": {"done": 1, "total": 1},
                    "pending": None,
                    "interrupted": False,
                },
            },
        },
    ),
]


def example_payloads() -> list[tuple[Any, Any]]:
    """(contract type, payload) of the example, so a test can hold it to the contract."""
    step_events = [m for _, m in _EXAMPLE if m.get("method") == "planloop/stepEvent"]
    result = _EXAMPLE[-1][1]["result"]
    return [(PM.StepEventPayload, e["params"]) for e in step_events] + [
        (C.BY_NAME["planloop.runStep"].result, result)
    ]


def render() -> str:
    out: list[str] = []
    w = out.append
    w("# planloop's language server protocol\n")
    w(
        "<!-- generated by `python -m planloop.lsp.protocol_doc > docs/protocol.md` from "
        "server/planloop/lsp/contract.py; tests/lsp/test_lsp_contract.py fails when it is "
        "stale. Do not edit by hand. -->\n"
    )
    w(
        "Everything a client needs to drive `planloop serve` (Neovim, Helix, Emacs, Zed, a "
        "script): how to start it, the commands with their parameters and results, the "
        "notifications, the approval flow, errors and the multi-root rule. The VS Code "
        "extension uses exactly this protocol.\n"
    )
    w("## Starting the server\n")
    w(
        "`planloop serve` (or `python -m planloop.lsp`) speaks JSON-RPC over stdio; stdout "
        "carries nothing else. It needs no file type: every action is a "
        "`workspace/executeCommand` with **one JSON object** as the only argument "
        "(`arguments: [{...}]`). No arguments, `[]`, `[{}]`, `[null]`, `[[]]` (Neovim's "
        "empty Lua table) and `{}` all mean `{}`, and a bare object `arguments: {...}` "
        "means `[{...}]`. Keys are camelCase; an unknown or mistyped key is an error naming "
        "it.\n"
    )
    w(_flags())
    w(
        "Per-editor configurations (Neovim, tested end to end; Helix, Emacs, Zed) are in "
        "[editors/](editors/index.md). In short:\n"
    )
    w(_CLIENTS)
    w("### initialize\n")
    w(
        "- `capabilities.experimental.planloopApprovals: true` — the client answers "
        f"`{REQUEST_APPROVAL}` (below); otherwise approvals use `window/showMessageRequest`.\n"
        "- `capabilities.experimental.planloopQuestions: true` — the client answers the "
        f"planner's clarifying questions with `{REQUEST_ANSWER}` (below); otherwise they use "
        "`window/showMessageRequest` with the options as actions.\n"
        "- `capabilities.experimental.planloopNotifications: true` (or the "
        "initialization option `planloopNotifications: true`, for editors whose config "
        "cannot declare capabilities) — the client wants `planloop/planChanged` and "
        "`planloop/stepEvent`; without it neither is sent (results and `$/progress` say "
        "what happened).\n"
        "- `trace` (and later `$/setTrace`): `messages` sends info logs, `verbose` debug "
        "logs as `window/logMessage`; `off` goes back to the `--log-level`.\n"
        "- `capabilities.window.workDoneProgress: true` — progress bars for planning and "
        "steps (`$/progress`); without it only `planloop/stepEvent` is sent.\n"
        "- `capabilities.workspace.configuration: true` — the server asks for the "
        f'`"{SECTION}"` section per folder before its first run.\n'
        "- `clientInfo.name` is recorded as who approved a plan you ran.\n"
        "- `initializationOptions`: settings, either flat or under "
        f'`{{"{SECTION}": {{...}}}}`, in the order of *Settings* above. Keys '
        "(camelCase, as in planloop.toml): "
        + ", ".join(f"`{k}`" for k in _setting_keys())
        + "; only the language server reads "
        + ", ".join(f"`{k}`" for k in sorted(LSP_KEYS))
        + " (seconds to wait for an approval answer, default 300; the notifications "
        "opt-in above). Unknown top-level keys are ignored with a logged warning.\n"
    )
    w("## Workspace folders\n")
    w(_folder_rule())
    w("## Commands\n")
    w(
        "Long commands hold the folder's one-run-at-a-time slot (a second one in the same "
        "folder fails at once with `busy`), can be cancelled (`planloop.cancel`, "
        "`$/cancelRequest`, the progress bar) and may ask for approval while they run. "
        "Every notification of a command is sent before its result.\n"
    )
    for c in C.COMMANDS:
        w(f"### `{c.name}`\n")
        w(f"{c.summary} CLI: `{c.cli}`. {'Long.' if c.long else 'Returns at once.'}\n")
        w("```ts")
        w(interface("Params", C.schema(c.params, mode="validation"), inbound=True))
        w(f"type Result = {_result_type(c.result)};")
        w("```\n")
    w("## Payload types\n")
    w(
        "TypeScript notation; `field?` may be absent (never sent as null), `T | null` is "
        "always sent. The plan document (`Plan`, `Step`, …) is snake_case: it is the same "
        "JSON `planloop show --json` prints and `.planloop/` stores; the envelope is "
        "camelCase.\n"
    )
    w("```ts")
    defs = _all_defs()
    for name in sorted(defs):
        w(interface(name, defs[name]) + "\n")
    w("// what the client answers to planloop/requestApproval")
    w(interface("ApprovalAnswer", C.schema(ApprovalAnswer, mode="validation"), inbound=True))
    w("```\n")
    w("## Notifications and server requests\n")
    for m in C.MESSAGES:
        w(f"### `{m.method}` ({m.direction})\n")
        w(m.summary + "\n")
        w("```ts")
        w(f"type Params = {_result_type(m.params)};")
        if m.result is not None:
            w(f"type Result = {_result_type(m.result)};")
        w("```\n")
    w("Progress titles: `planloop: planning`, `planloop: re-planning`, `planloop: <step title>`.\n")
    w("## Approvals\n")
    w(_approval_flow())
    w("## The plan document\n")
    w(_plan_document())
    w("## Clarifying questions\n")
    w(_question_flow())
    w("## Errors\n")
    w(
        "Every failure is a JSON-RPC error with `data.kind`, a stable string to branch on "
        "(codes in the server range are easy to mix up across tools). A kind not listed "
        "falls back to its family's entry, then to `error`.\n"
    )
    w("| `data.kind` | code |")
    w("|---|---|")
    for kind, code in CODES.items():
        wire = _WIRE_KIND.get(kind)
        shown = f"`{kind}` (sent as `{wire}`)" if wire else f"`{kind}`"
        w(f"| {shown} | {code} |")
    w("| `internal` (a bug; the message names the exception) | -32603 |\n")
    w(
        "`no_plan`: the folder has no plan yet (offer *New plan*). `busy`: a run is in "
        "progress in that folder. `bad_arguments`/`unknown_step`/`usage`: the message "
        "lists what is wrong and the accepted keys or step ids. A request pygls cannot "
        "even structure (e.g. `arguments: 5`) is answered with -32602 too.\n"
    )
    w("## CLI / LSP parity\n")
    w("Every action exists in both front ends (both call `planloop.api.Session`).\n")
    w("| action | CLI | LSP command |")
    w("|---|---|---|")
    for c in C.COMMANDS:
        w(f"| {c.summary.split('.')[0].split(';')[0]} | `{c.cli}` | `{c.name}` |")
    w("")
    w("## Example exchange\n")
    w("Running one step (`planloop run --step write-alpha`):\n")
    for label, message in _EXAMPLE:
        w(f"{label}:\n")
        w("```json")
        w(json.dumps(message, indent=2, ensure_ascii=False))
        w("```\n")
    return "\n".join(out).rstrip() + "\n"


def _flags() -> str:
    return (
        "### Flags\n\n"
        "| flag | effect |\n|---|---|\n"
        "| `--planner SPEC`, `--executor SPEC` | the models (`anthropic:<id>` or "
        "`scripted:<file>`), as settings in the order below |\n"
        "| `--workspace DIR` | the default folder, ahead of the client's workspace "
        "folders |\n"
        "| `--log-level debug`, `info`, `warning`, `error` | what `window/logMessage` "
        "carries (default `info`, or `$PLANLOOP_LOG_LEVEL`) |\n"
        "| `--debug` | `--log-level debug`, unless `--log-level` is given |\n"
        "| `--stdio`, `--clientProcessId N` | accepted and ignored (editors append them; "
        "stdio is the only transport) |\n\n"
        "An unknown flag or a bad value exits with status 2 and one `error:` line on "
        "stderr, before anything is read from stdin.\n\n"
        "**Logs**: stderr carries warnings and errors only (Neovim files every stderr "
        "line in lsp.log as `[ERROR]`); the rest goes to `window/logMessage` at the "
        "level above, raised by the client's trace value (see *initialize*).\n\n"
        "### Settings\n\n"
        "One order, later wins: built-in defaults < environment variables "
        "(`PLANLOOP_PLANNER`, `PLANLOOP_EXECUTOR`, `PLANLOOP_APPROVAL_TIMEOUT_S`) < "
        "`planloop.toml` in the folder < `planloop serve` flags < `initializationOptions` "
        "< `workspace/configuration` (section `planloop`, per folder). Each source is "
        "tested (tests/lsp/test_lsp_plain_clients.py).\n"
    )


def _setting_keys() -> list[str]:
    return sorted(f.alias or name for name, f in Config.model_fields.items())


def _folder_rule() -> str:
    """The rule is stated once, in folders.py's docstring; the document quotes it."""
    from planloop.lsp import folders

    doc = folders.__doc__ or ""
    rule = doc.split("The multi-root rule (documented for every client):", 1)[-1]
    return rule.strip().replace("``", "`") + "\n"


def _lens_table() -> str:
    """The lenses per step state, computed by ``plan_document.step_lenses`` itself."""
    from planloop.document.plan import FileChange, Step, StepResult
    from planloop.lsp.plan_document import step_lenses

    rows = ["| step | lenses (idle) | while a run is in progress |", "|---|---|---|"]
    cases: list[tuple[str, Step]] = []
    changed = StepResult(files_changed=[FileChange(path="a.txt")])
    for status in ("pending", "failed", "blocked", "reverted", "running", "awaiting_approval"):
        cases.append((f"`{status}`", Step(id="s", title="s", status=status)))
    cases.append(
        ("`passed` with changed files", Step(id="s", title="s", status="passed", result=changed))
    )
    cases.append(
        ("`failed` with changed files", Step(id="s", title="s", status="failed", result=changed))
    )
    cases.append(("`passed`, no file changed", Step(id="s", title="s", status="passed")))

    def shown(step: Step, busy: bool) -> str:
        got = step_lenses(step, busy=busy)
        return ", ".join(f"{t} (`{c}`)" if c else t for t, c in got) or "—"

    for label, step in cases:
        rows.append(f"| {label} | {shown(step, False)} | {shown(step, True)} |")
    return "\n".join(rows) + "\n"


def _plan_document() -> str:
    from planloop.lsp.plan_document import EDIT_COMMAND, PLAN_DIR, PLAN_FILE, SOURCE

    return (
        f"`<folder>/{PLAN_DIR}/{PLAN_FILE}` is the current plan version's Markdown (the "
        "format `planloop show` prints, rewritten by the core with every plan version). "
        "It is also a document the server serves: open it in the editor and send the usual "
        "`textDocument/didOpen`, `didChange` (full or incremental) and `didSave` for it. "
        "The server matches it **by URI** (any `languageId`), only for a workspace folder's "
        "own `.planloop/plan.md` (a sub-folder's is ignored). Its capabilities: "
        "`textDocumentSync` (with `save.includeText`), `codeLensProvider`, `hoverProvider`.\n\n"
        f"- **Diagnostics** (`textDocument/publishDiagnostics`, source `{SOURCE}`) on every "
        "open and change: each problem the core's edit rules find in the text against the "
        "current version (a parse error, an edit of a passed step, a duplicate id, a missing "
        "or cyclic dependency, an edit or command step without a check), on the line it "
        "names (a problem of the whole document sits on the first line). They clear when the "
        "text is fine again and when the document is closed. While a run is in progress a "
        "warning says a save would be refused.\n"
        "- **Code lenses** on each step line (`textDocument/codeLens`), from the step's "
        "stored state. Each runs an existing command with "
        '`arguments: [{"stepId": ID, "folder": FOLDER_URI}]`; a label-only lens has '
        'command `""`. After any save of the plan the server sends '
        "`workspace/codeLens/refresh` when the client supports it.\n\n"
        + _lens_table()
        + "\n- **Hover** on a check line (`- check: …` under a step): the check's last result "
        "(passed or failed, the attempt) and its output, from the step's `result`; "
        '"Not run yet" before it ran.\n'
        "- **Save** (`textDocument/didSave`; the text is taken from the notification, else "
        "from the synced document): the text becomes the plan's new version, authored by the "
        f"user, holding the folder's run slot like a long command (as `{EDIT_COMMAND}`). "
        "The new version goes out as `planloop/planChanged` (to clients that asked for "
        "notifications) and `window/showMessage` (Info) names it. A text with problems "
        "writes nothing: the diagnostics stay and a `window/showMessage` (Error) names the "
        "first problem and its line. A save while a step runs (in this server, or another "
        "process holding the folder) is refused the same way; save again when the run ends.\n"
        "- **When the plan changes elsewhere**: after a save of the run record in this "
        "server (a step ran, a re-plan was approved) the open document is checked again "
        "against the new version. With every new version (from any process, `planloop edit` "
        "too) the core rewrites the file on disk; an editor whose buffer has no unsaved changes "
        "reloads it (VS Code by itself; Neovim with `autoread` or `:checktime`) and sends "
        "the new text as a change. A buffer with unsaved changes is left alone: its "
        "diagnostics then show what no longer fits, and saving it applies it to the new "
        "version (VS Code first asks whether to overwrite the newer file).\n"
    )


def _approval_flow() -> str:
    return (
        "A run that needs a decision (review a new plan, approve a re-plan, continue past "
        "a pause step or the budget, run a command outside the policy) asks the client "
        "while the command is still running:\n\n"
        f"- **`experimental.planloopApprovals: true`**: the request `{REQUEST_APPROVAL}` "
        "with both plans' Markdown (`ApprovalRequestParams`); answer "
        '`{"approve": true|false, "feedback"?: string, "by"?: string}`.\n'
        "- **any other client**: `window/showMessageRequest` (type Warning) whose message "
        "names the plan and the question, with the actions "
        f'`"{APPROVE}"` and `"{REJECT}"`. Picking one decides; dismissing it (null) leaves '
        "the question pending.\n\n"
        "No answer within `approvalTimeoutS`, a null answer, or a cancel: the command "
        "returns with state `awaiting_approval` and `pending` set in the plan payload. "
        "Decide later with `planloop.decidePending` (any question, yes or no), "
        "`planloop.decideRevision` (a re-plan, by version) or `planloop.approvePause`. An "
        "answer that arrives after the server stopped waiting is logged, not applied.\n"
    )


def _question_flow() -> str:
    return (
        "While it drafts a folder's first plan (`planloop.createPlan`), the planner may ask "
        "up to `plannerQuestions` clarifying questions (setting `planner_questions`, default "
        "3; 0 turns them off). Each is asked while the command is still running:\n\n"
        f"- **`experimental.planloopQuestions: true`**: the request `{REQUEST_ANSWER}` "
        '(`AnswerRequestParams`); answer `{"answer": string}` — an option or free text '
        "(VS Code shows a quick pick of the options plus *Answer in your own words…*).\n"
        "- **any other client**: `window/showMessageRequest` (type Info) whose message is "
        "the question, with one action per option. Picking one answers it; dismissing it "
        "(null) leaves the question pending.\n\n"
        "No answer within `approvalTimeoutS`, a null answer, or a cancel: `createPlan` "
        "fails with `data.kind` `waiting` (nothing is lost: the planner's conversation is "
        "saved in `.planloop/question.json`), and `getPlan`'s `pending` is the question "
        "(kind `question`, with `question` and `options`; with no plan yet `getPlan` "
        "returns a `QuestionPayload` whose `plan` is null). Answer it with "
        '`planloop.answer {"text": "..."}` (any client, free text): planning goes on in '
        "the same conversation and the result is the new plan. `planloop.answer` with "
        "nothing pending fails with kind `invalid_request`. The plan records every "
        "question and answer (`plan.questions`, and a `## Questions` section in its "
        "Markdown); re-plans see them.\n"
    )


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())

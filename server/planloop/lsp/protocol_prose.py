"""The prose of docs/protocol.md that is not derived from the models: how to start the
server and configure each editor, the approval and question flows, the plan document,
and the example exchange.

Why apart from :mod:`planloop.lsp.protocol_doc`: that module turns the contract into the
document (schemas into TypeScript notation, the command and message tables, the error
codes); this one is what a person writes and edits as text. Where a passage can be
computed from the code (the lens table, the multi-root rule, the command names in the
flows) it still is, so the prose cannot drift either.
"""

from __future__ import annotations

from typing import Any

from planloop.lsp.approvals import APPROVE, REJECT, REQUEST_ANSWER, REQUEST_APPROVAL
from planloop.models.registry import DEFAULT_EXECUTOR_SPEC, DEFAULT_PLANNER_SPEC, SPEC_FORMS

CLIENTS = """\
```lua
-- Neovim (0.7+; the tested config is in editors/neovim.md)
local id = vim.lsp.start_client({ name = "planloop", root_dir = vim.fn.getcwd(),
  cmd = { "planloop", "serve", "--planner", "{DEFAULT_PLANNER_SPEC}" } })
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
""".replace("{DEFAULT_PLANNER_SPEC}", DEFAULT_PLANNER_SPEC)

EXAMPLE: list[tuple[str, dict[str, Any]]] = [
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


def flags() -> str:
    return (
        "### Flags\n\n"
        "| flag | effect |\n|---|---|\n"
        "| `--planner SPEC`, `--executor SPEC` | the models, any spec of "
        "[models.md](models.md#specs) ("
        + ", ".join(f"`{form.strip()}`" for form in SPEC_FORMS.split(","))
        + ", `scripted:<file.json>`; defaults "
        f"`{DEFAULT_PLANNER_SPEC}` plans, `{DEFAULT_EXECUTOR_SPEC}` executes), as settings "
        "in the order below |\n"
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
        "One order, later wins: built-in defaults < the user's own "
        "`~/.config/planloop/config.toml` < environment variables "
        "(`PLANLOOP_PLANNER`, `PLANLOOP_EXECUTOR`, `PLANLOOP_APPROVAL_TIMEOUT_S`, "
        "`PLANLOOP_SANDBOX`, `PLANLOOP_SANDBOX_NETWORK`, `PLANLOOP_REPO_MAP_BUDGET_S`) < "
        "`planloop.toml` in the folder < `planloop serve` flags < `initializationOptions` "
        "< `workspace/configuration` (section `planloop`, per folder). Each source is "
        "tested (tests/lsp/test_lsp_plain_clients.py).\n\n"
        "**Models of an existing plan**: a plan remembers the models it was planned and "
        "last run with (`planner_spec`/`executor_spec` in `run.json`). A command on it "
        "runs with a `planner`/`executor` the server's flags or the client's settings "
        "give; else with the remembered ones, unless config.toml, planloop.toml or the "
        "environment now name another model than when they were remembered; else the "
        "settings' or the default. The CLI follows the same rule "
        "([models.md](models.md#choosing-the-spec-per-role)).\n\n"
        "**Trusted folders** ([security.md](security.md)): a folder's `planloop.toml` sets "
        "a provider's `baseUrl`/`apiKeyEnv`, `sandbox`, `sandboxNetwork`, "
        "`sandboxWritable`, `commandPolicy.allow` and `rgPath` only once the folder is "
        "trusted; until then they are ignored with one logged warning naming them. The "
        "server asks the user's trust store (`planloop trust`), unless the client passes "
        "its own answer as `initializationOptions.workspaceTrusted` (VS Code passes its "
        "workspace trust); the same key in `workspace/configuration` is ignored, since "
        "that may come from a file in the repository. The editor's own settings are the "
        "user's and always apply.\n\n"
        '**The sandbox**: every command a model caused runs in it (`sandbox: "auto"`); '
        "where none works a run command fails with the reason and the fix, and "
        "`planloop.doctor` reports it (`sandbox` in its result).\n\n"
        "**MCP servers** ([mcp.md](mcp.md)): the user's MCP servers are the models' tools "
        "too (`mcp__SERVER__TOOL`): the planner gets read-only ones, the executor a step's, "
        "and a call not on the allow list asks through `planloop/requestApproval` (kind "
        "`command`, the call as `command`), as a command does. The `mcp` setting "
        "(`[mcp]` in planloop.toml): `enabled` (default true), `servers` (by name: `type` "
        "stdio|http, `command`, `args`, `env`, `cwd`, `url`, `headers`, `enabled`, `trust`, "
        "`plannerTools`, `allow`, `startTimeoutS`, `callTimeoutS`), `disabled` (server "
        "names), `allow` and `plannerTools` (globs of `mcp__SERVER__TOOL`), "
        "`projectFiles` (read `.mcp.json` and `.vscode/mcp.json`, default true), "
        "`startTimeoutS` (10), `callTimeoutS` (60), `stopTimeoutS` (2), "
        "`maxOutputChars` (40000). A folder's `planloop.toml` sets `mcp.servers`, "
        "`mcp.allow` and `mcp.plannerTools` only once the folder is trusted; a project's "
        "`.mcp.json` / `.vscode/mcp.json` starts its servers only after the user said yes "
        "once (asked through `planloop/requestApproval`, remembered in "
        "`.planloop/mcp-consent.json`). The client hands over servers of its own as "
        "`initializationOptions.mcpServers`: a list of `{name, command, args, env}` or "
        '`{name, type: "http", url, headers}` (`env`/`headers` as objects or ACP\'s '
        "`[{name, value}]`), or an object by name in the `.mcp.json` shape; they need no "
        "consent, and the same key in `workspace/configuration` is ignored. "
        "`planloop.doctor` lists each server (`mcp` in its result).\n"
    )


def folder_rule() -> str:
    """The rule is stated once, in folders.py's docstring; the document quotes it."""
    from planloop.lsp import folders

    doc = folders.__doc__ or ""
    rule = doc.split("The multi-root rule (documented for every client):", 1)[-1]
    return rule.strip().replace("``", "`") + "\n"


def lens_table() -> str:
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


def plan_document() -> str:
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
        + lens_table()
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


def approval_flow() -> str:
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


def question_flow() -> str:
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


#: the ACP agent's mapping (``planloop acp``, ``acp_agent/``): kept here so protocol.md
#: holds every wire planloop speaks and regenerating it keeps this section
ACP = """\
`planloop acp` (`server/planloop/acp_agent/`) speaks the Agent Client Protocol (v1, stdio,
the official Python SDK): a third front end over `planloop.api`, as thin as the CLI and
the language server. This is what each ACP message carries, update by update (tested in
`tests/acp/`; editor configs in [editors/acp.md](editors/acp.md)).

### Requests

| ACP | planloop |
|---|---|
| `initialize` | `agentCapabilities {loadSession: true, promptCapabilities.embeddedContext, mcpCapabilities {http: true, sse: false}}`; the client's `fs` / `terminal` are never used (the core reads and writes the folder and runs commands in its sandbox) |
| `session/new {cwd, mcpServers}` | opens planloop on `cwd` (absolute, a writable directory, else invalid params −32602); a folder outside git works and is said once; `mcpServers` (stdio and http) are the session's MCP servers, started with each plan or run ([mcp.md](mcp.md); a bad entry is invalid params); answers `modes` (review, auto); then `available_commands_update` |
| `session/load {cwd, sessionId}` | the folder's current plan: its `plan` update and its document as a message |
| `session/set_mode` | `review` or `auto`, announced with `current_mode_update` |
| `session/prompt` | a slash command; else the answer to the planner's waiting question; else, with a plan or re-plan at review, `approve` / `reject [feedback]` (other text: a new goal, said so); `continue` resumes; anything else is a new goal, planned and run. Over 100,000 characters: invalid params, nothing done. While one runs: error −32000, the first goes on |
| `session/cancel` | the core's cancel: the model call or command stops, the attempt is rolled back with its work kept in a checkpoint (`/diff STEP` shows it), `stopReason: "cancelled"` |
| client gone mid-step | the process exits as a kill would: the step stays interrupted (diff shows it, revert undoes it, the next run resumes it); command process groups are killed |

### Updates (`session/update`)

| planloop | ACP |
|---|---|
| the run record saved (a plan, a step's status changed) | `plan`: one entry per step, `step-id: title`; pending → `pending`, running / awaiting approval → `in_progress`, passed / skipped → `completed`; failed, blocked and reverted are `pending` with `[failed]`, `[blocked]`, `[reverted]` in the text (ACP has no such status) |
| a plan or an answer's plan written | `agent_message_chunk`: the plan document (Markdown) |
| a workspace tool starts (`tool_started`, not logged) | `tool_call` with `status` in_progress, `kind` (read_file, list_files, repo_map → read; search → search; write_file, edit_file → edit; run_command → execute), the title `TOOL PATH` or `run_command COMMAND`, `locations` (absolute path) and `rawInput {tool, path, command}`: a long command or edit shows running while it runs |
| it ended (`tool_call` with the start's `call_id`) | `tool_call_update`, same `toolCallId`: `status` completed or failed (a tool error, a refused command, or a cancel while it ran), the one-line summary as `title`, `locations` (a read's first line), and content: for an edit a `diff` block (`oldText` null for a new file; a file that was not UTF-8 shown with U+FFFD and said so), for a command its exit status and output's tail (2,000 characters, secrets redacted). Kind, path and lines come from the event's structured fields, never from its text |
| a tool call with no start (a terminal tool such as `report_outcome`, the planner's question, unreadable arguments) | one `tool_call`, already completed or failed |
| a turn ends with a tool call still in_progress | `tool_call_update` failed, content `cancelled` (or why it stopped): no call is left running in the client |
| a check ran | `tool_call` `check: LABEL`, kind execute (command checks) or read (file checks), completed / failed, with the observation |
| a step finished | message: `step ID STATUS · changed FILES · cost` |
| re-plan started, retry, cancel, model error, refused command, budget, revert | a message each |

### Permissions (`session/request_permission`)

| question | options |
|---|---|
| plan approval (`Approve the plan and run it?`) | Approve (allow_once), Reject (reject_once) |
| re-plan approval (`Approve re-plan vN?`) | the same; the tool call holds the reason, the evidence, the change as a unified diff and a `diff` block of the plan document |
| pause step, budget, a command outside the allow list | the same |
| the planner's question with options | one allow_once option per answer, and "Answer in my own words" (the next prompt answers) |
| the planner's question without options | not a permission: a message; the next prompt answers |

`auto` mode approves plans, re-plans and pauses itself (said in a message), never commands
or the budget. A permission answered `cancelled` leaves the question waiting (run.json or
question.json) and the turn ends `cancelled`; the next prompt answers it.
"""

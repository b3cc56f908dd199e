"""End-to-end harness (imported by the tests in this folder).

The real server (``python -m planloop.lsp``) over stdio, driven by pytest-lsp's client,
with scripted models (tests/lsp/fixtures/*.json) or the Messages API stand-in
(tests/standin.py) when a model call must be slow enough to cancel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    default_converter,
)
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import register_lsp_features

from planloop.lsp import contract, payload_models

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SERVER = [sys.executable, "-m", "planloop.lsp"]
TIMEOUT_S = 40.0


def _plain_converter() -> Any:
    """Keep custom params/results as the JSON dicts they were (pygls makes namedtuples)."""
    conv = default_converter()
    for t in (JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage):
        conv.register_structure_hook(t, lambda obj, cls: cls(**obj))
    return conv


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=_plain_converter)
    register_lsp_features(client)
    return client


def make_workspace(root: Path, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {"notes.txt": "hello\n"}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def fixture_script(name: str, dest: Path) -> Path:
    """Copy a scripted-model fixture next to the test (scripts keep position state by path)."""
    target = dest / name
    shutil.copyfile(FIXTURES / name, target)
    return target


def options(script: Path | None = None, **extra: Any) -> dict[str, Any]:
    """initializationOptions: scripted planner and executor, no plan review, short waits."""
    out: dict[str, Any] = {"reviewPlanFirst": False, "approvalTimeoutS": 5}
    if script is not None:
        spec = f"scripted:{script}"
        out.update(planner=spec, executor=spec)
    out.update(extra)
    return out


ApprovalAnswer = Callable[[dict[str, Any]], Any]


@dataclass
class Session:
    client: LanguageClient
    root: Path
    plan_changed: list[dict[str, Any]] = field(default_factory=list)
    step_events: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    message_requests: list[types.ShowMessageRequestParams] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)

    async def cmd(self, name: str, args: Any = None, *, timeout: float = TIMEOUT_S) -> Any:
        params = types.ExecuteCommandParams(
            command=name, arguments=None if args is None else [args]
        )
        result = await asyncio.wait_for(
            self.client.workspace_execute_command_async(params), timeout
        )
        if name in contract.BY_NAME:  # every answer the tests see fits the contract
            contract.check(contract.BY_NAME[name].result, result)
        return result

    async def error(self, name: str, args: Any = None, **kw: Any) -> JsonRpcException:
        try:
            result = await self.cmd(name, args, **kw)
        except JsonRpcException as e:
            return e
        raise AssertionError(f"{name}({args!r}) answered {result!r}, expected an error")

    async def raw(
        self, method: str, params: Any, timeout: float = TIMEOUT_S, msg_id: str | None = None
    ) -> Any:
        """Send a request exactly as given, bypassing the client's typed params
        (pygls would refuse to serialize e.g. ``arguments: 5``)."""
        proto = self.client.protocol
        msg_id = msg_id or f"raw-{uuid.uuid4()}"
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        proto._request_futures[msg_id] = future
        proto._send_data(
            JsonRPCRequestMessage(id=msg_id, method=method, params=params, jsonrpc="2.0")
        )
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    async def raw_error(self, method: str, params: Any, **kw: Any) -> str:
        """The error message a raw request is answered with (it must be an error)."""
        try:
            result = await self.raw(method, params, **kw)
        except JsonRpcException as e:
            return str(e)
        raise AssertionError(f"{method}({params!r}) answered {result!r}, expected an error")

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.step_events if e["event"] == kind]

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def progress_kinds(self) -> list[list[str]]:
        return [[r.kind for r in reports] for reports in self.client.progress_reports.values()]

    def log_text(self) -> str:
        return "\n".join(m.message for m in self.client.log_messages)


@contextlib.asynccontextmanager
async def open_session(
    root: Path,
    init_options: dict[str, Any] | None = None,
    *,
    custom_approvals: bool = False,
    answer: ApprovalAnswer | None = None,
    message_answer: Callable[[types.ShowMessageRequestParams], Any] | None = None,
    custom_questions: bool = False,
    question_answer: ApprovalAnswer | None = None,
    folders: list[Path] | None = None,
    env: dict[str, str] | None = None,
    progress: bool = True,
    configuration: dict[str, Any] | None = None,
    server: list[str] | None = None,
    server_args: list[str] | None = None,
    stderr_to: Path | None = None,
    trace: str | None = None,
    notifications: bool = True,
) -> AsyncIterator[Session]:
    """A started, initialized server with recorders for everything it sends.

    ``server`` replaces the command (default ``python -m planloop.lsp``), ``server_args``
    are appended to it; ``stderr_to`` appends the server's stderr to that file instead
    of the test's; ``trace`` is initialize's trace value; ``notifications`` declares
    ``experimental.planloopNotifications`` (what the VS Code client does).
    """
    server_env = {
        k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")
    }
    server_env.update(env or {})
    command = [*(server or SERVER), *(server_args or [])]
    if stderr_to is not None:
        command = ["sh", "-c", 'exec "$@" 2>>"$0"', str(stderr_to), *command]
    config = ClientServerConfig(
        server_command=command, client_factory=make_client, server_env=server_env
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    s = Session(client, root)

    @client.feature("planloop/planChanged")
    def _plan_changed(params: dict[str, Any]) -> None:
        contract.check(payload_models.PlanPayload, params)
        s.plan_changed.append(params)

    @client.feature("planloop/stepEvent")
    def _step_event(params: dict[str, Any]) -> None:
        contract.check(payload_models.StepEventPayload, params)
        s.step_events.append(params)

    @client.feature("planloop/requestApproval")
    async def _request_approval(params: dict[str, Any]) -> Any:
        contract.check(payload_models.ApprovalRequestParams, params)
        s.approvals.append(params)
        if answer is None:
            return {"approve": True, "by": "tester"}
        result = answer(params)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    @client.feature("planloop/requestAnswer")
    async def _request_answer(params: dict[str, Any]) -> Any:
        contract.check(payload_models.AnswerRequestParams, params)
        s.questions.append(params)
        return question_answer(params) if question_answer is not None else None

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    async def _message_request(params: types.ShowMessageRequestParams) -> Any:
        s.message_requests.append(params)
        if message_answer is None:
            return types.MessageActionItem(title="Approve")
        result = message_answer(params)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    if configuration is not None:
        client.set_configuration(configuration)
    roots = folders or [root]
    caps = types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=progress),
        workspace=types.WorkspaceClientCapabilities(
            configuration=configuration is not None, workspace_folders=True
        ),
        experimental={
            **({"planloopApprovals": True} if custom_approvals else {}),
            **({"planloopQuestions": True} if custom_questions else {}),
            **({"planloopNotifications": True} if notifications else {}),
        }
        or None,
    )
    try:
        await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=caps,
                    workspace_folders=[
                        types.WorkspaceFolder(uri=r.as_uri(), name=r.name) for r in roots
                    ],
                    root_uri=roots[0].as_uri(),
                    initialization_options=init_options,
                    client_info=types.ClientInfo(name="pytest-lsp-client"),
                    trace=types.TraceValue(trace) if trace is not None else None,
                )
            ),
            TIMEOUT_S,
        )
        yield s
    finally:
        await close(client)


async def close(client: LanguageClient) -> None:
    """Shut down politely; kill the server if it does not answer."""
    server = client._server
    try:
        if server is not None and server.returncode is None:
            await asyncio.wait_for(client.shutdown_session(), 15)
    except Exception:
        pass
    if server is not None and server.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            server.kill()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.stop(), 10)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def log_events(root: Path, plan_id: str) -> list[dict[str, Any]]:
    path = root / ".planloop" / "plans" / plan_id / "log.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def step_of(payload: dict[str, Any], step_id: str) -> dict[str, Any]:
    for st in payload["plan"]["steps"]:
        if st["id"] == step_id:
            return st
    raise KeyError(step_id)


def processes_running(marker: str) -> list[str]:
    """Command lines of live processes containing ``marker`` (to prove a kill)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if marker in cmd and ") Z " not in stat:
            found.append(cmd.strip())
    return found

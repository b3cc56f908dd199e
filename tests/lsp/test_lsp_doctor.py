"""``planloop.doctor`` over LSP: the same checks as ``planloop doctor --json`` (VS Code's
*planloop: Check Models*), with the endpoint answering through the real openai SDK."""

from __future__ import annotations

from pathlib import Path

from lsp_harness import make_workspace, open_session, options

from standin_openai import OpenAIStandIn, chat, chat_text


async def test_doctor_checks_each_role_and_never_sends_the_key(
    tmp_path: Path, openai_standin: OpenAIStandIn
) -> None:
    ws = make_workspace(tmp_path / "proj")
    key = "sk-proj-LSPDOCTOR-0011223344"
    opts = options(
        planner="openai:gpt-4.1",
        executor="ollama:qwen3",
        modelRetries=0,
        providers={"ollama": {"baseUrl": openai_standin.base_url}},
    )
    env = {"OPENAI_BASE_URL": openai_standin.base_url, "OPENAI_API_KEY": key}
    openai_standin.enqueue(
        chat(calls=[("report_ping", {"ok": True})]), chat_text("I would rather chat.")
    )
    async with open_session(ws, opts, env=env) as s:
        res = await s.cmd("planloop.doctor")
    assert res["ok"] is False  # the executor answered without calling the tool
    planner, executor = res["checks"]
    assert planner["role"] == "planner" and planner["ok"] is True
    assert planner["endpoint"] == openai_standin.base_url
    assert planner["keyEnv"] == "OPENAI_API_KEY" and planner["keyPresent"] is True
    assert planner["seconds"] > 0 and "called a tool" in planner["detail"]
    assert executor["label"] == "ollama:qwen3" and executor["keyEnv"] is None
    assert executor["ok"] is False and "did not call the tool" in executor["detail"]
    assert key not in str(res)
    assert [r.body["model"] for r in openai_standin.requests] == ["gpt-4.1", "qwen3"]


async def test_doctor_lists_the_mcp_servers_the_client_hands_over(
    tmp_path: Path, http_server: str
) -> None:
    """``initializationOptions.mcpServers`` (the shape ACP's session/new hands over): a
    server that answers and one whose command does not exist, each named."""
    ws = make_workspace(tmp_path / "proj")
    script = tmp_path / "s.json"
    script.write_text('{"planner": [], "executor": []}')
    opts = options(
        script,
        mcpServers=[
            {"name": "db", "type": "http", "url": http_server, "headers": []},
            {"name": "gone", "command": str(tmp_path / "no-such-server"), "args": [], "env": []},
        ],
    )
    async with open_session(ws, opts) as s:
        res = await s.cmd("planloop.doctor")
    servers = {m["name"]: m for m in res["mcp"]}
    assert servers["db"]["started"] is True and servers["db"]["tools"] == 8
    assert servers["db"]["source"] == "client" and servers["db"]["seconds"] > 0
    assert servers["gone"]["started"] is False and "command not found" in servers["gone"]["detail"]
    assert res["ok"] is False  # a server that does not start is a failed check

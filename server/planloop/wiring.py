"""Wiring: build the core for a workspace from settings.

Both front ends (CLI, LSP) call :func:`open_session`, so neither holds wiring the other
lacks. Models are created lazily: reading a plan or a diff must not need an API key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from planloop.api import Session
from planloop.approvals import Approver
from planloop.checkpoints.store import CheckpointStore
from planloop.config import Config
from planloop.events import EventSink
from planloop.loop.orchestrator import Orchestrator
from planloop.mcp_port import McpTools
from planloop.mcp_tools.consent import Consent
from planloop.mcp_tools.hub import McpHub
from planloop.mcp_tools.sources import ServerSpec, load_servers
from planloop.models.base import Model, ModelConfig
from planloop.state.store import PlanStore
from planloop.workspace.files import Workspace
from planloop.workspace.policy import DEFAULT_ALLOW, DEFAULT_DENY, CommandPolicy
from planloop.workspace.sandbox import CommandSandbox
from planloop.workspace.search_tools import Tools


def command_sandbox(root: Path, config: Config) -> CommandSandbox:
    """The settings' sandbox; extra writable paths are relative to the workspace."""
    writable = tuple((root / Path(p).expanduser()).resolve() for p in config.sandbox_writable)
    return CommandSandbox(
        root, mode=config.sandbox, network=config.sandbox_network, writable=writable
    )


def build_orchestrator(
    root: Path,
    *,
    config: Config,
    approver: Approver,
    sink: EventSink | None = None,
    buffer_text: Callable[[Path], str | None] | None = None,
    on_write: Callable[[Path, str, str], None] | None = None,
    open_files: Callable[[], Sequence[str]] | None = None,
    wrap_model: Callable[[Model, str], Model] | None = None,
    model_for: Callable[[str], Model] | None = None,
    mcp_servers: list[ServerSpec] | None = None,
    wrap_mcp: Callable[[McpTools | None], McpTools | None] | None = None,
) -> Orchestrator:
    """``wrap_model(model, role)``: a wrapper at the model port (eval's cassettes).
    ``model_for(role)``: the model instead of the configured one, which is then never
    built (eval's replay: the cassette answers, so no spec, key or flag is needed).
    ``mcp_servers``: MCP servers the client handed over (the language server's
    ``mcpServers``, ACP's session/new; :func:`planloop.mcp_tools.sources.client_server`
    reads one), beside the ones the settings and the project's files define.
    ``wrap_mcp(client)``: the MCP client in a wrapper, or another in its place (eval's
    cassettes record at the port, and replay without the servers).
    ``open_files()``: the absolute paths of the files open in the editor (the language
    server's buffers), a signal the repo map ranks by."""
    root = root.resolve()
    if not root.is_dir():
        from planloop.errors import PlanloopError

        raise PlanloopError(f"workspace {root} is not a directory")
    store = PlanStore(root, plans_in_repo=config.plans_in_repo)
    # the project's lists extend the built-in ones: adding "npm test*" must not drop
    # "pytest*", and no setting can lift the built-in protection of the user's git
    policy = CommandPolicy(
        allow=[*DEFAULT_ALLOW, *config.command_policy.allow],
        deny=[*DEFAULT_DENY, *config.command_policy.deny],
    )
    ws = Workspace(
        root,
        policy=policy,
        buffer_text=buffer_text,
        on_write=on_write,
        search_tools=Tools.discover(rg=config.rg_path),
        sandbox=command_sandbox(root, config),
    )
    state_dir = store.dir

    mc = ModelConfig(
        timeout_s=config.model_timeout_s,
        max_retries=config.model_retries,
        prices=config.prices,
        providers=config.provider_settings(),
    )

    # the spec comes from the orchestrator: a flag, else the plan's remembered model,
    # else the settings (config.choose_model)
    def planner(spec: str) -> Model:
        from planloop.models.registry import make_model

        if model_for is not None:
            return model_for("planner")
        model = make_model(spec, "planner", config=mc, state_dir=state_dir)
        return wrap_model(model, "planner") if wrap_model else model

    def executor(spec: str) -> Model:
        from planloop.models.registry import make_model

        if model_for is not None:
            return model_for("executor")
        model = make_model(spec, "executor", config=mc, state_dir=state_dir)
        return wrap_model(model, "executor") if wrap_model else model

    mcp: McpTools | None = mcp_hub(root, config, store.dir, mcp_servers)
    return Orchestrator(
        root=root,
        mcp=mcp if wrap_mcp is None else wrap_mcp(mcp),
        config=config,
        store=store,
        workspace=ws,
        checkpoints=CheckpointStore(root),
        planner_model=planner,
        executor_model=executor,
        approver=approver,
        sink=sink,
        open_files=open_files,
    )


def mcp_hub(
    root: Path, config: Config, state_dir: Path, client: list[ServerSpec] | None
) -> McpHub | None:
    """The MCP client over every server the settings, the project's files and the client
    define (read anew each time the servers start); None when ``[mcp] enabled = false``.
    Its events go through the orchestrator's journal, set by the orchestrator."""
    if not config.mcp.enabled:
        return None
    return McpHub(
        lambda: load_servers(root, config.mcp, client),
        config.mcp,
        log_dir=state_dir / "mcp",
        consent=Consent(state_dir),
    )


def open_session(
    root: Path,
    *,
    config: Config,
    approver: Approver,
    sink: EventSink | None = None,
    buffer_text: Callable[[Path], str | None] | None = None,
    on_write: Callable[[Path, str, str], None] | None = None,
    open_files: Callable[[], Sequence[str]] | None = None,
    mcp_servers: list[ServerSpec] | None = None,
) -> Session:
    """The core API over a workspace: what every front end talks to. ``mcp_servers``:
    the MCP servers a client hands over, ``open_files`` the editor's open files (see
    :func:`build_orchestrator`)."""
    return Session(
        build_orchestrator(
            root,
            config=config,
            approver=approver,
            sink=sink,
            buffer_text=buffer_text,
            on_write=on_write,
            open_files=open_files,
            mcp_servers=mcp_servers,
        )
    )

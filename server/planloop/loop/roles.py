"""The two model roles of a run, built on first use.

Built lazily because most calls never need them: reading a plan, a diff or the log
must work without a model, an API key or a network. Both roles log their tool calls
through the journal and charge their turns to the run's ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from planloop.config import ROLES, Config, ModelChoice, RememberedModels, Role, choose_model
from planloop.errors import ConfigError
from planloop.events import Progress, RulesWarning
from planloop.loop.journal import Journal
from planloop.mcp_port import McpTools
from planloop.models.base import Model
from planloop.roles.executor import Executor
from planloop.roles.joint import JointAgent
from planloop.roles.ledger import Ledger
from planloop.roles.planner import Planner, RepoMapFn
from planloop.roles.rules import ProjectRules
from planloop.workspace.files import Workspace

#: builds a role's model from its spec (``anthropic:…``, ``scripted:…``)
ModelFactory = Callable[[str], Model]
#: the absolute paths of the files open in the editor, asked when a map is made
OpenFiles = Callable[[], Sequence[str]]
#: an acting role: the executor, or the joint agent built on it
A = TypeVar("A", bound=Executor)


class Roles:
    def __init__(
        self,
        *,
        config: Config,
        ws: Workspace,
        planner_model: ModelFactory,
        executor_model: ModelFactory,
        journal: Journal,
        ledger: Ledger,
        command_gate: Callable[[str], str | None],
        mcp: McpTools | None = None,
        mcp_gate: Callable[[str, dict[str, Any]], str | None] | None = None,
        open_files: OpenFiles | None = None,
    ) -> None:
        self.mcp = mcp
        self.open_files = open_files
        self.mcp_gate = mcp_gate
        self.config = config
        self.ws = ws
        self._planner_model = planner_model
        self._executor_model = executor_model
        self.journal = journal
        self.ledger = ledger
        self.command_gate = command_gate
        self._planner: Planner | None = None
        self._executor: Executor | None = None
        self._joint: JointAgent | None = None
        self._executor_model_obj: Model | None = None
        self._rules: ProjectRules | None = None
        #: the model each role runs with; :meth:`use` sets it for the plan at hand
        self.models: dict[Role, ModelChoice] = {r: choose_model(config, r, None) for r in ROLES}

    def use(self, remembered: RememberedModels | None) -> dict[Role, ModelChoice]:
        """Choose each role's model for a plan (``remembered``: its record or waiting
        question; None: a new plan), see :func:`choose_model`. A role whose model changed
        is built afresh (a long-lived language server session goes from plan to plan)."""
        models = {
            r: choose_model(
                self.config, r, remembered.remembered(r) if remembered is not None else None
            )
            for r in ROLES
        }
        if models["planner"].spec != self.models["planner"].spec:
            self._planner = None
        if models["executor"].spec != self.models["executor"].spec:
            self._executor = self._joint = self._executor_model_obj = None
        self.models = models
        return models

    @property
    def rules(self) -> ProjectRules:
        """The project's instruction files, read once for the run: every call of a role
        renders the same bytes, so the system prompt stays the cached prefix."""
        if self._rules is None:
            self._rules = ProjectRules(
                self.ws.root,
                list_files=lambda rel: self.ws.searcher.list_files(rel),
                max_bytes=self.config.rules_max_bytes,
                warn=lambda path, message: self.journal.event(
                    RulesWarning(path=path, message=message)
                ),
            )
        return self._rules

    def _acting_model(self) -> Model:
        """One executor model for both acting roles: a joint run that escalates goes on
        with the same model (and a scripted one with the next turn of the same script)."""
        if self._executor_model_obj is None:
            self._executor_model_obj = self._executor_model(self.models["executor"].spec)
        return self._executor_model_obj

    def _repo_map(self) -> RepoMapFn:
        """The repo map, cached under .planloop/repomap/, made within
        ``repo_map_budget_s`` (the rest is parsed in the background until the process
        ends), the files open in the editor lifted; its progress goes to the front ends
        only (``tell``: progress is not a decision worth a log line)."""
        from planloop.workspace.repomap import RepoMap

        def progress(message: str, done: int, total: int, finished: bool) -> None:
            self.journal.tell(
                Progress(
                    task="repo_map", message=message, done=done, total=total, finished=finished
                )
            )

        rm = RepoMap(
            self.ws,
            self.journal.store.dir / "repomap",
            on_progress=progress,
            budget_s=self.config.repo_map_budget_s,
            open_files=self._open_rels if self.open_files is not None else None,
        )
        return lambda goal, budget, path, cancel: rm.render(goal, budget, path, cancel)

    def _open_rels(self) -> list[str]:
        """The open files inside this workspace, relative to it (an editor has files of
        other folders and of no folder open too: those are not this map's business)."""
        assert self.open_files is not None
        root = self.ws.root
        out = []
        for p in self.open_files():
            try:
                out.append(Path(p).relative_to(root).as_posix())
            except ValueError:
                continue
        return out

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            tokens = self.config.repo_map_tokens
            self._planner = Planner(
                self._planner_model(self.models["planner"].spec),
                self.ws,
                max_turns=self.config.budgets.planner_turns,
                max_invalid=self.config.budgets.plan_attempts,
                max_tokens=self.config.max_tokens,
                on_event=self.journal.event,
                ledger=self.ledger,
                repo_map=self._repo_map() if tokens > 0 else None,
                repo_map_tokens=tokens,
                rules=self.rules,
                max_questions=self.config.planner_questions,
                mcp=self.mcp,
            )
        return self._planner

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = self._acting(Executor)
        return self._executor

    @property
    def joint(self) -> JointAgent:
        """The joint role (mode = joint): plans and acts on the executor's model."""
        if self._joint is None:
            self._joint = self._acting(JointAgent)
        return self._joint

    def _acting(self, kind: type[A]) -> A:
        """An acting role on the executor's model, with the run's budgets and policy."""
        return kind(
            self._acting_model(),
            self.ws,
            max_turns=self.config.budgets.executor_turns,
            command_gate=self.command_gate,
            command_timeout_s=self.config.command_timeout_s,
            max_tokens=self.config.max_tokens,
            on_event=self.journal.event,
            ledger=self.ledger,
            rules=self.rules,
            mcp=self.mcp,
            mcp_gate=self.mcp_gate,
        )

    def fresh_model(self, role: str) -> Model:
        """A new model for ``role`` from its factory (``planloop doctor`` checks one)."""
        if role == "planner":
            return self._planner_model(self.models["planner"].spec)
        return self._executor_model(self.models["executor"].spec)

    def priced(self) -> bool:
        """Whether both roles' models have a price: a plan's dollar estimate means
        nothing beside a run whose cost is shown as tokens and "cost unknown"."""
        return all(getattr(r.model, "priced", True) for r in (self.planner, self.executor))

    def check_dollar_budget(self, *, planner: bool = True, executor: bool = True) -> None:
        """Refuse to start when ``budgets.usd`` is set but a role's model has no price.

        Its spend would count as nothing, so the budget would promise a limit it cannot
        keep. Only a budget the user set counts: the built-in default is not a promise
        anyone made, and ``budgets.tokens`` limits any model.
        """
        budgets = self.config.budgets
        if "usd" not in budgets.model_fields_set:
            return
        wanted = [("planner", planner), ("executor", executor)]
        for role, want in wanted:
            if not want:
                continue
            model = (self.planner if role == "planner" else self.executor).model
            if getattr(model, "priced", True):
                continue
            model_id = getattr(model, "model_id", model.label)
            raise ConfigError(
                f"budgets.usd = {budgets.usd:g} cannot be kept: the {role} model {model.label} "
                f'has no price, so its spend is unknown. Add [prices."{model_id}"] '
                "(input, output: USD per million tokens) to planloop.toml, or remove "
                "budgets.usd and limit tokens with budgets.tokens instead."
            )

"""Cost for any model: an unpriced model shows tokens and "cost unknown", never $0.00;
a dollar budget it cannot keep is refused at the start; ``budgets.tokens`` works for all.

The models are ``ollama:`` presets on the real openai SDK against the Chat Completions
stand-in, so "unpriced" is what a real local model is, not a flag set by the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import step, submit
from planloop.approvals import ApprovalRequest, Decision
from planloop.config import load_config
from planloop.document.plan import RoleUsage, cost_text
from planloop.errors import ConfigError
from planloop.loop.orchestrator import Orchestrator
from planloop.wiring import build_orchestrator
from standin_openai import OpenAIStandIn, chat, usage

GOAL = "Add hello files"


class Recorder:
    def __init__(self, *answers: Decision | None) -> None:
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    def ask(self, req: ApprovalRequest, cancel: Any = None) -> Decision | None:
        self.asked.append(req)
        return self.answers.pop(0) if self.answers else None


def orchestrator(
    ws: Path, api: OpenAIStandIn, approver: Any, *, planner: str = "ollama:qwen3", **cfg: Any
) -> Orchestrator:
    # the example's own planloop.toml sets budgets.usd, which an unpriced model refuses
    (ws / "planloop.toml").write_text("")
    config = load_config(
        ws,
        {
            "planner": planner,
            "executor": "ollama:qwen3",
            "workspace_checks": [],
            "model_retries": 0,
            "providers": {"ollama": {"base_url": api.base_url}},
            **cfg,
        },
    )
    return build_orchestrator(ws, config=config, approver=approver)


def hello(n: int) -> dict[str, Any]:
    return step(
        f"hello-{n}",
        checks=[{"kind": "file_exists", "path": f"hello{n}.txt"}],
        files=[f"hello{n}.txt"],
        deps=[f"hello-{n - 1}"] if n > 1 else [],
    )


def plan_and_step_replies(api: OpenAIStandIn, *, step_tokens: int) -> None:
    api.enqueue(
        chat(calls=[("submit_plan", submit(GOAL, [hello(1), hello(2)])[0]["input"])]),
        chat(
            calls=[("write_file", {"path": "hello1.txt", "content": "hi\n"})],
            use=usage(step_tokens - 10, 10),
        ),
        chat(calls=[("report_outcome", {"ok": True, "summary": "wrote hello1.txt"})]),
    )


def test_cost_text_never_reads_as_free() -> None:
    assert cost_text(0.0123) == "$0.0123"
    assert cost_text(0.0, RoleUsage(calls=2)) == "$0.0000"  # priced at zero is a price
    local = RoleUsage(calls=2, unpriced_calls=2, unpriced_tokens=12_345, input_tokens=12_000)
    assert cost_text(0.0, local) == "12,345 tokens, cost unknown"
    mixed = RoleUsage(calls=3, unpriced_calls=2, unpriced_tokens=12_345, cost_usd=0.5)
    assert cost_text(0.5, mixed) == "$0.5000 + 12,345 tokens, cost unknown"


def test_unpriced_model_run_shows_tokens_and_cost_unknown(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    plan_and_step_replies(openai_standin, step_tokens=600)
    openai_standin.enqueue(
        chat(calls=[("write_file", {"path": "hello2.txt", "content": "hi\n"})]),
        chat(calls=[("report_outcome", {"ok": True, "summary": "wrote hello2.txt"})]),
    )
    orch = orchestrator(calc_ws, openai_standin, Recorder(Decision(True, "t")))
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    st = orch.status()
    assert st.cost_usd == 0.0 and not st.usage.cost_known
    assert st.usage.tokens == st.usage.unpriced_tokens > 600
    assert st.cost_text == f"{st.usage.tokens:,} tokens, cost unknown"
    first = st.plan.step("hello-1").result
    assert first is not None and first.cost_text.endswith("tokens, cost unknown")
    assert "$" not in first.cost_text


def test_a_price_in_planloop_toml_makes_a_local_model_priced(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    plan_and_step_replies(openai_standin, step_tokens=1_000_000)
    orch = orchestrator(
        calc_ws,
        openai_standin,
        Recorder(Decision(True, "t")),
        prices={"qwen3": {"input": 0.5, "output": 1}},
    )
    orch.create_plan(GOAL)
    orch.run()
    st = orch.status()
    assert st.usage.cost_known and st.cost_text.startswith("$")
    # the plan turn and the outcome turn (10 in, 5 out each), and the write turn
    small = 10 * 0.5 + 5 * 1
    assert st.cost_usd == pytest.approx((2 * small + 999_990 * 0.5 + 10 * 1) / 1e6)


def test_dollar_budget_with_an_unpriced_model_is_refused_at_the_start(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    orch = orchestrator(
        calc_ws, openai_standin, Recorder(Decision(True, "t")), budgets={"usd": 1.0}
    )
    with pytest.raises(ConfigError) as info:
        orch.create_plan(GOAL)
    msg = info.value.message
    assert "budgets.usd = 1 cannot be kept" in msg and "planner model ollama:qwen3" in msg
    assert '[prices."qwen3"]' in msg and "budgets.tokens" in msg
    assert openai_standin.requests == []  # refused before anything was spent


def test_dollar_budget_refused_for_an_unpriced_executor_before_any_step(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    plan_and_step_replies(openai_standin, step_tokens=100)
    orchestrator(calc_ws, openai_standin, Recorder(Decision(True, "t"))).create_plan(GOAL)
    sent = len(openai_standin.requests)
    orch = orchestrator(
        calc_ws,
        openai_standin,
        Recorder(Decision(True, "t")),
        planner="anthropic:claude-opus-5-5",
        budgets={"usd": 3.0},
    )
    with pytest.raises(ConfigError, match="the executor model ollama:qwen3 has no price"):
        orch.run(all_steps=True)
    assert len(openai_standin.requests) == sent
    assert orch.status().plan.step("hello-1").status == "pending"


def test_token_budget_pauses_and_asks_for_an_unpriced_model(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    plan_and_step_replies(openai_standin, step_tokens=600)
    rec = Recorder(Decision(True, "t"), Decision(False, "t"))
    orch = orchestrator(calc_ws, openai_standin, rec, budgets={"tokens": 500})
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert [q.kind for q in rec.asked] == ["plan", "budget"]
    assert "tokens; approve to allow another 500" in rec.asked[1].reason
    assert res.state == "stopped" and "token budget reached" in res.reason
    assert "1/2 steps passed" in res.reason
    assert orch.status().plan.step("hello-2").status == "pending"


def test_an_approved_token_budget_allows_another_budgets_worth(
    calc_ws: Path, openai_standin: OpenAIStandIn
) -> None:
    plan_and_step_replies(openai_standin, step_tokens=600)
    openai_standin.enqueue(
        chat(calls=[("write_file", {"path": "hello2.txt", "content": "hi\n"})]),
        chat(calls=[("report_outcome", {"ok": True, "summary": "wrote hello2.txt"})]),
    )
    rec = Recorder(Decision(True, "t"), Decision(True, "t"))
    orch = orchestrator(calc_ws, openai_standin, rec, budgets={"tokens": 500})
    orch.create_plan(GOAL)
    res = orch.run(all_steps=True)
    assert res.state == "done", res.reason
    assert [q.kind for q in rec.asked] == ["plan", "budget"]


def test_token_budget_must_be_positive(calc_ws: Path) -> None:
    (calc_ws / "planloop.toml").write_text("[budgets]\ntokens = 0\n")
    with pytest.raises(ConfigError, match=r"budgets\.tokens"):
        load_config(calc_ws)

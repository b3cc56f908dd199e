"""The cost ledger: a tab sees what its role was charged inside it, nothing else."""

from __future__ import annotations

from planloop.document.plan import RoleUsage
from planloop.roles.ledger import Ledger


def _turn(cost: float) -> RoleUsage:
    return RoleUsage(input_tokens=10, output_tokens=5, cost_usd=cost, calls=1)


def test_a_tab_collects_its_roles_turns_in_order_and_survives_an_exception() -> None:
    ledger = Ledger()
    charge = ledger.meter("executor")
    charge(_turn(0.5))  # before the tab: not its cost
    try:
        with ledger.tab("executor") as tab:
            charge(_turn(0.1))
            ledger.charge("planner", _turn(9.0))  # another role: not this tab's
            charge(_turn(0.2))
            raise RuntimeError("the call ended badly")
    except RuntimeError:
        pass
    charge(_turn(0.4))  # after the tab closed
    assert tab.usage == _turn(0.1).add(_turn(0.2))
    assert tab.usage.calls == 2
    assert ledger.total("executor").cost_usd == 1.2
    assert ledger.total("planner").cost_usd == 9.0

"""The cost ledger: what model calls have cost, charged turn by turn as they are billed.

Why a ledger and not a return value: a role's call can end in many ways — an outcome,
a model error, a cancel, a plan that never validated, a spent turn budget — and every
turn made before the end was paid for. The tool loop charges each billed turn here the
moment it is billed, so whoever started the call reads what it cost from its
:class:`Tab`, whatever ended it, and no exception has to carry money out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from planloop.document.plan import RoleUsage

Role = Literal["planner", "executor", "joint"]

#: what the tool loop calls with each billed turn's usage
Meter = Callable[[RoleUsage], None]


class Tab:
    """What one call of a role has spent so far (turns added in the order billed)."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.usage = RoleUsage()

    def add(self, usage: RoleUsage) -> None:
        self.usage = self.usage.add(usage)


class Ledger:
    def __init__(self) -> None:
        self._open: list[Tab] = []
        self._total: dict[Role, RoleUsage] = {}

    def charge(self, role: Role, usage: RoleUsage) -> None:
        """Book one billed turn: to the role's total and to every tab open for the role."""
        self._total[role] = self.total(role).add(usage)
        for tab in self._open:
            if tab.role == role:
                tab.add(usage)

    def meter(self, role: Role) -> Meter:
        """The charge function a role hands to its tool loop."""

        def charge(usage: RoleUsage) -> None:
            self.charge(role, usage)

        return charge

    def total(self, role: Role) -> RoleUsage:
        """Everything charged to ``role`` since the ledger was made."""
        return self._total.get(role, RoleUsage())

    @contextmanager
    def tab(self, role: Role) -> Iterator[Tab]:
        """Collect what is charged to ``role`` inside the block (it stays readable after)."""
        tab = Tab(role)
        self._open.append(tab)
        try:
            yield tab
        finally:
            self._open.remove(tab)

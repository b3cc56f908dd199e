"""The session modes: ``review`` asks before a plan runs and before every re-plan;
``auto`` approves those itself and still asks about commands outside the allow list and
the dollar budget (as ``--yes`` does: a yes to a plan is no yes to any command)."""

from __future__ import annotations

from acp.helpers import update_current_mode
from acp.schema import CurrentModeUpdate, SessionMode, SessionModeState

REVIEW = "review"
AUTO = "auto"

MODES = [
    SessionMode(
        id=REVIEW,
        name="Review",
        description="ask before a plan runs and before every re-plan (default)",
    ),
    SessionMode(
        id=AUTO,
        name="Auto",
        description="approve plans and re-plans; still ask about commands outside the "
        "allow list and the budget",
    ),
]


def mode_state(current: str) -> SessionModeState:
    return SessionModeState(current_mode_id=current, available_modes=MODES)


def is_mode(mode_id: str) -> bool:
    return mode_id in (REVIEW, AUTO)


def announce(mode_id: str) -> CurrentModeUpdate:
    return update_current_mode(mode_id)

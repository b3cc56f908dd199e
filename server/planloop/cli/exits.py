"""Exit codes: 0 done, 1 error, 2 usage, 3 waiting for the user, 4 stopped
(``eval``: a run was not judged), 130 an interrupted ``eval``.

Scripts rely on them, so every failure ends in exactly one of them, decided here.
"""

from __future__ import annotations

from planloop.errors import PlanloopError

#: run state → exit code
EXIT = {
    "done": 0,
    "idle": 0,
    "awaiting_approval": 3,
    "paused": 3,
    "stopped": 4,
    "error": 1,
    "cancelled": 1,
    "running": 1,
}

#: error kind → exit code: the one place a failure's exit code is decided. A kind not
#: listed falls back to its class's kind (a model error "auth" to "model"), then to 1.
#: Every failure is 1 today ("waiting" is not one: 3, as for a run awaiting approval);
#: 2 is argparse's alone (bad arguments never reach a command).
ERROR_EXIT = {
    "error": 1,
    "usage": 1,
    "no_plan": 1,
    "unknown_step": 1,
    "invalid_request": 1,
    "not_found": 1,
    "busy": 1,
    "config": 1,
    "store": 1,
    "log_unreadable": 1,
    "model": 1,
    "workspace": 1,
    "path": 1,
    "checkpoint": 1,
    "internal": 1,
    "eval": 1,
    "cassette": 1,
    "plan_edit": 1,
    # a planner question nobody could answer: saved, `planloop answer` goes on
    "waiting": 3,
}


def error_exit(e: PlanloopError) -> int:
    return ERROR_EXIT.get(e.kind, ERROR_EXIT.get(e.family, 1))

"""The command names the server advertises at ``initialize``.

They are needed before any command module is imported (those import the core, which
an editor should not wait for), so they live here as plain strings; a test keeps them
equal to the commands ``commands.py`` registers and to the contract.
"""

from __future__ import annotations

COMMAND_NAMES = (
    "planloop.createPlan",
    "planloop.getPlan",
    "planloop.runStep",
    "planloop.runAll",
    "planloop.stepDiff",
    "planloop.fileAtCheckpoint",
    "planloop.revertStep",
    "planloop.replan",
    "planloop.decideRevision",
    "planloop.approvePause",
    "planloop.decidePending",
    "planloop.answer",
    "planloop.setMode",
    "planloop.log",
    "planloop.clean",
    "planloop.doctor",
    "planloop.cancel",
)

"""The orchestrator and its collaborators, one module per job it hands off: one attempt of
a step (``step_runner``), plan versions (``revisions``), questions for a person
(``approval_desk``), the workspace's green checks (``baseline``), crash recovery
(``recovery``), a step's diff and revert (``step_changes``), the roles built on first use
(``roles``) and the write-ahead order of log, events and saves (``journal``).

Plain code, no model and no SDK: may import the roles, the workspace, checkpoints, state,
the document and the shared modules; only ``api`` and ``wiring`` import it.
"""

"""The orchestrator and its collaborators, one module per job it hands off: one attempt of
a step (``step_runner``) and what its verdict leads to (``step_decisions``), plan versions
(``revisions``), a person's plan edit (``user_edits``), questions for a person
(``approval_desk``), the workspace's green checks (``baseline``), crash recovery
(``recovery``), a step's diff and revert (``step_changes``), the roles built on first use
(``roles``), the write-ahead order of log, events and saves (``journal``) and what the
calls return (``results``).

Plain code, no model and no SDK: may import the roles, the workspace, checkpoints, state,
the document and the shared modules; only ``api`` and ``wiring`` import it.
"""

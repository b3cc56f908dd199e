"""The acting roles and what they use: the planner and the executor (and the joint agent
that does both), the bounded tool loop they share, the tools models call, the planner's
clarifying questions, the project's own rules, and the ledger that charges every call.

May import the workspace, ``models`` (the port, never an SDK), the document and the shared
modules; never the loop, which drives the roles, nor a front end.
"""

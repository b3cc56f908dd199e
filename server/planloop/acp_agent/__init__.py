"""``planloop acp``: planloop as an Agent Client Protocol agent (Zed, JetBrains, Neovim, Emacs).

A third front end beside the CLI and the language server, and as thin: ACP requests in,
:class:`planloop.api.Session` calls out, the core's events back as ``session/update``
notifications. The core runs in a worker thread (it is synchronous); :mod:`outbox` carries
its updates and questions to the event loop in order. One concern per module: ``session``
(a folder opened for an ACP session), ``turns`` (what a prompt means and running it),
``plan_updates`` (plan → ``plan`` entries and the plan document), ``tool_calls`` (events →
``tool_call`` / ``tool_call_update``), ``permissions`` (approvals and the planner's
questions → ``session/request_permission``), ``commands`` (slash commands), ``modes``
(``review`` / ``auto``), ``agent`` (the ACP methods) and ``main`` (the launch).

What it may import: anything below the front ends (the api, the wiring, the config) and
the ACP SDK (``acp``); not the CLI, the language server or the demo. The CLI starts it.
"""

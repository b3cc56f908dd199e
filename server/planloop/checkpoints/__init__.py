"""Per-step snapshots of the whole workspace in a shadow git repository, so every step has
its own diff and its own undo: the step-level API (``store``), the repository and its git
processes (``shadow_repo``; its config and environment ``shadow_config``, its lock and
damage handling ``integrity``, its start from the user's repository ``borrowing``), diff parsing (``diff``) and writing a step's files back
(``revert``).

May import the document and the shared modules only: checkpoints know steps by id, not the
loop that takes them.
"""

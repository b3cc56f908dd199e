"""The user's folder as the models see it: every file access and command a model causes
(``files``, ``commands``), which commands may run (``policy``), search and listing that
stay fast on 100k files (``search``, ``listing``, and the programs they run,
``search_tools``), the planner's repo map (``repomap``, ``repomap_tags``,
``repomap_cache``) and the acceptance checks run against it (``checks``).

May import the document and the shared modules (errors, cancel, redaction, validation);
never the roles, the loop or a front end: the workspace does not know who is asking.
"""

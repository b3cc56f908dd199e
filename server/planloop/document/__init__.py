"""The plan document: the plan as data (``plan``), as Markdown text both ways (``markdown``),
and a person's edit checked against the current version (``edits``).

Everything else in planloop reads or writes plans, so this package is the floor: it imports
nothing of planloop's outside itself.
"""

"""``.planloop/`` on disk: plans and their versions, the run record with its pending
question, the log, the run lock (``store``); the run record's model (``record``).

May import the document, events and the shared modules; the loop writes through it, the
front ends read through ``api.Session``.
"""

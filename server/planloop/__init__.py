"""planloop: a plan-then-act coding agent (planner, executor, plain-code orchestrator)."""

__version__ = "0.1.0"

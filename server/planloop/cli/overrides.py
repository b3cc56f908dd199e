"""The flags that are settings (models, mode, sandbox), as planloop.toml keys.

Its own module, light on imports, because ``planloop acp`` needs it before anything
else: the agent answers an editor's ``initialize`` before it loads the core.
"""

from __future__ import annotations

import argparse
from typing import Any


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {}
    if args.planner:
        over["planner"] = args.planner
    if args.executor:
        over["executor"] = args.executor
    if getattr(args, "mode", None):
        over["mode"] = args.mode
    if getattr(args, "in_repo", False):
        over["plans_in_repo"] = True
    if getattr(args, "sandbox", None):
        over["sandbox"] = args.sandbox
    if getattr(args, "sandbox_network", False):
        over["sandbox_network"] = True
    if getattr(args, "repo_map_budget", None) is not None:
        over["repo_map_budget_s"] = args.repo_map_budget
    if getattr(args, "sandbox_writable", None):
        over["sandbox_writable"] = list(args.sandbox_writable)
    return over

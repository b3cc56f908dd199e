"""``clean``, ``doctor`` and ``serve``: keeping the workspace and the setup in order.

``demo`` is in the package's ``__init__``: it drives the CLI's own entry point.
"""

from __future__ import annotations

import argparse
import json

from rich.markup import escape

from planloop.approvals import NoApprover
from planloop.cli import console
from planloop.cli.common import session_for
from planloop.cli.parser import Default
from planloop.cli.render import one_line
from planloop.lsp.launch import from_namespace


def cmd_clean(args: argparse.Namespace) -> int:
    session = session_for(args, NoApprover())
    if args.reset_shadow:
        moved = session.reset_checkpoints()
        where = f"moved aside to {moved}" if moved else "there was none"
        console.out.print(
            f"checkpoint repository {where}; the next step starts a fresh one. "
            "Your files were not touched; diffs and reverts of earlier steps are gone."
        )
        return 0
    res = session.clean(keep_current=args.keep_current)
    console.out.print(
        f"checkpoints of finished plans dropped; {res.freed_bytes / 1e6:.1f} MB freed, "
        f"{res.in_use_bytes / 1e6:.1f} MB in use"
    )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Each role's model, endpoint and key presence, one live tool call each; 1 on failure."""
    checks = session_for(args, NoApprover()).check_models()
    if args.json:
        print(
            json.dumps(
                {"ok": all(c.ok for c in checks), "checks": [c.to_dict() for c in checks]}, indent=2
            )
        )
    else:
        for c in checks:
            mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
            where = [c.endpoint] if c.endpoint != "-" else []
            if c.key_env is not None:
                where.append(f"{c.key_env} {'set' if c.key_present else 'not set'}")
            elif where and c.key_present is None and c.seconds is not None:
                where.append("no key needed")
            if c.seconds is not None:
                where.append(f"{c.seconds:.2f}s")
            console.out.print(
                f"{mark} [bold]{c.role}[/] {escape(c.label)} [dim]· {escape(' · '.join(where))}[/]",
                soft_wrap=True,
            )
            console.out.print(f"    {escape(one_line(c.detail))}", soft_wrap=True)
    return 0 if all(c.ok for c in checks) else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from planloop.lsp.server import main as serve

    if isinstance(args.workspace, Default):  # not given: the client's folders decide
        args.workspace = None
    serve(launch=from_namespace(args))
    return 0

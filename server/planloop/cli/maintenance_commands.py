"""``clean``, ``doctor``, ``trust`` and ``serve``: keeping the workspace and the setup in order.

``demo`` is in the package's ``__init__``: it drives the CLI's own entry point.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape

from planloop.approvals import NoApprover
from planloop.cli import console
from planloop.cli.common import session_for
from planloop.cli.parser import Default
from planloop.cli.render import one_line
from planloop.config import load_settings
from planloop.lsp.launch import from_namespace
from planloop.trust import TrustStore


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
    """Each role's model, endpoint and key presence, one live tool call each, and whether
    model commands can run sandboxed; 1 on any failure."""
    session = session_for(args, NoApprover())
    checks = session.check_models()
    sandbox = session.check_sandbox()
    ok = all(c.ok for c in checks) and sandbox.ok
    if args.json:
        print(
            json.dumps(
                {
                    "ok": ok,
                    "checks": [c.to_dict() for c in checks],
                    "sandbox": sandbox.to_dict(),
                },
                indent=2,
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
        mark = "[green]✓[/]" if sandbox.available else "[yellow]![/]" if sandbox.ok else "[red]✗[/]"
        console.out.print(f"{mark} [bold]sandbox[/] {escape(sandbox.summary)}", soft_wrap=True)
        if not sandbox.ok:
            console.out.print(
                f"    {escape(one_line(sandbox.reason))}"
                + (f" — to fix: {escape(one_line(sandbox.fix))}" if sandbox.fix else ""),
                soft_wrap=True,
            )
    return 0 if ok else 1


def cmd_trust(args: argparse.Namespace) -> int:
    """The folder's planloop.toml may (or, with ``--revoke``, may no longer) set the keys
    that send credentials or widen what runs; remembered outside the repository."""
    store = TrustStore()
    if args.list:
        for path, trusted in sorted(store.folders().items()):
            print(f"{'trusted' if trusted else 'not trusted'}  {path}")
        return 0
    folder = Path(args.workspace).resolve()
    if args.revoke:
        store.answer(folder, False)
        console.out.print(f"not trusted: {escape(str(folder))}", soft_wrap=True)
        return 0
    store.answer(folder, True)
    console.out.print(f"trusted: {escape(str(folder))}", soft_wrap=True)
    ignored = load_settings(folder, trusted=False).ignored
    if ignored:
        console.out.print(
            f"its planloop.toml now sets: {escape(', '.join(ignored))}", soft_wrap=True
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from planloop.lsp.server import main as serve

    if isinstance(args.workspace, Default):  # not given: the client's folders decide
        args.workspace = None
    serve(launch=from_namespace(args))
    return 0

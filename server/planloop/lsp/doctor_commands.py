"""``planloop.doctor``: each role's model checked with one tiny live request, as
``planloop doctor --json`` prints it (VS Code: *planloop: Check Models*)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planloop.lsp import args as A
from planloop.lsp.registry import CommandTable, Spec

if TYPE_CHECKING:
    from planloop.api import Session
    from planloop.lsp.folders import FolderSession


def register(table: CommandTable) -> None:
    # not long: it holds no run slot, so it may check the models while a run waits
    table["planloop.doctor"] = Spec(A.DoctorArgs, doctor, long=False)


def doctor(core: Session, a: A.DoctorArgs, s: FolderSession, c: None) -> Any:
    checks = core.check_models()
    sandbox = core.check_sandbox()
    servers = core.check_mcp()
    return {
        "ok": all(x.ok for x in checks) and sandbox.ok and all(m.started for m in servers),
        "mcp": [
            {
                "name": m.name,
                "transport": m.transport,
                "source": m.source,
                "started": m.started,
                "tools": m.tools,
                "seconds": m.seconds,
                "detail": m.detail,
            }
            for m in servers
        ],
        "sandbox": {
            "mode": sandbox.mode,
            "available": sandbox.available,
            "backend": sandbox.backend,
            "summary": sandbox.summary,
            "reason": sandbox.reason,
            "fix": sandbox.fix,
            "ok": sandbox.ok,
        },
        "checks": [
            {
                "role": x.role,
                "spec": x.spec,
                "label": x.label,
                "endpoint": x.endpoint,
                "keyEnv": x.key_env,
                "keyPresent": x.key_present,
                "ok": x.ok,
                "seconds": x.seconds,
                "detail": x.detail,
            }
            for x in checks
        ],
    }

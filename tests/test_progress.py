"""Long work is visible: Progress events become CLI lines (start and end) and LSP
$/progress reports on the open progress of the plan or the step."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from planloop.cli import console, progress
from planloop.events import Progress


def test_cli_prints_start_and_end_of_long_work(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(console, "out", Console(file=out, width=200, highlight=False))
    printer = progress.make_printer(progress.Spinner(enabled=False))
    printer(Progress(task="repo_map", message="repo map: parsing 9000 files", total=9000))
    printer(
        Progress(task="repo_map", message="repo map: parsed 2000/9000 files", done=2000, total=9000)
    )
    printer(
        Progress(
            task="repo_map",
            message="repo map: parsed 9000 files in 4.2 s",
            done=9000,
            total=9000,
            finished=True,
        )
    )
    printer(Progress(task="checkpoint", message="first checkpoint: recording the workspace…"))
    lines = out.getvalue().splitlines()
    assert lines == [
        "  … repo map: parsing 9000 files",
        "  … repo map: parsed 9000 files in 4.2 s",
        "  … first checkpoint: recording the workspace…",
    ]


class _FakeProgress:
    """The LSP WorkProgress surface the pump calls (begin/report/end), recorded."""

    def __init__(self) -> None:
        self.reports: list[tuple[str | None, str, int | None]] = []

    def report(self, token: str | None, message: str, percentage: int | None = None) -> None:
        self.reports.append((token, message, percentage))


async def test_lsp_reports_progress_on_the_open_token() -> None:
    from planloop.lsp.events import EventPump

    pump = EventPump.__new__(EventPump)  # only the progress routing is exercised here
    fake = _FakeProgress()
    pump.progress = fake  # type: ignore[assignment]
    pump._plan_token, pump._step_token = "plan-token", None
    await pump._progress(
        Progress(task="repo_map", message="repo map: parsed 1/4 files", done=1, total=4)
    )
    pump._step_token = "step-token"
    await pump._progress(Progress(task="checkpoint", message="first checkpoint…"))
    assert fake.reports == [
        ("plan-token", "repo map: parsed 1/4 files", 25),
        ("step-token", "first checkpoint…", None),
    ]

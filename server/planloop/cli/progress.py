"""A run as it happens: one line per event, a spinner while a model or a check works.

Terse and honest in Aider's manner: one line per tool call, the condensed observation of
a failed check, the cost of each step. The lines are the record a log or a pipe keeps;
the spinner is only for a person watching, so it shows on a terminal alone.
"""

from __future__ import annotations

from rich.markup import escape
from rich.status import Status

from planloop.cli import console
from planloop.cli.render import warn
from planloop.events import (
    ApprovalGiven,
    BaselineStarted,
    CheckRan,
    CommandApproval,
    Event,
    EventSink,
    ExecutorToolCall,
    McpServerStarted,
    McpWarning,
    ModeChosen,
    PlannerToolCall,
    Planning,
    Progress,
    Recovered,
    ReplanStarted,
    Retry,
    RevisionProposed,
    RulesWarning,
    StateChanged,
    StepFinished,
    StepStarted,
)


class Spinner:
    """A spinner while a model or a check runs, with event lines printed above it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._spin: Status | None = None

    @classmethod
    def for_stdout(cls) -> Spinner:
        """On when stdout is a terminal: a pipe gets the event lines and nothing else."""
        return cls(console.out.is_terminal)

    def start(self, text: str) -> None:
        if not self.enabled:
            return
        if self._spin is None:
            self._spin = console.out.status(text, spinner="dots")
            self._spin.start()
        else:
            self._spin.update(text)

    def stop(self) -> None:
        if self._spin is not None:
            self._spin.stop()
            self._spin = None

    class _Paused:
        def __init__(self, p: Spinner) -> None:
            self.p = p
            self.was = False

        def __enter__(self) -> None:
            self.was = self.p._spin is not None
            self.p.stop()

        def __exit__(self, *a: object) -> None:
            if self.was:
                self.p.start("working…")

    def paused(self) -> Spinner._Paused:
        """Stopped while a prompt waits for the user, started again after."""
        return Spinner._Paused(self)


def make_printer(progress: Spinner) -> EventSink:
    def on_event(ev: Event) -> None:
        out = console.out
        match ev:
            case Planning():
                progress.start("planner is exploring the workspace…")
            case ModeChosen():
                progress.stop()
                out.print(f"[bold]mode: {ev.mode}[/] [dim]— {escape(ev.reason)}[/]")
            case RulesWarning():
                warn(ev.message)
            case McpWarning():
                warn(f"MCP server {ev.server}: {ev.message}")
            case McpServerStarted():
                out.print(
                    f"  [dim]MCP server {escape(ev.server)}: {ev.tools} tools "
                    f"({ev.seconds:.1f} s)[/]"
                )
            case PlannerToolCall() | ExecutorToolCall():
                who = "planner" if ev.role == "planner" else "  "
                out.print(f"  [dim]{who} · {escape(ev.line)}[/]")
            case StepStarted():
                progress.start(f"executor on {ev.step_id}…")
                out.print(
                    f"[bold cyan]▶ {escape(ev.step_id)}[/] {escape(ev.title)} "
                    f"[dim](attempt {ev.attempt})[/]"
                )
            case CheckRan():
                mark = "[green]✓[/]" if ev.passed else "[red]✗[/]"
                out.print(f"  {mark} {escape(ev.check)}")
                if not ev.passed and ev.observation:
                    for line in ev.observation.splitlines()[:12]:
                        out.print(f"      [red]{escape(line)}[/]")
            case StepFinished():
                color = {"passed": "green", "failed": "red", "blocked": "magenta"}.get(
                    ev.status, "yellow"
                )
                files = ", ".join(ev.files) or "no files"
                out.print(
                    f"  [{color}]■ {ev.status}[/] [dim]{escape(files)} · "
                    f"{ev.cost_text or f'${ev.cost_usd:.4f}'}[/]"
                )
            case Retry():
                out.print("  [yellow]↻ retrying once with the failure observation[/]")
            case ReplanStarted():
                progress.start("planner is revising the plan…")
                out.print(f"[bold yellow]⟳ re-plan ({ev.trigger})[/]: {escape(ev.reason)}")
            case RevisionProposed():
                out.print(
                    f"  proposed v{ev.version} [dim]({ev.cost_text or f'${ev.cost_usd:.4f}'})[/]"
                )
            case ApprovalGiven() | CommandApproval():
                verdict = "[green]approved[/]" if ev.approve else "[red]rejected[/]"
                out.print(f"  {ev.kind} {verdict} by {escape(str(ev.by))}")
            case Recovered():
                files = ", ".join(ev.partial_files) or "none"
                out.print(
                    f"[yellow]recovered an interrupted step {ev.step_id}; partial changes: {escape(files)}"
                    " (put back to its before-checkpoint; it runs again)[/]"
                )
            case StateChanged():
                progress.stop()
            case BaselineStarted():
                progress.start("workspace checks: recording the baseline…")
            case Progress():
                # the spinner follows along; a line when long work starts and ends, so a
                # log without a terminal shows where the time went
                progress.start(ev.message)
                if ev.done == 0 or ev.finished:
                    out.print(f"  [dim]… {escape(ev.message)}[/]")

    return on_event

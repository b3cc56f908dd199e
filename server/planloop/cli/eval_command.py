"""``planloop eval``: a task set run under one or two configurations, and its report.

The report is a table on stdout (drawn on a terminal, whole columns to a file: ``planloop
eval > report.txt`` keeps every cell) with ``--json``/``--csv`` for scripts; progress
goes to stderr, so redirecting stdout keeps the report alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.progress import Progress as ProgressBar
from rich.table import Table

from planloop.cli import console, render
from planloop.errors import UsageError
from planloop.eval.runner import EvalConfig, EvalReport, RunReport, check_options, run_eval
from planloop.eval.tasks import load_tasks


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def _tokens(tokens: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{role[0]} {_k(t['input'] + t['output'])}"
        for role, t in tokens.items()
        if t["input"] + t["output"]
    ]
    return " · ".join(parts) or "0"


def eval_table(report: EvalReport) -> Table:
    t = Table(title="planloop eval", show_lines=False)
    for col in ("task", "config", "solved", "mode", "steps", "re-plans", "calls"):
        t.add_column(col)
    t.add_column("tokens (p/e/j)")
    t.add_column("cost", justify="right")
    t.add_column("wall", justify="right")
    for r in report.runs:
        mark = "[green]✓[/]" if r.solved else "[red]✗[/]"
        note = " [yellow]timeout[/]" if r.timed_out else ""
        note += " [yellow]interrupted[/]" if r.interrupted else ""
        note += " [red]check did not run[/]" if r.check_error else ""
        mode = r.mode or "-"
        if r.final_mode and r.final_mode != r.mode:
            mode += f"→{r.final_mode}"
        t.add_row(
            escape(r.task) + (f" #{r.repeat}" if r.repeat > 1 else ""),
            escape(r.config),
            mark + note,
            mode,
            str(r.steps),
            str(r.replans),
            str(r.model_calls),
            _tokens(r.tokens),
            f"${r.cost_usd:.4f}",
            f"{r.wall_s:.1f}s",
        )
    for label, tot in report.totals().items():
        t.add_row(
            "[bold]total[/]",
            escape(label),
            f"[bold]{tot.solved}/{tot.runs}[/]",
            "",
            str(tot.steps),
            str(tot.replans),
            str(tot.model_calls),
            _tokens(tot.tokens),
            f"${tot.cost_usd:.4f}",
            f"{tot.wall_s:.1f}s",
        )
    return t


def compare_table(report: EvalReport) -> Table:
    a, b = report.configs[:2]
    t = Table(title=f"planloop eval: {a} vs {b}")
    t.add_column("task")
    for col in ("solved", "calls", "cost", "wall"):
        t.add_column(f"{col} {a}", justify="right")
        t.add_column(f"{col} {b}", justify="right")
    t.add_column(f"Δ wall ({b}-{a})", justify="right")
    by = {(r.task, r.repeat, r.config): r for r in report.runs}
    keys = sorted({(r.task, r.repeat) for r in report.runs})
    for task, rep in keys:
        ra, rb = by.get((task, rep, a)), by.get((task, rep, b))
        if ra is None or rb is None:
            continue
        t.add_row(
            escape(task) + (f" #{rep}" if rep > 1 else ""),
            "✓" if ra.solved else "✗",
            "✓" if rb.solved else "✗",
            str(ra.model_calls),
            str(rb.model_calls),
            f"${ra.cost_usd:.4f}",
            f"${rb.cost_usd:.4f}",
            f"{ra.wall_s:.1f}s",
            f"{rb.wall_s:.1f}s",
            f"{rb.wall_s - ra.wall_s:+.1f}s",
        )
    ta, tb = report.totals()[a], report.totals()[b]
    t.add_row(
        "[bold]total[/]",
        f"{ta.solved}/{ta.runs}",
        f"{tb.solved}/{tb.runs}",
        str(ta.model_calls),
        str(tb.model_calls),
        f"${ta.cost_usd:.4f}",
        f"${tb.cost_usd:.4f}",
        f"{ta.wall_s:.1f}s",
        f"{tb.wall_s:.1f}s",
        f"{tb.wall_s - ta.wall_s:+.1f}s",
    )
    return t


def cmd_eval(args: argparse.Namespace) -> int:
    """Exit 0 when every run was judged (solved or not), 4 when a run timed out or its
    hidden check did not run, 130 when interrupted (the partial report is still written)."""
    err = console.err
    given = [args.mode] if isinstance(args.mode, str) else args.mode  # `planloop --mode X eval`
    modes = list(args.compare) if args.compare else list(given or ["auto"])
    if args.compare and args.mode:
        raise UsageError("--compare A B names the two modes; drop --mode")
    configs = [EvalConfig(m, args.planner, args.executor) for m in modes]
    tasks = load_tasks(Path(args.tasks) if args.tasks else None)
    check_options(configs, args.repeat, args.jobs)
    total = len(tasks) * len(configs) * args.repeat
    err.print(f"[dim]{len(tasks)} task(s) × {len(configs)} configuration(s) × {args.repeat}[/]")
    if args.replay:  # the cassettes answer, whatever models recorded them
        err.print("[magenta]replaying recorded model calls from the cassettes[/]")
    elif not (args.planner or args.executor):
        err.print("[magenta]scripted models: this measures the harness, not a model[/]")
    with ProgressBar(console=err, transient=True, disable=not err.is_terminal) as bar:
        job = bar.add_task("eval", total=total)

        def progress(done: int, n: int, r: RunReport) -> None:
            bar.update(job, completed=done)
            if not err.is_terminal:
                mark = "solved" if r.solved else "not solved"
                err.print(f"[{done}/{n}] {r.task} {r.config}: {mark} ({r.wall_s:.1f}s)")

        report = run_eval(
            tasks,
            configs,
            repeat=args.repeat,
            jobs=args.jobs,
            record=Path(args.record) if args.record else None,
            replay=Path(args.replay) if args.replay else None,
            on_progress=progress,
        )
    render.table(eval_table(report))
    if len(configs) == 2:
        render.table(compare_table(report))
    for r in report.runs:
        if not r.judged:
            why = r.error or r.check_error or ""
            err.print(
                f"[yellow]{escape(r.task)} {escape(r.config)}:[/] {escape(render.one_line(why))}"
            )
    if args.json:
        report.write_json(Path(args.json))
    if args.csv:
        report.write_csv(Path(args.csv))
    if report.interrupted:
        err.print("[red]interrupted:[/] partial report; temporary copies removed")
        return 130
    return 0 if report.all_judged else 4

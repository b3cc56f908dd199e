"""The CLI's shapes of output, each in its terminal form and its plain form.

A command says *what* it shows (a plan document, a table, a boxed notice, a diff); this
module picks *how* from :data:`console.out`: rich widgets on a terminal, and for a pipe
or a file the text a script wants — the plan's own Markdown (lossless: ``planloop show
> plan.md`` and ``planloop edit --from plan.md`` round-trip), tables as space-aligned
columns at their full width, notices as a title line and the body.
"""

from __future__ import annotations

import difflib

from rich.cells import cell_len
from rich.markup import escape
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from planloop.cli import console
from planloop.redaction import redact

#: between two columns of a plain table
GAP = "  "


def markdown(text: str) -> None:
    """A Markdown document: rendered on a terminal, the document itself otherwise."""
    if console.out.is_terminal:
        from rich.markdown import Markdown  # markdown-it and pygments: only on a terminal

        console.out.print(Markdown(text))
    else:
        # the exact text, as print() writes it: rich would expand tabs and drop control
        # characters, and the document must read back unchanged
        console.out.file.write(text + "\n")
        console.out.file.flush()


def table(t: Table) -> None:
    """A table: drawn on a terminal; elsewhere aligned with spaces, no cell ever cut."""
    if console.out.is_terminal:
        console.out.print(t)
        return
    for line in plain_table(t):
        console.out.print(line)


def plain_table(t: Table) -> list[Text]:
    """The rows of ``t`` (title, header, cells) as lines padded to each column's widest
    cell; a right-justified column stays right-justified, trailing spaces are dropped."""
    columns = t.columns
    grid: list[list[Text]] = []
    if t.show_header:
        style = t.header_style or "bold"
        grid.append([_text(c.header, style) for c in columns])
    rows = [list(c.cells) for c in columns]
    for n in range(t.row_count):
        grid.append([_text(cells[n] if n < len(cells) else "") for cells in rows])
    widths = [max((cell_len(row[i].plain) for row in grid), default=0) for i in range(len(columns))]
    lines: list[Text] = []
    if t.title:
        lines.append(_text(t.title, "bold"))
    for row in grid:
        line = Text()
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - cell_len(cell.plain))
            if i:
                line.append(GAP)
            if columns[i].justify == "right":
                line.append(pad)
                line.append_text(cell)
            else:
                line.append_text(cell)
                line.append(pad)
        line.rstrip()
        lines.append(line)
    return lines


def _text(cell: object, style: str | Style = "") -> Text:
    if isinstance(cell, Text):
        return cell
    text = Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell))
    if style:
        text.stylize(style)
    return text


def panel(body: str, *, title: str, style: str) -> None:
    """A notice (``body`` in rich markup): a box on a terminal, else its title and body."""
    if console.out.is_terminal:
        console.out.print(Panel(body, title=title, border_style=style))
    else:
        console.out.print(f"[bold {style}]{escape(title)}[/]")
        console.out.print(body)


def md_diff(old: str, new: str) -> None:
    """Two versions of a plan document as a unified diff, one printed line per diff line."""
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), "current", "proposed", lineterm=""
    ):
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        # soft_wrap: a diff line wrapped at the terminal's width would read as two lines
        console.out.print(escape(line), style=style, soft_wrap=True)


def one_line(text: str) -> str:
    """A message as one redacted line: scripts read stderr's last line, and a wrapped or
    multi-line message (git's stderr, a validation list) would be cut in half."""
    return " ".join(part.strip() for part in redact(text).splitlines() if part.strip())


def warn(message: str) -> None:
    """One line on stderr that does not fail the command (a tolerated fault on disk)."""
    console.err.print(f"[yellow]warning:[/] {escape(one_line(message))}", soft_wrap=True)


def note(message: str) -> None:
    """One line on stderr about what stdout shows (e.g. that it is a pending proposal):
    beside the output, never in it, so a document printed to a pipe reads back unchanged."""
    console.err.print(f"[yellow]note:[/] {escape(one_line(message))}", soft_wrap=True)

"""Run the command blocks of the docs as a user would, so a doc that stops working fails
``make test`` (tests/test_docs_run.py says which docs, and what stands in for a real
provider in each).

The convention, for anyone writing a doc that is covered (README.md, docs/models.md,
docs/eval.md, docs/editors/*.md, and any file added to ``DOCS`` in test_docs_run.py):

**Command blocks.** A fenced block whose info string is empty or ``sh``, ``shell``,
``bash``, ``console`` or ``vim`` is a command block. Every other language (``toml``,
``json``, ``lua``, ``elisp``, ``rust``, ``markdown``, ``text``, ``gitignore``, …) is a file
or an excerpt, not something to run: tag a usage synopsis, a folder layout or a file's
content with one of those (``text`` if nothing else fits), never leave it untagged.

**Every command block runs, or says why not, visibly.** A block that cannot run as
written (it needs an editor's UI, a real Ollama server, minutes of wall time, or is the
test suite itself) carries, as the last line of the paragraph right above its fence::

    *Not tested as written: <the reason, for readers>.*

(one line, in italics, starting exactly so). The runner skips it and reports the reason.
Any other command block runs, in the order of the file, all blocks of one file in one
shared, fresh folder (a test's own ``$HOME``, no user settings): a later block sees what
an earlier one did, as in a terminal session that follows the page.

**Two forms.**

- *A list of commands*: one command a line; ``# …`` comments; a line that is only a
  comment continues the one above; a trailing ``\\`` continues onto the next line; a
  heredoc (``cat > f <<'EOF'`` … ``EOF``) is part of its command. Each must exit 0,
  unless its comment says ``exit N`` (``# no terminal (CI): exit 3``): then exactly N
  (``exit N on …``, ``when …``, ``if …`` is a condition, not a claim about this run).
  Nothing is compared but the exit status.
- *A transcript*: lines starting with ``$ `` are commands (with the same comments,
  continuations and heredocs), every other line up to the next ``$ `` is that command's
  output, stdout and stderr together in the order written, compared line by line after
  :func:`normalise` (times, durations, paths, ids, stand-in URLs). A line that is only
  ``…`` matches any number of lines. The exit status rule is the same as above.

**How a command runs.** A command that is a plain ``planloop …`` (no pipe, redirection,
``&&``, ``$(…)`` or variable) calls ``planloop.cli.main`` in this process — the same code
the console script runs, with stdout and stderr captured — to keep the doc tests fast;
``cd DIR`` and ``export NAME=VALUE`` change the session's folder and environment; anything
else runs in ``bash -c`` with that folder and environment (and a ``planloop`` on PATH
that runs this checkout). In a list of commands, ``planloop`` runs *at a terminal whose
user answers* ``y`` *to every approval* (so ``planloop run --all  # asks before …`` goes
on, as the README describes) — unless the command's comment says ``no terminal``; a
transcript's commands, and everything run by bash, have no terminal (their output is the
plain text a pipe gets, which is what a transcript shows).
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: info strings of blocks that are commands (every other block is a file or an excerpt)
COMMAND_LANGS = {"", "sh", "shell", "bash", "console", "vim"}
UNTESTED = re.compile(r"^\*Not tested as written: (?P<reason>.+)\*$")
SHELL_SYNTAX = re.compile(r"[|&;<>`$(){}*?\[\]~]")
#: ``exit N`` in a command's comment; "exit 1 on failure" (a condition) is not a claim
EXIT = re.compile(r"\bexit (\d+)\b(?!\s+(?:on|when|if)\b)")


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    untested: str | None  # the reason, when marked

    @property
    def is_command(self) -> bool:
        return self.lang in COMMAND_LANGS

    @property
    def is_transcript(self) -> bool:
        return any(line.startswith("$ ") for line in self.text.splitlines())

    def name(self, root: Path) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


@dataclass
class Command:
    line: int  # in the doc
    source: str  # shell text, continuations and heredoc included
    comment: str = ""
    output: list[str] | None = None  # a transcript's expected lines

    @property
    def expected_exit(self) -> int:
        m = EXIT.search(self.comment)
        return int(m.group(1)) if m else 0

    @property
    def terminal(self) -> bool:
        return self.output is None and "no terminal" not in self.comment


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file (CommonMark fences: ``` or ~~~, indented at
    most three spaces, closed by the same character at least as long)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(2), m.group(3).lower(), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(
            rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[i]
        ):
            body.append(
                lines[i][len(m.group(1)) :] if lines[i].startswith(m.group(1)) else lines[i]
            )
            i += 1
        i += 1
        above = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = UNTESTED.match(above)
        found.append(
            Block(path, start + 1, lang, "\n".join(body), mark["reason"] if mark else None)
        )
    return found


def commands(block: Block) -> list[Command]:
    """The block's commands, with their comments and (in a transcript) expected output."""
    transcript = block.is_transcript
    lines = block.text.splitlines()
    out: list[Command] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        if transcript and not raw.startswith("$ "):
            if not out:
                raise ValueError(f"{block.name(block.path.parent)}: output before any command")
            assert out[-1].output is not None
            out[-1].output.append(raw)
            i += 1
            continue
        text = raw[2:] if transcript else raw
        if not text.strip() or text.lstrip().startswith("#"):
            if out and text.lstrip().startswith("#"):
                out[-1].comment += " " + text.strip().lstrip("#").strip()
            i += 1
            continue
        line_no = block.line + 1 + i
        code, comment = split_comment(text)
        parts = [code]
        while code.endswith("\\") and i + 1 < len(lines):
            i += 1
            nxt = lines[i][2:] if transcript and lines[i].startswith("> ") else lines[i]
            code, more = split_comment(nxt)
            parts.append(code)
            comment = f"{comment} {more}".strip()
        source = "\n".join(parts)
        here = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", source)
        if here:
            end = here.group(1)
            body: list[str] = []
            while i + 1 < len(lines):
                i += 1
                nxt = lines[i][2:] if transcript and lines[i].startswith("> ") else lines[i]
                body.append(nxt)
                if nxt.strip() == end:
                    break
            source += "\n" + "\n".join(body)
        out.append(Command(line_no, source, comment, [] if transcript else None))
        i += 1
    return out


def split_comment(text: str) -> tuple[str, str]:
    """``code  # comment`` → (code, comment): a ``#`` starts a comment at a word's start,
    outside quotes (as in bash)."""
    quote = ""
    for n, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (n == 0 or text[n - 1].isspace()):
            return text[:n].rstrip(), text[n + 1 :].strip()
    return text.rstrip(), ""


# -- normalising what varies between runs ----------------------------------------------------

VOLATILE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "<time>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:s|ms)\b"), "<duration>"),
    (re.compile(r"\bpln_[0-9a-f]{8}\b"), "pln_<id>"),
    (re.compile(r"\b[0-9a-f]{7,40}\b"), "<sha>"),
    (re.compile(r"(?:/tmp|/var/folders)/\S+"), "<tmp>"),
]


def normalise(text: str, replacements: dict[str, str] | None = None) -> str:
    """What legitimately differs from the doc: the stand-in's URL (shown as the real
    endpoint it stands for), the session's folder, times, durations, plan ids and shas."""
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    for pattern, mark in VOLATILE:
        text = pattern.sub(mark, text)
    return text.rstrip()


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; an expected ``…`` line matches any number of actual lines."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() in ("…", "..."):
        return any(matches(rest, actual[n:]) for n in range(len(actual) + 1))
    return bool(actual) and actual[0] == head and matches(rest, actual[1:])


# -- the session ---------------------------------------------------------------------------


class _Output(io.TextIOWrapper):
    """stdout and stderr of an in-process command, one stream as a terminal shows them,
    with a ``buffer`` for the bytes ``planloop cat`` writes."""

    def __init__(self, terminal: bool) -> None:
        self.raw_bytes = io.BytesIO()
        super().__init__(self.raw_bytes, encoding="utf-8", write_through=True)
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal

    def text(self) -> str:
        self.flush()
        return self.raw_bytes.getvalue().decode("utf-8", "replace")


class _Answers(io.StringIO):
    def __init__(self) -> None:
        super().__init__("y\n" * 100)

    def isatty(self) -> bool:
        return True


@dataclass
class Result:
    exit: int
    output: str


@dataclass
class Session:
    """One reader following one doc: a folder, an environment, and how to run a command."""

    cwd: Path
    env: dict[str, str]
    #: text → replacement before comparing (the stand-ins' URLs → the real endpoints)
    replacements: dict[str, str] = field(default_factory=dict)
    main: Callable[[list[str]], int] | None = None

    def run(self, cmd: Command) -> Result:
        words = _plain_words(cmd.source)
        if words and words[0] == "cd" and len(words) == 2:
            self.cwd = (self.cwd / os.path.expanduser(words[1])).resolve()
            return Result(0, "")
        if words and words[0] == "export" and len(words) == 2 and "=" in words[1]:
            name, value = words[1].split("=", 1)
            self.env[name] = value
            return Result(0, "")
        if words and words[0] == "planloop" and self.main is not None:
            return self._in_process(words[1:], terminal=cmd.terminal)
        proc = subprocess.run(
            ["bash", "-c", cmd.source],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(proc.returncode, proc.stdout)

    def _in_process(self, argv: list[str], *, terminal: bool) -> Result:
        assert self.main is not None
        out = _Output(terminal)
        stdin: io.StringIO = _Answers() if terminal else io.StringIO("")
        with _swapped(self.cwd, self.env, stdin, out):
            try:
                code = self.main(argv)
            except SystemExit as e:  # argparse's usage errors
                code = e.code if isinstance(e.code, int) else 1
        return Result(code, out.text())


def _plain_words(source: str) -> list[str] | None:
    """The words of a simple command, or None when it needs a shell to mean what it says."""
    if "\n" in source or SHELL_SYNTAX.search(source.replace("...", "")):
        return None
    try:
        return shlex.split(source)
    except ValueError:
        return None


@contextmanager
def _swapped(
    cwd: Path, env: dict[str, str], stdin: io.StringIO, out: io.TextIOBase
) -> Iterator[None]:
    saved = (os.getcwd(), dict(os.environ), sys.stdin, sys.stdout, sys.stderr)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.stdin, sys.stdout, sys.stderr = stdin, out, out  # type: ignore[assignment]
    try:
        yield
    finally:
        os.chdir(saved[0])
        os.environ.clear()
        os.environ.update(saved[1])
        sys.stdin, sys.stdout, sys.stderr = saved[2], saved[3], saved[4]


def check_block(session: Session, block: Block) -> None:
    """Run every command of ``block`` in ``session``; raise AssertionError naming the doc
    line, the command and what differed."""
    where = f"{block.path.name}:{block.line}"
    for cmd in commands(block):
        res = session.run(cmd)
        shown = f"{where} line {cmd.line}: `{cmd.source}`"
        if res.exit != cmd.expected_exit:
            raise AssertionError(
                f"{shown} exited {res.exit}, the doc says {cmd.expected_exit}; it printed:\n"
                f"{res.output}"
            )
        if cmd.output is not None:
            want = [normalise(line, session.replacements) for line in cmd.output]
            got = [
                normalise(line, session.replacements)
                for line in res.output.rstrip("\n").split("\n")
            ]
            while want and not want[-1]:
                want.pop()
            if not matches(want, got if res.output.strip() else []):
                raise AssertionError(
                    f"{shown}: the output differs from the doc (normalised)\n--- doc\n"
                    + "\n".join(want)
                    + "\n--- got\n"
                    + "\n".join(got)
                )

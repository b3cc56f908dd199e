"""The project's own instructions (AGENTS.md and its cousins) in both roles' prompts.

Users already wrote their conventions down for other agents; a planner that ignores them
plans against the project. The files go into the *system prompt*, which is the cached
prefix of every request (``models/anthropic_adapter.py`` marks it), so they are read
once per run and rendered byte-identically on every call of a role: re-reading them per
turn would both cost time and break the cache whenever a file changed mid-run.

Which files:
- at the root, in this order: ``AGENTS.md``, ``CLAUDE.md``,
  ``.github/copilot-instructions.md``, ``.planloop/rules.md`` — every role gets them;
- nested ``AGENTS.md`` files, found in the Searcher's listing (``git ls-files`` in a
  repository: no Python walk of a 100k-file tree, and ignored folders stay out; a run asks
  only about the folders above its step's files). A step
  gets the one nearest to each of its files (the deepest folder above it), so a package's
  own conventions win for the steps that touch it. The planner gets their paths, so it
  knows where conventions change, not their text (it plans every folder at once).

Their total is capped (``rules_max_bytes``): a file past the cap is cut, and a warning
names it with its size and what was kept. A file that is not UTF-8 is decoded with
replacement characters (and a warning: its rules are probably still readable); one that
cannot be read, or is a directory, is skipped with a warning.
"""

from __future__ import annotations

import codecs
import logging
import os
import posixpath
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from planloop.document.plan import Plan, Step

log = logging.getLogger("planloop.rules")

ROOT_FILES = ("AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md", ".planloop/rules.md")
NESTED_NAME = "AGENTS.md"
DEFAULT_MAX_BYTES = 32_000

INTRO = """Project rules: the project's own instructions, written by its maintainers for coding
agents. Follow them (they win over your general habits); each file's text is quoted below."""

#: the file listing (relative POSIX paths) under a folder or of one file (``"."``: all);
#: the nested AGENTS.md files are found in it
ListFiles = Callable[[str], list[str]]
#: (the file, the message naming it and its sizes)
WarnFn = Callable[[str, str], None]


@dataclass(frozen=True)
class RuleFile:
    """One instruction file as it goes into a prompt."""

    path: str  # relative to the workspace root, POSIX
    text: str
    size: int  # bytes on disk
    kept: int  # bytes of it in the prompt (< size: cut)


@dataclass
class ProjectRules:
    """The instruction files of one workspace, read once; render per role and per step."""

    root: Path
    list_files: ListFiles | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    warn: WarnFn | None = None
    #: every warning given, in order (also logged), for status and tests
    warnings: list[str] = field(default_factory=list)
    _root_files: list[RuleFile] | None = None
    _nested_paths: list[str] | None = None
    _nested: dict[tuple[str, int], RuleFile | None] = field(default_factory=dict)
    _probed: dict[str, bool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what exists ---------------------------------------------------------------------

    def reload(self) -> None:
        """Forget what was read: the next render reads the files (and the listing) again.

        Called as each plan, run or re-plan starts (``Orchestrator``), so a long-lived
        session (the language server keeps one per folder) sees an AGENTS.md edited since
        its last run, while every call within one run still renders the same bytes."""
        with self._lock:
            self._root_files = None
            self._nested_paths = None
            self._nested.clear()
            self._probed.clear()
            self.warnings.clear()

    def root_files(self) -> list[RuleFile]:
        """The root files found, cut to the cap in order (the first file gets it first)."""
        with self._lock:
            if self._root_files is None:
                out: list[RuleFile] = []
                if self.max_bytes <= 0:  # rules_max_bytes = 0: rules off, nothing read
                    self._root_files = out
                    return []
                budget = self.max_bytes
                for rel in ROOT_FILES:
                    rf = self._read(rel, budget)
                    if rf is not None:
                        out.append(rf)
                        budget -= rf.kept
                self._root_files = out
            return list(self._root_files)

    def nested_paths(self) -> list[str]:
        """Every nested AGENTS.md in the listing (not the root one), sorted."""
        with self._lock:
            if self._nested_paths is None:
                found: list[str] = []
                if self.list_files is not None and self.max_bytes > 0:
                    try:
                        listed = self.list_files(".")
                    except Exception as e:  # rules are a help, never a reason not to run
                        self._warning(
                            ".", f"project rules: cannot list files for nested AGENTS.md: {e}"
                        )
                        listed = []
                    suffix = "/" + NESTED_NAME
                    found = sorted(p for p in listed if p.endswith(suffix))
                self._nested_paths = found
            return list(self._nested_paths)

    def nearest(self, files: Iterable[str]) -> list[str]:
        """For each file, the nested AGENTS.md in the deepest folder above it (deduped).

        A run needs only the folders above its step's files: when the whole listing was
        not wanted yet (the planner wants it, a run does not), those few folders are asked
        instead, which keeps a step's start on a 100k-file tree from listing every file."""
        with self._lock:
            known = self._nested_paths
        is_rule = self._listed_rule if known is None else set(known).__contains__
        out: list[str] = []
        for f in files:
            d = posixpath.dirname(posixpath.normpath(f.replace(os.sep, "/")).lstrip("/"))
            while d and d != "." and not d.startswith(".."):
                candidate = f"{d}/{NESTED_NAME}"
                if is_rule(candidate):
                    if candidate not in out:
                        out.append(candidate)
                    break
                d = posixpath.dirname(d)
        return sorted(out)

    def _listed_rule(self, rel: str) -> bool:
        """Whether ``rel`` is a nested AGENTS.md the listing would hold: on disk (one stat,
        the common answer being no) and then listed (ignored folders stay out)."""
        if self.list_files is None or self.max_bytes <= 0:
            return False
        with self._lock:
            seen = self._probed.get(rel)
        if seen is not None:
            return seen
        found = False
        if (self.root / rel).is_file():
            try:
                found = rel in self.list_files(rel)
            except Exception as e:  # rules are a help, never a reason not to run
                self._warning(rel, f"project rules: cannot list {rel}: {e}")
        with self._lock:
            self._probed[rel] = found
        return found

    def followed(self, plan: Plan) -> list[str]:
        """The files a plan's roles follow: the root files and each step's nearest."""
        names = [rf.path for rf in self.root_files()]
        for s in plan.steps:
            for rf in self._step_files(s):
                if rf.path not in names:
                    names.append(rf.path)
        return names

    # --- prompts -------------------------------------------------------------------------

    def for_planner(self) -> str:
        """The planner's block: the root files, and where nested ones change the rules."""
        roots = self.root_files()
        parts = self._render(roots)
        nested = self.nested_paths()
        if nested:
            # a monorepo may hold hundreds: the list shares the cap with the files' text
            budget = self.max_bytes - sum(rf.kept for rf in roots)
            shown: list[str] = []
            used = 0
            for p in nested:
                used += len(p.encode()) + 2
                if used > budget:
                    break
                shown.append(p)
            more = len(nested) - len(shown)
            if more:
                self._warning_once(
                    ".",
                    f"project rules: {len(nested)} nested AGENTS.md files; the planner is "
                    f"shown {len(shown)} of their paths, the rest left out "
                    f"(rules_max_bytes = {self.max_bytes})",
                )
            parts.append(
                "Nested AGENTS.md files (the nearest one to a step's files also applies to "
                "that step; read_file shows them): "
                + ", ".join(shown)
                + (f" … and {more} more" if more else "")
            )
        return _block(parts)

    def for_step(self, step: Step) -> str:
        """An acting role's block for one step: the root files, then the nearest nested
        AGENTS.md to each of the step's files, within what the root files left of the cap."""
        return _block(self._render(self._step_files(step)))

    def _step_files(self, step: Step) -> list[RuleFile]:
        roots = self.root_files()
        budget = self.max_bytes - sum(rf.kept for rf in roots)
        nested: list[RuleFile] = []
        for rel in self.nearest(step.files):
            rf = self._nested_file(rel, budget)
            if rf is not None:
                nested.append(rf)
                budget -= rf.kept
        return [*roots, *nested]

    def system(self, base: str, block: str) -> str:
        """``base`` with the rules after it: the whole thing is the cached prefix."""
        return f"{base}\n\n{block}" if block else base

    # --- internals -----------------------------------------------------------------------

    def _render(self, files: list[RuleFile]) -> list[str]:
        out = []
        for rf in files:
            note = f" (cut: first {rf.kept} of {rf.size} bytes)" if rf.kept < rf.size else ""
            out.append(f'<rules file="{rf.path}"{note}>\n{rf.text.rstrip()}\n</rules>')
        return out

    def _nested_file(self, rel: str, budget: int) -> RuleFile | None:
        key = (rel, budget)
        with self._lock:
            if key not in self._nested:
                self._nested[key] = self._read(rel, budget)
            return self._nested[key]

    def _read(self, rel: str, budget: int) -> RuleFile | None:
        path = self.root / rel
        try:
            if not path.exists():
                return None
            if path.is_dir():
                self._warning(rel, f"project rules: {rel} is a directory, not a file; skipped")
                return None
            size = path.stat().st_size
            if size == 0:
                return None
            if budget <= 0:
                self._warning(
                    rel,
                    f"project rules: {rel} ({size} bytes) left out: the rules already fill "
                    f"rules_max_bytes ({self.max_bytes} bytes)",
                )
                return None
            with open(path, "rb") as f:
                data = f.read(budget)
        except OSError as e:
            self._warning(rel, f"project rules: {rel} cannot be read ({e.strerror or e}); skipped")
            return None
        cut = size > len(data)
        text, bad = _decode(data, final=not cut)
        if bad is not None:
            self._warning(
                rel,
                f"project rules: {rel} is not UTF-8 (byte {bad + 1}); decoded with "
                "replacement characters",
            )
        if cut:
            self._warning(
                rel,
                f"project rules: {rel} is {size} bytes; cut to its first {len(data)} bytes "
                f"(rules_max_bytes = {self.max_bytes} for all rule files together)",
            )
        return RuleFile(path=rel, text=text, size=size, kept=len(data))

    def _warning_once(self, path: str, message: str) -> None:
        """A warning a render may reach on every call: given once until :meth:`reload`."""
        if message not in self.warnings:
            self._warning(path, message)

    def _warning(self, path: str, message: str) -> None:
        """Told to ``warn`` (the run's event: CLI stderr, log.jsonl) or else logged."""
        self.warnings.append(message)
        if self.warn is not None:
            log.info("%s", message)
            self.warn(path, message)
        else:
            log.warning("%s", message)


def _decode(data: bytes, *, final: bool) -> tuple[str, int | None]:
    """UTF-8 text and the offset of the first bad byte (None: valid). A cut file may end
    inside a character: that tail is dropped, not shown as a replacement character."""
    bad: int | None = None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        if final or e.end < len(data) or e.reason != "unexpected end of data":
            bad = e.start
    dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return dec.decode(data, final=final), bad


def _block(parts: list[str]) -> str:
    return f"{INTRO}\n\n" + "\n\n".join(parts) if parts else ""

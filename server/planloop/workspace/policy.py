"""The command policy: which shell commands the executor may run without asking.

A decision, not an enforcement: allow runs, deny refuses, anything else asks a person.
The enforcement is the OS sandbox every command runs in (``sandbox.py``): whatever this
list allows, ``python -c`` still cannot write outside the workspace, touch the user's
``.git`` or read their credentials — which is why the default allow list can be honest
and generous about what tests and builds need. One rule cannot be configured away here
either: a command that visibly writes the user's git repository (index, HEAD, refs,
stash, config, hooks) or planloop's own ``.planloop/`` is refused before it starts, so
the model hears why instead of meeting a read-only file system.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

Verdict = Literal["allow", "deny", "ask"]

DEFAULT_ALLOW: list[str] = [
    "pytest",
    "pytest *",
    "python -m pytest*",
    "python3 -m pytest*",
    "python *",
    "python3 *",
    "ruff check*",
    "ruff format --check*",
    "ruff format --diff*",
    "mypy *",
    "make test*",
    "npm test*",
    "npm run test*",
    "cargo test*",
    "go test*",
    "ls",
    "ls *",
    "cat *",
    "head",
    "head *",
    "tail",
    "tail *",
    "wc",
    "wc *",
    "grep *",
    "rg *",
    "pwd",
    "cd *",
    "echo",
    "echo *",
    "true",
    "which *",
    "git status*",
    "git diff*",
    "git log*",
    "git show*",
]

DEFAULT_DENY: list[str] = [
    "rm -rf /*",
    "rm -rf ~*",
    "rm -fr /*",
    "rm -fr ~*",
    "sudo *",
    "su *",
    "doas *",
    "git push*",
    "git reset*",
    "git checkout*",
    "git stash*",
    "git clean*",
    "git commit*",
    "git add*",
    "git config*",
    "git rebase*",
    "git merge*",
    "curl *|*sh*",
    "wget *|*sh*",
    "mkfs*",
    "dd *of=/dev/*",
    "shutdown*",
    "reboot*",
    ":(){*",
    "chmod -R 777 /*",
]

#: git subcommands that write a repository's index, HEAD, refs, stash, config or hooks
_GIT_WRITERS = frozenset(
    {
        "add",
        "am",
        "apply",
        "checkout",
        "cherry-pick",
        "clean",
        "clone",
        "commit",
        "config",
        "fetch",
        "filter-branch",
        "filter-repo",
        "gc",
        "init",
        "merge",
        "mv",
        "notes",
        "prune",
        "pull",
        "push",
        "rebase",
        "replace",
        "reset",
        "restore",
        "revert",
        "rm",
        "stash",
        "submodule",
        "switch",
        "symbolic-ref",
        "update-index",
        "update-ref",
        "worktree",
    }
)
#: git subcommands that only read unless given a name or a modifying flag
_GIT_LISTERS = frozenset({"branch", "tag", "remote", "reflog"})
_GIT_LIST_FLAGS = frozenset(
    {"-a", "-r", "-l", "-v", "-vv", "--all", "--list", "--remotes", "--verbose", "--show-current"}
)
#: git global options that take a separate value (``git -C dir status``)
_GIT_OPTS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
#: programs that may name a .git path without writing it
_GIT_PATH_READERS = frozenset(
    {"cat", "less", "head", "tail", "ls", "grep", "rg", "stat", "file", "wc", "git", "echo"}
)
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "|&", ";;", "(", ")", "{", "}"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>"})
_SEVERITY: dict[Verdict, int] = {"allow": 0, "ask": 1, "deny": 2}


@dataclass(frozen=True)
class PolicyDecision:
    verdict: Verdict
    reason: str


@dataclass
class CommandPolicy:
    """Which commands run without asking. Deny wins over allow; anything unmatched asks.

    The protection of the user's git repository is built in and cannot be configured
    away: planloop never writes the user's repository, whatever the allow list says.
    """

    allow: list[str] = field(default_factory=lambda: list(DEFAULT_ALLOW))
    deny: list[str] = field(default_factory=lambda: list(DEFAULT_DENY))

    def classify(self, command: str) -> Verdict:
        return self.decide(command).verdict

    def decide(self, command: str) -> PolicyDecision:
        """The verdict plus why, so a refusal can tell the model and the user what to change."""
        text = command.strip()
        if not text:
            return PolicyDecision("deny", "the command is empty")
        hit = self._deny_match(text)
        if hit:
            return PolicyDecision("deny", f"it matches the deny pattern {hit!r}")
        try:
            parts, redirects = _split_command(text)
        except ValueError as exc:
            return PolicyDecision("ask", f"it could not be parsed ({exc})")
        worst = PolicyDecision("allow", "every part matches the allow list")
        for part in parts:
            decision = self._decide_part(part)
            if _SEVERITY[decision.verdict] > _SEVERITY[worst.verdict]:
                worst = decision
            if worst.verdict == "deny":
                return worst
        for target in redirects:
            if _touches_protected(target):
                return PolicyDecision("deny", f"it redirects output into {target!r}")
            if target != "/dev/null" and worst.verdict == "allow":
                worst = PolicyDecision("ask", f"it writes the file {target!r} by redirection")
        if worst.verdict == "allow" and ("$(" in text or "`" in text):
            worst = PolicyDecision("ask", "it uses command substitution")
        return worst

    def _deny_match(self, text: str) -> str | None:
        for pattern in self.deny:
            if fnmatch.fnmatchcase(text, pattern):
                return pattern
        return None

    def _decide_part(self, tokens: list[str]) -> PolicyDecision:
        joined = " ".join(tokens)
        hit = self._deny_match(joined)
        if hit:
            return PolicyDecision("deny", f"{joined!r} matches the deny pattern {hit!r}")
        git_reason = _git_write_reason(tokens)
        if git_reason:
            return PolicyDecision("deny", git_reason)
        if tokens[0] not in _GIT_PATH_READERS and any(_touches_protected(t) for t in tokens[1:]):
            return PolicyDecision(
                "deny", f"{joined!r} names a .git or .planloop path; planloop never writes those"
            )
        for pattern in self.allow:
            if fnmatch.fnmatchcase(joined, pattern):
                return PolicyDecision("allow", f"{joined!r} matches {pattern!r}")
        return PolicyDecision("ask", f"{joined!r} is not on the allow list")


def _split_command(text: str) -> tuple[list[list[str]], list[str]]:
    """Split a shell line into simple commands and output-redirect targets.

    Good enough for classification, not a shell: anything it cannot parse asks.
    Substitutions (``$(...)``, backticks) are lifted out and classified as parts too.
    """
    subs = [a or b for a, b in re.findall(r"\$\(([^()]*)\)|`([^`]*)`", text)]
    # fd plumbing is not a file write: "2>&1" goes, "2>file" becomes ">file"
    text = re.sub(r"(?<![\w>])\d*>&(\d+|-)", " ", text)
    text = re.sub(r"(?<![\w>])\d+(>>?)", r" \1", text)
    lexer = shlex.shlex(text.replace("\n", " ; "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    parts: list[list[str]] = []
    redirects: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _SEPARATORS:
            if current:
                parts.append(current)
            current = []
        elif tok in _WRITE_REDIRECTS:
            if i + 1 < len(tokens):
                redirects.append(tokens[i + 1])
            i += 1
        elif tok in ("<", "<<", "<<<", "<&", ">&"):
            i += 1  # input, or a fd duplicate: reads only
        else:
            current.append(tok)
        i += 1
    if current:
        parts.append(current)
    for part in list(parts):
        # "sh -c '...'" runs a command line of its own: classify what it runs
        if os.path.basename(part[0]) in _SHELLS and "-c" in part[1:-1]:
            subs.append(part[part.index("-c", 1) + 1])
    for sub in subs:
        sub_parts, sub_redirects = _split_command(sub)
        parts.extend(sub_parts)
        redirects.extend(sub_redirects)
    if not parts:
        raise ValueError("no command found")
    return parts, redirects


def _touches_protected(token: str) -> bool:
    parts = [p.lower() for p in PurePosixPath(token).parts]
    return ".git" in parts or ".planloop" in parts


def _git_write_reason(tokens: list[str]) -> str | None:
    """Why a ``git ...`` invocation writes repository state, or None if it only reads."""
    # "env X=1 git commit", "time git commit": find git wherever the part runs it
    at = next((n for n, t in enumerate(tokens) if os.path.basename(t) == "git"), None)
    if at is None:
        return None
    i = at + 1
    while i < len(tokens) and tokens[i].startswith("-"):
        i += 2 if tokens[i] in _GIT_OPTS_WITH_VALUE else 1
    if i >= len(tokens):
        return None
    sub, args = tokens[i], tokens[i + 1 :]
    if sub in _GIT_WRITERS:
        return f"'git {sub}' changes git state; planloop never writes the user's repository"
    if sub in _GIT_LISTERS:
        writes = [a for a in args if not a.startswith("-") or a not in _GIT_LIST_FLAGS]
        if sub == "reflog" and args and args[0] == "show":
            writes = []
        if writes:
            return (
                f"'git {sub} {' '.join(args)}' may change git state; "
                "planloop never writes the user's repository"
            )
    return None

"""The shadow's isolation from everything else git could read: its config and its processes' env.

Why a module of its own: that no git process planloop starts ever discovers, reads the
config of, or writes the user's repository rests on two things written in one place: the
shadow's own config file (written whole, versioned by ``planloop.configVersion``), and
:func:`git_env`, the full environment every git child on the shadow gets (GIT_DIR,
GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, ... all pointing into the shadow, system and global
config switched off, secrets blanked).

Needs git ≥ 2.32 (GIT_CONFIG_GLOBAL keeps the user's global config, hooks path and
fsmonitor out of the shadow's processes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from planloop.fsutil import atomic_write
from planloop.redaction import is_secret_name

CONFIG_VERSION = "1"
_ATTRIBUTES = "# planloop: store bytes exactly as they are on disk\n* -text -eol -filter -ident -working-tree-encoding\n"
_SETTINGS = {
    "core.bare": "true",  # without our --work-tree git refuses, never guesses one
    "core.hooksPath": os.devnull,
    "core.autocrlf": "false",
    "core.safecrlf": "false",
    "core.fsmonitor": "false",
    "core.untrackedCache": "false",  # git add does not use it; it only costs writes
    "core.splitIndex": "true",  # rewrite only the changed part of a 100k-entry index
    "core.preloadIndex": "true",
    "core.logAllRefUpdates": "false",  # no reflogs: dropped refs free objects
    "core.quotePath": "false",
    "core.symlinks": "true" if os.name != "nt" else "false",
    "core.fileMode": "true" if os.name != "nt" else "false",
    "core.commitGraph": "false",
    "index.version": "4",
    "index.threads": "true",
    "index.skipHash": "true",  # git ≥ 2.40: no SHA-1 over the whole index per write
    "splitIndex.sharedIndexExpire": "now",
    "gc.autoDetach": "true",
    "gc.writeCommitGraph": "false",
    "repack.writeBitmaps": "false",
    "maintenance.auto": "false",
    "advice.addEmbeddedRepo": "false",
    "user.name": "planloop",
    "user.email": "planloop@localhost",
    "planloop.configVersion": CONFIG_VERSION,
}


def configure(gitdir: Path) -> None:
    """Write the shadow's config whole (one write, no core.worktree left over from
    ``git init``) rather than key by key: it is ours alone."""
    sections: dict[str, list[str]] = {"core": ["\trepositoryformatversion = 0"]}
    for key, value in _SETTINGS.items():
        section, option = key.split(".", 1)
        sections.setdefault(section, []).append(f"\t{option} = {value}")
    text = "".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items())
    atomic_write(gitdir / "config", text)
    atomic_write(gitdir / "info" / "attributes", _ATTRIBUTES)
    (gitdir / "hooks").mkdir(exist_ok=True)


def git_env(gitdir: Path, work_tree: Path, borrowed: str | None = None) -> dict[str, str]:
    """Every variable that could point git elsewhere is set explicitly: a git child's
    environment is os.environ with these on top, and a planloop started from a git hook
    inherits GIT_DIR & co.
    ``borrowed``: the user's object directory, read as an alternate (git only reads from
    an alternate; new objects always go to the shadow's own directory)."""
    s = str(gitdir)
    now = f"@{int(time.time())} +0000"
    env = {
        "GIT_DIR": s,
        "GIT_COMMON_DIR": s,
        "GIT_WORK_TREE": str(work_tree),
        "GIT_INDEX_FILE": os.path.join(s, "index"),
        "GIT_OBJECT_DIRECTORY": os.path.join(s, "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": borrowed or "",
        "GIT_GRAFT_FILE": os.path.join(s, "info", "grafts"),
        "GIT_SHALLOW_FILE": os.path.join(s, "shallow"),
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_NAMESPACE": "",
        "GIT_PREFIX": "",
        "GIT_IMPLICIT_WORK_TREE": "1",
        "GIT_CONFIG": os.path.join(s, "config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": "0",
        "GIT_CONFIG_PARAMETERS": "",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_LITERAL_PATHSPECS": "1",
        "GIT_GLOB_PATHSPECS": "0",
        "GIT_NOGLOB_PATHSPECS": "0",
        "GIT_ICASE_PATHSPECS": "0",
        "GIT_INDEX_VERSION": "4",
        "GIT_DIFF_OPTS": "",
        "GIT_EXTERNAL_DIFF": "",
        "GIT_PAGER": "cat",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "planloop",
        "GIT_AUTHOR_EMAIL": "planloop@localhost",
        "GIT_COMMITTER_NAME": "planloop",
        "GIT_COMMITTER_EMAIL": "planloop@localhost",
        "GIT_AUTHOR_DATE": now,
        "GIT_COMMITTER_DATE": now,
    }
    for k in os.environ:
        if is_secret_name(k):
            env[k] = ""
    return env

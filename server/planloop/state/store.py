"""``.planloop/`` on disk: plan versions, the run record, the event log, the run lock.

Why this shape (with one addition to the first design):
- ``plans/<id>/vN.json`` are the versions the plan has had — v1 as the planner drafted
  it (before its review), every later one when it was approved — written once and never
  overwritten, so the history of a plan is an audit trail rather than whatever the last
  save left. Rejected proposals live only in the event log.
- ``plans/<id>/run.json`` (the addition) is the live record: the current version with
  step statuses and results, the run state and any question awaiting an answer (its
  model: :mod:`planloop.state.record`). It is the only file rewritten, always
  atomically (temp file + ``os.replace``).
- ``plans/<id>/log.jsonl`` is append-only and written *before* the orchestrator acts on
  a transition, so a crash at any point leaves a log that says what was about to happen.
  A crash mid-append can leave a torn last line, and an editor or a disk can leave bytes
  that are not UTF-8: such a line is reported (file and line) and skipped, never fatal,
  because the log is a record for people and nothing the run decides depends on it.
- A file that fails to parse or validate raises :class:`StoreError` naming it; nothing
  is rewritten over it, so a hand edit is never silently lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from planloop.document.markdown import render_markdown
from planloop.document.plan import (
    Plan,
    now_iso,
)
from planloop.errors import BusyError, NoPlanError, StoreError
from planloop.events import Event, to_dict
from planloop.fsutil import append_line, atomic_write
from planloop.state import plan_md
from planloop.state.record import RunRecord
from planloop.validation import describe

DIRNAME = ".planloop"
GITIGNORE = "*\n"
#: plans_in_repo: what a team reviews (plan versions, each plan's plan.md, the current
#: plan.md and this file) is committable; run state, logs, locks, caches and the
#: checkpoint repository stay ignored by the first line
KEEP_PLANS = (
    "!/.gitignore",
    "!/plan.md",
    "!/plans/",
    "!/plans/*/",
    "!/plans/*/v*.json",
    "!/plans/*/plan.md",
)
GITIGNORE_PLANS_IN_REPO = (
    "# planloop (plans_in_repo): plan versions and plan.md are committable for review;\n"
    "# run state, logs and checkpoints stay ignored\n*\n" + "\n".join(KEEP_PLANS) + "\n"
)
_PLAN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("planloop.store")


@dataclass
class EventLog:
    """A plan's events, and the lines that could not be read (one warning each)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    #: ``"<file>:<line>: <why>"`` for each line skipped
    skipped: list[str] = field(default_factory=list)


class PlanStore:
    def __init__(self, root: Path, *, plans_in_repo: bool = False) -> None:
        self.root = root
        self.dir = root / DIRNAME
        #: write the .gitignore that keeps plan versions and plan.md committable
        self.plans_in_repo = plans_in_repo

    # --- layout --------------------------------------------------------------------

    def ensure(self) -> None:
        (self.dir / "plans").mkdir(parents=True, exist_ok=True)
        gi = self.dir / ".gitignore"
        wanted = GITIGNORE_PLANS_IN_REPO if self.plans_in_repo else GITIGNORE
        if not gi.exists():
            atomic_write(gi, wanted)
        elif self.plans_in_repo and _read_text(gi) == GITIGNORE:
            # planloop's own default, never a user's edit: widen it as asked. Never the
            # reverse: a plan committed under the wider file must not vanish from git
            # because one later run lacked the flag (README: Plans in the repository)
            atomic_write(gi, wanted)

    def problems(self) -> list[str]:
        """What is wrong with ``.planloop/`` but does not stop a command (one line each).

        A ``.gitignore`` that no longer ignores everything lets ``git add -A`` commit the
        run record and the checkpoint repository into the user's project; it is
        reported rather than rewritten, since the user may have edited it on purpose.
        """
        if not self.dir.is_dir():
            return []
        gi = self.dir / ".gitignore"
        try:
            text = gi.read_bytes().decode("utf-8")
        except FileNotFoundError:
            if self.plan_ids():
                return [f"{gi} is missing: git may see planloop's files; the next run restores it"]
            return []
        except (OSError, UnicodeDecodeError):
            text = None
        lines = [line.strip() for line in text.splitlines()] if text is not None else []
        if text is None or "*" not in lines:
            return [
                f"{gi} is damaged (it should hold the line '*'): git may see planloop's "
                "files; restore it with: echo '*' > " + str(gi)
            ]
        # after '*', only the plans_in_repo exceptions: any other '!' line may let git
        # see the run record, the logs or the checkpoint repository
        last_star = len(lines) - 1 - lines[::-1].index("*")
        extra = [ln for ln in lines[last_star + 1 :] if ln.startswith("!") and ln not in KEEP_PLANS]
        if extra:
            return [
                f"{gi} un-ignores {', '.join(extra)}: git may see planloop's run state; "
                f"planloop's own exceptions are only {', '.join(KEEP_PLANS)} "
                "(plans_in_repo); restore it with: echo '*' > " + str(gi)
            ]
        return []

    def plan_dir(self, plan_id: str) -> Path:
        return self.dir / "plans" / plan_id

    def current_id(self) -> str | None:
        p = self.dir / "current"
        if not p.exists():
            return None
        try:
            pid = p.read_bytes().decode("utf-8").strip()
        except IsADirectoryError:
            raise StoreError(f"{p} is a directory, not the current plan's id") from None
        except OSError as e:
            raise StoreError(f"{p}: cannot read ({e.strerror or e})") from e
        except UnicodeDecodeError:
            raise StoreError(
                f"{p} is damaged (not text); it should hold the current plan's id, one of "
                f"{', '.join(self.plan_ids()) or 'none'}"
            ) from None
        if not pid:
            if self.plan_ids():
                raise StoreError(
                    f"{p} is empty; it should hold the current plan's id, one of "
                    f"{', '.join(self.plan_ids())}"
                )
            return None
        if not _PLAN_ID.fullmatch(pid) or not self.plan_dir(pid).is_dir():
            shown = pid if len(pid) <= 60 else pid[:57] + "..."
            raise StoreError(
                f"{p} points to plan {shown!r}, but {self.dir / 'plans'} has no such plan "
                f"(plans: {', '.join(self.plan_ids()) or 'none'}); planloop left it as it is"
            )
        return pid

    def set_current(self, plan_id: str) -> None:
        atomic_write(self.dir / "current", plan_id + "\n")
        with contextlib.suppress(OSError, UnicodeDecodeError):
            markdown = (self.plan_dir(plan_id) / "plan.md").read_text("utf-8")
            edited = self.document_edit()
            if edited is not None and edited != markdown:
                # a hand edit of the previous plan's document cannot become this plan's
                # version; it is kept, never lost, before the new plan's document replaces it
                kept = self.keep_edit(edited, reuse=True)
                log.warning("%s was edited by hand; kept at %s", self.document_path, kept)
            self.write_document(markdown, force=True)

    def plan_ids(self) -> list[str]:
        d = self.dir / "plans"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    # --- the live record ----------------------------------------------------------------

    def load(self, plan_id: str | None = None) -> RunRecord:
        pid = plan_id or self.current_id()
        if pid is None:
            if self.plan_ids():
                raise NoPlanError(
                    f"no current plan: {self.dir / 'current'} is missing, though "
                    f"{self.dir / 'plans'} holds {', '.join(self.plan_ids())}; restore it "
                    f"(echo PLAN_ID > {self.dir / 'current'}) or create a new plan"
                )
            raise NoPlanError()
        path = self.plan_dir(pid) / "run.json"
        return _read_model(path, RunRecord)

    def load_or_none(self) -> RunRecord | None:
        try:
            return self.load()
        except NoPlanError:
            return None

    def save(self, rec: RunRecord) -> None:
        rec.updated_at = now_iso()
        d = self.plan_dir(rec.plan.plan_id)
        atomic_write(d / "run.json", rec.model_dump_json(indent=2))
        markdown = render_markdown(rec.plan)
        copy = d / "plan.md"
        if _read_text(copy) != markdown:  # most of a step's saves change run.json alone
            atomic_write(copy, markdown)
        if self._is_current(rec.plan.plan_id):
            self.write_document(markdown)

    # --- the plan document (.planloop/plan.md) ------------------------------------------

    @property
    def document_path(self) -> Path:
        """The current plan as Markdown, for editors, ``planloop edit`` and editing by hand.

        Rewritten from the record on every save of the current plan — unless a person
        changed it since planloop wrote it (:meth:`document_edit`): that text is theirs,
        and is applied or refused by a front end, never written over. A damaged (binary,
        not UTF-8, emptied) or missing copy breaks nothing and comes back with the next save."""
        return self.dir / "plan.md"

    @property
    def document_fingerprint_path(self) -> Path:
        """The SHA-256 of the bytes planloop last wrote to :attr:`document_path`: how a
        hand edit is told from planloop's own rendering without reading the document."""
        return self.dir / "plan.md.sha256"

    def document_edit(self) -> str | None:
        """``.planloop/plan.md``'s text when a person changed it since planloop wrote it
        (None: it is planloop's own, missing, or damage rather than an edit)."""
        return plan_md.edited_text(self.document_path, self.document_fingerprint_path)

    def _is_current(self, plan_id: str) -> bool:
        try:
            return self.current_id() in (None, plan_id)
        except StoreError:
            return False

    def write_document(self, markdown: str, *, force: bool = False) -> bool:
        """Write the current plan's Markdown to :attr:`document_path` (False: not written);
        a person's edit there is never written over unless ``force`` (the caller has just
        applied that text, or kept it, and says so)."""
        if not force and self.document_edit() is not None:
            return False
        return plan_md.write(self.document_path, self.document_fingerprint_path, markdown)

    def keep_edit(self, text: str, *, reuse: bool = False) -> Path:
        """Keep an edited plan document that was not applied, so the user's text is never
        lost: ``.planloop/edits/<timestamp>.md`` (a new name each time; with ``reuse``, a
        kept file with this very text is named again — a hand edit refused by every
        command is kept once, not once per command)."""
        d = self.dir / "edits"
        if reuse and d.is_dir():
            for old in sorted(d.glob("*.md")):
                if _read_text(old) == text:
                    return old
        stamp = now_iso().replace(":", "").replace("+0000", "Z")
        path = d / f"{stamp}.md"
        n = 1
        while path.exists():
            n += 1
            path = d / f"{stamp}-{n}.md"
        atomic_write(path, text)
        return path

    # --- versions ----------------------------------------------------------------------

    def write_version(self, plan: Plan) -> Path:
        """Record an approved version; refuses to replace a different one already there."""
        path = self.plan_dir(plan.plan_id) / f"v{plan.version}.json"
        data = plan.model_dump_json(indent=2)
        if path.exists():
            existing = _read_model(path, Plan)
            if existing.model_dump() != Plan.model_validate_json(data).model_dump():
                raise StoreError(
                    f"{path} already exists with other content; versions are never overwritten"
                )
            return path
        atomic_write(path, data)
        return path

    def versions(self, plan_id: str) -> list[int]:
        d = self.plan_dir(plan_id)
        out = []
        for p in d.glob("v*.json"):
            with contextlib.suppress(ValueError):
                out.append(int(p.stem[1:]))
        return sorted(out)

    def read_version(self, plan_id: str, version: int) -> Plan:
        path = self.plan_dir(plan_id) / f"v{version}.json"
        if not path.exists():
            have = ", ".join(f"v{v}" for v in self.versions(plan_id)) or "none"
            raise StoreError(
                f"plan {plan_id} has no version {version} (versions: {have}); {path} is missing"
            )
        return _read_model(path, Plan)

    # --- event log ----------------------------------------------------------------------

    def log(self, plan_id: str, event: Event) -> None:
        """Append one event, durably, before the transition it describes is acted on."""
        line = json.dumps(to_dict(event), ensure_ascii=False, default=str)
        path = self.plan_dir(plan_id) / "log.jsonl"
        try:
            append_line(path, line)
        except OSError as e:
            raise StoreError(
                f"{path}: cannot append to the event log ({e.strerror or e}); the run stops "
                "before acting on a transition it could not record",
                kind="log_unreadable",
            ) from e

    def events(self, plan_id: str) -> list[dict[str, Any]]:
        return self.read_log(plan_id).events

    def read_log(self, plan_id: str) -> EventLog:
        """Every readable event; a torn or undecodable line is skipped and named.

        Only a log that cannot be read at all (not a file, no permission) stops the
        reader, as ``StoreError`` of kind ``log_unreadable``.
        """
        path = self.plan_dir(plan_id) / "log.jsonl"
        out = EventLog()
        if not path.exists():
            return out
        try:
            data = path.read_bytes()
        except OSError as e:
            raise StoreError(
                f"{path}: cannot read the event log ({e.strerror or e}); planloop left it as it is",
                kind="log_unreadable",
            ) from e
        lines = data.split(b"\n")
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            torn = n == len(lines)  # no newline after it: a crash cut the append short
            try:
                event = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                out.skipped.append(f"{path}:{n}: not UTF-8 (byte {e.start + 1}); line skipped")
                continue
            except json.JSONDecodeError as e:
                why = "torn last line" if torn else f"not a JSON event ({e.msg})"
                out.skipped.append(f"{path}:{n}: {why}; line skipped")
                continue
            if not isinstance(event, dict):
                out.skipped.append(f"{path}:{n}: not a JSON object; line skipped")
                continue
            if not isinstance(event.get("type"), str):
                out.skipped.append(f"{path}:{n}: not an event (no type); line skipped")
                continue
            out.events.append(event)
        return out

    # --- write-ahead record of the paths an attempt is about to touch ---------------------

    def touched_path(self, plan_id: str) -> Path:
        return self.plan_dir(plan_id) / "touched.jsonl"

    def note_touched(self, plan_id: str, step_id: str, attempt: int, path: str) -> None:
        """Append, durably, a path the running attempt is about to write (``*``: a command,
        which may write anything) — before the write, so a kill right after it is covered."""
        line = json.dumps({"step": step_id, "attempt": attempt, "path": path}, ensure_ascii=False)
        target = self.touched_path(plan_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def touched(self, plan_id: str, step_id: str, attempt: int) -> list[str]:
        """The paths noted for one attempt, in order; a torn last line (a kill mid-append)
        is skipped: its write had not started."""
        target = self.touched_path(plan_id)
        try:
            text = target.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        out: list[str] = []
        for line in text.splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (
                isinstance(d, dict)
                and d.get("step") == step_id
                and d.get("attempt") == attempt
                and isinstance(d.get("path"), str)
                and d["path"] not in out
            ):
                out.append(d["path"])
        return out

    def clear_touched(self, plan_id: str) -> None:
        """Drop the write-ahead record once the attempt's after-checkpoint is saved."""
        with contextlib.suppress(FileNotFoundError):
            self.touched_path(plan_id).unlink()

    # --- one run at a time ------------------------------------------------------------------

    def run_in_progress(self) -> bool:
        """Whether a live process holds the run lock (probed, never waited for).

        The lock is ``flock``-based, so it is held exactly as long as its owner lives: a
        record saying ``running`` with the lock free was left by a process that died.
        """
        path = self.dir / "run.lock"
        try:
            f = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError:
            return False
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            f.close()  # closing drops the probe's own lock
        return False

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[None]:
        """An OS lock, so a second process (another window, a CLI) gets a clear refusal.

        ``flock`` is released by the kernel when a process dies, so a killed run never
        leaves the workspace locked.
        """
        self.ensure()
        path = self.dir / "run.lock"
        f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the with-block
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise BusyError(
                    f"a planloop run is already in progress in {self.root} ({holder}); "
                    "wait for it to finish or cancel it"
                ) from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}")
            f.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _read_model(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot read: {e}") from e
    try:
        return model.model_validate_json(text)
    except ValidationError as e:
        raise StoreError(
            f"{path} is corrupt or was edited into an invalid shape ({describe(e, limit=1)}); "
            "planloop left it as it is — fix it, or move it aside to start that plan afresh"
        ) from e

"""Clarifying questions: the planner's ``ask_user``, who answers it, and waiting for an answer.

Why a port like the approver's: the CLI answers at a terminal, the language server asks
the editor, and with nobody there (no terminal, CI) planning must stop without losing
what the planner already explored. Then the conversation so far is saved to
``.planloop/question.json`` and ``planloop answer`` (or the editor's ``planloop.answer``)
re-sends it with the answer as the tool's result, so the planner goes on exactly where
it stopped, in the same conversation, rather than starting over.

There is no plan yet while the planner asks, so the question lives beside the plans,
not in a run record; the plan it leads to records every question and answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import ConfigDict, Field, ValidationError

from planloop.cancel import CancelToken
from planloop.config import RememberedModels
from planloop.document.plan import Question, RoleUsage, now_iso
from planloop.errors import InvalidRequestError, PlanloopError, StoreError
from planloop.fsutil import atomic_write
from planloop.validation import describe

FILENAME = "question.json"
#: an answer longer than this is a pasted file, not an answer
MAX_ANSWER_CHARS = 10_000


class Answerer(Protocol):
    #: who answers, as the plan records it (the terminal's user, the editor's name)
    by: str

    def answer(self, question: Question, cancel: CancelToken | None = None) -> str | None:
        """The user's answer, or None when nobody can answer now (planning then waits)."""
        ...


class NoAnswerer:
    """Nobody is there: every question waits for ``planloop answer``."""

    by = "nobody"

    def answer(self, question: Question, cancel: CancelToken | None = None) -> str | None:
        return None


class PendingQuestion(RememberedModels):
    """Everything needed to resume the planner's conversation once the answer comes
    (the models too: ``planloop answer`` without flags goes on with the same planner)."""

    model_config = ConfigDict(extra="forbid")

    goal: str
    question: Question
    #: earlier questions of this plan, already answered
    answered: list[Question] = Field(default_factory=list)
    #: the conversation up to and including the assistant turn that asked
    messages: list[dict[str, Any]]
    #: that turn's tool results, in order; the entry with ``call_id`` gets the answer
    results: list[dict[str, Any]]
    call_id: str
    turns: int = Field(ge=0)
    #: what planning has cost so far (charged to the plan when it is written)
    usage: RoleUsage = Field(default_factory=RoleUsage)
    #: the planner's model label when it asked (shown; the answer may go to another model)
    planner: str = ""
    saved_at: str = Field(default_factory=now_iso)


class WaitingForAnswer(PlanloopError):
    """Planning stopped on a question nobody could answer now (saved; exit code 3)."""

    default_kind: ClassVar[str] = "waiting"

    def __init__(self, pending: PendingQuestion) -> None:
        super().__init__(f"the planner asks: {pending.question.question}")
        self.pending = pending


def path_in(store_dir: Path) -> Path:
    return store_dir / FILENAME


def save(store_dir: Path, pending: PendingQuestion) -> None:
    atomic_write(path_in(store_dir), pending.model_dump_json(indent=2))


def load(store_dir: Path) -> PendingQuestion | None:
    """The waiting question, None when there is none; a damaged file raises naming it
    (and stays as it is: the conversation in it is the user's spend)."""
    path = path_in(store_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot read the pending question: {e}") from e
    try:
        return PendingQuestion.model_validate_json(text)
    except ValidationError as e:
        raise StoreError(
            f"{path} is corrupt or was edited into an invalid shape ({describe(e, limit=1)}); "
            "planloop left it as it is — move it aside and run `planloop plan` again"
        ) from e


def clear(store_dir: Path) -> None:
    path_in(store_dir).unlink(missing_ok=True)


def check_answer(text: str) -> str:
    """The answer as given, stripped; an empty or huge one is refused before any spend."""
    answer = text.strip()
    if not answer:
        raise InvalidRequestError("the answer is empty: say what the planner should assume")
    if len(answer) > MAX_ANSWER_CHARS:
        raise InvalidRequestError(
            f"the answer is {len(answer)} characters, more than {MAX_ANSWER_CHARS}: "
            "answer in a few sentences"
        )
    return answer


def pick_option(options: list[str], text: str) -> tuple[str, int | None]:
    """What a person typed, as the answer: ``(answer, option number or None)``.

    The terminal prints the options numbered, so a bare number picks that option (its
    text is the answer, not the digit); a number past them is refused with the range
    (InvalidRequestError), since sending "3" to a planner that offered two options is
    never what was meant. Text that is an option's own text, or any other text, or a
    number when there are no options, is the answer as written. Only for front ends that
    showed the numbers (the CLI): an editor sends the option's text itself.
    """
    answer = text.strip()
    if not options or not answer.isdigit() or answer in options:
        return answer, None
    n = int(answer)
    if not 1 <= n <= len(options):
        raise InvalidRequestError(
            f"there is no option {n}: the planner offered {len(options)} "
            f"(1-{len(options)}); answer with one of those numbers or in your own words"
        )
    return options[n - 1], n


def nothing_pending() -> InvalidRequestError:
    return InvalidRequestError(
        "nothing is waiting for an answer: no planner question is pending "
        "(`planloop plan GOAL` asks one when the goal is ambiguous)"
    )

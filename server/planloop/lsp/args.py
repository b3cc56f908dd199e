"""Command arguments: one JSON object per command, validated before anything runs.

Why not let pygls structure them: pygls 2 unpacks ``arguments`` over the handler's
parameters and structures them with the lsprotocol converter, which silently expects
camelCase for snake_case attrs fields and reports "Expected N arguments, got M" for a
missing key. Taking ``*args`` and validating here with pydantic gives every client (VS
Code, Neovim, a hand-written script) one clear message naming each bad key, and the
models double as the documentation of the wire contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from planloop.lsp.rpc_errors import BadArguments
from planloop.validation import problems


def _id() -> Any:
    return Field(min_length=1, max_length=200)


def _opt_id() -> Any:
    return Field(default=None, min_length=1, max_length=200)


class _Args(BaseModel):
    # strict: "3" is not a version and 1 is not a boolean; a client bug should surface
    # here, not as a surprising run.
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, strict=True
    )

    #: which workspace folder (URI or absolute path, or any path inside it); default:
    #: the first workspace folder. See ``folders.py`` for the rule.
    folder: str | None = Field(default=None, min_length=1)


class CreatePlanArgs(_Args):
    goal: str = Field(min_length=1, max_length=20_000)


class AnswerArgs(_Args):
    #: the answer to the planner's waiting question (an option's text or free text)
    text: str = Field(min_length=1, max_length=10_000)


class GetPlanArgs(_Args):
    plan_id: str | None = _opt_id()
    #: a recorded version of the plan (``planloop show --version N``)
    version: int | None = Field(default=None, ge=1)


class RunStepArgs(_Args):
    step_id: str | None = _opt_id()


class RunAllArgs(_Args):
    pass


class StepDiffArgs(_Args):
    step_id: str = _id()


class FileAtCheckpointArgs(_Args):
    checkpoint: str = _id()
    path: str = Field(min_length=1, max_length=4096)


class RevertStepArgs(_Args):
    step_id: str = _id()
    paths: list[str] | None = None


class ReplanArgs(_Args):
    reason: str | None = Field(default=None, max_length=20_000)
    goal: str | None = Field(default=None, min_length=1, max_length=20_000)


class DecideRevisionArgs(_Args):
    version: int = Field(ge=1)
    approve: bool
    feedback: str | None = Field(default=None, max_length=20_000)


class ApprovePauseArgs(_Args):
    step_id: str = _id()


class DecidePendingArgs(_Args):
    approve: bool
    feedback: str | None = Field(default=None, max_length=20_000)


class SetModeArgs(_Args):
    mode: Literal["split", "joint"]


class CancelArgs(_Args):
    pass


class DoctorArgs(_Args):
    pass


class LogArgs(_Args):
    plan_id: str | None = _opt_id()


class CleanArgs(_Args):
    keep_current: bool = False
    #: move a damaged checkpoint repository aside instead (``keepCurrent`` is then unused)
    reset_shadow: bool = False


def parse_args(command: str, model: type[_Args], raw: tuple[Any, ...]) -> Any:
    """The one argument object of ``command``, or BadArguments naming what is wrong.

    Plain clients say "no arguments" in many ways, and all of them mean ``{}``: no
    ``arguments`` at all, ``[]``, ``[{}]``, ``[null]`` and ``[[]]`` — Neovim encodes an
    empty Lua table as ``[]``, so ``arguments = { {} }`` arrives as ``[[]]``. A bare
    object (``arguments: {...}``) is wrapped before it gets here (``server.py``).
    Anything else that is not one object is refused, naming what came.
    """
    if len(raw) == 0:
        obj: Any = {}
    elif len(raw) == 1:
        obj = raw[0]
    else:
        raise BadArguments(
            f"{command} takes one JSON object as its only argument, got {len(raw)} arguments"
        )
    if obj is None or (isinstance(obj, (list, tuple)) and len(obj) == 0):
        obj = {}
    if not isinstance(obj, dict):
        raise BadArguments(
            f"{command} takes one JSON object as its argument, got {_json_type(obj)}"
        )
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise BadArguments(f"{command}: {_describe(model, e)}") from None


def _describe(model: type[_Args], e: ValidationError) -> str:
    known = {f.alias or name: name for name, f in model.model_fields.items()}
    found: list[str] = []
    for p in problems(e):
        key = p.where.split(".", 1)[0] or "(argument)"
        where = p.where
        if p.type == "missing":
            found.append(f"missing argument {key!r}")
        elif p.type == "extra_forbidden":
            hint = ""
            camel = to_camel(key)
            if camel != key and camel in known:
                hint = f" (did you mean {camel!r}? keys are camelCase)"
            found.append(f"unexpected argument {key!r}{hint}")
        else:
            found.append(f"{where!r}: {p.msg} (got {_json_type(p.input)})")
    allowed = ", ".join(sorted(known)) or "none"
    return "; ".join(found) + f". Accepted keys: {allowed}"


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v}"
    if isinstance(v, str):
        shown = v if len(v) <= 40 else v[:37] + "..."
        return f"string {shown!r}"
    if isinstance(v, (list, tuple)):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__

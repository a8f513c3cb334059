"""A config's validation errors as problems an operator can act on: each names its path
(`steps.draft.retry.same_provider`) and the fix, with "did you mean" for a misspelt key or
choice. The allowed keys and choices are read from the schema (`policies.schema`) at the
error's path, so a key or a kind added there is suggested without a list to keep in step."""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from crosswalk.policies.suggest import did_you_mean, instead_of_key



def path_of(loc: tuple[Any, ...]) -> str:
    """`('steps', 'draft', 'providers', 0)` -> `steps.draft.providers[0]`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _unwrap(ann: Any) -> Any:
    """`X | None` -> X; any other annotation as it is."""
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        return args[0] if len(args) == 1 else ann
    return ann


def _field(model: type[BaseModel], key: Any) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def annotation_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The schema's annotation at a path of the file (None when the path leaves it)."""
    ann: Any = model
    for part in loc:
        ann = _unwrap(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            ann = _field(ann, part)
        elif get_origin(ann) is dict:
            ann = get_args(ann)[1]
        elif get_origin(ann) is list and isinstance(part, int):
            ann = get_args(ann)[0]
        else:
            return None
        if ann is None:
            return None
    return ann


def keys_of(ann: Any) -> list[str]:
    """The keys a mapping at this annotation may hold (a model's fields, by their YAML names)."""
    ann = _unwrap(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [info.alias or name for name, info in ann.model_fields.items()]
    return []


def choices_of(ann: Any) -> list[str]:
    """The values a `Literal[...]` annotation (possibly inside a union) allows."""
    ann = _unwrap(ann)
    if get_origin(ann) is Literal:
        return [str(a) for a in get_args(ann)]
    if get_origin(ann) in (Union, types.UnionType):
        return [c for a in get_args(ann) for c in choices_of(a)]
    return []


def _choice_problem(model: type[BaseModel], loc: tuple[Any, ...], value: Any) -> str | None:
    choices = choices_of(annotation_at(model, loc))
    if not choices or not isinstance(value, str):
        return None
    # The wrong value is not quoted back: it may have come from a ${VAR} holding a secret.
    what = "kind" if loc and loc[-1] == "kind" else "value"
    hint = did_you_mean(value, choices)
    if not hint and what == "kind" and "litellm" in choices:
        hint = "; for a vendor without its own kind, write kind: litellm with model: '<vendor>/<model>'"
    return f"unknown {what} (one of: {', '.join(choices)}){hint}"


def _union_tag(part: Any) -> bool:
    """pydantic's name for the member of a union a value was tried as (`int`, `literal[...]`)."""
    return isinstance(part, str) and (part.startswith(("literal[", "function-")) or part in ("int", "str", "float", "bool"))


def pydantic_problems(exc: Any, model: type[BaseModel]) -> list[str]:
    """One `path: message` line per error of a `ValidationError` raised validating `model`.
    A value that fits no member of a union with choices (`hold: nonee`) is one problem,
    the choices with the closest, not one per member."""
    found: list[tuple[str, str, bool]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not _union_tag(p))
        msg, choice = _message(model, loc, err)
        found.append((path_of(loc), msg, choice))
    chosen = {where for where, _, choice in found if choice}
    problems = [f"{where}: {msg}" for where, msg, choice in found if choice or where not in chosen]
    return list(dict.fromkeys(problems))


def _message(model: type[BaseModel], loc: tuple[Any, ...], err: Any) -> tuple[str, bool]:
    """An error's message with its fix, and whether it names the choices of a field."""
    kind, msg = err["type"], err["msg"]
    if kind == "literal_error":
        choice = _choice_problem(model, loc, err.get("input"))
        return (choice, True) if choice else (msg, False)
    if kind == "too_short" and len(loc) == 3 and loc[0] == "steps" and loc[-1] == "providers":
        return "the list is empty; a step needs at least 1 provider: list the providers to try, best first", False
    if kind == "extra_forbidden":
        key = loc[-1]
        in_provider = len(loc) == 3 and loc[0] == "providers"
        hint = instead_of_key(str(key), keys_of(annotation_at(model, loc[:-1])), in_provider=in_provider)
        return f"unknown key '{key}'{hint or '; check its spelling against the documented keys'}", False
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing", False
    return msg.removeprefix("Value error, "), False

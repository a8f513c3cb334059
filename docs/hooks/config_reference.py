"""MkDocs hook: the config reference page, generated from the config schema at build time.

Every key of the YAML file is a field of a pydantic model in crosswalk/policies/schema.py
(`ConfigSpec` and the models it holds). The page walks them from `ConfigSpec` down: each
model is a section (its docstring), each field a row with its YAML path, type, default,
limits and the comment written beside or above it in the schema's source. The reference
cannot drift from the code: it is the code, read when the site is built.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
import typing
from typing import Any, Iterator

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

PLACEHOLDER = "<!-- config-reference -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the placeholder on the reference page with the generated tables."""
    if PLACEHOLDER not in markdown:
        return markdown
    from crosswalk.policies.schema import ConfigSpec

    return markdown.replace(PLACEHOLDER, reference(ConfigSpec))


def reference(root: type[BaseModel]) -> str:
    """Markdown for `root` and every model below it, one section a model, in file order."""
    out, seen = [], set()
    for path, model in _models(root, ""):
        if (path, model) in seen:
            continue
        seen.add((path, model))
        doc = inspect.cleandoc(model.__doc__ or "")
        title = f"`{path}`" if path else "The file"
        out.append(f"## {title}\n\n{doc}\n\n| key | type | default | limits | notes |\n|---|---|---|---|---|")
        comments = _comments(model)
        for name, field in model.model_fields.items():
            key = field.alias or name
            out.append(f"| `{key}` | {_cell(_type(field.annotation))} | {_cell(_default(field))} | {_cell(_limits(field))} "
                       f"| {_cell(comments.get(name, ''))} |")
        out.append("")
    return "\n".join(out)


def _models(model: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel]]]:
    yield path, model
    for name, field in model.model_fields.items():
        key = field.alias or name
        for inner, suffix in _nested(field.annotation):
            yield from _models(inner, f"{path}.{key}{suffix}".lstrip("."))


def _nested(annotation: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """The models an annotation holds, with the path suffix for a dict's key or a list item."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ""
    elif origin is dict and args:
        for inner, suffix in _nested(args[1]):
            yield inner, ".<name>" + suffix
    elif origin is list and args:
        for inner, suffix in _nested(args[0]):
            yield inner, "[]" + suffix
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _nested(arg)


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) if not isinstance(a, str) else a for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type(a) for a in args)
    if origin is dict:
        return f"map of {_type(args[1])}"
    if origin is list:
        return f"list of {_type(args[0])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping (below)"
    name = getattr(annotation, "__name__", str(annotation))
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "SecretStr": "string (secret)",
            "Decimal": "number", "date": "date (YYYY-MM-DD)", "Any": "any"}.get(name, name)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return ""
        return "" if isinstance(value, BaseModel) else repr(value) if value not in ({}, []) else ""
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None:
        return ""
    if isinstance(field.default, bool):
        return str(field.default).lower()
    return repr(field.default) if not isinstance(field.default, str) else field.default


def _limits(field: FieldInfo) -> str:
    out = []
    for item in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "min length"),
                           ("max_length", "max length"), ("pattern", "pattern")):
            value = getattr(item, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return ", ".join(out)


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The comment beside each field, or the comment lines just above it, in the source."""
    try:
        lines, start = inspect.getsourcelines(model)
    except (OSError, TypeError):
        return {}
    tree = ast.parse(inspect.cleandoc("".join(lines)) if lines[0][:1].isspace() else "".join(lines))
    out: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node in body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        line = lines[node.lineno - 1]
        beside = line.split("  # ", 1)[1].strip() if "  # " in line else ""
        above, i = [], node.lineno - 2
        while i >= 0 and lines[i].strip().startswith("#"):
            above.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        out[node.target.id] = " ".join([*above, beside]).strip()
    return out


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("|", "\\|")).strip()

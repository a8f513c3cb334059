"""The json comparator: the first JSON object or array of each answer (fenced or inside
prose, never a citation such as "[1]" before it), compared field by field under per-path
rules. Numbers without a field rule match exactly unless the step set a tolerance."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Iterator, Mapping

from crosswalk.policies.compare_numbers import all_close, numbers_in, tolerance
from crosswalk.policies.normalize import exact_equal, normalize_text

NOT_JSON = "(not JSON)"
ROOT = "(root)"

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n`]*\n(.*?)```", re.DOTALL)
_OPEN_RE = re.compile(r"[{\[]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_PLAIN = json.JSONDecoder(parse_constant=_reject_constant)
_EXACT = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def _scan(text: str, decoder: json.JSONDecoder) -> Iterator[Any]:
    """Every top-level JSON object or array in `text`, in order."""
    pos = 0
    while (found := _OPEN_RE.search(text, pos)) is not None:
        try:
            value, pos = decoder.raw_decode(text, found.start())
        except (ValueError, RecursionError):
            pos = found.start() + 1
            continue
        yield value


def _first_json(text: str, decoder: json.JSONDecoder) -> Any:
    fences = sorted(_FENCE_RE.findall(text), key=lambda fence: fence[0].lower() != "json")  # stable
    for _, body in fences:  # a fence counts only when all of it is one object or array
        try:
            value = decoder.decode(body.strip())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, (dict, list)):
            return value
    found = list(_scan(text, decoder))
    for value in found:  # "[1]" before the payload is a citation: skip it when more follows
        if not _citation(value):
            return value
    if found:
        return found[0]
    raise ValueError("no JSON object or array in the answer")


def _citation(value: Any) -> bool:
    """Whether a value looks like a reference mark in prose: "[1]", "[2, 3]"."""
    return isinstance(value, list) and 0 < len(value) <= 3 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def scan_json(text: str) -> Iterator[Any]:
    """Every top-level JSON object or array in `text`, in order (strict JSON, floats)."""
    return _scan(text, _PLAIN)


def extract_json(text: str) -> Any:
    """The first JSON object or array in an answer: a fenced block that is exactly one
    (```json fences first), else the first one anywhere that is not a citation ("[1]",
    "[2, 3]": a list of up to three integers with more JSON after it). NaN and Infinity
    are rejected (strict JSON). Raises ValueError when there is none."""
    return _first_json(text, _PLAIN)


_COMPARES = ("exact", "normalized", "numeric")


@dataclass(frozen=True)
class FieldRule:
    """How one JSON field is compared: `exact` (after strip; numbers by value),
    `normalized` (`normalize_text`) or `numeric` (numbers within tolerance)."""

    compare: str = "exact"  # exact | normalized | numeric
    rel_tol: float = 0.005
    abs_tol: float = 0.0

    def __post_init__(self) -> None:
        if self.compare not in _COMPARES:
            raise ValueError(f"FieldRule.compare must be one of {', '.join(_COMPARES)}, got {self.compare!r}")
        tolerance(self.rel_tol, "rel_tol")
        tolerance(self.abs_tol, "abs_tol")


def _glob(pattern: str) -> re.Pattern[str]:
    # Only * (any run, dots and brackets included) and ? are special: "items[2]" is literal.
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _as_numbers(value: Any) -> list[Decimal]:
    return [Decimal(value)] if _is_number(value) else numbers_in(str(value))


def _same_text(x: Any, y: Any) -> bool:
    # Leaves compare as folded text; two empty strings are the same value here.
    return normalize_text(str(x)) == normalize_text(str(y))


def _leaf_same(x: Any, y: Any, rule: FieldRule) -> bool:
    if isinstance(x, bool) or isinstance(y, bool) or x is None or y is None:
        return type(x) is type(y) and x == y
    if rule.compare == "numeric":
        xs, ys = _as_numbers(x), _as_numbers(y)
        if not xs and not ys:  # two texts without numbers ("N/A"): compare them as text
            return _same_text(x, y)
        return all_close(xs, ys, tolerance(rule.rel_tol, "rel_tol"), tolerance(rule.abs_tol, "abs_tol"))
    if rule.compare == "exact":
        return x == y if _is_number(x) and _is_number(y) else exact_equal(str(x), str(y))
    return _same_text(x, y)


_MISSING = object()  # a key or item present on one side only


def _unlike(x: Any, y: Any) -> bool:  # one side missing, or a container against anything else
    return x is _MISSING or y is _MISSING or isinstance(x, (dict, list)) or isinstance(y, (dict, list))


class _Walk:
    """One field-by-field comparison: the rules, the ignore patterns, the differences."""

    def __init__(self, fields: Mapping[str, FieldRule], ignore: Iterable[str], default: FieldRule) -> None:
        self.fields = dict(fields)
        self.field_globs = [(_glob(p), rule) for p, rule in self.fields.items() if "*" in p or "?" in p]
        self.ignore = [_glob(p) for p in ignore]
        self.default = default

    def rule(self, path: str, x: Any, y: Any) -> FieldRule:
        if path in self.fields:
            return self.fields[path]
        for pattern, rule in self.field_globs:
            if pattern.fullmatch(path):
                return rule
        if _is_number(x) and _is_number(y):
            return FieldRule("numeric", self.default.rel_tol, self.default.abs_tol)
        return self.default

    def run(self, left: Any, right: Any) -> list[str]:
        differences: list[str] = []
        stack: list[tuple[Any, Any, str]] = [(left, right, "")]
        while stack:  # iterative: deeply nested answers must not exhaust the call stack
            x, y, path = stack.pop()
            if any(p.fullmatch(path) for p in self.ignore):
                continue
            children = _children(x, y, path)
            if children is not None:
                stack.extend(reversed(children))
            elif _unlike(x, y) or not _leaf_same(x, y, self.rule(path, x, y)):
                differences.append(path or ROOT)
        return differences


def _children(x: Any, y: Any, path: str) -> list[tuple[Any, Any, str]] | None:
    """Pairs to compare below two containers of the same kind, else None."""
    if isinstance(x, dict) and isinstance(y, dict):
        keys = [*x, *(k for k in y if k not in x)]
        return [(x.get(k, _MISSING), y.get(k, _MISSING), f"{path}.{k}" if path else k) for k in keys]
    if isinstance(x, list) and isinstance(y, list):
        pad = [_MISSING] * abs(len(x) - len(y))
        pairs = zip(x + pad if len(x) < len(y) else x, y + pad if len(y) < len(x) else y)
        return [(xi, yi, f"{path}[{i}]") for i, (xi, yi) in enumerate(pairs)]
    return None


def json_differences(
    a: str, b: str, *, fields: Mapping[str, FieldRule] | None = None, ignore: Iterable[str] = (),
    default: FieldRule = FieldRule("normalized", rel_tol=0),
) -> list[str]:
    """The paths where the two answers' JSON (see `extract_json`) differ, in document order;
    [] when they agree, ["(not JSON)"] when either side has none.

    Paths are dotted keys with [i] for array items ("items[2].price"; "(root)" when the
    top-level kinds differ). A key or array item on one side only differs. `ignore` paths
    are skipped with everything below them; `*` (any run of characters) and `?` are
    wildcards, so "meta.*" skips meta's children (not a missing "meta": ignore "meta" for
    that). `fields` maps paths or globs (an exact path first, then globs in order) to rules
    for leaf values. A leaf without a rule compares numerically with `default`'s tolerances
    when both sides are numbers (exactly by default: an id 1001 is not 1002), else by
    `default`. Booleans and null compare exactly. A
    numeric rule also reads numbers in strings ("$42.99" vs 42.99) and compares two strings
    without numbers as normalized text."""
    try:
        left, right = _first_json(a, _EXACT), _first_json(b, _EXACT)
    except ValueError:
        return [NOT_JSON]
    return _Walk(fields or {}, ignore, default).run(left, right)

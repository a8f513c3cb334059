"""Output validators: rule-based checks of an answer's text, the cheapest verification.

A step's `validate:` list becomes one `Validators`: each rule is compiled once at config
load (a regex, a JSON Schema's validator) and `check(text)` returns every rule the answer
breaks. Pure: no I/O, no clock.

- `schema`: the answer's JSON (found as the json comparator finds it: a fenced block, else
  the first object or array in the prose, skipping a citation "[1]") must validate against
  the JSON Schema. No JSON in the answer is a violation.
- `number: {min, max, field}`: one number of the answer must lie in [min, max]. Which one:
  with `field`, the value at that JSON path ("premium", "quote.items[0].price") when the
  answer has JSON holding it, else the first amount labelled so in prose ("Premium: $812"
  has label "premium"; see `policies.numbers`); without `field`, the first amount in the
  answer. Dates, times, years, ids and ordinals are not amounts. No such number is a
  violation: an answer that should carry the figure and does not is not a valid one.
- `regex`: the pattern must match somewhere in the answer (`re.search`; anchor with \\A and
  \\Z for the whole answer, `(?i)` for case-insensitive, `(?s)` to let `.` cross lines).
- `max_chars`: the answer has at most this many characters.
- `grounded: numbers` (with `derive: [sum, product, percent, units]`): every amount the
  answer states appears in the request's context or derives from amounts there as
  declared (`policies.grounded_numbers`); the only rule that reads the request, not only
  the answer (`check(text, context=...)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, Sequence

from crosswalk.policies.compare_json import extract_json
from crosswalk.policies.grounded_numbers import GroundedRule
from crosswalk.policies.numbers import read_numbers

_PATH_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_WHOLE_PATH_RE = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[\d+\])*")


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: `rule` is its name (its kind unless the config named it), `message`
    says what the answer had instead."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` is not a valid JSON Schema (for its own declared draft), or None."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}"
    return None


def path_problem(path: str) -> str | None:
    """Why `path` is not a JSON path of dotted keys and [i] indices, or None."""
    if _WHOLE_PATH_RE.fullmatch(path) is None:
        return f"{path!r} is not a field path (dotted keys with [i] for array items, such as quote.items[0].price)"
    return None


@dataclass(frozen=True)
class SchemaRule:
    """The answer's JSON must validate against `schema`."""

    name: str
    schema: Mapping[str, Any]
    _validator: Any = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        from jsonschema.validators import validator_for

        problem = schema_problem(self.schema)
        if problem is not None:
            raise ValueError(problem)
        object.__setattr__(self, "_validator", validator_for(self.schema)(self.schema))

    def check(self, text: str) -> str | None:
        try:
            value = extract_json(text)
        except ValueError:
            return "no JSON object or array in the answer"
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is None:
            return None
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        return f"{where or '(root)'}: {error.message[:160]}"


@dataclass(frozen=True, slots=True)
class NumberRule:
    """One number of the answer (see the module docstring) must lie in [low, high]."""

    name: str
    low: Decimal | None = None
    high: Decimal | None = None
    field: str | None = None

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValueError("a number rule needs min, max or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"min ({self.low}) is larger than max ({self.high})")
        if self.field is not None and (problem := path_problem(self.field)) is not None:
            raise ValueError(problem)

    def check(self, text: str) -> str | None:
        value = self.pick(text)
        what = f"'{self.field}'" if self.field else "the answer's number"
        if value is None:
            return f"no number{f' for {self.field!r}' if self.field else ''} in the answer"
        if self.low is not None and value < self.low:
            return f"{what} is {value}, below min {self.low}"
        if self.high is not None and value > self.high:
            return f"{what} is {value}, above max {self.high}"
        return None

    def pick(self, text: str) -> Decimal | None:
        """The number this rule checks, or None when the answer has none."""
        if self.field is not None:
            found = _json_value(text, self.field)
            if isinstance(found, (int, float)) and not isinstance(found, bool):
                try:
                    return Decimal(str(found))
                except InvalidOperation:  # a float JSON cannot hold (never from strict JSON)
                    return None
            if isinstance(found, str):
                return _first_amount(found, None)
            return _first_amount(text, self.field.rsplit(".", 1)[-1].lower())
        return _first_amount(text, None)


def _json_value(text: str, path: str) -> Any:
    try:
        node = extract_json(text)
    except ValueError:
        return None
    for key, index in _PATH_RE.findall(path):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return None
            node = node[int(index)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return None
    return node


def _first_amount(text: str, label: str | None) -> Decimal | None:
    for reading in read_numbers(text):
        if reading.exact is None and (label is None or reading.label == label):
            return reading.value
    return None


@dataclass(frozen=True)
class RegexRule:
    """The pattern must match somewhere in the answer."""

    name: str
    pattern: str
    _compiled: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", compile_regex(self.pattern))

    def check(self, text: str) -> str | None:
        assert self._compiled is not None
        if self._compiled.search(text) is None:
            return f"the answer does not match /{self.pattern[:80]}/"
        return None


def compile_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled, or ValueError saying where it is broken."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc.msg} at position {exc.pos}); "
                         "fix it, or escape special characters with \\") from None


@dataclass(frozen=True, slots=True)
class MaxCharsRule:
    """The answer has at most `limit` characters."""

    name: str
    limit: int

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"max_chars must be at least 1 (got {self.limit})")

    def check(self, text: str) -> str | None:
        if len(text) > self.limit:
            return f"the answer has {len(text)} characters, over max_chars {self.limit}"
        return None


Rule = SchemaRule | NumberRule | RegexRule | MaxCharsRule | GroundedRule


@dataclass(frozen=True)
class Validators:
    """A step's compiled rules, checked in order."""

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}; give one of them its own 'name'")
            seen.add(rule.name)

    @property
    def names(self) -> list[str]:
        """The rules' names, in order."""
        return [rule.name for rule in self.rules]

    @property
    def reads_context(self) -> bool:
        """True when a rule checks the answer against the request's context (`grounded`)."""
        return any(isinstance(rule, GroundedRule) for rule in self.rules)

    def check(self, text: str, *, context: Sequence[str] = ()) -> list[Violation]:
        """Every rule `text` breaks, in the rules' order ([] when it passes them all);
        `context` holds the request's texts the `grounded` rule traces amounts to."""
        out = []
        for rule in self.rules:
            message = rule.check(text, context) if isinstance(rule, GroundedRule) else rule.check(text)
            if message is not None:
                out.append(Violation(rule.name, message))
        return out


def validators_of(specs: Iterable[Any]) -> Validators | None:
    """The compiled rules of a step's `validate:` specs (policies.schema.ValidatorSpec),
    or None when there are none."""
    rules: list[Rule] = []
    for spec in specs:
        name = spec.name or spec.kind
        if spec.json_schema is not None:
            rules.append(SchemaRule(name, spec.json_schema))
        elif spec.number is not None:
            n = spec.number
            rules.append(NumberRule(name, n.min, n.max, n.field))
        elif spec.regex is not None:
            rules.append(RegexRule(name, spec.regex))
        elif spec.grounded is not None:
            rules.append(GroundedRule(name, frozenset(spec.derive or ())))
        else:
            rules.append(MaxCharsRule(name, spec.max_chars))
    return Validators(tuple(rules)) if rules else None

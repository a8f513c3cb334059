"""The `grounded: numbers` validator: every amount an answer states must appear in the
request's context (system prompt, user messages, tool results, retrieved documents; see
`policies.grounding`), or follow from amounts there in a way the step declares derivable.
The seed's critic question, "does every claim trace to a line of the context?", answered
for numbers without a second model. Pure.

What counts as an amount in the answer: every number `numbers.read_numbers` reads that is
not an exact reading (dates, times, years, ids, ordinals are not amounts), except a list
marker ("1." or "2)" starting a line) and a bare whole count up to ten ("3 steps", "two
options": counting what the answer itself lists is no claim about the context; "10 per
month" is a rate, not a count).

An answer amount is grounded by a context amount of the same magnitude (the sign is not
compared: "a loss of $5m" restates "-$5m"), the same currency and period when both name
one, and the same unit (or either without one), as the answer rounds it: "$43" and "$42.99"
(the answer's last digit is the ones), "$1.2 million" and "$1,234,567". Never by a near
miss: "$4,299" is not "$42.99". Derivations a step may declare (`derive:`):

- `sum`: the sum or difference of two context amounts, or the total of all of them.
- `product`: a context amount times a bare count in the context (3 x $15 = $45).
- `percent`: a context percentage of a context amount, that amount plus or minus it, and
  the ratio or change of two context amounts as a percentage.
- `units`: a context amount converted to another unit of its dimension (5 km = 3.1 mi).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from itertools import combinations
from typing import Iterable, Sequence

from crosswalk.policies.grounding import Grounding
from crosswalk.policies.numbers import Reading, read_numbers
from crosswalk.policies.units import convertible, to_base

DERIVATIONS = ("sum", "product", "percent", "units")
_MAX_COUNT = 10  # bare whole numbers up to this are counts, not amounts
_MAX_CONTEXT = 400  # pairs of context amounts grow as n²: past this many, only the first are paired
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Amount:
    """A context or answer amount: its magnitude, what it is measured in, and how finely it
    was written (half its last digit's place: the rounding a restatement may show)."""

    value: Decimal
    currency: str | None
    unit_symbol: str | None
    per: str | None
    percent: bool
    slack: Decimal
    reading: Reading


def _amount(reading: Reading) -> Amount:
    value = abs(reading.value)
    exponent = value.as_tuple().exponent
    slack = Decimal(5).scaleb(exponent - 1) if isinstance(exponent, int) else Decimal(0)
    return Amount(value, reading.currency, reading.unit.symbol if reading.unit else None, reading.per,
                   reading.percent, slack, reading)


def amounts(text: str, *, counts: bool = False) -> list[Amount]:
    """The amounts `text` states (see the module docstring); with `counts` (the context's
    side), bare small whole numbers too (its "3 seats" may be multiplied by a price), and ids
    and long numbers as bare amounts (an answer may restate "order #8812" as 8812)."""
    out = []
    for reading in read_numbers(_unmarked(text)):
        if reading.exact is not None:
            # in the context, an id or a long number may be what the answer restates bare
            # ("order #8812" and {"order": 8812}); a date or an ordinal never is
            if counts and reading.exact[0] in ("id", "n") and str(reading.exact[1]).isdigit():
                out.append(_amount(Reading(Decimal(str(reading.exact[1])))))
            continue
        bare = reading.currency is None and reading.unit is None and not reading.percent and reading.per is None
        if not counts and bare and reading.value == reading.value.to_integral_value() and abs(reading.value) <= _MAX_COUNT:
            continue
        out.append(_amount(reading))
    return out


def _unmarked(text: str) -> str:
    """`text` with list markers ("1.", "2)", "- 3." starting a line) blanked out."""
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip(" \t-*>")
        head = len(line) - len(stripped)
        digits = len(stripped) - len(stripped.lstrip("0123456789"))
        if 0 < digits <= 3 and stripped[digits:digits + 1] in (".", ")") and stripped[digits + 1:digits + 2] in (" ", "\t", ""):
            line = line[:head] + " " * (digits + 1) + stripped[digits + 1:]
        lines.append(line)
    return "\n".join(lines)


def _compatible(x: Amount, y: Amount) -> bool:
    """Whether the two may be one amount: no two currencies, units or periods that differ,
    no currency against a unit, no percentage against a currency or unit."""
    if x.currency and y.currency and x.currency != y.currency:
        return False
    if (x.currency and y.unit_symbol) or (y.currency and x.unit_symbol):
        return False
    if (x.percent and (y.currency or y.unit_symbol)) or (y.percent and (x.currency or x.unit_symbol)):
        return False
    if x.per and y.per and x.per != y.per:
        return False
    return not (x.unit_symbol and y.unit_symbol and x.unit_symbol != y.unit_symbol)


def _near(value: Decimal, target: Decimal, slack: Decimal) -> bool:
    with localcontext() as ctx:
        ctx.prec = 50
        return abs(value - target) <= slack


@dataclass(frozen=True, slots=True)
class GroundedRule:
    """Every amount of the answer traces to the context (see the module docstring)."""

    name: str
    derive: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.derive) - set(DERIVATIONS))
        if unknown:
            raise ValueError(f"unknown derivation {unknown[0]!r}; use any of {', '.join(DERIVATIONS)}")

    def check(self, text: str, context: Sequence[str] = ()) -> str | None:
        """None when every amount of `text` is grounded in `context`, else what is not."""
        stated = amounts(text)
        if not stated:
            return None
        pool = [a for block in context for a in amounts(block, counts=True)][:_MAX_CONTEXT]
        missing = [a for a in stated if not self.grounded(a, pool)]
        if not missing:
            return None
        shown = ", ".join(_shown(a.reading) for a in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return f"the answer states {shown}, found nowhere in the context{self._how()}"

    def _how(self) -> str:
        return f" (nor derived by {', '.join(sorted(self.derive))})" if self.derive else ""

    def grounded(self, x: Amount, pool: Sequence[Amount]) -> bool:
        """Whether answer amount `x` is a context amount, or derived from them as declared."""
        if any(_compatible(x, c) and _near(c.value, x.value, x.slack) for c in pool):
            return True
        if "units" in self.derive and any(_converts(x, c) for c in pool):
            return True
        return any(_near(v, x.value, x.slack) for v in self._derived(x, pool))

    def _derived(self, x: Amount, pool: Sequence[Amount]) -> Iterable[Decimal]:
        alike = [c for c in pool if _compatible(x, c) and not c.percent]
        if "sum" in self.derive:
            for a, b in combinations(alike, 2):
                yield a.value + b.value
                yield abs(a.value - b.value)
            if len(alike) > 2:
                yield sum((c.value for c in alike), Decimal(0))
        if "product" in self.derive:  # a price per month times 12 payments is a price per year
            counts = [c for c in pool if _count(c)]
            priced = [c for c in pool if not c.percent and _compatible(x, replace(c, per=None))]
            yield from (a.value * n.value for a in priced for n in counts if a is not n)
        if "percent" in self.derive:
            yield from _percentages(x, alike, [c for c in pool if c.percent], pool)


def _count(c: Amount) -> bool:
    bare = c.currency is None and c.unit_symbol is None and not c.percent
    return bare and c.value == c.value.to_integral_value() and c.value <= 1000


def _percentages(x: Amount, alike: Sequence[Amount], rates: Sequence[Amount], pool: Sequence[Amount]) -> Iterable[Decimal]:
    """p of a, a plus or minus p of a; for a percentage answer, a / b and (a - b) / b."""
    for p in rates:
        for a in alike:
            part = p.value * a.value
            yield from (part, a.value + part, a.value - part)
    if x.percent:
        plain = [c for c in pool if not c.percent]
        for a in plain:
            for b in plain:
                if a is not b and b.value and _compatible(a, b):
                    yield a.value / b.value
                    yield abs(a.value - b.value) / b.value


def _converts(x: Amount, c: Amount) -> bool:
    xu, cu = x.reading.unit, c.reading.unit
    if xu is None or cu is None or xu.symbol == cu.symbol or not convertible(xu, cu):
        return False
    base = to_base(x.reading.value, xu)
    # the slack in the answer's unit, in the base unit: "3.1 mi" allows 0.05 mi either way
    slack = x.slack * xu.factor
    return _near(abs(to_base(c.reading.value, cu)), abs(base), slack)


def _shown(r: Reading) -> str:
    unit = f" {r.unit.symbol}" if r.unit else ""
    value = r.value * 100 if r.percent else r.value
    return f"{r.currency + ' ' if r.currency else ''}{value.normalize():f}{'%' if r.percent else ''}{unit}"


def context_texts(grounding: Grounding) -> list[str]:
    """The texts a request grounds its answer in: the question and each context block."""
    return [grounding.question, *(text for _, text in grounding.context)]

"""The numeric comparator: do two answers state the same numbers? Numbers are read as a
reader means them (`numbers.read_numbers`); this module decides when two readings match
and how the readings of two answers are paired."""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Sequence

from crosswalk.policies.numbers import Reading, read_numbers
from crosswalk.policies.units import convertible, to_base


def tolerance(value: Decimal | float, name: str) -> Decimal:
    """A tolerance as an exact Decimal; TypeError for non-numbers, ValueError below 0 or NaN."""
    if isinstance(value, (bool, str)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    tol = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if tol.is_nan() or tol < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return tol


def close(x: Decimal, y: Decimal, rel_tol: Decimal, abs_tol: Decimal) -> bool:
    """|x - y| <= max(abs_tol, rel_tol * max(|x|, |y|)), computed exactly."""
    # A fresh unbounded context: exact arithmetic, and no shared context flags are touched.
    ctx = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
    gap = ctx.abs(ctx.subtract(x, y))
    magnitude = max(ctx.abs(x), ctx.abs(y))
    scale = ctx.multiply(rel_tol, magnitude) if magnitude else Decimal(0)
    return gap <= max(abs_tol, scale)


def all_close(xs: Sequence[Decimal], ys: Sequence[Decimal], rel_tol: Decimal, abs_tol: Decimal) -> bool:
    """True when both lists are non-empty, equally long, and close pair by pair."""
    return bool(xs) and len(xs) == len(ys) and all(close(x, y, rel_tol, abs_tol) for x, y in zip(xs, ys))


def same_reading(x: Reading, y: Reading, rel_tol: Decimal, abs_tol: Decimal) -> bool:
    """Whether two readings state the same value.

    Exact readings (dates, times, ids, ordinals) match only their equal; a year or a long
    integer also matches a bare quantity of exactly its value ("3000" and "3,000"). Two
    currencies must be the same; a currency never matches a unit. Two units must be one,
    or convert within one dimension (then the values compare in the base unit); a number
    without a unit or currency matches one with (the answer left it implicit). Two rates
    per different periods differ ("5% per month" is not "5% per year"); a rate without
    one matches either."""
    if x.exact is not None or y.exact is not None:
        if x.exact is not None and y.exact is not None:
            return x.exact == y.exact
        known, other = (x, y) if x.exact is not None else (y, x)
        bare = other.unit is None and other.currency is None
        return known.exact[0] == "n" and bare and other.value == known.value
    if x.per and y.per and x.per != y.per:
        return False
    if (x.currency and (y.unit or (y.currency and y.currency != x.currency))) or (y.currency and x.unit):
        return False
    if x.unit and y.unit and x.unit.symbol != y.unit.symbol:
        if not convertible(x.unit, y.unit):
            return False
        return close(to_base(x.value, x.unit), to_base(y.value, y.unit), rel_tol, abs_tol)
    return close(x.value, y.value, rel_tol, abs_tol)


def _by_label(xs: Sequence[Reading], ys: Sequence[Reading]) -> list[tuple[Reading, Reading]] | None:
    """Pairs by label when every reading has one, labels are unique on each side and the
    two sides name the same labels; else None (pair them in order)."""
    labels_x, labels_y = [r.label for r in xs], [r.label for r in ys]
    if None in labels_x or None in labels_y or len(set(labels_x)) != len(labels_x) or set(labels_x) != set(labels_y):
        return None
    right = {r.label: r for r in ys}
    return [(r, right[r.label]) for r in xs]


def _matched(xs: Sequence[Reading], ys: Sequence[Reading], rel_tol: Decimal, abs_tol: Decimal) -> bool:
    if len(xs) != len(ys):
        return False
    pairs = _by_label(xs, ys) or list(zip(xs, ys))
    return all(same_reading(x, y, rel_tol, abs_tol) for x, y in pairs)


def readings_match(xs: Sequence[Reading], ys: Sequence[Reading], rel_tol: Decimal, abs_tol: Decimal) -> bool:
    """Whether two answers' readings state the same numbers: the exact ones (dates, years,
    ids) and the quantities each matched apart, so "In 2019 revenue was $4.1M" matches
    "Revenue was $4.1M in 2019"; or all of them together, in order or by label."""
    if not xs or not ys:
        return False
    exact_x, exact_y = [r for r in xs if r.exact is not None], [r for r in ys if r.exact is not None]
    amounts_x, amounts_y = [r for r in xs if r.exact is None], [r for r in ys if r.exact is None]
    if _matched(exact_x, exact_y, rel_tol, abs_tol) and _matched(amounts_x, amounts_y, rel_tol, abs_tol):
        return True
    return _matched(xs, ys, rel_tol, abs_tol)


def numeric_equal(a: str, b: str, *, rel_tol: Decimal | float = 0.005, abs_tol: Decimal | float = 0) -> bool:
    """True when both answers state the same numbers (at least one): see `readings_match`
    for the pairing and `same_reading` for a pair. Quantities match within max(abs_tol,
    rel_tol * max(|x|, |y|)); dates, times, years, ids and ordinals match exactly. Answers
    without numbers never match: agreement must be shown, not assumed."""
    rel, abs_ = tolerance(rel_tol, "rel_tol"), tolerance(abs_tol, "abs_tol")
    return readings_match(read_numbers(a), read_numbers(b), rel, abs_)


def numbers_in(text: str) -> list[Decimal]:
    """The values of the numbers in `text`, in order (JSON field rules compare these)."""
    return [r.value for r in read_numbers(text) if r.exact is None or r.exact[0] == "n"]

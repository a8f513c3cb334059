"""Seams between pipeline steps: is an amount a step received a near miss of one an earlier
step of the same run answered? Pure: the run's amounts come in, the flags go out.

The seed's costliest bug: step 1 answered a refund of 42.99, the application re-parsed it,
and step 2 received 4299. No model was wrong; the error lived in the seam. A near miss is
an amount that differs from an answered one the way a program mangles a number:
- `decimal dropped` (42.99 -> 4299) or `decimal moved` (any other factor of 10^k, k 1..6),
- `digits dropped` (1234.50 -> 134.50: one digit deleted, the place of the others kept),
- `digits transposed` (42.99 -> 24.99, 1234.50 -> 1324.50: two neighbours swapped),
- `sign lost` (-42.99 -> 42.99, only where the answer said the minus),
- `currency changed` (42.99 EUR -> $42.99: the same figure under another currency).
What is not a near miss: an exact copy (42.99 -> "42,99" or {"amount": 42.99}: a copy
that drops the symbol is still a copy), a rounding or truncation (42.99 -> 43, 42.9),
and any amount that is neither (a total, a converted figure, an unrelated amount).

Guards, each against a legitimate figure that looks like a mangled one:
- both amounts need at least `MIN_DIGITS` significant digits: 5 -> 50 or 24 -> 42 are
  too often two honest, different figures;
- a received amount equal to any answered amount is a copy, never a miss;
- when the answered amount itself is also in the request, the other figure is derived
  from it (10 months of 42.99 is 429.90), not a mangled copy of it.

Two phases keep it off the hot path. Every answer of a run gives its amount tokens
(`amount_tokens`: one regular expression; "$42.99", "42,99 €", "USD 1,234.50", with the
sign, currency, percent, cents, magnitude or unit written beside them, dates and times
left out), which is all a run keeps. A later step's request is read the same way, and only
tokens whose significant digits relate to an answered token's (the same digits, one
dropped, two swapped) are parsed (`policies.numbers`) and judged (`check`): a request
with no such token costs one regular expression, whatever its length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Iterable, Sequence

from crosswalk.policies.numbers import read_numbers
from crosswalk.policies.units import CENTS_RE, CURRENCY_AFTER_RE, UNIT_RE

MIN_DIGITS = 3  # significant digits an amount needs before a 10^k or digit relation means anything
MAX_POWER = 6  # 42.99 -> 42990000 is still a moved decimal; beyond, a coincidence
KINDS = ("decimal dropped", "decimal moved", "digits dropped", "digits transposed", "sign lost", "currency changed")


@dataclass(frozen=True, slots=True)
class Amount:
    """One amount as a run keeps it: the signed value and its currency, nothing of the text."""

    value: Decimal
    currency: str | None = None

    def __str__(self) -> str:
        shown = format(self.value, "f")
        return f"{shown} {self.currency}" if self.currency else shown


@dataclass(frozen=True, slots=True)
class Answered:
    """An amount an earlier step of the run answered."""

    step: str
    amount: Amount


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A received amount that is a near miss of an answered one, and how (one of `KINDS`)."""

    from_step: str
    answered: Amount
    received: Amount
    kind: str

    def describe(self, to_step: str) -> str:
        """`extract -> refund: 42.99 USD answered, 4299 received (decimal dropped)`."""
        return f"{self.from_step} -> {to_step}: {self.answered} answered, {self.received} received ({self.kind})"


_ANY_DIGIT_RE = re.compile(r"\d")
_DIGITS_RE = re.compile(r"\d+(?:(?:[.,'’\u00a0\u202f\u2009]| (?=\d))\d+)*")
_DATE_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?|\d{1,2}:\d{2}(?::\d{2})?")
# What stands before an amount and changes it, read leftwards from its first digit (one
# anchored match on the reversed head): a sign, a currency, a sign, "minus"/"negative", an
# accounting parenthesis. A currency is taken loosely (a symbol run, or a code in capitals):
# the token is parsed by `policies.numbers` later, which knows the real ones.
_BEFORE_REV_RE = re.compile(r"(?P<inner>[-\u2212])?(?:\s?(?P<cur>[^\w\s().,;:!?'\"]{1,3}|\$?[A-Z]{2,3})(?![A-Za-z]))?(?P<sign>[-\u2212])?"
                            r"(?P<word>\s(?i:sunim|evitagen)(?![A-Za-z]))?(?P<open>\s*\()?")
_QUOTES = "\"'’′″"  # after a number these close a JSON string or a quotation; never inches or feet here
# After the digits: percent, magnitude or unit (a unit keeps a quantity out of the amounts), currency or cents.
_AFTER_RE = re.compile(
    r"(?:\s?(?:%|(?i:per\s?cent|percent)(?![A-Za-z])|(?i:thousand|millions?|billions?|trillions?)(?![A-Za-z])"
    rf"|(?:mn|bn|[kKMB])(?![A-Za-z])|(?![{_QUOTES}])(?:{UNIT_RE.pattern})))?"
    rf"(?:{CURRENCY_AFTER_RE.pattern}|{CENTS_RE.pattern})?(?P<close>\s*\))?"
)
_LABEL_CUES = (":", "=", "|", "\n")


def _token(text: str, start: int, end: int) -> str:
    """The amount at [start, end) with what is written beside it and changes it."""
    before = _BEFORE_REV_RE.match(text[max(0, start - 12):start][::-1])  # "negative US$" at most
    assert before is not None  # every part is optional
    lead = before.end()
    sign = "sign" if before["sign"] else "inner" if before["inner"] and not before["cur"] else None
    if sign is not None and not before["word"]:  # "88123-4299" is no negative
        at = start - before.end(sign)
        if at > 0 and (text[at - 1].isalnum() or text[at - 1] in ".,"):
            lead = before.start(sign)
    opened = False
    if before["open"] and lead == before.end():  # accounting "($8,640)" only as a label's value
        rest = text[:start - before.end("open")].rstrip()
        opened = not rest or rest.endswith(_LABEL_CUES)
        if not opened:
            lead = before.start("open")
    after = _AFTER_RE.match(text, end)
    assert after is not None
    tail = after.end() if opened or not after["close"] else after.start("close")
    return text[start - lead:tail].strip()


def amount_tokens(text: str, *, limit: int = 64) -> tuple[str, ...]:
    """The amounts of `text` as written, with what is written beside them and changes
    them (sign, currency, percent, cents, magnitude), distinct, in order, at most `limit`;
    dates and times are left out. What a run keeps of an answer."""
    if not _ANY_DIGIT_RE.search(text):
        return ()
    if "-" in text or ":" in text:  # blank dates and times out, keeping every other offset
        text = _DATE_TIME_RE.sub(lambda m: " " * len(m.group()), text)
    seen: dict[str, None] = {}
    for match in _DIGITS_RE.finditer(text):
        seen.setdefault(_token(text, match.start(), match.end()), None)
        if len(seen) >= limit:
            break
    return tuple(seen)


_NON_DIGITS_RE = re.compile(r"\D+")


@lru_cache(maxsize=4096)  # a run's tokens are read again at each of its later steps
def _key(token: str) -> str:
    """A token's significant digits ("$1,234.50" -> "12345", "0.75" -> "75")."""
    return _NON_DIGITS_RE.sub("", token).strip("0")


def _related(a: str, b: str) -> bool:
    """Whether two digit keys could be a copy or a near miss of each other."""
    return a == b or _one_deleted(a, b) or _one_deleted(b, a) or _one_swap(a, b)


def check(earlier: Sequence[tuple[str, str]], received: str, *, limit: int = 64) -> list[NearMiss]:
    """The near misses in `received` (a later step's request text) of the amounts earlier
    steps of its run wrote (`earlier`: (step, token) pairs from `amount_tokens`). Only
    tokens whose digits relate to an answered one's are parsed; the verdict is `seam_flags`'s."""
    tokens = amount_tokens(received, limit=limit)
    if not tokens or not earlier:
        return []
    answered_keys = {_key(token) for _, token in earlier}
    wanted = [t for t in tokens if any(_related(_key(t), k) for k in answered_keys if k)]
    if not wanted:
        return []
    wanted_keys = {_key(t) for t in wanted}
    before = [Answered(step, amount) for step, token in earlier if any(_related(_key(token), k) for k in wanted_keys)
              for amount in amounts_in(token)]
    return seam_flags(before, (amount for token in wanted for amount in amounts_in(token)))


def amounts_in(text: str, *, limit: int = 64) -> tuple[Amount, ...]:
    """The amounts in `text` (plain numbers and money; not dates, times, ordinals, years or
    numbers with a unit), at most `limit`, distinct, in order. A number `read_numbers`
    calls an id by the words before it stays in ("issue a refund of 4299": `issue` is an
    id word there), unless its leading zero makes it one."""
    if not _ANY_DIGIT_RE.search(text):
        return ()
    seen: dict[Amount, None] = {}
    for reading in read_numbers(text):
        key = reading.exact
        if key is not None and not (key[0] == "n" or (key[0] == "id" and not str(key[1]).startswith("0"))):
            continue
        if reading.unit is not None or not reading.value.is_finite():
            continue  # a quantity with a unit is not an amount this rule reads
        seen.setdefault(Amount(reading.value, reading.currency), None)
        if len(seen) >= limit:
            break
    return tuple(seen)


def _digits(value: Decimal) -> str:
    """The significant digits of |value| ("42.99" -> "4299", "1200" -> "12")."""
    return "".join(map(str, abs(value).normalize().as_tuple().digits))


def _rounded(a: Decimal, b: Decimal) -> bool:
    """`b` is `a` rounded or truncated to some place (43, 42.9, 1200 from 1234.56)."""
    for places in range(-9, 7):
        quantum = Decimal(1).scaleb(-places)
        for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN):
            try:
                if a.quantize(quantum, rounding=mode) == b:
                    return True
            except InvalidOperation:
                continue
    return False


def _power_of_ten(a: Decimal, b: Decimal) -> int | None:
    """k when b == a * 10^k for 1 <= |k| <= MAX_POWER, else None."""
    if not a or not b:
        return None
    ratio = abs(b) / abs(a)
    for k in range(1, MAX_POWER + 1):
        if ratio == Decimal(10) ** k:
            return k
        if ratio == Decimal(10) ** -k:
            return -k
    return None


def _one_deleted(long: str, short: str) -> bool:
    return len(long) == len(short) + 1 and any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def _one_swap(a: str, b: str) -> bool:
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _place(value: Decimal) -> int:
    """The power of ten of the leading digit (42.99 -> 1, 134.5 -> 2)."""
    return abs(value).adjusted()


def near_miss(answered: Amount, received: Amount) -> str | None:
    """How `received` is a near miss of `answered` (one of `KINDS`), or None."""
    a, b = answered.value, received.value
    if a == b:
        if answered.currency and received.currency and answered.currency != received.currency and len(_digits(a)) >= MIN_DIGITS:
            return "currency changed"
        return None
    if a == -b:
        return "sign lost" if a < 0 and len(_digits(a)) >= MIN_DIGITS else None
    if answered.currency and received.currency and answered.currency != received.currency:
        return None  # another currency: a conversion, not a mangled copy
    da, db = _digits(a), _digits(b)
    if min(len(da), len(db)) < MIN_DIGITS or _rounded(abs(a), abs(b)):
        return None
    k = _power_of_ten(a, b)
    if k is not None:
        dropped = k > 0 and b == b.to_integral_value() and a != a.to_integral_value()
        return "decimal dropped" if dropped else "decimal moved"
    if _one_deleted(da, db) and _place(b) >= _place(a) - 1:
        return "digits dropped"
    if _one_swap(da, db) and _place(a) == _place(b):
        return "digits transposed"
    return None


def seam_flags(earlier: Sequence[Answered], received: Iterable[Amount]) -> list[NearMiss]:
    """The near misses among the amounts a step received, against what earlier steps of its
    run answered (see the module docstring for what counts and the guards)."""
    received = tuple(received)
    values = {r.value for r in received}
    answered_values = {e.amount.value for e in earlier}
    flags: list[NearMiss] = []
    for amount in received:
        if amount.value in answered_values and not any(
                near_miss(e.amount, amount) == "currency changed" for e in earlier if e.amount.value == amount.value):
            continue  # a copy of something answered
        for before in earlier:
            if before.amount.value in values and before.amount.value != amount.value:
                continue  # the right figure is in the request too: this one is derived from it
            kind = near_miss(before.amount, amount)
            if kind is not None:
                flags.append(NearMiss(before.step, before.amount, amount, kind))
                break
    return flags

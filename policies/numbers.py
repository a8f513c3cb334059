"""Numbers in an answer as a reader means them: `read_numbers("Net: ($1.2 million)")` is one
reading of -1200000 USD. Pure; English prose with US, European, Swiss and spaced digits.

What is read, in order of position in the answer:
- Separators decided from the whole answer: a token with both "." and "," says which is
  the decimal mark; "1,79" or "3.645.000" votes European, "0.75" or "1,234,567" votes US;
  the majority decides the ambiguous "1.250" (US when nobody votes). Grouping by
  apostrophe ("1'234.50") and by no-break or thin spaces always counts; by a plain space
  with a decimal part, a currency ("1 234,56 €") or two to four groups ("1 000 000"), so "in 2015
  200 people" stays two and a longer run of groups is a list. Indian grouping by commas ("1,00,000", "12,34,567") too.
- Currency symbols and codes before or after ("$", "US$", "€", "EUR", "euros"), cents.
- Magnitude words and suffixes: thousand/k/K, million/M/mn/Mio, billion/B/bn/Mrd,
  trillion/tn, lakh, crore; "m" means million only after a currency ("$12m"), else metres.
- Percent and basis points ("50 bp", "50 basis points" = 0.5 %), kept as the fraction
  (`Reading.percent` says it was written so).
- A rate's period (`Reading.per`): "5% per month", "$20/h", "2 tablets a day", "3% p.a.",
  "weekly", or an adjective before it in its clause ("monthly fee of $20").
- Negatives: "-", "−", an en dash touching the number ("–3%"), "minus"/"negative" (see
  `number_words`), a fall in words before it ("fell 3%", "down 2%", "a loss of $5m"), and accounting parentheses
  "($8,640)" when the amount (with a currency, decimals or grouping) is the value of a
  label: after ":", "=", "|", a line start, or "was"/"is"/"of". "The deposit ($250) is
  due" is an aside and stays positive.
- Scientific forms: 1.5e3, 6.022 × 10^23, 6.022x10²³, 3.0 * 10**6; percent as / 100.
- Units after the number (see `units`), numbers in words (see `number_words`).
- Exact readings, never within a tolerance: dates and times (see `dates`), ordinals
  ("3rd"), years (a four-digit number after "in", "since", ... or labelled "founded",
  "released", ...), ids (after "#", or labelled order/invoice/zip/version/..., a leading
  zero, or five or more ungrouped digits without a currency or unit).
- A label: the last content word before the number in its clause ("Wins: 11" -> "wins"),
  else the first one after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation

from crosswalk.policies.dates import BLANK, find_dates
from crosswalk.policies.number_words import spell_out
from crosswalk.policies.units import CENTS_RE, CURRENCIES, CURRENCY_AFTER_RE, CURRENCY_BEFORE, UNIT_RE, Unit, unit_named


@dataclass(frozen=True, slots=True)
class Reading:
    """One number as the answer means it. `exact` is the key of a value that must match
    exactly (date, time, year, id, ordinal), else None; `value` is the signed amount."""

    value: Decimal
    exact: tuple[object, ...] | None = None
    unit: Unit | None = None
    currency: str | None = None
    label: str | None = None
    per: str | None = None  # the period a rate is per ("month" in "5% per month", "$20/h"), else None
    # written as a percentage or in basis points (the value is already the fraction: 5% is 0.05);
    # not compared: "half" and "50%" are one value
    percent: bool = field(default=False, compare=False)


_EXACT = Context(prec=100_000, Emax=MAX_EMAX, Emin=MIN_EMIN)  # no rounding of long digit strings
_CORE_RE = re.compile(r"(?<![\w.\x00])(?:[0-9]+(?:[.,'’\u00a0\u202f\u2009 ][0-9]+)*|\.[0-9]+)")
_SEP_RE = re.compile(r"[.,'’\u00a0\u202f\u2009 ]")
_GROUPERS = {"us": ",'’\u00a0\u202f\u2009 ", "eu": ".'’\u00a0\u202f\u2009 "}
_DECIMAL = {"us": ".", "eu": ","}
# Minus signs as answers write them: hyphen, U+2212, en dash, figure dash, small and fullwidth hyphen-minus.
_MINUS = "-\u2212\u2013\u2012\ufe63\uff0d"
_BEFORE_RE = re.compile(
    rf"(?P<open>\(\s*)?(?:(?P<sign>[+{_MINUS}])?(?P<cur>{CURRENCY_BEFORE})\s?(?P<sign2>[+{_MINUS}])?|(?P<bare>[+{_MINUS}]))?"
    r"(?P<hash>#\s?)?$"
)
_ORDINAL_RE = re.compile(r"(?:st|nd|rd|th)(?![A-Za-z])")
_EXP_RE = re.compile(
    r"[eE](?P<e>[-+]?[0-9]{1,4})(?![0-9])"
    r"|\s?(?:[×xX*·]|\\times)\s?10\s?(?:\^|\*\*)\s?\(?(?P<p>[-+\u2212]?[0-9]{1,4})\)?(?![0-9])"
    r"|\s?[×xX·]\s?10(?P<sup>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)"
    r"|\s?(?:\^|\*\*)\s?(?P<pow>[-+\u2212]?[0-9]{1,3})(?![0-9])"
)
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_PERCENT_RE = re.compile(r"\s?(?:%|(?i:per\s?cent|percent)(?![A-Za-z]))")
_BASIS_POINTS_RE = re.compile(r"\s?(?:bps?|(?i:basis\s+points?))(?![A-Za-z])")
# A rate's period after the amount ("5% per month", "$20/h", "2 tablets a day", "2% p.a.", "weekly"), or
# as an adjective before it in its clause ("monthly fee of $20"): the same figure per another
# period is another figure.
_PERIODS = {
    "hour": "hour", "hr": "hour", "h": "hour", "hourly": "hour", "day": "day", "daily": "day",
    "week": "week", "wk": "week", "weekly": "week", "month": "month", "mo": "month", "monthly": "month",
    "quarter": "quarter", "qtr": "quarter", "quarterly": "quarter", "year": "year", "yr": "year",
    "annum": "year", "annual": "year", "annually": "year", "yearly": "year", "p.a.": "year", "pa": "year",
}
_PER_RE = re.compile(
    # "/h", "per month", or up to two lower-case words first ("2 tablets a day")
    r"\s*(?:(?:/|(?:(?!(?:per|an?|and|or|for|in|at|on|by|to|of)\b)[a-z]+\s+){0,2}(?i:per|a|an|each|every)\s+)"
    r"\s*(?P<unit>(?i:hour|hr|h|day|week|wk|month|mo|quarter|qtr|year|yr|annum))"
    r"|(?P<adj>(?i:hourly|daily|weekly|monthly|quarterly|annually|yearly)|p\.\s?a\.|pa))(?![A-Za-z])"
)
# A fall written in words before the amount: "fell 3%", "down by 2%", "a loss of $5m" read as
# "-3%", "-2%" and "-$5m" (what "rose 3%" and "fell 3%" differ in, and "-$5m" and "a loss of $5m" share).
_FALL_RE = re.compile(
    r"\b(?:fell|falls?|falling|dropped|drops?|dropping|declined|declines?|declining|decreased|decreases?|"
    r"decreasing|shrank|shrunk|shrinks?|slipped|slid|sank|plunged|plummeted|tumbled|down|lost|loses?|"
    r"loss|losses|deficit|shortfall|reduction)"
    r"(?:\s+(?:of|by|was|were|is|at))?\s*(?::\s*)?(?:about|approximately|roughly|nearly|almost|around|some|a|an)?\s*$",
    re.IGNORECASE,
)
_MAGNITUDES = {
    "thousand": 3, "k": 3, "tsd": 3, "lakh": 5, "crore": 7, "million": 6, "millions": 6, "millionen": 6,
    "mio": 6, "mn": 6, "m": 6, "billion": 9, "billions": 9, "bn": 9, "b": 9, "mrd": 9, "milliard": 9,
    "milliards": 9, "milliarde": 9, "milliarden": 9, "trillion": 12, "trillions": 12, "tn": 12,
}
_MAGNITUDE_RE = re.compile(
    r"\s?(?P<mag>(?i:thousand|millions?|millionen|billions?|milliard(?:s|e|en)?|trillions?|lakhs?|crores?|mio|mrd|tsd)"
    r"\.?|mn|bn|tn|[kKMB]|m)(?![A-Za-z])"
)
_CLOSE_RE = re.compile(r"\s*\)")
_ACCOUNTING_CUE_RE = re.compile(r"(?:^|[:=|\t\n]|\b(?:was|is|were|of|at|totall?ed))\s*$", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W\d_][\w'-]*")
_CLAUSE_RE = re.compile(r"[,;\n|()\x00]|\.\s|\b(?:and|or|but)\b")
_STOP = frozenset(
    "the a an is are was were be been of at to in on for by with about approx approximately roughly around "
    "nearly almost over under than from it its this that there these those which as so we i you he she they "
    "my our your his her their per just only some has have had now then here came got equals equal "
    "minus negative plus".split()
)
_YEAR_BEFORE = frozenset("in since from until till through by year circa before after during".split())
_YEAR_LABELS = frozenset(
    "founded born released built opened published established died launched married elected completed "
    "introduced invented discovered year started began ended signed created written premiered debuted".split()
)
_ID_WORDS = frozenset(
    "id no nr order invoice ticket ref reference account acct zip postcode postal code isbn version v phone "
    "tel serial sku pin flight case patient customer employee item room route bus model part tracking "
    "passport licence license claim policy booking confirmation reservation issue build".split()
)


def _style(tokens: list[str]) -> str:
    """'us' or 'eu': which mark is the decimal one in this answer (see the module docstring)."""
    eu = us = 0
    for token in tokens:
        runs = _SEP_RE.split(token)
        dots, commas = token.count("."), token.count(",")
        if dots and commas:
            eu, us = (eu + 1, us) if token.rfind(",") > token.rfind(".") else (eu, us + 1)
        elif commas == 1 and len(runs[-1]) != 3 and len(runs) == 2:
            eu += 1
        elif dots == 1 and len(runs[-1]) != 3 and len(runs) == 2:
            us += 1
        elif dots >= 2 and all(len(r) == 3 for r in runs[1:]):
            eu += 1
        elif commas >= 2 and all(len(r) == 3 for r in runs[1:]):
            us += 1
    return "eu" if eu > us else "us"


def _parse(token: str, style: str, money: bool) -> tuple[str, bool] | None:
    """The token as one plain decimal ("1234.56") and whether it was digit-grouped, or None
    when it is not one number in this style."""
    runs, seps = _SEP_RE.split(token), _SEP_RE.findall(token)
    if not seps:
        return token, False
    decimal, frac = _DECIMAL[style], None
    if seps[-1] == decimal:
        frac, runs, seps = runs[-1], runs[:-1], seps[:-1]
    if seps:
        if len(set(seps)) != 1 or seps[0] not in _GROUPERS[style]:
            return None
        if not _grouped(runs, seps[0]):
            return None
        # "in 2015 200 people" is two numbers; "1 000 000" (two groups) or "1 234,56 €" one;
        # a longer run ("100 101 102 103 104") is a list, not a figure past a trillion
        if seps[0] == " " and frac is None and not money and not 3 <= len(runs) <= 5:
            return None
    return "".join(runs) + (f".{frac}" if frac is not None else ""), bool(seps)


def _grouped(runs: list[str], sep: str) -> bool:
    """Digit runs grouped by thousands (1,234,567), or the Indian way by a comma (1,00,000;
    12,34,56,789: the last group three digits, the others two)."""
    if 1 <= len(runs[0]) <= 3 and all(len(r) == 3 for r in runs[1:]):
        return True
    return sep == "," and len(runs) >= 3 and 1 <= len(runs[0]) <= 2 and len(runs[-1]) == 3 and all(
        len(r) == 2 for r in runs[1:-1])


def _pieces(token: str, style: str, money: bool) -> list[tuple[int, str, str, bool]]:
    """(offset, raw text, plain decimal, grouped) for each number in a token: one when the
    token reads as one number in the answer's style (or the other), else its parts split at
    spaces, then commas, then apostrophes and dots ("1,2,3" is three numbers)."""
    for each in (style, "eu" if style == "us" else "us"):
        parsed = _parse(token, each, money)
        if parsed is not None:
            return [(0, token, *parsed)]
    for splitter in (r"[ \u00a0\u202f\u2009]", ",", r"['’.]"):
        if re.search(splitter, token):
            out: list[tuple[int, str, str, bool]] = []
            offset = 0
            for part in re.split(f"({splitter})", token):
                if part and part[0].isdigit():
                    out.extend((offset + o, raw, plain, g) for o, raw, plain, g in _pieces(part, style, money))
                offset += len(part)
            return out
    return [(0, token, token, False)]


def _label(text: str, start: int, end: int, floor: int) -> tuple[str | None, list[str]]:
    """The label of the number at [start, end) and the content words before it in its clause."""
    head = text[floor:start]
    cut = None
    for cut in _CLAUSE_RE.finditer(head):
        pass
    before = [w.lower() for w in _WORD_RE.findall(head[cut.end() if cut else 0:])]
    content = [w for w in before if w not in _STOP and w.upper() not in CURRENCIES]
    if content:
        return content[-1], before
    tail = text[end:end + 40]
    stop = _CLAUSE_RE.search(tail)
    after = [w.lower() for w in _WORD_RE.findall(tail[: stop.start() if stop else len(tail)])]
    return next((w for w in after if w not in _STOP and w.upper() not in CURRENCIES), None), before


@dataclass(slots=True)
class _Suffix:
    """What follows a number's digits, read left to right; `end` is where it stops."""

    end: int
    exponent: int = 0
    power: int | None = None
    ordinal: bool = False
    percent: bool = False
    basis_points: bool = False
    magnitude: int = 0
    currency: str | None = None
    cents: bool = False
    unit: Unit | None = None
    close: bool = False


_UNIT_AFTER_RE = re.compile(rf"\s?(?:{UNIT_RE.pattern})")
_ERA_RE = re.compile(r"\s?(?:AD|BC|BCE|CE)\b")


def _suffix(text: str, end: int, money: bool) -> _Suffix:
    """Ordinal suffix, exponent, percent, magnitude, currency or cents, unit, and a closing
    parenthesis after the digits at `end`."""
    s = _Suffix(end)

    def take(pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(text, s.end)
        if found:
            s.end = found.end()
        return found

    if take(_ORDINAL_RE):
        s.ordinal = True
        return s
    if exp := take(_EXP_RE):
        if exp["pow"]:
            s.power = int(exp["pow"].replace("\u2212", "-"))
        else:
            s.exponent = int((exp["e"] or exp["p"] or (exp["sup"] or "").translate(_SUPERSCRIPT)).replace("\u2212", "-"))
    s.percent = bool(take(_PERCENT_RE))
    s.basis_points = not s.percent and bool(take(_BASIS_POINTS_RE))
    mag = _MAGNITUDE_RE.match(text, s.end)
    if mag and (mag["mag"] != "m" or money) and not s.percent:
        word = mag["mag"].lower().rstrip(".")
        s.magnitude, s.end = _MAGNITUDES.get(word) or _MAGNITUDES[word.rstrip("s")], mag.end()
    if not money and (cur := take(CURRENCY_AFTER_RE)):
        s.currency = CURRENCIES[cur.group().strip()]
    elif not money and take(CENTS_RE):
        s.cents = True
    if not (money or s.currency or s.cents or s.percent) and (unit := take(_UNIT_AFTER_RE)):
        s.unit = unit_named(unit.group().strip())
    s.close = bool(take(_CLOSE_RE))
    return s


def _negative(text: str, start: int, before: str, prefix: re.Match[str], s: _Suffix, grouped: bool, frac: bool) -> bool:
    """Whether the number starting at `start` is negative: a sign that touches it (and no
    letter or digit before the sign), or accounting parentheses around a labelled amount."""
    if prefix["sign2"] and prefix["sign2"] in _MINUS:
        return True
    sign = "sign" if prefix["sign"] else "bare"
    if prefix[sign] and prefix[sign] in _MINUS:
        at = start - len(before) + prefix.start(sign)
        if not (at > 0 and (text[at - 1].isalnum() or text[at - 1] in ".,")):
            return True
    if prefix["open"] and s.close and (prefix["cur"] or s.currency or grouped or frac):
        at = start - len(before) + prefix.start("open")
        head = text[:at]
        return not head.strip() or bool(_ACCOUNTING_CUE_RE.search(head[-40:]))
    if prefix["sign"] or prefix["sign2"] or prefix["bare"]:
        return False  # "fell by +3%" is odd, but the written sign wins
    at = start - len(before) + prefix.start()
    return bool(_FALL_RE.search(text[max(0, at - 40):at]))


def _exact(raw: str, value: Decimal, s: _Suffix, money: bool, hashed: bool, label: str | None, before: list[str],
           era: bool) -> tuple[object, ...] | None:
    """The exact-match key of a date-like number (ordinal, id, year), else None."""
    if s.ordinal and raw.isdigit():
        return ("ordinal", int(raw))
    plain = not (money or s.currency or s.cents or s.unit or s.magnitude or s.percent or s.basis_points
                 or s.exponent or s.power)
    if plain and (hashed or _ID_WORDS.intersection(before)):
        return ("id", raw)
    if not plain or not raw.isdigit():
        return None
    if len(raw) > 1 and raw[0] == "0":
        return ("id", raw)
    year_cue = (before and before[-1] in _YEAR_BEFORE) or label in _YEAR_LABELS or era
    if len(raw) >= 5 or (len(raw) == 4 and 1000 <= value <= 2999 and year_cue):
        return ("n", value)
    return None


def _reading(text: str, start: int, end: int, floor: int, raw: str, plain: str, grouped: bool) -> tuple[Reading, int]:
    """The reading of the digits at [start, end) and where its suffix ends."""
    before = text[max(floor, start - 16):start]
    prefix = _BEFORE_RE.search(before)
    assert prefix is not None  # every group is optional and the pattern is anchored at the end
    money = bool(prefix["cur"])
    s = _suffix(text, end, money)
    value = Decimal(plain)
    if s.power is not None and abs(s.power) <= 400:
        value = _EXACT.power(value, s.power)
    scale = s.exponent + s.magnitude - (2 if s.percent else 0) - (4 if s.basis_points else 0) - (2 if s.cents else 0)
    if scale:
        value = value.scaleb(scale, context=_EXACT)
    if _negative(text, start, before, prefix, s, grouped, "." in plain):
        value = value.copy_negate()
    label, words = _label(text, start, s.end, floor)
    era = bool(_ERA_RE.match(text, s.end))
    key = _exact(raw, value, s, money, bool(prefix["hash"]), label, words, era)
    currency = CURRENCIES[prefix["cur"]] if money else s.currency
    per, s.end = _period(text, s.end, words)
    return Reading(value, key, s.unit, currency, label, per, s.percent or s.basis_points), s.end


def _period(text: str, end: int, before: list[str]) -> tuple[str | None, int]:
    """The period a rate at `end` is per, and where its words end: after the amount, else an
    adjective before it in its clause ("monthly fee of $20")."""
    found = _PER_RE.match(text, end)
    if found:
        word = (found["unit"] or found["adj"]).lower().replace(" ", "")
        return _PERIODS[word], found.end()
    adjective = next((w for w in reversed(before) if w in _PERIODS and w.endswith(("ly", "annual"))), None)
    return (_PERIODS[adjective] if adjective else None), end


def read_numbers(text: str) -> list[Reading]:
    """Every number in `text` as a reader means it, in order (see the module docstring)."""
    blanked, dates = find_dates(spell_out(text))
    cores = list(_CORE_RE.finditer(blanked))
    style = _style([m.group() for m in cores])
    found: list[tuple[int, Reading]] = [(pos, Reading(Decimal(0), key)) for pos, key in dates]
    floor = 0
    for core in cores:
        if core.start() < floor:  # inside the previous number's suffix ("× 10^23")
            continue
        head = _BEFORE_RE.search(blanked[max(0, core.start() - 16):core.start()])
        money = bool(head and head["cur"]) or bool(CURRENCY_AFTER_RE.match(blanked, core.end()))
        for offset, raw, plain, grouped in _pieces(core.group(), style, money):
            start = core.start() + offset
            try:
                reading, floor = _reading(blanked, start, start + len(raw), floor, raw, plain, grouped)
            except (InvalidOperation, OverflowError, ValueError):
                continue
            found.append((start, reading))
    found.sort(key=lambda item: item[0])
    return [reading for _, reading in found]

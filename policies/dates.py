"""Dates and times in an answer: found before its numbers are read, so "2024-03-15",
"15 March 2024", "March 15, 2024", "15.03.2024" and "10:30 pm" are each one value that must
match exactly, never three numbers within a relative tolerance.

Hand-written because dateparser parses one date per string (it cannot find several in
prose) and costs milliseconds per call; the forms here are the ones answers use.
"""

from __future__ import annotations

import re
from typing import Iterator

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}
# "may" is a month only capitalised ("you may 3 times" is no date).
_MONTH = "(?:" + "|".join(f"(?i:{m})" for m in sorted(set(_MONTHS) - {"may"}, key=len, reverse=True)) + "|May)"
_DAY = r"(?P<d>[0-3]?[0-9])(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>[12][0-9]{3})"
_FORMS = (
    ("iso", re.compile(rf"(?<![0-9.\-]){_YEAR}-(?P<m>[01]?[0-9])-(?P<d>[0-3]?[0-9])(?![0-9])")),
    ("dmy", re.compile(rf"(?<![0-9.,]){_DAY}(?:\s+of)?\s+(?P<mon>{_MONTH})\.?(?:,?\s+{_YEAR})?(?![0-9A-Za-z])")),
    ("mdy", re.compile(rf"(?<![A-Za-z])(?P<mon>{_MONTH})\.?\s+{_DAY}(?![0-9A-Za-z])(?:,?\s+{_YEAR}(?![0-9]))?")),
    ("my", re.compile(rf"(?<![A-Za-z])(?P<mon>{_MONTH})\.?,?\s+{_YEAR}(?![0-9])")),
    ("dotted", re.compile(r"(?<![0-9.,])(?P<d>[0-3]?[0-9])\.(?P<m>[01]?[0-9])\.(?P<y>[0-9]{4}|[0-9]{2})(?![0-9]|[.,][0-9])")),
    ("slashed", re.compile(r"(?<![0-9/])(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})/(?P<c>[0-9]{4}|[0-9]{2})(?![0-9/])")),
    ("time", re.compile(
        r"(?<![0-9:.,])(?P<h>[0-2]?[0-9]):(?P<min>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?"
        r"(?:\s*(?P<ap>[AaPp])\.?[Mm]\.?(?![A-Za-z]))?(?![0-9:])"
    )),
    ("hour", re.compile(r"(?<![0-9.,:])(?P<h>[01]?[0-9])\s*(?P<ap>[AaPp])\.?[Mm]\.?(?![A-Za-z])")),
)
BLANK = "\x00"  # fills a found date's span so its digits are not read again as numbers


def _hour(hour: str, ampm: str | None) -> int:
    h = int(hour)
    if ampm and ampm.lower() == "p" and h < 12:
        return h + 12
    if ampm and ampm.lower() == "a" and h == 12:
        return 0
    return h


def _key(form: str, m: re.Match[str]) -> tuple[object, ...] | None:
    """What the date or time means, comparable with ==; None when it is not a real one."""
    if form == "slashed":  # 03/04/2024: day-month or month-day; both sides must write it alike
        return ("date/", int(m["a"]), int(m["b"]), int(m["c"]))
    if form in ("time", "hour"):
        hour = _hour(m["h"], m["ap"])
        minute = int(m["min"]) if form == "time" else 0
        second = int(m["s"]) if form == "time" and m["s"] else 0
        return ("time", hour, minute, second) if hour < 24 else None
    groups = m.groupdict()
    month = _MONTHS[groups["mon"].lower()] if groups.get("mon") else int(m["m"])
    day = int(groups["d"]) if groups.get("d") else None
    year = int(groups["y"]) if groups.get("y") else None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return ("date", year, month, day)


def find_dates(text: str) -> tuple[str, list[tuple[int, tuple[object, ...]]]]:
    """`text` with every date and time blanked out, and (position, key) for each one."""
    found: list[tuple[int, tuple[object, ...]]] = []
    if not any(ch.isdigit() for ch in text):
        return text, found
    for form, pattern in _FORMS:
        for m in _matches(pattern, text):
            key = _key(form, m)
            if key is not None:
                found.append((m.start(), key))
                text = text[: m.start()] + BLANK * (m.end() - m.start()) + text[m.end():]
    found.sort(key=lambda item: item[0])
    return text, found


def _matches(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    return iter(list(pattern.finditer(text)))  # collected first: the caller rewrites text

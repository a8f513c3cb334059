"""Numbers written in English words, rewritten as digits before the numbers are read:
"forty-two" -> "42", "three hundred and sixty-five" -> "365", "twelve dollars and fifty
cents" -> "12.50 dollars", "minus 3.2" -> "-3.2", "third" -> "3rd", "a dozen" -> "12",
"half of" -> "0.5 of", "two and a half" -> "2.5".

Hand-written because word2number reads "twelve dollars and fifty cents" as 62, raises on
text without a number and finds one number per text; number-parser pulls in a language
model of its own. English only.
"""

from __future__ import annotations

import re

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
# "second" is left out: "5 seconds" and "a second opinion" are far more common than a rank.
_ORDINALS = {
    "first": 1, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
    "fortieth": 40, "fiftieth": 50, "hundredth": 100,
}
_WORDS = {**_UNITS, **_TENS, **_SCALES}
_ANY = "|".join(sorted([*_WORDS, *_ORDINALS, "a", "an", "and"], key=len, reverse=True))
_RUN_RE = re.compile(rf"\b(?:{_ANY})(?:(?:[\s-]+|\s+and\s+)(?:{_ANY}))*\b", re.IGNORECASE)
# "one" is a pronoun after these words ("no one", "this one") and before "another".
_PRONOUN_BEFORE_RE = re.compile(r"\b(?:no|any|every|some|this|that|which|each|the|last|next|little)\s+$", re.IGNORECASE)
_MINUS_RE = re.compile(r"(?<![\w.,])(?:minus|negative)\s+(?=[.\d]|[^\w\s]{1,3}\s?\d|[A-Z]{3}\s?\d)", re.IGNORECASE)
_MONEY_RE = re.compile(
    r"\b(\d+)\s+(dollars?|euros?|pounds?(?:\s+sterling)?)\s*(?:,\s*|\s+and\s+)(\d{1,2})\s+(?:cents?|pence|p)\b",
    re.IGNORECASE,
)
_DOZEN_RE = re.compile(r"\b(?:an?\s+|one\s+)?dozens?\b", re.IGNORECASE)
# "half" as an amount: "half a million", "two and a half", "a half", "half of", "half the". Not
# "the first half" or "half-time": there it names a part, not 0.5 of something stated.
_HALF_SCALE_RE = re.compile(r"\bhalf\s+an?\s+(thousand|million|billion|trillion)\b", re.IGNORECASE)
_ONE_HALF_RE = re.compile(r"(?<![\w-])one\s+half(?![\w-])", re.IGNORECASE)
_AND_A_HALF_RE = re.compile(r"\b(\d+)\s+and\s+a\s+half\b", re.IGNORECASE)
_HALF_RE = re.compile(
    r"(?<![\w-])(?:(?:a|one)\s+half|half(?=\s+(?:of|the|an?|its|their|his|her|our|your|all|that|this|those|these)\b))"
    r"(?![\w-])",
    re.IGNORECASE,
)
_ORD_SUFFIX = {1: "st", 2: "nd", 3: "rd"}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else _ORD_SUFFIX.get(n % 10, "th")
    return f"{n}{suffix}"


def _value(words: list[str]) -> tuple[int, bool] | None:
    """The number a run of number words says, and whether it ends as an ordinal; None when
    the words are no number ("a", "and", or a scale with nothing to scale)."""
    total, current, seen, ordinal = 0, 0, False, False
    for i, word in enumerate(words):
        if word in ("a", "an"):
            if i + 1 < len(words) and words[i + 1] in _SCALES:  # "a hundred", "a million"
                current, seen = 1, True
                continue
            return None
        if word == "and":
            continue
        if word in _ORDINALS and i == len(words) - 1:
            current, seen, ordinal = current + _ORDINALS[word], True, True
        elif word in _UNITS or word in _TENS:
            current += _WORDS[word]
            seen = True
        elif word in _SCALES and seen:
            scale = _SCALES[word]
            if scale == 100:
                current = (current or 1) * 100
            else:
                total, current = total + (current or 1) * scale, 0
        else:
            return None
    return (total + current, ordinal) if seen else None


def _segments(spans: list[tuple[str, int, int]]) -> list[list[tuple[str, int, int]]]:
    """A run of number words cut where one number ends and the next begins: at "and" not
    after a scale ("one and two" is 1 and 2; "three hundred and five" is one number) and
    where two small numbers touch ("five six")."""
    segments: list[list[tuple[str, int, int]]] = [[]]
    for word, start, end in spans:
        prev = segments[-1][-1][0] if segments[-1] else None
        if word == "and" and prev not in _SCALES:
            segments.append([])
            continue
        if (prev in _UNITS and (word in _UNITS or word in _TENS)) or (prev in _TENS and word in _TENS):
            segments.append([])
        segments[-1].append((word, start, end))
    return segments


def _runs(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _RUN_RE.finditer(text):
        spans = [(w.group().lower(), match.start() + w.start(), match.start() + w.end())
                 for w in re.finditer(r"[A-Za-z]+", match.group())]
        for segment in _segments(spans):
            while segment and segment[-1][0] in ("and", "a", "an"):  # "two and a half": "and a" stay
                segment.pop()
            if not segment:
                continue
            words = [word for word, _, _ in segment]
            if words == ["one"] and _pronoun(text, segment[0][1], segment[-1][2]):
                continue
            read = _value(words)
            if read is None:
                continue
            out.append(text[pos:segment[0][1]])
            out.append(_ordinal(read[0]) if read[1] else str(read[0]))
            pos = segment[-1][2]
    out.append(text[pos:])
    return "".join(out)


def _pronoun(text: str, start: int, end: int) -> bool:
    return bool(_PRONOUN_BEFORE_RE.search(text[max(0, start - 12):start])) or text[end:end + 8].lower().startswith(
        (" another", " of ")
    )


# "the first half", "the second half", "the other half": a part named, not 0.5 of something
_PART_BEFORE_RE = re.compile(r"(?:\b(?:1st|2nd|first|second|last|latter|former|other|top|bottom|upper|lower|back|front)"
                             r"|\d(?:st|nd))\s+$", re.IGNORECASE)


def _half(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 12):match.start()]
    return match.group() if _PART_BEFORE_RE.search(before) else "0.5"


def spell_out(text: str) -> str:
    """`text` with numbers in words rewritten as digits, "minus"/"negative" before a
    number as "-", "N dollars and M cents" as "N.MM dollars", and "half" as an amount
    ("two and a half" -> "2.5", "half of" -> "0.5 of")."""
    text = _DOZEN_RE.sub("12", text)
    text = _HALF_SCALE_RE.sub(lambda m: f"0.5 {m[1]}", text)
    text = _ONE_HALF_RE.sub("0.5", text)  # before "one" becomes "1"
    if _RUN_RE.search(text):
        text = _runs(text)
    text = _AND_A_HALF_RE.sub(lambda m: f"{m[1]}.5", text)
    text = _HALF_RE.sub(_half, text)
    text = _MONEY_RE.sub(lambda m: f"{m[1]}.{int(m[3]):02d} {m[2]}", text)
    return _MINUS_RE.sub("-", text)

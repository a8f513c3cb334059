"""The exact and normalized comparators: text folded for comparison without erasing what
it means.

Folding: NFKC, Unicode case folding (with the dot of a Turkish "İ" dropped, so "İstanbul"
matches "istanbul"), zero-width characters dropped, punctuation and markdown decoration
turned into spaces, whitespace collapsed, leading articles and "the" before a word
dropped. Kept, because they carry meaning: single letters ("A" vs "D", "Hepatitis A"),
signs touching a number ("-5" vs "5"), mathematical, currency and other symbols ("C++" vs
"C#", "<" vs ">", "$", "°") and the marks # % & @ § † (a "#" starting a markdown
heading, or before a number, "#5" = "5", is decoration). Accents are kept: "año" is not "ano".
Dotted abbreviations are one word ("U.S.A." = "USA", "e.g." = "eg"). Emoji and check marks
beside an answer ("✅ Paris") are decoration; a cross (❌ ✗ 🚫) may negate it and is kept.
"""

from __future__ import annotations

import re
import unicodedata

_ARTICLES = frozenset({"a", "an", "the"})
_KEPT_MARKS = frozenset("#%&@§†‡‰")
_MINUS = frozenset("-\u2212\u2010\u2011")
_COMBINING_DOT = "\u0307"
# Letters each followed by a dot, two or more: "U.S.A.", "e.g.", "U.S." (not "St. Louis").
_DOTTED_RE = re.compile(r"(?<![\w.])(?:[^\W\d_]\.){2,}(?![^\W\d_]\b)|(?<![\w.])(?:[^\W\d_]\.)+[^\W\d_](?![\w.])")
_CROSSES = frozenset("❌✗✘❎🚫⛔✖")
_VARIATION = frozenset("\ufe0e\ufe0f")


def _decoration(ch: str) -> bool:
    """Emoji, check marks and dingbats: what a chat answer puts beside its content."""
    if ch in _CROSSES:
        return False
    code = ord(ch)
    return (0x2600 <= code <= 0x27BF or 0x1F000 <= code <= 0x1FAFF or 0x2B00 <= code <= 0x2BFF
            or code in (0x2705, 0x2714, 0x2713, 0x2611, 0x1F5F8))


def _undot(text: str) -> str:
    """Dotted abbreviations as one word, and emoji variation selectors dropped (a mark
    category, they would otherwise stick to the word before them)."""
    text = "".join(ch for ch in text if ch not in _VARIATION)
    return _DOTTED_RE.sub(lambda m: m.group().replace(".", ""), text)


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNM"


def _kept_symbol(text: str, i: int) -> bool:
    ch = text[i]
    category = unicodedata.category(ch)
    if ch == "#":  # a markdown heading marker: "# Title" at a line start; "#5" is the number 5
        line_start = i == 0 or text[:i].rstrip(" \t").endswith("\n") or not text[:i].strip()
        heading = line_start and text[i + 1:i + 2] in (" ", "#")
        numbered = text[i + 1:i + 2].isdigit() and not (i and _is_word_char(text[i - 1]))
        return not (heading or numbered)
    if _decoration(ch):
        return False
    return ch in _KEPT_MARKS or category in ("Sm", "Sc", "So")


def _tokens(text: str) -> list[str]:
    """Words (letters, digits, marks; a touching minus sign leads its number) and kept
    symbols, one token each, in order."""
    tokens: list[str] = []
    word: list[str] = []
    for i, ch in enumerate(text):
        if _is_word_char(ch):
            word.append(ch)
            continue
        if unicodedata.category(ch) == "Cf":  # zero-width space, joiners: invisible
            continue
        if word:
            tokens.append("".join(word))
            word = []
        nxt = text[i + 1:i + 2]
        if ch in _MINUS and nxt.isdigit() and not (i and _is_word_char(text[i - 1])):
            word.append("-")
        elif _kept_symbol(text, i):
            tokens.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


def _fold(token: str) -> str:
    folded = unicodedata.normalize("NFKC", token.casefold())
    return folded.replace("i" + _COMBINING_DOT, "i") if _COMBINING_DOT in folded else folded


def _drop_articles(tokens: list[str]) -> list[str]:
    """ "the" before a word anywhere, and a/an/the leading the answer before a word; an
    "a" inside the text may be a letter ("Option A is correct") and stays."""
    def word_follows(i: int) -> bool:
        return i + 1 < len(tokens) and _is_word_char(tokens[i + 1][0])

    kept = [t for i, t in enumerate(tokens) if not (t == "the" and word_follows(i))]
    while kept and kept[0] in _ARTICLES and len(kept) > 1 and _is_word_char(kept[1][0]):
        kept.pop(0)
    return kept


def normalize_text(text: str) -> str:
    """`text` folded for comparison (see the module docstring)."""
    tokens = [_fold(t) for t in _tokens(_undot(unicodedata.normalize("NFKC", text)))]
    return " ".join(_drop_articles([t for t in tokens if t]))


def exact_equal(a: str, b: str) -> bool:
    """True when the answers are identical apart from leading and trailing whitespace."""
    return a.strip() == b.strip()


def normalized_equal(a: str, b: str) -> bool:
    """True when the answers are identical after `normalize_text` and not empty: two
    answers with nothing to compare ("", "...") show no agreement."""
    left = normalize_text(a)
    return bool(left) and left == normalize_text(b)

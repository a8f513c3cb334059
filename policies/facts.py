"""Facts two answers must share before an embedding may call them the same: numbers (with
units and dates, read by `numbers`), month and weekday names, negation, antonyms, names
and who did what to whom. Embedding cosine measures topic, not sameness ("acquired" with
the roles swapped scores 0.95), so the semantic comparator asks `fact_mismatch` first and
only a clean result goes on to the cosine. Pure and English-only.

What it cannot see: synonyms it does not list, implications ("not open" vs "closed" is
left to the cosine: a negation and an antonym cancel), comparatives turned around with an
antonym ("X is closer than Y" vs "Y is farther than X" reads as swapped roles), a name at
a sentence start that appears nowhere else (it may be any capitalised word), quantities
given only in one answer (an omission, not a contradiction: the cosine decides).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from crosswalk.policies.compare_numbers import same_reading
from crosswalk.policies.facts_bindings import bindings, swapped
from crosswalk.policies.facts_lexicon import (
    COMMON_CAPITALISED,
    CALENDAR_WORDS,
    EXCLUSIVE,
    NEGATORS,
    PHRASE_POLES,
    POLES,
    STOPWORDS,
    SYMMETRIC,
    TIMES_WORDS,
)
from crosswalk.policies.numbers import Reading, read_numbers

_TOL = Decimal("0.005")
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_RE = re.compile(r"(?<=[.!?;:])\s+|\n+")
_PASSIVE_RE = re.compile(r"\b(?:is|are|was|were|be|been|being|gets?|got)\s+(?:\w+\s+){0,2}?\w+\s+by\s*$", re.IGNORECASE)
_ANY_PASSIVE_RE = re.compile(r"\b(?:is|are|was|were|been|being|gets?|got)\s+(?:\w+ly\s+)?\w+\s+by\b", re.IGNORECASE)
_DIRECTED = frozenset({"to", "from", "than", "into", "onto"})
_CLAUSE_JOINERS = frozenset({"and", "but", "while", "whereas"})
_COPULA_RE = re.compile(r"\b(?:is|are|was|were|be|been|being)\b", re.IGNORECASE)
_FAILED_TO_RE = re.compile(r"\b(?:fail(?:s|ed)?|unable|refuse[sd]?|declined?)\s+to\b", re.IGNORECASE)
_NOT_ONLY_RE = re.compile(r"\bnot\s+(?:only|just|merely)\b", re.IGNORECASE)


def fact_mismatch(a: str, b: str) -> str | None:
    """The first fact on which two answers differ, as a short reason ("numbers differ: 2 vs
    3"), or None when no check sees a difference (the cosine decides then)."""
    for check in (_numbers, _calendar, _polarity, _classes, _names, _changed_name, _roles, _attributes):
        reason = check(a, b)
        if reason:
            return reason
    return None


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD_RE.findall(text)]


# --- numbers and dates -------------------------------------------------------------------------


def _readings(text: str) -> list[Reading]:
    found = read_numbers(text)
    for word in _words(text):  # "twice" is a count numbers.py leaves alone
        if word in TIMES_WORDS:
            found.append(Reading(Decimal(TIMES_WORDS[word])))
    return found


def _shown(r: Reading) -> str:
    if r.exact is not None and r.exact[0] in ("date", "time"):
        return "-".join(str(p) for p in r.exact[1:] if p is not None)
    unit = f" {r.unit.symbol}" if r.unit else ""
    return f"{r.currency + ' ' if r.currency else ''}{r.value.normalize():f}{unit}"


def _same_number(x: Reading, y: Reading) -> bool:
    if same_reading(x, y, _TOL, Decimal(0)):
        return True
    # "the third floor" is "floor three"; "two times" is no id: the value is what was said
    calendar = {"date", "date/", "time"}
    return (x.value == y.value and (x.exact or ("",))[0] not in calendar and (y.exact or ("",))[0] not in calendar
            and x.unit == y.unit and x.currency == y.currency)


def _numbers(a: str, b: str) -> str | None:
    """Each answer states a number (amount, date, year) the other does not."""
    xs, ys = _readings(a), _readings(b)
    only_a = [x for x in xs if not any(_same_number(x, y) for y in ys)]
    only_b = [y for y in ys if not any(_same_number(x, y) for x in xs)]
    if only_a and only_b:
        return f"numbers differ: {_shown(only_a[0])} vs {_shown(only_b[0])}"
    return None


def _classes(a: str, b: str) -> str | None:
    """Members of one closed class that differ ("by rail" vs "by air", "red" vs "blue")."""
    wa, wb = set(_words(a)), set(_words(b))
    for name, members in EXCLUSIVE.items():
        xs, ys = wa & members, wb & members
        if xs - ys and ys - xs:
            return f"{name} differs: {sorted(xs - ys)[0]} vs {sorted(ys - xs)[0]}"
    return None


def _calendar(a: str, b: str) -> str | None:
    """Month or weekday names that differ ("in October" vs "in November" has no digits)."""
    xs = {w for w in _words(a) if w in CALENDAR_WORDS}
    ys = {w for w in _words(b) if w in CALENDAR_WORDS}
    if xs - ys and ys - xs:
        return f"dates differ: {sorted(xs - ys)[0]} vs {sorted(ys - xs)[0]}"
    return None


# --- negation and antonyms ---------------------------------------------------------------------


def _negations(text: str) -> int:
    plain = _NOT_ONLY_RE.sub(" ", text)
    words = _words(plain)
    count = sum(1 for w in words if w in NEGATORS or w.endswith("n't"))
    return count + len(_FAILED_TO_RE.findall(plain))


_PHRASES = {axis: (re.compile(first, re.IGNORECASE), re.compile(second, re.IGNORECASE))
            for axis, (first, second) in PHRASE_POLES.items()}


def _phrased(text: str) -> tuple[str, dict[str, set[int]]]:
    """`text` with the phrase opposites ("with food", "on an empty stomach") blanked out,
    and the poles they stand for."""
    found: dict[str, set[int]] = {}
    for axis, patterns in _PHRASES.items():
        for pole, pattern in enumerate(patterns):
            text, n = pattern.subn(" ", text)
            if n:
                found.setdefault(axis, set()).add(pole)
    return text, found


def _poles(text: str, found: dict[str, set[int]]) -> dict[str, set[int]]:
    for word in _words(text):
        pole = POLES.get(word)
        if pole is not None:
            found.setdefault(pole[0], set()).add(pole[1])
    return found


def _polarity(a: str, b: str) -> str | None:
    """A negation on one side only, or an antonym pair ("raises" vs "lowers"); one of each
    cancels ("is not open" vs "is closed"), which the cosine then judges."""
    flips: list[str] = []
    (a, phrases_a), (b, phrases_b) = _phrased(a), _phrased(b)
    if _negations(a) % 2 != _negations(b) % 2:
        flips.append("one answer negates what the other affirms")
    pa, pb = _poles(a, phrases_a), _poles(b, phrases_b)
    for axis in sorted(set(pa) & set(pb)):
        if len(pa[axis]) == 1 and len(pb[axis]) == 1 and pa[axis] != pb[axis]:
            flips.append(f"opposites: {axis}")
    if len(flips) % 2:
        return flips[0] if len(flips) == 1 else "; ".join(flips)
    return None


# --- names and roles ---------------------------------------------------------------------------


class Name(NamedTuple):
    """A run of capitalised words: `key` folded for matching, `shown` as written."""

    key: tuple[str, ...]
    shown: str


def _key(span: list[str]) -> tuple[str, ...]:
    out = []
    for word in span:
        w = word.lower().replace("’", "'")
        w = w[:-2] if w.endswith("'s") else w
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return tuple(out)


def _lone(run: list[str], start: int, known: set[str] | frozenset[str]) -> bool:
    """A single word that is no name: a capital letter alone (a unit or label: "°C",
    "option B"), or a sentence's first word not known to be a name."""
    if len(run) != 1:
        return False
    return len(run[0]) == 1 or (start == 0 and run[0].lower() not in known)


def _spans(sentence: str, elsewhere_capital: set[str], also_names: frozenset[str] = frozenset()) -> list[tuple[int, Name]]:
    """(word index, name key) of each run of capitalised words in one sentence. The first
    word of a sentence is a name only when a capitalised word follows it or it is written
    capitalised mid-sentence somewhere (else "Dogs" and "Chocolate" would be names), or
    is one of `also_names`."""
    words = _WORD_RE.findall(sentence)
    spans: list[tuple[int, Name]] = []
    run: list[str] = []
    start = 0
    for i, word in enumerate([*words, ""]):
        capital = bool(word) and word[0].isupper() and word.lower() not in COMMON_CAPITALISED
        if capital and i == 0 and word.lower() in STOPWORDS:
            capital = False
        if capital:
            if not run:
                start = i
            run.append(word)
            continue
        if run and not _lone(run, start, elsewhere_capital | also_names):
            spans.append((start, Name(_key(run), " ".join(run))))
        run = []
    return spans


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_RE.split(text) if s.strip()]


def _mid_capitals(*texts: str) -> set[str]:
    found = set()
    for text in texts:
        for sentence in _sentences(text):
            for word in _WORD_RE.findall(sentence)[1:]:
                if word[0].isupper():
                    found.add(word.lower())
    return found


def _name_set(text: str, capitals: set[str]) -> list[Name]:
    return [name for s in _sentences(text) for _, name in _spans(s, capitals) if name.key[0] not in CALENDAR_WORDS]


def _matches(x: Name, y: Name) -> bool:
    # "Curie" names "Marie Curie"; "East African" is "East Africa"
    if x.key == y.key or set(x.key) <= set(y.key) or set(y.key) <= set(x.key):
        return True
    return len(x.key) == len(y.key) and all(p == q or (min(len(p), len(q)) >= 4 and (p.startswith(q) or q.startswith(p)))
                                            for p, q in zip(x.key, y.key))


def _names(a: str, b: str) -> str | None:
    """Each answer names someone or something the other does not ("Fleming" vs "Pasteur");
    a name only one answer adds is left to the cosine."""
    capitals = _mid_capitals(a, b)
    xs, ys = _name_set(a, capitals), _name_set(b, capitals)
    only_a = [x for x in xs if not any(_matches(x, y) for y in ys)]
    only_b = [y for y in ys if not any(_matches(x, y) for x in xs)]
    if only_a and only_b:
        return f"names differ: {only_a[0].shown} vs {only_b[0].shown}"
    return None


Relation = tuple[Name, Name, frozenset[str]]


def _relations(text: str, capitals: set[str], starters: frozenset[str]) -> list[Relation]:
    """(first name, second name, the content words between them) for each pair of names
    in a sentence, the passive "Y was acquired by X" turned round to (X, Y, {acquired})."""
    out: list[Relation] = []
    for sentence in _sentences(text):
        words = _WORD_RE.findall(sentence)
        spans = _spans(sentence, capitals, starters)
        for i, (start_x, x) in enumerate(spans):
            for start_y, y in spans[i + 1:]:
                between = words[start_x + len(x.key):start_y]
                if _two_clauses(between):
                    continue
                # the first content word links them (a verb, "closer"): later ones are objects
                # else a direction word: "from Dublin to London" is not "from London to Dublin"
                first = next((w.lower() for w in between if w.lower() not in STOPWORDS), "")
                first = first or next((w.lower() for w in between if w.lower() in _DIRECTED), "")
                link = frozenset([first]) - {""}
                out.append((y, x, link) if _PASSIVE_RE.search(" ".join(between)) else (x, y, link))
    return out


def _starters(a: str, b: str) -> frozenset[str]:
    """Capitalised words written nowhere in lower case: at a sentence's start they may be
    names ("Google acquired YouTube"). A role or a binding needs the same name on both
    sides, so this guess is safe there."""
    lower = {w for w in _WORD_RE.findall(a + " " + b) if w.islower()}
    return frozenset(w.lower() for w in _WORD_RE.findall(a + " " + b)
                     if w[:1].isupper() and w.lower() not in lower and w.lower() not in STOPWORDS)


def _attributes(a: str, b: str) -> str | None:
    """Two entities' attributes traded between the answers (`facts_bindings`)."""
    capitals, starters = _mid_capitals(a, b), _starters(a, b)

    def names_of(clause: str) -> list[str]:
        return [name.key[-1] for _, name in _spans(clause, capitals, starters)]

    pair = swapped(bindings(a, names_of), bindings(b, names_of))
    return f"attributes swapped between {pair[0]} and {pair[1]}" if pair else None


def _two_clauses(between: list[str]) -> bool:
    """Words between two names that end one clause and start another ("Tom plays the violin
    and Sara ..."): a conjunction after a content word. "Tom and Sara met" is one clause."""
    seen_content = False
    for word in between:
        w = word.lower()
        if w in _CLAUSE_JOINERS and seen_content:
            return True
        seen_content = seen_content or w not in STOPWORDS
    return False


def _roles(a: str, b: str) -> str | None:
    """The same names linked by the same words in the opposite direction ("Priya hired
    Tomás" vs "Tomás hired Priya"); else the same content words with two of them traded
    ("the cat chased the dog" vs "the dog chased the cat")."""
    capitals = _mid_capitals(a, b)
    starters = _starters(a, b)
    ra, rb = _relations(a, capitals, starters), _relations(b, capitals, starters)
    for x, y, link in ra:
        if not link or link <= SYMMETRIC or _matches(x, y):
            continue
        reversed_b = any(_matches(x, v) and _matches(y, u) and link & s for u, v, s in rb)
        forward_b = any(_matches(x, u) and _matches(y, v) and link & s for u, v, s in rb)
        if reversed_b and not forward_b:
            return f"roles differ: {x.shown} and {y.shown} swap places around '{sorted(link)[0]}'"
    return _traded(a, b)


def _traded(a: str, b: str) -> str | None:
    if _ANY_PASSIVE_RE.search(a) or _ANY_PASSIVE_RE.search(b) or _COPULA_RE.search(a) or _COPULA_RE.search(b):
        return None  # a passive or "X is Y" may put the same words the other way round
    xs = [w for w in _words(a) if w not in STOPWORDS]
    ys = [w for w in _words(b) if w not in STOPWORDS]
    if len(xs) < 3 or len(xs) != len(ys) or sorted(xs) != sorted(ys):
        return None
    moved = [i for i, (x, y) in enumerate(zip(xs, ys)) if x != y]
    if len(moved) == 2 and moved[1] - moved[0] > 1 and not set(xs) & SYMMETRIC:  # the verb between stays put
        return f"roles differ: '{xs[moved[0]]}' and '{xs[moved[1]]}' trade places"
    return None


def _changed_name(a: str, b: str) -> str | None:
    """Word for word the same but one capitalised word ("Lisbon is the capital" vs "Porto is
    the capital": a name at a sentence start, which `_names` cannot tell from any word)."""
    pair = changed_word(a, b, keep_case=True)
    if pair and pair[0][:1].isupper() and pair[1][:1].isupper() and pair[0].lower() not in STOPWORDS:
        return f"names differ: {pair[0]} vs {pair[1]}"
    return None


_MAX_PHRASE = 6  # content words in a changed middle: longer, the answers are no longer one frame


def _frame_words(text: str) -> list[str]:
    """Content words, phrase opposites blanked (`_polarity` judged them). Numbers are left
    out: `_numbers` judged them, and a shared "3 to 1" is no shared frame."""
    return [w.lower() for w in _WORD_RE.findall(_phrased(text)[0]) if w.lower() not in STOPWORDS]


def changed_phrase(a: str, b: str) -> tuple[str, str] | None:
    """The content words that differ when two answers share a frame: the same content words
    before and after, and a middle that differs ("caused by an expired certificate" vs
    "caused by a misconfigured load balancer" -> ("expired certificate", "misconfigured load
    balancer")). One word on each side needs one shared word around it (`changed_word`);
    longer middles (up to six words, none shared) need two. Whether the middles mean the
    same is for the embedder."""
    xs, ys = _frame_words(a), _frame_words(b)
    prefix = 0
    while prefix < min(len(xs), len(ys)) and xs[prefix] == ys[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(xs), len(ys)) - prefix and xs[-1 - suffix] == ys[-1 - suffix]:
        suffix += 1
    mid_x, mid_y = xs[prefix:len(xs) - suffix], ys[prefix:len(ys) - suffix]
    if not mid_x or not mid_y or prefix + suffix < 1:
        return None
    if len(mid_x) == len(mid_y) == 1:
        return mid_x[0], mid_y[0]
    if prefix + suffix < 1 or max(len(mid_x), len(mid_y)) > _MAX_PHRASE or set(mid_x) & set(mid_y):
        return None
    return " ".join(mid_x), " ".join(mid_y)


def changed_word(a: str, b: str, *, keep_case: bool = False) -> tuple[str, str] | None:
    """The one content word that differs when two answers are otherwise word for word the
    same ("travels by rail" vs "travels by air"), else None. Whether the two words mean
    the same ("closes" vs "shuts") is for the embedder: the semantic comparator compares
    the two words' own vectors."""
    xs = [w for w in _WORD_RE.findall(a) if w.lower() not in STOPWORDS]
    ys = [w for w in _WORD_RE.findall(b) if w.lower() not in STOPWORDS]
    if len(xs) < 2 or len(xs) != len(ys):
        return None
    moved = [(x, y) if keep_case else (x.lower(), y.lower()) for x, y in zip(xs, ys) if x.lower() != y.lower()]
    return moved[0] if len(moved) == 1 else None

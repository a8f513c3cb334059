"""Which attribute each entity has, clause by clause, so two answers that give two entities
the same attributes the other way round differ: "Alice is 30 and Bob is 25" vs "Alice is
25 and Bob is 30", "the red car is faster, the blue one cheaper" with the colours traded,
"opens at 9 and closes at 5" vs "opens at 5 and closes at 9". Embeddings score these 0.98
and more, and the other fact checks see the same numbers, names and words on both sides.

An entity is a name (found as `facts` finds names), a member of a closed class (a colour,
a metal), a word with an opposite ("east", "opens") or a number; what binds to it is every other content word and entity of its
clause. A swap is two entities E and F on both sides where something bound to E in one
answer is bound to F in the other, and something bound to F is bound to E; a reordering
("Bob is 25 and Alice is 30") keeps every binding and is no swap. Pure, English only.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from crosswalk.policies.facts_lexicon import EXCLUSIVE, NEGATORS, POLES, STOPWORDS
from crosswalk.policies.numbers import Reading, read_numbers

_CLAUSE_RE = re.compile(r"[,;:.!?]+(?:\s+|$)|\s+(?:and|but|while|whereas)\s+|\n+", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# a colour, a metal, a side of an axis ("east", "closes", "older"): what two entities may trade
_CLASS_WORDS = frozenset().union(*EXCLUSIVE.values()) | frozenset(POLES)

Bindings = dict[str, set[str]]


def _stem(word: str) -> str:
    """A word folded as `facts` folds a name's words ("Alice's" -> "alice", "leads" -> "lead")."""
    w = word.lower().replace("’", "'")
    w = w[:-2] if w.endswith("'s") else w
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


def _clause_bindings(clause: str, names: Iterable[str]) -> Bindings:
    """entity -> what binds to it, for one clause."""
    named = set(names)
    entities: set[str] = set()
    values: set[str] = set()
    for word in _WORD_RE.findall(clause):
        stem = _stem(word)
        if stem in named or word.lower() in _CLASS_WORDS:
            entities.add(stem if stem in named else word.lower())
        elif word.lower() in NEGATORS or (word.lower() not in STOPWORDS and not word.lower().endswith("n't")):
            values.add(stem)
    for reading in read_numbers(clause):
        entities.add(_number_key(reading))
    return {e: (values | entities) - {e} for e in entities}


def _number_key(reading: Reading) -> str:
    """A number as an entity: a date or time by what it means, an amount by value and unit."""
    if reading.exact is not None and reading.exact[0] != "n":
        return "#" + "-".join(str(part) for part in reading.exact if part is not None)
    return f"#{reading.value.normalize():f}{reading.unit.symbol if reading.unit else ''}{reading.currency or ''}"


def bindings(text: str, names_of: Callable[[str], Iterable[str]]) -> Bindings:
    """entity -> everything bound to it anywhere in `text`; `names_of(clause)` gives the
    clause's names as single stemmed words (a name's last word stands for it)."""
    out: Bindings = {}
    for clause in _CLAUSE_RE.split(text):
        if clause.strip():
            for entity, bound in _clause_bindings(clause, names_of(clause)).items():
                out.setdefault(entity, set()).update(bound)
    return out


def swapped(a: Bindings, b: Bindings) -> tuple[str, str] | None:
    """Two entities whose attributes trade places between the answers, else None."""
    shared = sorted(set(a) & set(b))
    for i, e in enumerate(shared):
        for f in shared[i + 1:]:
            e_to_f = (a[e] - b[e]) & (b[f] - a[f]) - {e, f}
            f_to_e = (a[f] - b[f]) & (b[e] - a[e]) - {e, f}
            if e_to_f and f_to_e:
                return e.lstrip("#"), f.lstrip("#")
    return None

"""Where a fallback's output meets the text a caller already received (mid-stream recovery,
router/resume.py): is the fallback going on, restarting verbatim, repeating the tail of the
delivered text, or starting over in other words? Pure: text in, verdict out.

`judge` is called with everything the fallback has said so far (held, not delivered) and
answers once it can tell, else None (hold more). The rule, measured on the labelled
continuations in tests/policies/continuation_labelled.yaml (tests/policies/continuation_eval.py):

1. restarted: the held text, compared with runs of whitespace collapsed, leading
   whitespace dropped and letters case-folded, starts with the whole delivered text. The
   reproduced part is skipped. While the held text is still a prefix of the delivered
   text, hold (a restart is being reproduced).
2. trimmed: it starts with a tail of the delivered text that begins at a word, is at
   least `MIN_OVERLAP` characters and two words long (the longest such tail), and opens
   in the case it had there (a capital over a small letter opens a new sentence): the
   repeat is skipped. While it is still the start of such a tail, hold. One word again
   cannot be told from a new start on that word: failed.
3. failed, at once, when it does neither but still repeats delivered words (its first
   `_REPEAT_WORDS` words appear in a row in the delivered text, or it opens on the
   delivered text's first word), opens a fresh reply ("Sure", "Certainly", "Here is",
   ...), or glues a capital, or a digit after a letter, to the delivered text's last word
   or punctuation ("TheForty-two", "time.Rust", "grew14%"); and, once `WINDOW_WORDS` words
   are in, when it opens with a capital on a word the delivered text used, or on a
   sentence whose content words are mostly those of the delivered text's first sentence
   (a paraphrased restart).
4. resumed: otherwise, once `WINDOW_WORDS` words are in, or the fallback ended.
5. failed when none of this is decided `WINDOW_CHARS` characters past the delivered
   text's length (a run of symbols with no words): the hold is bounded.

A restart mode request (the fallback was sent the caller's own request) accepts only 1.
A wrong "resumed" garbles the answer, so every doubt ends as failed: the caller gets a
clean in-band error naming the real break instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WINDOW_WORDS = 6  # words of the fallback held past the seam before it may count as a continuation
MIN_OVERLAP = 4  # characters: a shorter tail repeated is more likely a coincidence than a habit
WINDOW_CHARS = 240  # characters held past the delivered text's length before "cannot tell" ends it
PARAPHRASE_SHARE = 0.5  # content words shared with the delivered opening that mark a restart
_REPEAT_WORDS = 2  # this many of the fallback's first words in a row in the delivered text: a repeat
_GLUED = frozenset(".!?:;,")
_OPENERS = ("sure", "certainly", "of course", "okay", "ok,", "ok.", "here is", "here's", "here are", "continuing",
            "apologies", "i apologize", "i'm sorry", "sorry", "absolutely", "as requested", "no problem")
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that these "
    "those there here which who whom what when where why how not no so than then too very can will would should could "
    "may might must do does did has have had i you he she we they them his her our their your my me us".split())
_WORD = re.compile(r"[^\W_]+(?:['’.,-][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class Seam:
    """A verdict: `outcome` resumed, restarted, trimmed or failed; `skip`: how many leading
    characters of the held text the caller already has (dropped before delivery); `why`:
    for failed, in words fit for the caller's error."""

    outcome: str
    skip: int = 0
    why: str = ""


def judge(delivered: str, held: str, *, ended: bool, restart_only: bool = False) -> Seam | None:
    """The verdict on `held` (all the fallback said so far) after `delivered`, or None to
    hold more. `ended`: the fallback finished (decide now). `restart_only`: the fallback
    was asked to regenerate, so only a verbatim restart is acceptable. After delivered
    text ending in whitespace, the held text's whitespace at the seam is skipped too."""
    seam = _bounded(delivered, held, _judge(delivered, held, ended=ended, restart_only=restart_only))
    if seam is None or seam.outcome == "failed" or not delivered[-1:].isspace():
        return seam
    skip = seam.skip
    while skip < len(held) and held[skip].isspace():
        skip += 1
    if skip == len(held) and not ended:
        return None  # whitespace may still come at the seam: decide on the first character after it
    return Seam(seam.outcome, skip, seam.why)


def _bounded(delivered: str, held: str, seam: Seam | None) -> Seam | None:
    """No verdict yet after `WINDOW_CHARS` more than was delivered: it cannot be told."""
    if seam is None and len(held) > len(delivered) + WINDOW_CHARS:
        return Seam("failed", why=f"it could not be told apart from a new answer within {len(held)} characters")
    return seam


def _judge(delivered: str, held: str, *, ended: bool, restart_only: bool) -> Seam | None:
    d_norm, _ = _fold(delivered)
    h_norm, ends = _fold(held)
    d_norm = d_norm.strip()
    if not d_norm:
        return Seam("resumed") if held.strip() or ended else None
    if not h_norm:
        return Seam("failed", why="it sent no text") if ended else None
    if h_norm.startswith(d_norm):
        return Seam("restarted", skip=ends[len(d_norm) - 1])
    if d_norm.startswith(h_norm):
        if ended:
            return Seam("failed", why=f"it ended after reproducing {len(h_norm)} of the {len(d_norm)} characters delivered")
        return None
    if restart_only:
        at = next(i for i, (a, b) in enumerate(zip(h_norm, d_norm)) if a != b)
        return Seam("failed", why=f"its answer differs from the delivered text at character {at}")
    tail = _tail_verdict(delivered, held, d_norm, h_norm, ends)
    if tail is not None or not ended and _within_tail(d_norm, h_norm):
        return tail
    return _continuation_verdict(delivered, held, ended)


def _tail_verdict(delivered: str, held: str, d_norm: str, h_norm: str, ends: list[int]) -> Seam | None:
    """trimmed when the held text starts with a word-aligned tail of the delivered text of
    two words or more, in the case it had there: a capital where the delivered tail had a
    small letter opens a new sentence ("order" ... "Order 1234 will be"), not a repeat;
    one word again cannot be told from a new start on that word (failed)."""
    first = held.lstrip()[:1]
    for start in _word_starts(d_norm):
        tail = d_norm[start:]
        if len(tail) < MIN_OVERLAP:
            break
        if h_norm.startswith(tail):
            if first.isupper() and not _original(delivered, d_norm, start).isupper():
                return None
            if " " not in tail:  # one word again: a repeat, or a new start on the same word
                return Seam("failed", why="it began with the delivered text's last word: a repeat or a new start")
            return Seam("trimmed", skip=ends[len(tail) - 1])
    return None


def _original(delivered: str, d_norm: str, start: int) -> str:
    """The delivered character that `d_norm[start]` folds (the n-th non-space character)."""
    n = len(d_norm[:start].replace(" ", ""))
    return [ch for ch in delivered if not ch.isspace()][n]


def _within_tail(d_norm: str, h_norm: str) -> bool:
    """The held text is still the start of a long enough tail: it may yet repeat it all."""
    return any(d_norm[s:].startswith(h_norm) and len(d_norm) - s >= MIN_OVERLAP for s in _word_starts(d_norm))


def _word_starts(text: str) -> list[int]:
    """Where words start in `text` (after a space), the first character excluded, longest tail first."""
    return [i for i in range(1, len(text)) if text[i - 1] == " " and text[i] != " "]


def _continuation_verdict(delivered: str, held: str, ended: bool) -> Seam | None:
    """resumed or failed for a held text that neither restarts nor repeats the tail."""
    words_h = _words(held)
    words_d = _words(delivered)
    lead = held.lstrip().lower()
    if lead.startswith(_OPENERS):
        return Seam("failed", why="it answered anew instead of continuing")
    run = words_h[:_REPEAT_WORDS]
    if len(run) == _REPEAT_WORDS and _contains_run(words_d, run):
        return Seam("failed", why="it repeated delivered words instead of going on from them")
    if words_h and words_h[:1] == words_d[:1] or _glued_start(delivered, held):
        return Seam("failed", why="it started the answer over in other words")
    if len(words_h) < WINDOW_WORDS and not ended:
        return None
    if _restarts(delivered, held, words_h[:WINDOW_WORDS], words_d):
        return Seam("failed", why="it started the answer over in other words")
    return Seam("resumed")


def _restarts(delivered: str, held: str, opening: list[str], words_d: list[str]) -> bool:
    """The held text opens a sentence that reads as the delivered answer's opening again."""
    first = held.lstrip()[:1]
    if not first.isupper():
        return False
    if opening and opening[0] != "i" and opening[0] in words_d:
        return True  # a capitalised word the answer already used: a new start, not the next sentence
    content_h = {w for w in opening if w not in _STOPWORDS}
    first_sentence = _words(re.split(r"(?<=[.!?])\s|\n", delivered.strip(), maxsplit=1)[0])
    content_d = {w for w in first_sentence if w not in _STOPWORDS}
    if not content_h:
        return False
    return len(content_h & content_d) / len(content_h) >= PARAPHRASE_SHARE


def _glued_start(delivered: str, held: str) -> bool:
    """A capital, or a digit after a letter, glued to the delivered text's last word or
    punctuation ("TheForty-two", "time.Rust", "grew14%"): a new answer, not the next word."""
    first, last = held[:1], delivered[-1:]
    if not (last.isalnum() or last in _GLUED):
        return False
    return first.isupper() or (first.isdigit() and last.isalpha())


def _contains_run(words: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(words[i:i + n] == run for i in range(len(words) - n + 1))


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _fold(text: str) -> tuple[str, list[int]]:
    """`text` with runs of whitespace as one space, leading whitespace dropped and letters
    lower-cased (length kept), and for each character kept the index just after it in `text`."""
    out: list[str] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            if not out or out[-1] == " ":
                if out:
                    ends[-1] = i + 1
                continue
            ch = " "
        else:
            low = ch.lower()
            ch = low if len(low) == 1 else ch
        out.append(ch)
        ends.append(i + 1)
    return "".join(out), ends

"""What the caller supplied: the strings of a request body, so the classifier can tell a
vendor's own words from an echo of the request.

Vendors quote the request back in their errors (`Unrecognized request argument supplied:
deprecated`, `Invalid value for 'messages[0].content': '...'`), so a word in an error
message is evidence against the provider only if the caller did not send it. Built only
when an attempt failed (never on the hot path), and bounded: very short strings cannot
hold any phrase the classifier looks for, and past `MAX_CHARS` characters (or `MAX_DEPTH`
levels) the rest is not read. A bound fails safe: text that was not read may be anywhere
in an error, so once anything was left out, every phrase counts as possibly the caller's
(`supplied` is True) and only the vendor's structured fields are evidence.

The top-level `model` is left out: Crosswalk replaces it with the provider's own model
before the request leaves, so the vendor never sees (and cannot echo) the caller's.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterator, Mapping

MIN_LEN = 4  # shorter strings hold none of the phrases the classifier matches
MAX_CHARS = 16 << 20  # the whole of a body at the proxy's default 4 MiB limit, and then some
MAX_DEPTH = 32
_NOT_CONTENT = frozenset({"stream", "stream_options", "model"})  # same request, streamed or not


class CallerText:
    """The caller's strings (every key and string value of the body, recursively, message
    contents included), lower-cased, and a fingerprint of the request. `complete`: every
    string was read (False once a bound cut the reading short)."""

    __slots__ = ("_corpus", "complete", "fingerprint")

    def __init__(self, strings: list[str], fingerprint: str, *, complete: bool = True) -> None:
        self._corpus = "\x00".join(strings).lower()  # NUL never occurs in a phrase matched
        self.fingerprint = fingerprint
        self.complete = complete

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> "CallerText":
        """The caller text of a request body."""
        strings: list[str] = []
        total = 0
        cut: list[bool] = []  # _strings appends when it stops at MAX_DEPTH
        sent = {k: v for k, v in body.items() if k != "model"}
        for text in _strings(sent, 0, cut):
            if len(text) < MIN_LEN:
                continue
            if total + len(text) > MAX_CHARS:
                cut.append(True)
                break
            strings.append(text)
            total += len(text)
        return cls(strings, _fingerprint(body), complete=not cut)

    def supplied(self, text: str) -> bool:
        """May the caller have sent `text` (case-insensitively, as part of any one string)?
        Always, when the body was not read whole: what was not read may hold anything."""
        if not self.complete:
            return bool(text)
        words = text.lower().split()
        if not words:
            return False
        # Any run of whitespace between the words: a vendor quoting "region  is\nnot
        # supported" may print it with one space.
        return re.search(r"\s+".join(map(re.escape, words)), self._corpus) is not None


def _strings(value: Any, depth: int, cut: list[bool]) -> Iterator[str]:
    if depth > MAX_DEPTH:
        cut.append(True)
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item, depth + 1, cut)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, depth + 1, cut)


def _fingerprint(body: Mapping[str, Any]) -> str:
    """A short hash of what the request asks (streaming or not is the same request)."""
    content = {k: v for k, v in body.items() if k not in _NOT_CONTENT}
    raw = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(raw.encode("utf-8", "replace"), digest_size=8).hexdigest()

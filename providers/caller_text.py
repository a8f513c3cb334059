"""What the caller supplied: the strings of a request body, so the classifier can tell a
vendor's own words from an echo of the request.

Vendors quote the request back in their errors (`Unrecognized request argument supplied:
deprecated`, `Invalid value for 'messages[0].content': '...'`), so a word in an error
message is evidence against the provider only if the caller did not send it. Built only
when an attempt failed (never on the hot path), and bounded: very short strings cannot
hold any phrase the classifier looks for, and past `MAX_CHARS` the rest is left out (the
field-complaint rule and corroboration still stand between an echo and an exclusion).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator, Mapping

MIN_LEN = 4  # shorter strings hold none of the phrases the classifier matches
MAX_CHARS = 1 << 20
MAX_DEPTH = 32
_NOT_CONTENT = frozenset({"stream", "stream_options", "model"})  # same request, streamed or not


class CallerText:
    """The caller's strings (every key and string value of the body, recursively, message
    contents included), lower-cased, and a fingerprint of the request."""

    __slots__ = ("_corpus", "fingerprint")

    def __init__(self, strings: list[str], fingerprint: str) -> None:
        self._corpus = "\x00".join(strings).lower()  # NUL never occurs in a phrase matched
        self.fingerprint = fingerprint

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> "CallerText":
        """The caller text of a request body."""
        strings: list[str] = []
        total = 0
        for text in _strings(body, 0):
            if len(text) >= MIN_LEN:
                strings.append(text[: MAX_CHARS - total])
                total += len(strings[-1])
                if total >= MAX_CHARS:
                    break
        return cls(strings, _fingerprint(body))

    def supplied(self, text: str) -> bool:
        """Did the caller send `text` (case-insensitively, as part of any one string)?"""
        return bool(text) and text.lower() in self._corpus


def _strings(value: Any, depth: int) -> Iterator[str]:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, depth + 1)


def _fingerprint(body: Mapping[str, Any]) -> str:
    """A short hash of what the request asks (streaming or not is the same request)."""
    content = {k: v for k, v in body.items() if k not in _NOT_CONTENT}
    raw = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(raw.encode("utf-8", "replace"), digest_size=8).hexdigest()

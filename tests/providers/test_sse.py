"""providers/sse.py `iter_sse_data`: events read from a body however it was cut into pieces
on the way (TCP packets, chunked encoding, a proxy's buffers)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from crosswalk.providers.sse import DONE, iter_sse_data

BODIES: list[tuple[bytes, list[object]]] = [
    (b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n', [b'{"a": 1}', b'{"b": 2}', DONE]),
    (b'data: {"a": 1}\r\n\r\ndata:{"b":2}\r\n\r\n', [b'{"a": 1}', b'{"b":2}']),  # CRLF; no space after the colon
    (b": keep-alive\n\nevent: message_start\ndata: {\"x\": 1}\n\n", [b'{"x": 1}']),  # a comment, an event name
    (b"data: one\ndata: two\n\n", [b"one\ntwo"]),  # multi-line data
    (b"id: 7\nretry: 100\ndata: x\n\n", [b"x"]),
    (b'data: {"last": true}', [b'{"last": true}']),  # the last event lacks its blank line
    (b"data: [DONE]\n\ndata: after\n\n", [DONE]),  # nothing after [DONE] is read
    (b"\n\n\ndata: late\n\n", [b"late"]),
]


async def _events(pieces: list[bytes]) -> list[object]:
    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    return [e async for e in iter_sse_data(body())]


def _cut(body: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted({p % (len(body) + 1) for p in points})
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)]) if b > a]


def test_each_body_whole():
    for body, expected in BODIES:
        assert asyncio.run(_events([body])) == expected, body


@given(st.sampled_from(BODIES), st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_any_cut_gives_the_same_events(case, points):
    body, expected = case
    assert asyncio.run(_events(_cut(body, points))) == expected


def test_byte_by_byte():
    for body, expected in BODIES:
        assert asyncio.run(_events([bytes([b]) for b in body])) == expected, body

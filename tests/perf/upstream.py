"""A minimal OpenAI-compatible upstream for benchmarks, run in its own process so it does
not share the client's event loop: `python upstream.py PORT [SLOW_EVERY SLOW_S]`. Answers a
fixed completion (or a short SSE stream; on /v1/messages, Anthropic's message) as fast as aiohttp can (a request with `"bench_chunks": N` streams N content
chunks, in 4 KiB pieces or with `"bench_split": true` one event per write); with SLOW_EVERY, every
SLOW_EVERY-th call first waits SLOW_S seconds (a deterministic slow tail: 20 -> 5 %)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys

from aiohttp import web

BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "The refund is $42.99."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}).encode()


REQUEST_ID = {"x-request-id": "req_bench0123456789abcdef"}
# The same answer from Anthropic's Messages API (POST /v1/messages), with its request-id.
MESSAGE = json.dumps({
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "bench-claude", "stop_reason": "end_turn",
    "stop_sequence": None, "content": [{"type": "text", "text": "The refund is $42.99."}],
    "usage": {"input_tokens": 12, "output_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
}).encode()
MESSAGE_ID = {"request-id": "req_bench0123456789abcdef"}


def _chunk(delta: dict, finish: str | None) -> bytes:
    return b"data: " + json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "bench-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }).encode() + b"\n\n"


STREAM = (_chunk({"role": "assistant", "content": ""}, None) + _chunk({"content": "The refund"}, None)
          + _chunk({"content": " is $42.99."}, None) + _chunk({}, "stop") + b"data: [DONE]\n\n")


def long_stream(n: int) -> bytes:
    """An SSE answer of `n` content chunks (a long answer, for per-chunk costs)."""
    pieces = [_chunk({"role": "assistant", "content": ""}, None)]
    pieces += [_chunk({"content": f" word{i}"}, None) for i in range(n)]
    return b"".join(pieces) + _chunk({}, "stop") + b"data: [DONE]\n\n"


_LONG: dict[int, bytes] = {}


def _split(data: bytes) -> list[bytes]:
    """`data`'s SSE events, one per item."""
    return [event + b"\n\n" for event in data.split(b"\n\n") if event]


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body.get("stream"):
        n = body.get("bench_chunks")
        if isinstance(n, int) and n > 0:
            data = _LONG.get(n) or _LONG.setdefault(n, long_stream(n))
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            # In 4 KiB pieces, or with "bench_split", one write per event (as a model's tokens
            # leave a vendor: what reaches the proxy together is then up to the network).
            pieces = _split(data) if body.get("bench_split") else [data[i:i + 4096] for i in range(0, len(data), 4096)]
            for piece in pieces:
                await resp.write(piece)
            await resp.write_eof()
            return resp
        return web.Response(body=STREAM, content_type="text/event-stream")
    # OpenAI sends its request id on every answer; Crosswalk passes it on.
    return web.Response(body=BODY, content_type="application/json", headers=REQUEST_ID)


async def messages(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=MESSAGE, content_type="application/json", headers=MESSAGE_ID)


def slow_tail(every: int, seconds: float):
    """`chat`, but every `every`-th call waits `seconds` first."""
    calls = itertools.count(1)

    async def handler(request: web.Request) -> web.StreamResponse:
        if next(calls) % every == 0:
            await request.read()  # before a hedging client may hang up
            await asyncio.sleep(seconds)
        return await chat(request)

    return handler


def main() -> None:
    app = web.Application()
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    app.router.add_post("/v1/chat/completions", slow_tail(every, float(sys.argv[3])) if every else chat)
    app.router.add_post("/v1/messages", messages)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()

"""How `crosswalk serve` writes a streamed answer (issue 20 item 4), seen on the wire by a
raw-socket client of a real proxy process in front of a loopback upstream: events that
arrive together leave together (fewer HTTP chunks than events), an event is never held back
while the client reads (a lockstep upstream would hang), and a client that stops reading
stops the upstream instead of growing the proxy's memory; hanging up cancels the upstream."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from aiohttp import web

from tests.eventually import eventually
from tests.loopback import serve_loopback
from tests.router.proxy_harness import ProxyProcess

KEY = "writes-key-0123456789"


def _event(i: int) -> bytes:
    # An OpenAI chat.completion.chunk (openai/types/chat/chat_completion_chunk.py).
    return b"data: " + json.dumps({
        "id": "chatcmpl-w", "object": "chat.completion.chunk", "created": 1700000000, "model": "m",
        "choices": [{"index": 0, "delta": {"content": f" w{i}" + "x" * 200}, "finish_reason": None}],
    }).encode() + b"\n\n"


END = b'data: {"id": "chatcmpl-w", "object": "chat.completion.chunk", "created": 1700000000, "model": "m", ' \
      b'"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'


class Upstream:
    """/burst/v1: 50 events in one write. /lockstep/v1: one event, then the next only once
    the test says the client has it. /endless/v1: events until the proxy stops reading."""

    def __init__(self) -> None:
        self.next_event = asyncio.Event()
        self.sent = 0
        self.endless_closed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        kind = request.match_info["kind"]
        try:
            if kind == "burst":
                await resp.write(b"".join(_event(i) for i in range(50)))
            elif kind == "lockstep":
                for i in range(5):
                    self.next_event.clear()
                    await resp.write(_event(i))
                    await asyncio.wait_for(self.next_event.wait(), 10)
            else:
                for i in range(10**6):
                    piece = _event(i)
                    await resp.write(piece)
                    self.sent += len(piece)
            await resp.write(END)
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.endless_closed.set()
            raise
        return resp


@pytest.fixture
async def stack(tmp_path: Path):
    upstream = Upstream()
    app = web.Application()
    app.router.add_post("/{kind}/v1/chat/completions", upstream.handle)
    runner, port = await serve_loopback(app)
    cfg = tmp_path / "c.yaml"
    providers = "".join(f'  {k}: {{kind: openai, model: m, base_url: "http://127.0.0.1:{port}/{k}/v1", api_key: sk-x}}\n'
                        for k in ("burst", "lockstep", "endless"))
    steps = "".join(f"  {k}: {{providers: [{k}]}}\n" for k in ("burst", "lockstep", "endless"))
    cfg.write_text(f"providers:\n{providers}steps:\n{steps}proxy: {{api_keys: [{KEY}]}}\nhealth: {{probe_interval_s: 0}}\n")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    yield proxy, upstream
    await asyncio.to_thread(proxy.stop)
    await runner.cleanup()


async def _open(proxy: ProxyProcess, step: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    body = json.dumps({"model": step, "stream": True, "messages": [{"role": "user", "content": "go"}]}).encode()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
    return reader, writer


async def _http_chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


async def test_events_that_arrive_together_leave_in_fewer_writes(stack):
    proxy, _ = stack
    reader, writer = await _open(proxy, "burst")
    chunks = []
    while chunk := await asyncio.wait_for(_http_chunk(reader), 10):
        chunks.append(chunk)
    writer.close()
    body = b"".join(chunks)
    assert len(re.findall(rb'" w\d+x', body)) == 50 and body.endswith(b"data: [DONE]\n\n")
    # One HTTP chunk per event before; what the proxy read together now goes out together.
    assert len(chunks) <= 10, [len(c) for c in chunks]


async def test_a_ready_event_is_not_held_back_while_the_client_reads(stack):
    proxy, upstream = stack
    reader, writer = await _open(proxy, "lockstep")
    seen = b""
    for i in range(5):  # the upstream sends event i+1 only after the client has event i
        while f" w{i}x".encode() not in seen:
            seen += await asyncio.wait_for(_http_chunk(reader), 10)
        upstream.next_event.set()
    while chunk := await asyncio.wait_for(_http_chunk(reader), 10):
        seen += chunk
    writer.close()
    assert seen.endswith(b"data: [DONE]\n\n")


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


async def test_a_client_that_stops_reading_stops_the_upstream_and_hanging_up_cancels_it(stack):
    proxy, upstream = stack
    rss_before = _rss_mb(proxy.proc.pid)
    reader, writer = await _open(proxy, "endless")
    await _http_chunk(reader)  # then read no more
    # The upstream's writes stall once the client's, the proxy's and the upstream's socket
    # buffers are full: a few MB, not the hundreds an unbounded proxy would take in.
    await eventually(lambda: upstream.sent > 0, within=10, what="the upstream streams")
    stalled = 0
    for _ in range(100):
        before = upstream.sent
        await asyncio.sleep(0.05)
        stalled = stalled + 1 if upstream.sent == before else 0
        if stalled >= 10:
            break
    assert stalled >= 10, f"the upstream kept sending: {upstream.sent} bytes"
    assert upstream.sent < 32 * 2**20, upstream.sent
    assert _rss_mb(proxy.proc.pid) - rss_before < 64
    writer.close()
    await eventually(upstream.endless_closed.is_set, within=10, what="hanging up cancels the upstream call")

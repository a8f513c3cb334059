"""The floor of a Python HTTP proxy: the least a front door must do per request, with no
logic at all. `python floor.py PORT UPSTREAM_BASE_URL [asyncio|uvloop]`.

It parses each request with httptools (llhttp, what uvicorn parses with) in an
`asyncio.Protocol`, forwards the body through Crosswalk's own keep-alive upstream client
(providers/http1.py: a pool, response framing parsed by llhttp too) and writes the answer
back: whole with a Content-Length, or an event stream relayed piece by piece as it arrives, in
chunked encoding. No routing, no auth, no JSON, no records, no limits, no error handling: what is
left is the cost of two HTTP exchanges in Python, so no Python proxy built on these parts
can be faster. The front-door bench runs it on asyncio's own loop and on uvloop, beside
nginx, to show where a Python front door's ceiling is on this machine."""

from __future__ import annotations

import asyncio
import sys

import httptools

from crosswalk.providers.http1 import Origin, Pool

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
_STREAM = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


class _Caller(asyncio.Protocol):
    def __init__(self, pool: Pool, head: bytes) -> None:
        self.pool, self.head = pool, head
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        asyncio.get_running_loop().create_task(self._forward(body))

    async def _forward(self, body: bytes) -> None:
        resp = await self.pool.request(self.head, body)
        if "text/event-stream" not in resp.headers.get("content-type", ""):
            data = await resp.read()
            self.transport.write(_OK % (len(data), data))
            return
        self.transport.write(_STREAM)
        async for data in resp.iter_chunks():
            self.transport.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.transport.write(b"0\r\n\r\n")


async def _serve(port: int, upstream: str) -> None:
    origin = Origin(upstream)
    head = origin.head("POST", "/chat/completions", {"content-type": "application/json", "authorization": "Bearer sk-up"})
    pool = Pool(origin)
    server = await asyncio.get_running_loop().create_server(lambda: _Caller(pool, head), "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3] == "asyncio":
        asyncio.run(_serve(port, upstream))
    else:
        import uvloop

        uvloop.run(_serve(port, upstream))


if __name__ == "__main__":
    main()

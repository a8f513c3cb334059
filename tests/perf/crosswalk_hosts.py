"""Crosswalk's real non-streamed chat path hosted by HTTP servers other than aiohttp's, for
tests/perf/test_server_choice.py (issue 20 item 3: choose the sidecar's server by measurement).

Every host calls the very handler `crosswalk serve` registers for POST /v1/chat/completions
(taken from router/proxy_app.build_app's router: the guard with the key check and error
JSON, around proxy.chat_completions -> run_step -> Runtime.complete on the step's ranked
providers, with its records, metrics, x-crosswalk-* headers and JSON answer), on a
ProxyState built as router/serve.py builds it from the YAML at $CROSSWALK_BENCH_CONFIG
(load_config, keys_from, Metrics(process=True), Runtime.astart, logs at warning, then
gc.freeze). Left out from serve.py: the config watcher, the signal handlers, otel.setup
(off without OTEL_* variables) and the connection limits of router/connections.py.

The adapter is the least that handler needs. `BenchRequest` gives what the chat path reads
from aiohttp's web.Request: app["proxy"] (the aiohttp Application build_app made), the
headers as a case-insensitive multidict, method, path, read() and content.is_eof(), with the
whole body read by the server first. The answer's status, headers and body are written from
the web.Response the handler returns. Routing is one path check (anything else is a 404
with no body); a streamed answer is not served (the guard answers it 500: it needs
web.StreamResponse.prepare on aiohttp's transport).

- `python -m tests.perf.crosswalk_hosts PORT httptools-asyncio|httptools-uvloop`: a
  hand-written asyncio.Protocol on httptools' parser (llhttp), keep-alive, pipelined requests
  answered in order, a cached Date header; no limits, no timeouts.
- `python -m tests.perf.crosswalk_hosts PORT aiohttp-uvloop`: `crosswalk serve` itself
  (router/serve.serve) on uvloop instead of asyncio's loop.
- `asgi_app`: ASGI (uvicorn, granian --interface asgi). `rsgi_app`: granian's RSGI."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections import deque
from email.utils import formatdate
from pathlib import Path
from typing import Any, Awaitable, Callable

import httptools
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from crosswalk.router import logs
from crosswalk.router.auth import keys_from
from crosswalk.router.configfile import load_config
from crosswalk.router.metrics import Metrics
from crosswalk.router.proxy import ProxyState
from crosswalk.router.proxy_app import build_app
from crosswalk.router.runtime import Runtime

ROUTE = "/v1/chat/completions"
Handler = Callable[[Any], Awaitable[web.StreamResponse]]


class _WholeBody:
    """request.content: the server read the whole body before calling the handler."""

    @staticmethod
    def is_eof() -> bool:
        return True


class BenchRequest:
    """What the chat path reads from an aiohttp web.Request."""

    __slots__ = ("app", "method", "path", "headers", "_body")
    content = _WholeBody()

    def __init__(self, app: web.Application, method: str, path: str, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.app, self.method, self.path, self.headers, self._body = app, method, path, headers, body

    async def read(self) -> bytes:
        return self._body


async def _build() -> tuple[web.Application, Handler]:
    """The application and chat handler for the config, as `crosswalk serve` makes them."""
    logs.setup(level="warning")
    config = load_config(Path(os.environ["CROSSWALK_BENCH_CONFIG"]))
    runtime = Runtime(config, metrics=Metrics(process=True))
    await runtime.astart()
    app = build_app(ProxyState(runtime=runtime, keys=keys_from(config.proxy.api_keys), host="127.0.0.1"))
    handler = next(route.handler for route in app.router.routes()
                   if route.method == "POST" and route.resource is not None and route.resource.canonical == ROUTE)
    gc.collect()
    gc.freeze()
    return app, handler


_hosted: tuple[web.Application, Handler] | None = None
_building = asyncio.Lock()


async def hosted() -> tuple[web.Application, Handler]:
    """Built on the server's own loop, at the first request."""
    global _hosted
    async with _building:
        if _hosted is None:
            _hosted = await _build()
    return _hosted


async def respond(method: str, path: str, headers: CIMultiDictProxy[str], body: bytes) -> web.Response:
    """The chat handler's answer to one request (a bare 404 off its route)."""
    app, handler = _hosted or await hosted()
    if path != ROUTE or method != "POST":
        return web.Response(status=404)
    response = await handler(BenchRequest(app, method, path, headers, body))
    assert isinstance(response, web.Response), "a streamed answer needs aiohttp's own server"
    return response


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI."""
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    headers = CIMultiDictProxy(CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]))
    response = await respond(scope["method"], scope["path"], headers, b"".join(chunks))
    body = response.body
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    raw.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": response.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def rsgi_app(scope: Any, proto: Any) -> None:
    """RSGI (granian's own interface)."""
    body = await proto()
    response = await respond(scope.method, scope.path, CIMultiDictProxy(CIMultiDict(scope.headers.items())), body)
    proto.response_bytes(response.status, list(response.headers.items()), response.body)


_date: tuple[int, bytes] = (0, b"")


def _date_header() -> bytes:
    """`Date: ...\\r\\n`, formatted once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, b"Date: %s\r\n" % formatdate(now, usegmt=True).encode())
    return _date[1]


class HttptoolsProtocol(asyncio.Protocol):
    """One connection: requests parsed by httptools, answered one at a time, in order."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url, self.headers, self.body = b"", [], []
        self.waiting: deque[tuple[str, str, CIMultiDictProxy[str], bytes, bool]] = deque()
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        path = self.url.partition(b"?")[0].decode("latin-1")
        self.waiting.append((self.parser.get_method().decode(), path, CIMultiDictProxy(CIMultiDict(self.headers)),
                             b"".join(self.body), self.parser.should_keep_alive()))
        self.url, self.headers, self.body = b"", [], []
        if not self.busy:
            self.busy = True
            asyncio.get_running_loop().create_task(self._answer())

    async def _answer(self) -> None:
        while self.waiting:
            method, path, headers, body, keep_alive = self.waiting.popleft()
            response = await respond(method, path, headers, body)
            if self.transport.is_closing():  # the caller hung up
                return
            data = response.body or b""
            head = [b"HTTP/1.1 %d %s\r\n" % (response.status, response.reason.encode()), _date_header()]
            head += [b"%s: %s\r\n" % (k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
            head.append(b"Content-Length: %d\r\n%s\r\n" % (len(data), b"" if keep_alive else b"Connection: close\r\n"))
            self.transport.write(b"".join(head) + data)
            if not keep_alive:
                self.transport.close()
                return
        self.busy = False


async def _serve_httptools(port: int) -> None:
    await hosted()
    server = await asyncio.get_running_loop().create_server(HttptoolsProtocol, "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


def main() -> None:
    port, kind = int(sys.argv[1]), sys.argv[2]
    if kind == "aiohttp-uvloop":
        import uvloop

        from crosswalk.router.serve import serve

        logs.setup(level="warning")
        uvloop.run(serve(Path(os.environ["CROSSWALK_BENCH_CONFIG"]), "127.0.0.1", port))
    elif kind == "httptools-uvloop":
        import uvloop

        uvloop.run(_serve_httptools(port))
    else:
        asyncio.run(_serve_httptools(port))


if __name__ == "__main__":
    main()

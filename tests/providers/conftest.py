"""A real aiohttp server on a loopback port that answers with whatever a test scripts:
vendor error bodies, SSE streams, garbage. Adapters talk to it over real TCP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.loopback import free_port, serve_loopback


@dataclass
class Reply:
    """One scripted answer: status, raw body (str/bytes) and headers; `chunks` streams."""

    status: int = 200
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    chunks: list[bytes] | None = None


class Upstream:
    """The loopback vendor. `reply` sets what every request gets; `hits` records them."""

    def __init__(self) -> None:
        self.next = Reply()
        self.hits: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def reply(self, status: int, body: str | bytes, headers: dict[str, str] | None = None, *, content_type: str = "application/json") -> None:
        self.next = Reply(status, body, dict(headers or {}), content_type)

    def stream(self, chunks: list[bytes]) -> None:
        self.next = Reply(200, b"", {}, "text/event-stream", chunks)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.hits.append((request.method, request.path, dict(request.headers)))
        r = self.next
        if r.chunks is not None:
            resp = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            for chunk in r.chunks:
                await resp.write(chunk)
            # No [DONE] unless scripted: returning ends the chunked body cleanly.
            return resp
        body = r.body.encode() if isinstance(r.body, str) else r.body
        headers = {"content-type": r.content_type, **r.headers}
        return web.Response(status=r.status, body=body, headers=headers)

    async def start(self) -> "Upstream":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, port = await serve_loopback(app)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def upstream() -> Any:
    server = await Upstream().start()
    yield server
    await server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()

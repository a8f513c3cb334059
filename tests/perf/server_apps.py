"""One tiny OpenAI-shaped endpoint (POST /v1/chat/completions) for comparing HTTP servers with
the same application work: as an ASGI app (`app`: uvicorn, granian), an RSGI app (`rsgi_app`:
granian's own interface), and on aiohttp's server (`python server_apps.py PORT`).

CROSSWALK_BENCH_UPSTREAM=URL (the upstream's /v1) forwards each request through Crosswalk's
own upstream client (crosswalk.providers.http1); without it the endpoint answers a fixed
completion itself, so only the server's cost is measured."""

from __future__ import annotations

import os
import sys

from crosswalk.providers.http1 import Origin, Pool

from tests.perf.upstream import BODY

UPSTREAM = os.environ.get("CROSSWALK_BENCH_UPSTREAM")
_pool: Pool | None = None


async def _answer(body: bytes) -> tuple[int, bytes]:
    global _pool
    if UPSTREAM is None:
        return 200, BODY
    if _pool is None:  # made on the server's own loop, at the first request
        _pool = Pool(Origin(UPSTREAM))
    head = _pool.origin.head("POST", "/chat/completions", {"content-type": "application/json"})
    response = await _pool.request(head, body)
    return response.status, await response.read()


async def app(scope, receive, send) -> None:
    """ASGI."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, data = await _answer(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def rsgi_app(scope, proto) -> None:
    """RSGI (granian)."""
    status, data = await _answer(await proto())
    proto.response_bytes(status, [("content-type", "application/json")], data)


def main() -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        status, data = await _answer(await request.read())
        return web.Response(body=data, status=status, content_type="application/json")

    application = web.Application()
    application.router.add_post("/v1/chat/completions", handle)
    web.run_app(application, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()

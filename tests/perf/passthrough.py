"""The floor for a Python proxy: a bare aiohttp pass-through with no logic at all.
`python passthrough.py PORT UPSTREAM_URL` forwards POST /v1/chat/completions bytes (an
event stream as it arrives, anything else whole)."""

from __future__ import annotations

import sys

import aiohttp
from aiohttp import web


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/") + "/chat/completions"

    async def start(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with request.app["session"].post(upstream, data=body, headers={"content-type": "application/json"}) as resp:
            if resp.content_type != "text/event-stream":
                return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")
            out = web.StreamResponse(status=resp.status, headers={"content-type": "text/event-stream"})
            await out.prepare(request)
            async for piece in resp.content.iter_any():
                await out.write(piece)
            await out.write_eof()
            return out

    app = web.Application()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/chat/completions", forward)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()

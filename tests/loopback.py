"""Loopback servers for the tests' fake vendors and upstreams: an aiohttp app or a raw
asyncio stream handler on a free 127.0.0.1 port, and free ports for child processes."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any, Awaitable, Callable

from aiohttp import web

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve_loopback(app: web.Application, *, ssl_context: ssl.SSLContext | None = None,
                         **runner_options: Any) -> tuple[web.AppRunner, int]:
    """Serve `app` on a free loopback port (over TLS with `ssl_context`); returns the
    runner (the caller cleans it up) and the port."""
    runner = web.AppRunner(app, access_log=None, **runner_options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    return runner, runner.addresses[0][1]


async def serve_raw_loopback(handler: StreamHandler, *, ssl_context: ssl.SSLContext | None = None) -> tuple[asyncio.AbstractServer, int]:
    """Run `handler` for each TCP (or, with `ssl_context`, TLS) connection to a free
    loopback port, for servers that write exact bytes; returns the server (the caller
    closes it) and the port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
    return server, server.sockets[0].getsockname()[1]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released): for a child process to
    listen on, or for a connection to be refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

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


class BackgroundLoop:
    """An event loop in a thread of its own, for loopback servers a module-scoped fixture
    shares across tests (each test has its own loop): `loop.run(coro)` runs `coro` there
    and returns its result. `close()` stops the loop and joins the thread."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="loopback-servers", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[Any], timeout: float = 30.0) -> Any:
        """Run `coro` on the background loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

"""The proxy's connection bounds, piece by piece (the end-to-end behaviour is in
test_proxy_hardening.py): the descriptor guard's log, the cap's sizing, and the aiohttp
internals router/connections.py reads."""

from __future__ import annotations

import asyncio
import errno
import logging

from aiohttp.web_protocol import RequestHandler

from crosswalk.router.connections import ConnectionBook, RateLimitedLog, accept_guard, connection_cap


def test_the_aiohttp_internals_read_are_still_there():
    assert {"_waiter", "_request_count", "_messages", "_request_in_progress"} <= set(RequestHandler.__slots__)


def test_the_cap_stays_below_the_descriptors():
    assert connection_cap(4096, 1024) == 480
    assert connection_cap(4096, 1 << 20) == 4096
    assert connection_cap(100, 10) == 1


async def test_out_of_descriptor_reports_become_one_log_line_and_others_pass_through(caplog):
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    passed: list[dict] = []
    loop.set_exception_handler(lambda loop, context: passed.append(context))
    now = [0.0]
    book = ConnectionBook(10, logs=RateLimitedLog(10.0, clock=lambda: now[0]), clock=lambda: now[0])
    try:
        accept_guard(loop, book)
        with caplog.at_level(logging.WARNING, logger="crosswalk.proxy"):
            for _ in range(1000):  # what asyncio's accept loop reports in one second at EMFILE
                loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                             "exception": OSError(errno.EMFILE, "Too many open files")})
            now[0] = 11.0
            loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                         "exception": OSError(errno.EMFILE, "Too many open files")})
            loop.call_exception_handler({"message": "something else", "exception": RuntimeError("x")})
    finally:
        loop.set_exception_handler(previous)
    lines = [r.getMessage() for r in caplog.records if r.name == "crosswalk.proxy"]
    assert len(lines) == 2, lines
    assert "cannot accept connections" in lines[0] and "999 more like it" in lines[1]
    assert [c["message"] for c in passed] == ["something else"]

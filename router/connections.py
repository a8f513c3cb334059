"""The proxy's connections: how many, how long a request head may take, how long an idle
keep-alive connection is kept, what happens at the file-descriptor limit, and the error
JSON for requests too malformed to reach a handler.

aiohttp runs one `RequestHandler` (a protocol) per connection; `ProxyRequestHandler`
adds to it:
- a header timeout: a connection must deliver a whole request head within
  `header_timeout_s` of opening, and of the first byte of each later request (a head
  left half-sent is answered 408; a connection that never sent a byte is just closed, so
  a client's pooled connection never reads an answer it did not ask for);
- the connection cap, kept by a `ConnectionBook`: past `cap` open connections the oldest
  idle one (waiting for a request: keep-alive or never used) is closed for the new one;
  when none is idle the new connection gets a 503 and is closed;
- OpenAI error JSON for what aiohttp's parser refuses (oversize or too many headers: 431;
  a bad request line, header or Content-Encoding: 400), logged one line at a time with a
  rate limit instead of a traceback per request; aiohttp's parser takes HTTP/0.9 (or no
  version) and HTTP/2.0 request lines as requests: they are refused here (400, 505);
- requests that arrived whole ahead of a garbled one in a connection's first bytes are
  answered before its 400 (the parser drops everything it read in a chunk that fails).

At EMFILE asyncio's accept loop reports an error for every pending connection and every
retry (with a listen backlog of 1024, a thousand tracebacks a second): `accept_guard`
turns those reports into one log line per interval, and sheds idle connections so the
accept retry (one second later) finds free descriptors. `raise_nofile_limit` lifts the
soft RLIMIT_NOFILE to the hard limit at start; `connection_cap` keeps the cap below what
the descriptors allow (each caller connection may hold an upstream connection too).

The subclass reads a few of aiohttp's internals (`_waiter`, `_request_count`,
`_request_in_progress`, `_messages`, and `_ErrInfo` for a queued error answer); tests/router/test_connections.py
and the HTTP-version and pipelining tests in tests/router/test_proxy_hardening.py pin them.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import resource
import time
from typing import Any, Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, HttpProcessingError, LineTooLong
from aiohttp.http_parser import HttpRequestParser, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo

from crosswalk.router.proxy_requests import error_body

log = logging.getLogger("crosswalk.proxy")

_FD_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESERVED_FDS = 64  # listening socket, log files, Redis, DNS, config reads
_HANDLER_OPTIONS = frozenset(inspect.signature(RequestHandler.__init__).parameters)
_SALVAGE_MAX = 1 << 20  # a first chunk longer than this that fails to parse is not searched for whole requests


class UnsupportedVersion(HttpProcessingError):
    """A request line in HTTP/2 or later (this is an HTTP/1.1 server): 505."""

    code = 505


def _raw_response(status: int, reason: str, message: str, code: str) -> bytes:
    body = error_body(message, type_="invalid_request_error" if status < 500 else "server_error", code=code)
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


_OVER_CAP = _raw_response(503, "Service Unavailable", "the proxy is at its connection limit; retry shortly", "too_many_connections")
_HEAD_TIMEOUT = _raw_response(408, "Request Timeout", "request headers arrived too slowly", "request_timeout")


class RateLimitedLog:
    """At most one line per `interval_s` for one kind of event; the lines in between are
    counted and the count is reported with the next line."""

    def __init__(self, interval_s: float = 10.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: Any) -> bool:
        """Log `message % args` unless `kind` was logged less than `interval_s` ago;
        True when it was logged."""
        now = self._clock()
        if now < self._next.get(kind, 0.0):
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._next[kind] = now + self.interval_s
        skipped = self._suppressed.pop(kind, 0)
        suffix = f" ({skipped} more like it in the last {self.interval_s:g}s)" if skipped else ""
        log.warning(message + suffix, *args)
        return True


class ConnectionBook:
    """The open connections of one server, oldest first, and the cap on their number."""

    def __init__(self, cap: int, *, logs: RateLimitedLog | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = cap
        self.logs = logs or RateLimitedLog()
        self._clock = clock
        self._open: dict[ProxyRequestHandler, None] = {}  # insertion order: oldest first
        self._last_shed = -1e9
        self.refused = 0
        self.shed = 0

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, handler: "ProxyRequestHandler") -> bool:
        """Count a new connection; False when it must be refused (over the cap and no idle
        connection to close for it)."""
        self._open[handler] = None
        if len(self._open) <= self.cap:
            return True
        if self.shed_idle(1, spare=handler):
            return True
        self.refused += 1
        self.logs.warning("cap", "crosswalk proxy: %d connections open (max_connections %d), none idle: refusing new ones with 503",
                          len(self._open) - 1, self.cap)
        return False

    def closed(self, handler: "ProxyRequestHandler") -> None:
        self._open.pop(handler, None)

    def shed_idle(self, count: int, *, spare: "ProxyRequestHandler | None" = None) -> int:
        """Close up to `count` of the oldest idle connections; returns how many."""
        victims = []
        for handler in self._open:
            if len(victims) >= count:
                break
            if handler is not spare and handler.idle():
                victims.append(handler)
        for handler in victims:
            handler.force_close()
            self._open.pop(handler, None)
        self.shed += len(victims)
        return len(victims)

    def out_of_descriptors(self, exc: BaseException | None) -> None:
        """The accept loop hit the descriptor limit: free some by closing a quarter of the
        idle connections (at most once a second), and say so once per log interval."""
        now = self._clock()
        freed = 0
        if now - self._last_shed >= 1.0:
            self._last_shed = now
            idle = sum(1 for h in self._open if h.idle())
            freed = self.shed_idle(max(1, idle // 4))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.logs.warning("emfile", "crosswalk proxy: cannot accept connections: %s (RLIMIT_NOFILE %d, %d connections open); "
                          "closed %d idle connections", getattr(exc, "strerror", None) or exc, soft, len(self._open), freed)


class ProxyRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol with the header timeout, the connection cap and
    OpenAI error JSON for requests the HTTP parser refuses."""

    __slots__ = ("_book", "_header_timeout_s", "_head_timer", "_heads", "_head_started", "_first_chunk", "_limits")

    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop, book: ConnectionBook,
                 header_timeout_s: float, **options: Any) -> None:
        super().__init__(manager, loop=loop, **{k: v for k, v in options.items() if k in _HANDLER_OPTIONS})
        self._book = book
        self._header_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads = 0
        self._head_started = False
        self._first_chunk = True
        self._limits = {k: options[k] for k in ("max_line_size", "max_field_size", "max_headers") if k in options}

    def idle(self) -> bool:
        """No request in hand: waiting for one (keep-alive), or none has arrived whole yet."""
        return (self.transport is not None and not self._messages and not getattr(self, "_request_in_progress", False)
                and (self._waiter is not None or self._request_count == 0))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self._book.opened(self):
            transport.write(_OVER_CAP)  # type: ignore[attr-defined]
            self.force_close()
            return
        self._arm_head_timer(started=False)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._book.closed(self)
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        idle_before = self._waiter is not None
        first, self._first_chunk = self._first_chunk, False
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) > queued:
            self._check_new(queued, data if first else None)
        if self._request_count != self._heads:  # a whole head arrived
            self._heads = self._request_count
            self._disarm_head_timer()
        elif (idle_before or self._request_count == 0) and not self._force_close:  # the first bytes of a request
            self._head_started = True
            if self._head_timer is None:
                self._arm_head_timer(started=True)

    def _check_new(self, queued: int, first_chunk: bytes | None) -> None:
        """Look over the messages this chunk queued: an HTTP version this server does not
        speak becomes its error answer; a parse failure in the connection's first chunk
        (which starts at a request's first byte, so it is read the same way here) gets the
        whole requests ahead of it queued first, to be answered before the 400."""
        messages = self._messages
        for i in range(queued, len(messages)):
            message = messages[i][0]
            if isinstance(message, RawRequestMessage) and message.version[0] != 1:
                messages[i] = (_version_error(message), EMPTY_PAYLOAD)
        if first_chunk is None or len(messages) != queued + 1 or not isinstance(messages[-1][0], _ErrInfo):
            return
        ahead = self._whole_requests_before_error(first_chunk)
        if ahead:
            error = messages.pop()
            messages.extend(ahead)
            messages.append(error)
            self._request_count += len(ahead)

    def _whole_requests_before_error(self, chunk: bytes) -> list[Any]:
        """The requests (head and body complete) that precede the first byte of `chunk`
        the parser refuses, found by bisecting for the longest prefix that parses."""
        if len(chunk) > _SALVAGE_MAX:
            return []
        good, bad = 0, len(chunk)  # chunk[:good] parses; chunk[:bad] does not
        while bad - good > 1:
            middle = (good + bad) // 2
            if self._parse(chunk[:middle]) is None:
                bad = middle
            else:
                good = middle
        parsed = self._parse(chunk[:good]) or []
        whole = [(m, p) for m, p in parsed if p.is_eof()]
        if len(whole) != len(parsed):  # one whose body the error cut off: nothing after it is trusted
            whole = whole[: next(i for i, (_, p) in enumerate(parsed) if not p.is_eof())]
        return [(m if m.version[0] == 1 else _version_error(m), p) for m, p in whole]

    def _parse(self, data: bytes) -> list[Any] | None:
        parser = HttpRequestParser(self, self._loop, 2**16, payload_exception=web.RequestPayloadError, **self._limits)
        try:
            messages, _, _ = parser.feed_data(data)
        except HttpProcessingError:
            return None
        return list(messages)

    def _arm_head_timer(self, *, started: bool) -> None:
        self._head_started = started
        self._head_timer = self._loop.call_later(self._header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._request_count != self._heads or not self.idle():
            return
        if self._head_started and self.transport is not None:
            self.transport.write(_HEAD_TIMEOUT)
        self.force_close()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, (web.RequestPayloadError, ConnectionError)):
            # A body that could not be decoded (already answered 400) or a caller gone
            # mid-body: the caller's problem, not a traceback in the proxy's log.
            log.debug("crosswalk proxy: connection ended by %s", type(exc).__name__)
            self.force_close()
            return
        super().log_exception(*args, **kw)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None) -> web.StreamResponse:
        """What aiohttp answers when it cannot parse a request (or a handler escaped the
        proxy's guard): OpenAI error JSON instead of text/plain, one rate-limited log line
        instead of a traceback."""
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; the connection is closed instead")
        status, text, code = _describe(status, exc, self)
        if isinstance(exc, ConnectionError):
            log.debug("crosswalk proxy: caller gone during %s %s", request.method, request.path)
        elif status >= 500:
            log.error("crosswalk proxy: unhandled error answering %s %s", request.method, request.path, exc_info=exc)
        else:
            peer = self.transport.get_extra_info("peername") if self.transport is not None else None
            self._book.logs.warning("malformed", "crosswalk proxy: refused a malformed request from %s: %s",
                                    peer[0] if peer else "?", text)
        resp = web.Response(status=status, body=error_body(text, type_="invalid_request_error" if status < 500 else "server_error", code=code),
                            content_type="application/json")
        resp.force_close()
        return resp


def _version_error(message: RawRequestMessage) -> _ErrInfo:
    """The error answer for a request line in an HTTP version other than 1.x."""
    major, minor = message.version
    if major >= 2:
        exc: HttpProcessingError = UnsupportedVersion(message=f"HTTP/{major}.{minor} is not supported (use HTTP/1.1)")
        return _ErrInfo(status=505, exc=exc, message=exc.message)
    bad = BadHttpMessage("the request line has no HTTP version (HTTP/0.9 is not supported; use HTTP/1.1)")
    return _ErrInfo(status=400, exc=bad, message=bad.message)


def _describe(status: int, exc: BaseException | None, handler: RequestHandler) -> tuple[int, str, str]:
    if isinstance(exc, LineTooLong) or (isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc.message)):
        return 431, (f"request header fields too large (at most {handler.max_field_size} bytes a line and "
                     f"{handler.max_headers} headers)"), "headers_too_large"
    if isinstance(exc, UnsupportedVersion):
        return 505, f"HTTP version not supported: {exc.message}", "http_version_not_supported"
    if isinstance(exc, ContentEncodingError):
        return 400, "request body could not be decoded (Content-Encoding)", "bad_content_encoding"
    if isinstance(exc, BadHttpMessage):
        detail = str(exc.message).splitlines()[0][:120] if exc.message else type(exc).__name__
        return 400, f"malformed HTTP request: {detail}", "bad_request"
    if status == 504:
        return 504, "request handler timed out", "timeout"
    if status >= 500:
        return 500, "internal error in Crosswalk (details are in the server log)", "server_error"
    return status, f"malformed HTTP request ({type(exc).__name__ if exc else status})", "bad_request"


class BoundedSite(web.TCPSite):
    """`web.TCPSite` whose connections are `ProxyRequestHandler`s sharing one book."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, book: ConnectionBook, header_timeout_s: float,
                 handler_options: dict[str, Any], reuse_port: bool | None = None, backlog: int = 1024) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port, backlog=backlog)
        self._book = book
        self._header_timeout_s = header_timeout_s
        self._handler_options = handler_options

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def protocol() -> ProxyRequestHandler:
            return ProxyRequestHandler(server, loop=loop, book=self._book, header_timeout_s=self._header_timeout_s,
                                       **self._handler_options)

        self._server = await loop.create_server(protocol, self._host, self._port, backlog=self._backlog,
                                                reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]


def accept_guard(loop: asyncio.AbstractEventLoop, book: ConnectionBook) -> None:
    """Route the accept loop's out-of-descriptors reports to `book` (rate-limited log,
    idle connections shed); every other report goes where it went before."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _FD_ERRNOS and "accept" in str(context.get("message", "")):
            book.out_of_descriptors(exc)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def raise_nofile_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit (capped at 2**20 when unlimited);
    returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(max_connections: int, nofile: int) -> int:
    """The connection cap in force: `max_connections`, held to half the descriptors left
    after a reserve (a caller connection may hold an upstream connection too)."""
    return max(1, min(max_connections, (nofile - _RESERVED_FDS) // 2))


def bounded_site(runner: web.BaseRunner, host: str, port: int, settings: Any, *, reuse_port: bool = False) -> BoundedSite:
    """The listening site for `crosswalk serve` under `settings` (a ProxySettings): lifts
    RLIMIT_NOFILE, sizes the connection cap, and guards the accept loop."""
    nofile = raise_nofile_limit()
    cap = connection_cap(settings.max_connections, nofile)
    if cap < settings.max_connections:
        log.warning("crosswalk: max_connections %d held to %d by RLIMIT_NOFILE %d (raise the hard limit, e.g. ulimit -Hn)",
                    settings.max_connections, cap, nofile)
    book = ConnectionBook(cap)
    accept_guard(asyncio.get_running_loop(), book)
    options = {"keepalive_timeout": settings.keepalive_timeout_s, "access_log": None,
               "max_line_size": 8190, "max_field_size": 8190, "max_headers": 128}
    return BoundedSite(runner, host, port, book=book, header_timeout_s=settings.header_timeout_s,
                       handler_options=options, reuse_port=reuse_port or None)

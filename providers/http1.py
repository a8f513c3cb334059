"""A lean keep-alive HTTP/1.1 client for the OpenAI-wire hot path.

Why not aiohttp's client here: under load its per-request Python (request and response
objects, header multidicts, cookie jar, tracing hooks, timer contexts) cost about 90 µs of
CPU per call on this machine class, against about 35 µs for the same exchange on a bare
asyncio protocol; for a sidecar whose whole job is to forward calls, that difference is
most of the proxy's own cost. So this module does only what an OpenAI-compatible vendor
needs and leaves the parsing to llhttp (Node's parser, through `httptools`):

- one origin per `Pool` (scheme, host, port from the provider's base URL), TLS through
  the standard `ssl` module, connections kept alive and reused most-recent first;
- optionally through an HTTP proxy (`upstream.py` picks it): a CONNECT tunnel with TLS
  inside for https origins (`tunnel.py`), absolute-form requests for plain http ones;
- requests with a fixed header block built once per provider (`encode_headers`, which
  refuses CR/LF so a configured header can never inject another);
- responses framed by Content-Length, chunked encoding or the connection's end, decoded
  from gzip/deflate (the only codings it asks for);
- no silent retries: a call that fails is the caller's to classify (the engine's policy
  decides whether to retry), a connection in an unknown state is never reused, and a
  response abandoned half-read closes its connection (the vendor sees the hang-up).

Errors are `TransportError` (below HTTP: connect, reset, cut, not HTTP) with `responded`
telling whether the response head had arrived; HTTP statuses are the caller's to read.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from typing import AsyncIterator

import httptools

from crosswalk.providers.tunnel import open_tunnel
from crosswalk.providers.upstream import ProxyURL
from crosswalk.providers.wire_checks import check_headers, origin_parts

_PAUSE_AT = 256 * 1024  # buffered body bytes at which reading pauses until the caller catches up
_MAX_IDLE = 128  # idle connections a pool keeps; one coming back beyond that is closed


class TransportError(Exception):
    """The exchange failed below HTTP. `responded`: the response head had arrived."""

    def __init__(self, message: str, *, responded: bool) -> None:
        super().__init__(message)
        self.responded = responded


def encode_headers(headers: dict[str, str]) -> bytes:
    """The header block for every request of a pool; names and values are checked, so a
    configured value holding CR or LF cannot smuggle a header or a second request."""
    check_headers(headers)
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


class Response:
    """One response: `status`, `reason`, `headers` (lower-case names), then the body by
    `read()` or `iter_chunks()`. `close()` releases it; one not read to its end closes
    its connection."""

    __slots__ = ("_conn", "_loop", "status", "reason", "headers", "_chunks", "_buffered", "_done", "_error", "_waiter", "_head", "_decoder", "_framed")

    def __init__(self, conn: "_Connection") -> None:
        self._conn: _Connection | None = conn
        self._loop = conn.loop
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: TransportError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._head: asyncio.Future[None] = self._loop.create_future()
        self._decoder: "zlib._Decompress | None" = None
        self._framed = True  # Content-Length or chunked; False: the body ends with the connection

    # -- fed by the connection -------------------------------------------------

    def _on_head(self, status: int) -> None:
        self.status = status
        coding = self.headers.get("content-encoding", "identity").strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(wbits=47)  # gzip or zlib wrapper, detected
        elif coding not in ("identity", ""):
            self._fail(TransportError(f"response uses content-encoding {coding!r}, which was not asked for", responded=True))
            return
        self._framed = "content-length" in self.headers or "chunked" in self.headers.get("transfer-encoding", "").lower()
        if not self._head.done():
            self._head.set_result(None)

    def _on_body(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                self._fail(TransportError("response body does not decode as its content-encoding says", responded=True))
                return
        if data:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._buffered > _PAUSE_AT and self._conn is not None:
                self._conn.pause()
            self._wake()

    def _on_end(self) -> None:
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
        self._done = True
        self._conn = None
        self._wake()

    def _fail(self, error: TransportError) -> None:
        if self._done or self._error is not None:
            return
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # a failed head nobody awaits is not an "unretrieved" error
        self._drop_connection()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- read by the caller ----------------------------------------------------

    async def _more(self) -> bool:
        """Wait for body data; False once the body is complete."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return False
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return True

    def _take(self) -> bytes:
        data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks.clear()
        self._buffered = 0
        if self._conn is not None:
            self._conn.resume()
        return data

    async def read(self, limit: int | None = None) -> bytes:
        """The body (at most `limit` bytes; the rest is dropped with the connection)."""
        parts = []
        size = 0
        try:
            while await self._more():
                parts.append(self._take())
                size += len(parts[-1])
                if limit is not None and size >= limit:
                    break
        finally:
            self.close()
        body = b"".join(parts) if len(parts) != 1 else parts[0]
        return body if limit is None else body[:limit]

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: what was read since the last piece, decoded."""
        while await self._more():
            yield self._take()

    def close(self) -> None:
        """Done with this response: a body not read to its end closes the connection."""
        if self._conn is not None and not self._done:
            self._error = self._error or TransportError("response closed before its end", responded=True)
        self._drop_connection()

    def _drop_connection(self) -> None:
        """Let go of the connection; one still carrying this response is closed (its state
        mid-response is unknown)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.response = None
            conn.abort()


class _Connection(asyncio.Protocol):
    """One kept-alive connection: feeds llhttp and hands events to the current response."""

    def __init__(self, pool: "Pool", loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.closed = False
        self.idle_since = 0.0
        self._paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._lost(TransportError(f"malformed HTTP response from {self.pool.origin.name}: {exc}", responded=self._responded()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        response = self.response
        if response is None:
            return
        if response.status and not response._framed and response._head.done():
            response._on_end()  # a body without a length ends with the connection
            self.response = None
            return
        what = "before the response" if not self._responded() else "in the middle of the response"
        reason = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        self._lost(TransportError(f"connection to {self.pool.origin.name} closed {what}{reason}", responded=self._responded()))

    def pause_writing(self) -> None:  # bodies are small; the transport's buffer absorbs them
        pass

    def resume_writing(self) -> None:
        pass

    # llhttp callbacks
    def on_message_begin(self) -> None:
        if self.response is None:  # a response to nothing: the connection is not in a known state
            self._lost(None)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.response is not None:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers = self.response.headers
            headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_status(self, status: bytes) -> None:
        if self.response is not None:
            self.response.reason += status.decode("latin-1", errors="replace")  # may come in pieces

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # informational (never asked for): wait for the real one
            response.headers.clear()
            return
        response._on_head(status)

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._on_body(body)

    def on_message_complete(self) -> None:
        response = self.response
        if response is None or not response.status:
            return
        self.response = None
        keep = self.parser.should_keep_alive() and response._error is None
        response._on_end()
        if keep and not self.closed:
            self.resume()  # the body's last bytes may have paused reading; the next response needs it
            self.pool.release(self)
        else:
            self.abort()

    # used by the pool and the response
    def send(self, data: bytes) -> Response:
        assert self.transport is not None and self.response is None
        self.response = Response(self)
        self.transport.write(data)
        return self.response

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
            if self.transport is not None:
                self.transport.abort()

    def _responded(self) -> bool:
        return self.response is not None and self.response._head.done()

    def _lost(self, error: TransportError | None) -> None:
        response, self.response = self.response, None
        if response is not None and error is not None:
            response._fail(error)
        self.abort()


class Origin:
    """Where a provider's requests go: scheme, host and port, plus the base URL's path
    (prefixed to each request's path) and query (appended to it)."""

    __slots__ = ("tls", "host", "port", "name", "host_header", "base_path", "query", "proxy")

    def __init__(self, base_url: str, *, proxy: ProxyURL | None = None) -> None:
        parts = origin_parts(base_url)  # a ValueError unless http(s) with a host and a valid port
        self.tls = parts.scheme == "https"
        self.host = parts.host
        default_port = 443 if self.tls else 80
        self.port = parts.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if self.port == default_port else f"{host}:{self.port}"
        self.name = f"{parts.scheme}://{authority}"
        self.host_header = authority.encode("idna")
        self.base_path = parts.path.rstrip("/")
        self.query = parts.query
        self.proxy = proxy  # https: tunnelled with CONNECT; http: absolute-form requests to the proxy

    def head(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        """The request line and headers for `method` on `path`, for `Pool.request`: built
        once per kind of call, not per call."""
        target = self.base_path + path + (f"?{self.query}" if self.query else "")
        via = b""
        if self.proxy is not None and not self.tls:  # a plain-http origin: the proxy forwards the absolute URL
            target = self.name + target
            via = self.proxy.header()
        return b"%s %s HTTP/1.1\r\nHost: %s\r\n%s%s" % (method.encode(), target.encode(), self.host_header, via, encode_headers(headers))


class Pool:
    """Keep-alive connections to one `Origin`, for one event loop. Unlimited concurrent
    connections; at most `_MAX_IDLE` kept, each for `idle_s`."""

    def __init__(self, origin: Origin, *, ssl_context: ssl.SSLContext | None = None,
                 connect_timeout_s: float = 10.0, idle_s: float = 15.0, trust: str = "the system's CA store") -> None:
        self.origin = origin
        self._ssl = ssl_context
        self._trust = trust  # what `ssl_context` trusts, in words, for a certificate that fails the check
        self._connect_timeout_s = connect_timeout_s
        self._idle_s = idle_s
        self._idle: list[_Connection] = []
        self._live: set[_Connection] = set()
        self.closed = False

    async def request(self, head: bytes, body: bytes) -> Response:
        """Send `head` (request line and headers, without the final blank line) with a
        Content-Length for `body`; return the response once its head has arrived."""
        conn = self._reuse()
        if conn is None:
            conn = await self._connect()
        response = conn.send(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
        try:
            await response._head
        except BaseException:
            response.close()
            raise
        return response

    def _reuse(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to have timed out
            fresh = conn.loop.time() - conn.idle_since <= self._idle_s
            if fresh and not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        if self.closed:
            raise TransportError(f"connection pool for {self.origin.name} is closed", responded=False)
        loop = asyncio.get_running_loop()
        origin, proxy = self.origin, self.origin.proxy
        context = None
        if origin.tls:
            context = self._ssl = self._ssl or ssl.create_default_context()
        where = origin.name + (f" through the proxy {proxy.name}" if proxy is not None else "")
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if proxy is not None and context is not None:
                    _, conn = await open_tunnel(proxy, origin.host, origin.port, lambda: _Connection(self, loop), context)
                else:
                    host, port = (proxy.host, proxy.port) if proxy is not None else (origin.host, origin.port)
                    _, conn = await loop.create_connection(
                        lambda: _Connection(self, loop), host, port, ssl=context,
                        server_hostname=origin.host if context is not None else None,
                    )
        except TimeoutError:
            raise TransportError(f"cannot connect to {where}: no connection within {self._connect_timeout_s:g}s", responded=False) from None
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(f"cannot connect to {where}: its TLS certificate is not trusted ({exc.verify_message}); "
                                 f"trusted: {self._trust}. Set the provider's ca_bundle (or SSL_CERT_FILE) to the CA that signed it",
                                 responded=False) from None
        except OSError as exc:  # ssl.SSLError is an OSError
            raise TransportError(f"cannot connect to {where}: {type(exc).__name__}: {exc}", responded=False) from None
        self._live.add(conn)
        return conn

    def release(self, conn: _Connection) -> None:
        """A connection whose exchange ended cleanly: keep it for the next request."""
        if self.closed or len(self._idle) >= _MAX_IDLE:
            conn.abort()
            return
        conn.idle_since = conn.loop.time()
        self._idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        """A connection that closed: never hand it out again."""
        self._live.discard(conn)

    async def aclose(self) -> None:
        """Close every connection (those in use too: their responses fail)."""
        self.closed = True
        self._idle.clear()
        for conn in list(self._live):
            conn._lost(TransportError(f"connection pool for {self.origin.name} closed", responded=conn._responded()))
        await asyncio.sleep(0)  # let the transports finish closing

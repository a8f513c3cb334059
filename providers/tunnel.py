"""An HTTP CONNECT tunnel through a proxy, with TLS to the origin inside it.

The proxy sees only `CONNECT host:port` (and the Proxy-Authorization it asked for); the
TLS session, the certificate check against the origin's name, the API key and the
request all stay end to end between the client and the vendor.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Callable, TypeVar

from crosswalk.providers.upstream import ProxyURL

P = TypeVar("P", bound=asyncio.Protocol)
_MAX_REPLY = 16 * 1024  # a CONNECT reply is a status line and a few headers


class _Reply(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT, up to the blank line that ends its head."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head: asyncio.Future[bytes] = loop.create_future()
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        if self.head.done():
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end >= 0:
            if end + 4 < len(self._buffer):  # the origin speaks only after our ClientHello
                self.head.set_exception(ConnectionError("the proxy sent data after its CONNECT reply"))
            else:
                self.head.set_result(self._buffer[:end])
        elif len(self._buffer) > _MAX_REPLY:
            self.head.set_exception(ConnectionError("the proxy's CONNECT reply has no end"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(ConnectionError("the proxy closed the connection before answering CONNECT"))


async def open_tunnel(proxy: ProxyURL, host: str, port: int, protocol_factory: Callable[[], P],
                      ssl_context: ssl.SSLContext) -> tuple[asyncio.Transport, P]:
    """Connect to `proxy`, ask it for a tunnel to `host:port`, and start TLS to `host`
    inside it; returns the TLS transport and the protocol now reading from it. A refusal
    (any status but 2xx) is a ConnectionError quoting the proxy's status line."""
    loop = asyncio.get_running_loop()
    transport, reply = await loop.create_connection(lambda: _Reply(loop), proxy.host, proxy.port)
    try:
        authority = (f"[{host}]" if ":" in host else host) + f":{port}"
        transport.write(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (authority.encode("idna"), authority.encode("idna"), proxy.header()))
        head = await reply.head
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1", errors="replace")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise ConnectionError(f"the proxy {proxy.name} did not answer CONNECT in HTTP ({status_line[:80]!r})")
        if not 200 <= int(fields[1]) < 300:
            raise ConnectionError(f"the proxy {proxy.name} refused the tunnel to {authority}: {status_line[:120]}")
        protocol = protocol_factory()
        tls = await loop.start_tls(transport, protocol, ssl_context, server_hostname=host)
        if tls is None:  # only when the transport closed meanwhile
            raise ConnectionError(f"the tunnel through {proxy.name} closed during the TLS handshake")
        protocol.connection_made(tls)  # start_tls hands the protocol a transport without telling it
        return tls, protocol  # type: ignore[return-value]
    except BaseException:
        transport.abort()
        raise

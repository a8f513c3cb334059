"""A forward HTTP proxy on a loopback port, for the upstream-proxy tests: `CONNECT
host:port` opens a tunnel (the TLS inside it is the client's and the origin's), and an
absolute-form request (`POST http://host:port/path`) is forwarded to its origin. It
counts what it carried and can demand Proxy-Authorization (407 without it)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.loopback import serve_raw_loopback


@dataclass
class ConnectProxy:
    """`url` is http://127.0.0.1:PORT. `tunnels`: the CONNECT targets it opened;
    `forwarded`: the request lines of absolute-form requests it forwarded; `refused`: the
    requests answered 407; `authorizations`: every Proxy-Authorization value it saw."""

    credentials: tuple[str, str] | None = None
    tunnels: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    refused: int = 0
    authorizations: list[str] = field(default_factory=list)
    url: str = ""
    _server: asyncio.AbstractServer | None = None
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> "ConnectProxy":
        self._server, port = await serve_raw_loopback(self._handle)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for task in list(self._pipes):
            task.cancel()
        if self._server is not None:
            self._server.close()

    def _allowed(self, head: list[str]) -> bool:
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        return any(line.split(":", 1)[1].strip() == expected for line in head[1:] if line.lower().startswith("proxy-authorization:"))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        head = raw.decode("latin-1").split("\r\n")
        self.authorizations += [line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("proxy-authorization:")]
        method, target, _ = head[0].split(" ", 2)
        if not self._allowed(head):
            self.refused += 1
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = b""
        else:
            parts = urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            self.forwarded.append(head[0])
            first = raw  # origin servers accept the absolute form too; the rest of the connection is piped as is
        up_writer.write(first)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        dst.close()

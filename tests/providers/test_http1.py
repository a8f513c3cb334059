"""The lean HTTP/1.1 client (providers/http1.py) against real loopback servers: a raw
asyncio server that writes exactly the bytes a test scripts (framing, cuts, garbage,
early closes), aiohttp servers for the ordinary cases, and a TLS server with a
certificate made by openssl for the test."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import zlib
from pathlib import Path
from typing import Awaitable, Callable

import pytest
from crosswalk.providers.errors import ProviderConnectionError, StreamBroken
from crosswalk.providers.http1 import Origin, Pool, TransportError, encode_headers
from crosswalk.providers.openai_wire import OpenAIWireProvider
from crosswalk.providers.base import ChatRequest
from tests.eventually import eventually
from tests.loopback import serve_raw_loopback
from tests.tls_certs import self_signed, server_context

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEAD = {"Content-Type": "application/json"}


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    """One request off the wire: request line, headers (lower-case), body."""
    head = await reader.readuntil(b"\r\n\r\n")
    line, *rows = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (r.split(":", 1) for r in rows if r)}
    body = await reader.readexactly(int(headers.get("content-length", 0)))
    return line.encode(), headers, body


class RawServer:
    """Loopback TCP; each connection runs `handler`. Counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> "RawServer":
        self.server, self.port = await serve_raw_loopback(self._serve)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.port}/v1"


def ok(body: bytes, extra: str = "") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra.encode(), body)


def keep_answering(reply: Callable[[bytes], bytes]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, _, body = await read_request(reader)
            writer.write(reply(body))
            await writer.drain()
    return handler


async def post(pool: Pool, body: bytes = b"{}", path: str = "/chat/completions") -> tuple[int, bytes]:
    response = await pool.request(pool.origin.head("POST", path, HEAD), body)
    return response.status, await response.read()


async def test_keeps_the_connection_alive_and_reuses_it():
    async with RawServer(keep_answering(lambda body: ok(b'{"echo": %s}' % body))) as server:
        pool = Pool(Origin(server.url))
        for i in range(5):
            assert await post(pool, b"%d" % i) == (200, b'{"echo": %d}' % i)
        assert server.connections == 1
        await pool.aclose()


async def test_request_line_carries_base_path_query_host_and_length():
    seen = []

    async def handler(reader, writer):
        seen.append(await read_request(reader))
        writer.write(ok(b"{}"))

    async with RawServer(handler) as server:
        origin = Origin(server.url.replace("/v1", "/openai/deployments/d1?api-version=2024-06-01"))
        pool = Pool(origin)
        await post(pool, b'{"a": 1}')
        line, headers, body = seen[0]
        assert line == b"POST /openai/deployments/d1/chat/completions?api-version=2024-06-01 HTTP/1.1"
        assert headers["host"] == server.url.split("//")[1].split("/")[0]
        assert headers["content-length"] == "8" and body == b'{"a": 1}'
        await pool.aclose()


async def test_chunked_gzip_and_deflate_bodies_are_decoded():
    payload = b'{"choices": []}' * 50

    async def handler(reader, writer):
        for coding, data in (("gzip", gzip.compress(payload)), ("deflate", zlib.compress(payload))):
            await read_request(reader)
            chunks = [data[:7], data[7:]]
            framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + framed)

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        assert await post(pool) == (200, payload)
        assert await post(pool) == (200, payload)
        assert server.connections == 1
        await pool.aclose()


async def test_body_without_length_ends_with_the_connection_and_it_is_not_reused():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b'{"whole": true}')
        await writer.drain()

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        assert await post(pool) == (200, b'{"whole": true}')
        assert await post(pool) == (200, b'{"whole": true}')
        assert server.connections == 2
        await pool.aclose()


async def test_connection_close_header_is_honoured():
    async with RawServer(keep_answering(lambda _: ok(b"{}", "Connection: close\r\n"))) as server:
        pool = Pool(Origin(server.url))
        for _ in range(3):
            assert await post(pool) == (200, b"{}")
        assert server.connections == 3
        await pool.aclose()


async def test_server_closing_an_idle_connection_costs_no_request():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(ok(b"{}"))  # keep-alive by default, but the server hangs up right after
        await writer.drain()

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        assert await post(pool) == (200, b"{}")
        await eventually(lambda: pool._idle[0].closed, what="the hang-up arrives while the connection is idle")
        assert await post(pool) == (200, b"{}")
        assert server.connections == 2
        await pool.aclose()


async def test_idle_connections_expire():
    async with RawServer(keep_answering(lambda _: ok(b"{}"))) as server:
        pool = Pool(Origin(server.url), idle_s=0.0)
        await post(pool)
        idle = pool._idle[0]
        await eventually(lambda: idle.loop.time() > idle.idle_since, what="the pool's clock moves past the release")
        await post(pool)
        assert server.connections == 2
        await pool.aclose()


@pytest.mark.parametrize("reply, responded, says", [
    (b"", False, "closed before the response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\"", True, "closed in the middle of the response"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", False, "malformed HTTP response"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}", True, "content-encoding 'br'"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot-gzip!", True, "does not decode"),
])
async def test_broken_answers_are_transport_errors_and_the_connection_is_dropped(reply, responded, says):
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        with pytest.raises(TransportError) as info:
            await post(pool)
        assert says in str(info.value)
        assert info.value.responded is responded
        assert not pool._idle  # a connection in an unknown state is never handed out again
        await pool.aclose()


async def test_a_response_trickling_in_byte_by_byte_is_read_whole():
    reply = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 12\r\nX-Note: a\r\nX-Note: b\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

    async def handler(reader, writer):
        await read_request(reader)
        for byte in reply:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.0005)

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        response = await pool.request(pool.origin.head("POST", "/chat/completions", HEAD), b"{}")
        assert (response.status, response.reason) == (429, "Too Many Requests")
        assert response.headers["retry-after"] == "12" and response.headers["x-note"] == "a, b"
        assert await response.read() == b"hello"
        await pool.aclose()


async def test_informational_response_is_skipped():
    async with RawServer(keep_answering(lambda _: b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'{"real": 1}'))) as server:
        pool = Pool(Origin(server.url))
        assert await post(pool) == (200, b'{"real": 1}')
        assert await post(pool) == (200, b'{"real": 1}')
        await pool.aclose()


async def test_cancelled_request_hangs_up_and_the_next_one_gets_a_fresh_connection():
    hung_up = asyncio.Event()
    received = asyncio.Event()

    async def handler(reader, writer):
        await read_request(reader)
        received.set()
        if server.connections == 1:  # never answer the first; see the client leave
            assert await reader.read() == b""
            hung_up.set()
            return
        writer.write(ok(b"{}"))
        await writer.drain()

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        task = asyncio.create_task(post(pool))
        await eventually(received.is_set, what="the request reaches the server")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(hung_up.wait(), 5)
        assert await post(pool) == (200, b"{}")
        assert server.connections == 2
        await pool.aclose()


async def test_read_with_a_limit_drops_the_rest_with_the_connection():
    big = b"x" * 300_000
    async with RawServer(keep_answering(lambda _: ok(big))) as server:
        pool = Pool(Origin(server.url))
        response = await pool.request(pool.origin.head("POST", "/chat/completions", HEAD), b"{}")
        assert await response.read(1000) == b"x" * 1000
        assert await post(pool) == (200, big)
        assert server.connections == 2
        await pool.aclose()


async def test_a_body_read_late_pauses_the_connection_and_it_still_serves_the_next_request():
    big = b"y" * 400_000
    async with RawServer(keep_answering(lambda _: ok(big))) as server:
        pool = Pool(Origin(server.url))
        response = await pool.request(pool.origin.head("POST", "/chat/completions", HEAD), b"{}")
        # The body arrives unread: reading pauses past 256 KiB (or the last bytes are in already).
        await eventually(lambda: response._done or (response._conn is not None and response._conn._paused),
                         what="the client stops taking the unread body")
        assert await response.read() == big
        assert await asyncio.wait_for(post(pool), 5) == (200, big)
        assert server.connections == 1
        await pool.aclose()


async def test_pieces_of_a_slow_stream_arrive_as_they_are_written():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"data: one\n", b"\ndata: t", b"wo\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        response = await pool.request(pool.origin.head("POST", "/chat/completions", HEAD), b"{}")
        pieces = [piece async for piece in response.iter_chunks()]
        assert pieces == [b"data: one\n", b"\ndata: t", b"wo\n\n"]
        await pool.aclose()


async def test_closing_the_pool_fails_a_request_in_flight():
    received = asyncio.Event()

    async def handler(reader, writer):
        await read_request(reader)
        received.set()
        await reader.read()  # never answers; done when the client hangs up

    async with RawServer(handler) as server:
        pool = Pool(Origin(server.url))
        task = asyncio.create_task(post(pool))
        await eventually(received.is_set, what="the request reaches the server")
        await pool.aclose()
        with pytest.raises(TransportError, match="closed"):
            await task
        with pytest.raises(TransportError, match="pool .* is closed"):
            await post(pool)


async def test_refused_connection_names_the_origin(closed_port):
    pool = Pool(Origin(f"http://127.0.0.1:{closed_port}/v1"))
    with pytest.raises(TransportError, match=rf"cannot connect to http://127.0.0.1:{closed_port}: ConnectionRefusedError") as info:
        await post(pool)
    assert info.value.responded is False


@pytest.mark.parametrize("headers", [{"x-evil": "a\r\nx-injected: 1"}, {"bad name": "v"}, {"x": "nul\0"}])
def test_header_values_cannot_inject_headers(headers):
    with pytest.raises(ValueError, match="must not contain CR, LF or NUL"):
        encode_headers(headers)


@pytest.mark.parametrize("url", ["ftp://host/v1", "http:///v1", "http://host:99999/v1", "host/v1"])
def test_origin_refuses_urls_it_cannot_reach(url):
    with pytest.raises(ValueError, match="must be http:// or https:// with a host"):
        Origin(url)


def test_origin_formats_ipv6_and_default_ports():
    assert Origin("https://[::1]/v1").host_header == b"[::1]"
    assert Origin("https://api.example.com:443/v1").name == "https://api.example.com"
    assert Origin("http://api.example.com:8080").host_header == b"api.example.com:8080"


# -- through the adapter: what the engine sees ---------------------------------


def adapter(url: str) -> OpenAIWireProvider:
    return OpenAIWireProvider(name="v", model="m", base_url=url, api_key="sk-secret-0123456789")


async def test_adapter_maps_a_cut_before_the_answer_to_a_connection_error():
    async def handler(reader, writer):
        await read_request(reader)

    async with RawServer(handler) as server:
        provider = adapter(server.url)
        with pytest.raises(ProviderConnectionError, match="v: connection to .* closed before the response"):
            await provider.complete(ChatRequest({"messages": [{"role": "user", "content": "hi"}]}))
        await provider.aclose()


async def test_adapter_maps_a_stream_cut_mid_body_to_stream_broken():
    async def handler(reader, writer):
        await read_request(reader)
        part = b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(part), part))
        await writer.drain()

    async with RawServer(handler) as server:
        provider = adapter(server.url)
        chunks = []
        with pytest.raises(StreamBroken) as info:
            async for chunk in provider.stream(ChatRequest({"messages": [{"role": "user", "content": "hi"}]})):
                chunks.append(chunk)
        assert info.value.reason == "cut" and "in the middle of the response" in info.value.message
        assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["Hel"]
        await provider.aclose()


async def test_adapter_sends_the_key_and_reads_a_compressed_answer(upstream):
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok " * 200}}]}
    upstream.reply(200, gzip.compress(json.dumps(answer).encode()), {"Content-Encoding": "gzip"})
    provider = adapter(upstream.url + "/v1")
    got = await provider.complete(ChatRequest({"model": "step", "messages": [{"role": "user", "content": "hi"}]}))
    assert got == answer
    _, path, headers = upstream.hits[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-secret-0123456789"
    assert "gzip" in headers["Accept-Encoding"]
    await provider.aclose()


async def test_adapter_headers_replace_defaults_whatever_their_case():
    heads = []

    async def handler(reader, writer):
        heads.append((await reader.readuntil(b"\r\n\r\n")).lower())
        writer.write(ok(b'{"choices": []}'))

    async with RawServer(handler) as server:
        provider = OpenAIWireProvider(name="v", model="m", base_url=server.url, api_key="sk-key-0123456789",
                                      headers={"User-Agent": "my-app/1", "Authorization": "Bearer other", "X-Team": "a"})
        await provider.complete(ChatRequest({"messages": [{"role": "user", "content": "hi"}]}))
        head = heads[0]
        assert head.count(b"user-agent:") == 1 and b"user-agent: my-app/1\r\n" in head
        assert head.count(b"authorization:") == 1 and b"authorization: bearer sk-key-0123456789\r\n" in head
        assert b"x-team: a\r\n" in head
        await provider.aclose()


# -- TLS -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


async def tls_server(cert: Path, key: Path) -> tuple[asyncio.AbstractServer, int]:
    return await serve_raw_loopback(keep_answering(lambda _: ok(b'{"tls": true}')), ssl_context=server_context(cert, key))


async def test_https_with_a_trusted_certificate(certificate):
    cert, key = certificate
    server, port = await tls_server(cert, key)
    try:
        pool = Pool(Origin(f"https://localhost:{port}/v1"), ssl_context=ssl.create_default_context(cafile=str(cert)))
        assert await post(pool) == (200, b'{"tls": true}')
        assert await post(pool) == (200, b'{"tls": true}')
        await pool.aclose()
    finally:
        server.close()


async def test_https_refuses_an_untrusted_certificate(certificate):
    cert, key = certificate
    server, port = await tls_server(cert, key)
    try:
        pool = Pool(Origin(f"https://localhost:{port}/v1"))  # the system's trust store: self-signed is refused
        with pytest.raises(TransportError, match="cannot connect to .*: its TLS certificate is not trusted .*trusted: the system's CA store") as info:
            await post(pool)
        assert info.value.responded is False
    finally:
        server.close()


async def test_a_tls_handshake_that_never_ends_times_out():
    async def silent(reader, writer):
        await reader.read()  # accepts TCP, never answers the ClientHello; done when the client leaves

    server, port = await serve_raw_loopback(silent)
    try:
        pool = Pool(Origin(f"https://localhost:{port}/v1"), connect_timeout_s=0.2)
        with pytest.raises(TransportError, match="no connection within 0.2s"):
            await post(pool)
    finally:
        server.close()

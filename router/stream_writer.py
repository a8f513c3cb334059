"""Writing a streamed answer with as few system calls as the client's reading allows.

Events that are ready together (several read from one upstream packet, say) leave in one
write; an event is never held back while the socket is writable. How: an event is added to a
batch, and the first event of a batch schedules its flush with `loop.call_soon`. The handler
keeps adding whatever the stream yields without waiting; the flush runs as soon as the
handler suspends (the stream waits for upstream data) and writes the whole batch to the
transport at once. A batch never waits on a timer, only on the handler's own step.

Backpressure stays bounded: when the transport's buffer is over its high-water mark (a
client that stopped reading), `add` has the handler wait for aiohttp's drain, so neither the
batch nor the transport buffer grows past about one batch and one high-water mark."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

# A batch written at once by the handler itself, without waiting for its step to end: a
# stream that yields a lot without suspending still goes out in bounded pieces.
MAX_BATCH = 64 * 1024


class CoalescingWriter:
    """Coalesces a prepared streamed response's body writes (see the module's docstring).
    Call `start` once, right after `response.prepare`, then `add`, and `close` with the last
    bytes (the stream's tail, or an in-band error event)."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._response = response
        self._transport = request.transport
        self._loop = asyncio.get_running_loop()
        self._batch: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self._writer: AbstractStreamWriter | None = None
        self._chunked = False
        # Chunked framing written here matches aiohttp's own; compressed bodies go through
        # aiohttp's writer, event by event, as before.
        self._direct = not response.compression

    async def start(self, writer: AbstractStreamWriter | None, head: bytes) -> None:
        """Send the response's head (with `head`, the stream's first bytes, in the same write)."""
        self._writer = writer
        # The framing the head declared (aiohttp chunks an HTTP/1.1 body of unknown length).
        self._chunked = self._response.headers.get("transfer-encoding", "").lower() == "chunked"
        await self._response.write(head)  # an empty `head` still sends the buffered status and headers

    async def add(self, data: bytes) -> None:
        """Queue `data` for the current batch; wait only while the client is not reading.
        Raises ConnectionResetError once the client has gone."""
        if not self._direct:
            await self._response.write(data)
            return
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self._batch.append(data)
        self._size += len(data)
        if self._size >= MAX_BATCH:
            self._write()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._write)
        if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1] and self._writer is not None:
            await self._writer.drain()

    async def close(self, last: bytes) -> None:
        """End the body: the batch, `last` and the end of the body in one write."""
        self._scheduled = False  # a flush still scheduled finds nothing left to write
        data = b"".join([*self._batch, last])
        self._batch.clear()
        self._size = 0
        await self._response.write_eof(data)

    def _write(self) -> None:
        self._scheduled = False
        if not self._batch:
            return
        data = b"".join(self._batch) if len(self._batch) > 1 else self._batch[0]
        self._batch.clear()
        self._size = 0
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # the client is gone; the handler's next add says so
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        transport.write(data)

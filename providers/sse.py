"""Server-sent events as vendors send them, parsed line by line, and relayed as chunks."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from crosswalk.providers.base import REQUEST_ID
from crosswalk.providers.errors import StreamBroken, redact
from crosswalk.providers.http1 import TransportError

DONE = object()


class _Body(Protocol):
    status: int

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


async def relay(resp: _Body, convert: Callable[[Any], dict[str, Any] | None], *, provider: str, secrets: tuple[str, ...],
                request_id: str | None, http_error: Callable[[Any], Awaitable[Exception]]) -> AsyncIterator[dict[str, Any]]:
    """A streamed answer's chunks: an error status is `http_error(resp)`; else each event's
    data (or `DONE`, the last) goes through `convert` (None: nothing for the caller), and
    the vendor's `request_id` rides on the first chunk (the chain takes it out at its commit
    point). A transport failure is a cut (`StreamBroken`, secrets redacted, as in a vendor's
    error event, which may quote one back); `resp` is closed however the stream ends."""
    try:
        if resp.status >= 400:
            raise await http_error(resp)
        async for data in iter_sse_data(resp.iter_chunks()):
            chunk = convert(data)
            if chunk is None:
                continue
            if request_id is not None:
                chunk[REQUEST_ID], request_id = request_id, None
            yield chunk
    except TransportError as exc:
        raise StreamBroken(redact(f"{provider}: stream cut ({exc})", secrets)[:500], provider=provider, reason="cut") from None
    except StreamBroken as exc:
        raise StreamBroken(redact(str(exc), secrets)[:500], provider=provider, reason=exc.reason, code=exc.code) from None
    finally:
        resp.close()


async def iter_sse_data(body: AsyncIterator[bytes]) -> AsyncIterator[bytes | object]:
    """Yield each event's data as bytes (multi-line data joined by newlines), and `DONE`
    for `data: [DONE]`, from the body as it arrives. Comments, `event:`, `id:` and
    `retry:` fields are skipped. Bytes, not text: the JSON parser takes them as they are
    (no decode and re-encode per event), and data that is not UTF-8 fails it as a
    malformed event instead of being patched with replacement characters and delivered
    as if whole. Lines are split here, piece by piece, rather than yielded one by one by
    another generator: a stream's cost is per event, and most of it was such layers."""
    data: list[bytes] = []
    pending = b""
    async for piece in body:
        *lines, pending = (pending + piece if pending else piece).split(b"\n")
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if line:
                if line.startswith(b"data:"):
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
                continue
            if data:  # a blank line ends the event
                payload = data[0] if len(data) == 1 else b"\n".join(data)
                data = []
                if payload.strip() == b"[DONE]":
                    yield DONE
                    return
                yield payload
    last = pending.rstrip(b"\r")
    if last.startswith(b"data:"):
        data.append(last[6:] if last[5:6] == b" " else last[5:])
    if data:  # the last event lacked its blank line; still deliver it
        payload = b"\n".join(data)
        yield DONE if payload.strip() == b"[DONE]" else payload

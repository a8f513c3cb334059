"""Server-sent events as OpenAI-compatible vendors send them, parsed line by line."""

from __future__ import annotations

from typing import AsyncIterator

DONE = object()


async def iter_sse_data(lines: AsyncIterator[bytes]) -> AsyncIterator[str | object]:
    """Yield each event's data (multi-line data joined by newlines), and `DONE` for
    `data: [DONE]`. Comments, `event:`, `id:` and `retry:` fields are skipped."""
    data: list[str] = []
    async for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                payload = "\n".join(data)
                data = []
                if payload.strip() == "[DONE]":
                    yield DONE
                    return
                yield payload
            continue
        if line.startswith("data:"):
            data.append(line[6:] if line[5:6] == " " else line[5:])
    if data:  # the last event lacked its blank line; still deliver it
        payload = "\n".join(data)
        yield DONE if payload.strip() == "[DONE]" else payload

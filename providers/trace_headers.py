"""The trace headers a vendor call carries (W3C `traceparent` / `tracestate`).

The router (router/tracing.py) knows the trace; the adapters here send the calls. The
layers must not import upward, so the router puts the headers of the current span in a
context variable and the adapters read it: it follows the request into every task it
starts (hedges, panel members), and costs one lookup per call when nothing is traced.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Mapping

_CURRENT: ContextVar[Mapping[str, str] | None] = ContextVar("crosswalk_trace_headers", default=None)


def current() -> Mapping[str, str] | None:
    """The trace headers for a vendor call made now, or None when nothing is traced."""
    return _CURRENT.get()


def use(headers: Mapping[str, str] | None) -> Token[Mapping[str, str] | None]:
    """Make `headers` the trace headers of vendor calls from this context on; give the
    token to `restore` when the span they belong to ends. The router builds them with the
    W3C propagator, so names and values are header-safe."""
    return _CURRENT.set(headers or None)


def restore(token: Token[Mapping[str, str] | None]) -> None:
    """Undo the `use` that returned `token`."""
    _CURRENT.reset(token)


def encoded(head: bytes) -> bytes:
    """An HTTP/1.1 request head (up to its last header line) with the current trace
    headers added; `head` itself when nothing is traced."""
    headers = _CURRENT.get()
    if not headers:
        return head
    return head + "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")

"""What a configured base URL and configured headers must be before they go on the wire.

Pure checks (no sockets, no asyncio, no ssl, no HTTP parser), so config validation
(`policies.schema`) can run them without importing the HTTP client (`providers.http1`),
which runs the same ones when it builds an origin and a header block.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple
from urllib.parse import urlsplit

from crosswalk.providers.redaction import redact_url


class OriginParts(NamedTuple):
    """A base URL taken apart: scheme, host and port (the default one when left out), and
    the path and query every request's target carries."""

    scheme: str
    host: str
    port: int
    path: str
    query: str


def origin_parts(base_url: str) -> OriginParts:
    """`base_url` split for an HTTP client, or a ValueError (the URL shown redacted) when
    it is not http:// or https:// with a host and a valid port."""
    parts = urlsplit(base_url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ValueError(f"base_url {redact_url(base_url)!r}: must be http:// or https:// with a host (and a valid port)")
    return OriginParts(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), parts.path, parts.query)


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise ValueError unless every name is a token and no value holds CR, LF or NUL, so
    a configured header can never smuggle another header or a second request."""
    for name, value in headers.items():
        if not name or any(c in name for c in ":\r\n \t") or any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name!r}: names must be tokens and values must not contain CR, LF or NUL")

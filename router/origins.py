"""Vendors' addresses kept from callers.

A transport failure's words name where the call went ("connection to
http://10.0.3.7:8443 closed ..."): the operator needs that (the log, the provider-state
endpoint keep it), a caller of the proxy does not, and it maps the deployment for anyone
holding a key. `hide_origins` replaces, in text bound for a caller (a 502's message, an
in-band stream error, a recovery event), every URL's scheme and authority, every
configured provider's host (alone or with its port), and any `host:port` or IP address,
with `<upstream>`; the provider's configured name stays, so the caller still learns who
failed and how.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import urlsplit

HIDDEN = "<upstream>"
_GENERIC = (
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/\"'\\<>]+",  # scheme://authority (userinfo and port included)
    r"\[[0-9a-fA-F:.]+\](?::\d+)?",  # [IPv6]:port
    r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b",  # IPv4[:port]
    r"\b(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}:\d+\b",  # host.name:port
)


@lru_cache(maxsize=8)
def _pattern(hosts: tuple[str, ...]) -> re.Pattern[str]:
    named = [re.escape(h) + r"(?::\d+)?" for h in sorted(hosts, key=len, reverse=True)]
    return re.compile("|".join((*_GENERIC, *(rf"(?<![\w.-]){n}(?![\w-])" for n in named))))


def configured_hosts(base_urls: Iterable[str | None]) -> tuple[str, ...]:
    """The hosts of the configured base URLs (the key `hide_origins` is cached on)."""
    hosts = set()
    for url in base_urls:
        if url:
            host = urlsplit(url).hostname
            if host:
                hosts.add(host)
    return tuple(sorted(hosts))


def hide_origins(text: str, hosts: tuple[str, ...] = ()) -> str:
    """`text` with every address in it (URLs' scheme and authority, `hosts`, host:port,
    IP addresses) replaced by `<upstream>`."""
    return _pattern(hosts).sub(HIDDEN, text)


def hide_in(value: Any, hosts: tuple[str, ...] = ()) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with `hide_origins` applied to every string."""
    if isinstance(value, str):
        return hide_origins(value, hosts)
    if isinstance(value, dict):
        return {k: hide_in(v, hosts) for k, v in value.items()}
    if isinstance(value, list):
        return [hide_in(v, hosts) for v in value]
    return value

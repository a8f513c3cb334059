"""How the lean client reaches a vendor: directly or through an HTTP proxy, and trusting
which certificate authorities.

Proxies come from the standard variables, read from an environment mapping passed in
(never `os.environ` here): `https_proxy` for https origins, `http_proxy` for plain http
ones, `all_proxy` for either, lower case first, then upper case (as curl, urllib and
httpx do; upper-case HTTP_PROXY is ignored when REQUEST_METHOD is set, the "httpoxy"
guard, since a CGI request can set it). `no_proxy` lists origins reached directly:
`*` (all), host names matching themselves and their subdomains (`example.com`,
`.example.com`, `*.example.com`), IP addresses and CIDR blocks (`10.0.0.0/8`), each
optionally with `:port`. A proxy URL is `http://[user:password@]host[:port]`; its
credentials become `Proxy-Authorization: Basic` and never appear in a message (a proxy is
named by host and port only).

CAs: a provider's `ca_bundle`, else SSL_CERT_FILE, else REQUESTS_CA_BUNDLE, else the
system's store. A bundle that cannot be read is a ValueError naming where the path came
from, so config loading can report it as a config error.
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import unquote, urlsplit

from crosswalk.providers.wire_checks import origin_parts


@dataclass(frozen=True, slots=True)
class ProxyURL:
    """An HTTP proxy: where it listens and the Proxy-Authorization it needs (if any).
    `repr` and `name` never show the credentials."""

    host: str
    port: int
    authorization: str | None = None

    @property
    def name(self) -> str:
        """`http://host:port`, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"ProxyURL({self.name!r}{', with credentials' if self.authorization else ''})"

    def header(self) -> bytes:
        """The Proxy-Authorization header line (with CRLF), or nothing."""
        return b"Proxy-Authorization: %s\r\n" % self.authorization.encode("latin-1") if self.authorization else b""


def parse_proxy(value: str, *, source: str) -> ProxyURL:
    """A proxy URL from `source` (the variable it came from, for the error message)."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text  # `host:port`, as curl accepts
    try:
        parts = urlsplit(text)
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"{source}: not a proxy URL ({exc}); use http://host:port") from None
    if parts.scheme != "http" or not parts.hostname:
        shown = f"{parts.scheme}://{parts.hostname or ''}"
        raise ValueError(f"{source}: only http:// proxies are supported (got {shown}); use http://host:port "
                         "(https origins are tunnelled through it with CONNECT, so the TLS session is still end to end)")
    auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    return ProxyURL(parts.hostname, port, auth)


def _env(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable, value) of `name` in lower case, else upper case; empty counts as unset."""
    for var in (name.lower(), name.upper()):
        if var == "HTTP_PROXY" and "REQUEST_METHOD" in env:
            continue  # httpoxy: in a CGI process, HTTP_PROXY may be a request's "Proxy:" header
        value = env.get(var, "").strip()
        if value:
            return var, value
    return None


def proxy_for(base_url: str, env: Mapping[str, str]) -> ProxyURL | None:
    """The proxy for requests to `base_url`, or None to connect directly."""
    parts = origin_parts(base_url)
    found = _env(env, f"{parts.scheme}_proxy") or _env(env, "all_proxy")
    if found is None:
        return None
    no_proxy = _env(env, "no_proxy")
    if no_proxy is not None and bypasses(no_proxy[1], parts.host, parts.port):
        return None
    return parse_proxy(found[1], source=found[0])


def bypasses(no_proxy: str, host: str, port: int) -> bool:
    """Whether a `no_proxy` list sends `host:port` directly."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, or a bare entry (an IPv6 address or CIDR keeps its colons)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def ca_source(ca_bundle: str | None, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(where it came from, path) of the CA bundle to trust, or None for the system's."""
    if ca_bundle:
        return "ca_bundle", ca_bundle
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if env.get(var, "").strip():
            return var, env[var].strip()
    return None


Contexts = dict[str, ssl.SSLContext]


def tls_context(ca_bundle: str | None, env: Mapping[str, str], *, cache: Contexts | None = None) -> tuple[ssl.SSLContext | None, str]:
    """The TLS context for https origins and a description of what it trusts. None (with
    the system's store meant) when nothing is configured: the pool makes the default one
    lazily, so a config of plain-http vendors never loads a CA store. `cache` (by path)
    lets the providers of one config share a context: loading a bundle costs ~0.1 s."""
    found = ca_source(ca_bundle, env)
    if found is None:
        return None, "the system's CA store"
    source, path = found
    trust = f"the CA bundle {path} ({source})"
    if cache is not None and path in cache:
        return cache[path], trust
    try:
        context = ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise ValueError(f"{source}: no such file {path!r}; give the path of a PEM file of CA certificates") from None
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise ValueError(f"{source}: cannot load CA certificates from {path!r} ({reason}); give a PEM file of CA certificates") from None
    if cache is not None:
        cache[path] = context
    return context, trust


@dataclass(frozen=True, slots=True)
class Upstream:
    """How one provider reaches its origin: `proxy` (None: directly), the TLS context for
    an https origin (None: the system's store, made lazily) and what it trusts, in words."""

    proxy: ProxyURL | None = None
    ssl_context: ssl.SSLContext | None = None
    trust: str = "the system's CA store"


def upstream_for(base_url: str, *, ca_bundle: str | None, env: Mapping[str, str], contexts: Contexts | None = None) -> Upstream:
    """The proxy and TLS settings for `base_url` from `ca_bundle` and the environment
    (`contexts`: see `tls_context`). Raises ValueError naming the setting at fault."""
    proxy = proxy_for(base_url, env)
    if not base_url.startswith("https://") and not ca_bundle:
        return Upstream(proxy)  # no TLS, so no CA store to load (~0.1 s a bundle) for SSL_CERT_FILE
    context, trust = tls_context(ca_bundle, env, cache=contexts)  # a configured bundle is checked even for http
    return Upstream(proxy, context, trust)

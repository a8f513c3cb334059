"""What of a URL must never be shown: the userinfo's password (or a lone user name, which
is often a token) and query parameters whose names look secret (`api-key`, `key`,
`token`, `access_token`, `password`, `sig`, ...).

Vendors' base URLs and Redis URLs carry credentials this way (Azure SAS `sig=`, gateways'
`?key=`, `redis://:pw@host`, `redis://host?password=pw`), and a URL is shown in many
places: config errors, reprs, logs, `/readyz`. Each of them calls `redact_url`; adapters
add `url_secrets` to the secrets they scrub from free text (a vendor may echo the URL it
was called on). The lowest layer holds this so that `policies` and `router` share it.
"""

from __future__ import annotations

from urllib.parse import unquote

MASK = "***"

# Parts of a parameter name that mark its value secret. Matching parts rather than whole
# names over-masks now and then (`author=`); showing a credential would be worse.
_SECRET_PARTS = ("key", "token", "secret", "password", "passwd", "pwd", "sig", "auth", "credential", "session", "cookie")


def is_secret_param(name: str) -> bool:
    """True when a query parameter called `name` probably carries a credential."""
    lowered = unquote(name).lower()
    return any(part in lowered for part in _SECRET_PARTS)


def _split(url: str) -> tuple[str, str, str, str, str]:
    """scheme://, userinfo, host[:port] and path, query, fragment; textual, so a URL that
    does not parse (a bad port, a broken IPv6 literal) is still split and still redacted."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    else:
        scheme += sep
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    return scheme, userinfo if at else "", hostport + slash + path, query, fragment


def _params(text: str) -> list[tuple[str, str | None]]:
    return [(name, value if eq else None) for name, eq, value in (p.partition("=") for p in text.split("&"))]


def _masked_params(text: str) -> str:
    out = []
    for name, value in _params(text):
        if value is None:
            out.append(name)
        else:
            out.append(f"{name}={MASK if value and is_secret_param(name) else value}")
    return "&".join(out)


def redact_url(url: str) -> str:
    """`url` with its credentials replaced by `***`: `https://user:***@host/v1?api-key=***`.
    The user name stays when a password follows it; a lone one is masked."""
    scheme, userinfo, rest, query, fragment = _split(url)
    out = scheme
    if userinfo:
        user, colon, _ = userinfo.partition(":")
        out += f"{user}:{MASK}@" if colon else f"{MASK}@"
    out += rest
    if query:
        out += "?" + _masked_params(query)
    if fragment:
        out += "#" + _masked_params(fragment)
    return out


def url_secrets(url: str) -> tuple[str, ...]:
    """The credential values in `url`, as written and percent-decoded, for `redact`ing any
    text that might quote them."""
    _, userinfo, _, query, fragment = _split(url)
    found: list[str] = []
    if userinfo:
        user, colon, password = userinfo.partition(":")
        found.append(password if colon else user)
    for text in (query, fragment):
        found += [value for name, value in _params(text) if value and is_secret_param(name)]
    both = [form for value in found for form in (value, unquote(value)) if form]
    return tuple(dict.fromkeys(both))

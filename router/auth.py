"""Bearer-key checks for the proxy: constant-time, keys never logged."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import os
from typing import Iterable


def keys_from(config_keys: Iterable[str], env: dict[str, str] | None = None) -> tuple[str, ...]:
    """Keys from config plus CROSSWALK_API_KEYS (comma-separated) in the environment."""
    env = dict(os.environ) if env is None else env
    extra = [k.strip() for k in env.get("CROSSWALK_API_KEYS", "").split(",") if k.strip()]
    return tuple(dict.fromkeys([*config_keys, *extra]))


def authorized(header: str | None, keys: tuple[str, ...], *, api_key: str | None = None) -> bool:
    """True when `Authorization: Bearer <key>`, or `x-api-key: <key>` (`api_key`, as
    Anthropic's clients send it), carries one of `keys` (or no keys are set). The scheme is
    case-insensitive (RFC 7235); a header that is not ASCII never matches."""
    if not keys:
        return True
    if header and header[:7].lower() == "bearer " and header.isascii():
        presented = header[7:].strip().encode()
    elif api_key and api_key.isascii():
        presented = api_key.strip().encode()
    else:
        return False
    # Compare against every key, so timing does not reveal which (or whether one) matched.
    results = [hmac.compare_digest(presented, key.encode()) for key in keys]
    return any(results)


def page_authorized(header: str | None, keys: tuple[str, ...]) -> bool:
    """For the operator's page (/ui), which a browser opens: a bearer key as for the API,
    or HTTP Basic with a key as the password (any user name), which a browser asks for."""
    if not keys or authorized(header, keys):
        return True
    if not header or header[:6].lower() != "basic " or not header.isascii():
        return False
    try:
        _, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return bool(sep) and authorized(f"Bearer {password}", keys)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

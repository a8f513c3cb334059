"""The operator's calls to a running sidecar (`crosswalk serve`), for the CLI: `crosswalk unexclude PROVIDER
--url PROXY` lifts a provider's hard exclusion (POST /v1/crosswalk/providers/{name}/unexclude;
with shared state the proxy tells the other replicas), and `crosswalk explain --url` asks the
proxy to explain a step with its own config and provider states (GET /v1/crosswalk/explain).
The key is --key, else $CROSSWALK_API_KEY, else the first of $CROSSWALK_API_KEYS (what
`serve` reads)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ProxyCallError(Exception):
    """The proxy refused or could not be reached; the message says why."""


def operator_key(given: str | None) -> str | None:
    """The key for an operator call: --key, else $CROSSWALK_API_KEY (the older single
    name), else the first key of $CROSSWALK_API_KEYS (comma-separated, as `serve` reads it)."""
    if given:
        return given
    single = os.environ.get("CROSSWALK_API_KEY", "").strip()
    keys = [k.strip() for k in os.environ.get("CROSSWALK_API_KEYS", "").split(",") if k.strip()]
    return single or (keys[0] if keys else None)


def lift(url: str, key: str | None, provider: str) -> dict[str, Any]:
    """Ask the proxy at `url` to lift `provider`'s exclusion; returns its JSON answer."""
    return call(url, key, f"/v1/crosswalk/providers/{urllib.parse.quote(provider, safe='')}/unexclude", method="POST")


def call(url: str, key: str | None, path: str, *, method: str = "GET") -> dict[str, Any]:
    """One operator request to the proxy at `url`; its JSON answer, or ProxyCallError
    with the proxy's own error message (or why it could not be reached)."""
    request = urllib.request.Request(url.rstrip("/") + path, data=b"" if method == "POST" else None, method=method)
    if key:
        request.add_header("authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise ProxyCallError(f"{exc.code}: {message}") from None
    except (OSError, ValueError) as exc:
        raise ProxyCallError(f"cannot reach {url}: {exc}") from None


def describe(answer: dict[str, Any]) -> str:
    """One line for the terminal."""
    name, lifted = answer.get("provider"), answer.get("lifted")
    dropped = answer.get("sightings_dropped") or 0
    tail = f"; {dropped} pending sighting(s) dropped" if dropped else ""
    if lifted is None:
        return f"{name}: no exclusion was in force on this replica (lift sent to the others, if shared){tail}; now {answer.get('state')}"
    return (f"{name}: lifted {lifted['failure_class']} exclusion ({lifted['basis']}) since {lifted['at']}: "
            f"{lifted['evidence']}{tail}; now {answer.get('state')}")

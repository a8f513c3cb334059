"""`crosswalk unexclude PROVIDER --url PROXY [--key KEY]`: an operator lifts a provider's
hard exclusion on a running sidecar (POST /v1/crosswalk/providers/{name}/unexclude). With
shared state the proxy tells the other replicas."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class UnexcludeError(Exception):
    """The proxy refused or could not be reached; the message says why."""


def lift(url: str, key: str | None, provider: str) -> dict[str, Any]:
    """Ask the proxy at `url` to lift `provider`'s exclusion; returns its JSON answer."""
    path = f"/v1/crosswalk/providers/{urllib.parse.quote(provider, safe='')}/unexclude"
    request = urllib.request.Request(url.rstrip("/") + path, data=b"", method="POST")
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
        raise UnexcludeError(f"{exc.code}: {message}") from None
    except (OSError, ValueError) as exc:
        raise UnexcludeError(f"cannot reach {url}: {exc}") from None


def describe(answer: dict[str, Any]) -> str:
    """One line for the terminal."""
    name, lifted = answer.get("provider"), answer.get("lifted")
    dropped = answer.get("sightings_dropped") or 0
    tail = f"; {dropped} pending sighting(s) dropped" if dropped else ""
    if lifted is None:
        return f"{name}: no exclusion was in force on this replica (lift sent to the others, if shared){tail}; now {answer.get('state')}"
    return (f"{name}: lifted {lifted['failure_class']} exclusion ({lifted['basis']}) since {lifted['at']}: "
            f"{lifted['evidence']}{tail}; now {answer.get('state')}")

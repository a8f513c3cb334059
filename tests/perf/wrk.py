"""Driving a proxy with wrk (non-streaming chat completions) and waiting for HTTP servers:
shared by the proxy benchmarks."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Mapping

from tests.perf.conftest import pinned

DURATION_S = 6
CONNECTIONS = 16

LUA = """
wrk.method = "POST"
wrk.body = '{"model": "%s", "messages": [{"role": "user", "content": "What is the refund for order 1182?"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def wait_http(url: str, timeout: float = 20.0) -> float:
    """Seconds until `url` answers at all (any HTTP status counts as up)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return time.perf_counter() - t0
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error status means it is up
                return time.perf_counter() - t0
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, model: str, tmp: Path, key: str = "bench-key", *, headers: Mapping[str, str] | None = None,
        duration_s: int = DURATION_S) -> dict[str, float]:
    """wrk -c16 on CPU 0 against `url`/v1/chat/completions: req/s, p50 and p99 (ms)."""
    script = tmp / f"{model}-{key}-{len(headers or {})}.lua"
    script.write_text(LUA % (model, key) + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items()))
    out = subprocess.run(
        pinned(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration_s}s", "--latency", "-s", str(script), url + "/v1/chat/completions"], 0),
        capture_output=True, text=True, check=True,
    ).stdout
    assert "Non-2xx" not in out, out
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        lat[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"]}

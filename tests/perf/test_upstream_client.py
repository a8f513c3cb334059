"""Why `openai`-kind providers use providers/http1.py: the CPU each upstream call costs
the client, aiohttp's ClientSession against the lean pool, alternated in one run against
the same loopback upstream (16 calls in flight, client pinned to CPU 1)."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from tests.perf.conftest import pinned, report

SCRIPT = Path(__file__).with_name("client_cpu.py")
CALLS = 20000
ROUNDS = 3


def _cpu_us(url: str, client: str) -> float:
    out = subprocess.run(pinned([sys.executable, str(SCRIPT), url, client, str(CALLS)], 1),
                         capture_output=True, text=True, check=True, cwd=SCRIPT.parents[2])
    return float(out.stdout.strip())


def test_lean_client_costs_well_under_aiohttp(upstream_url):
    runs: dict[str, list[float]] = {"aiohttp": [], "http1": []}
    for _ in range(ROUNDS):
        for client in runs:
            runs[client].append(_cpu_us(upstream_url, client))
    aiohttp_us, http1_us = statistics.median(runs["aiohttp"]), statistics.median(runs["http1"])
    report("upstream client CPU per call (median of 3 alternated runs)", [
        ("aiohttp ClientSession", f"{aiohttp_us:6.1f} us/call  {runs['aiohttp']}"),
        ("providers/http1.py Pool", f"{http1_us:6.1f} us/call  {runs['http1']}"),
        ("http1 / aiohttp", f"{http1_us / aiohttp_us:.2f}x"),
    ])
    assert http1_us <= 0.6 * aiohttp_us, runs

"""The proxy's CPU per request by dialect, side by side in one run on one `crosswalk serve`:
a Chat Completions request to an OpenAI-wire provider (the baseline), a Messages request
served natively by a `kind: anthropic` provider, and a Messages request translated for an
OpenAI-wire provider (what a failover across dialects costs).

CPU, not wall time: the upstream and the load generator share CPU 0, the proxy runs on
CPU 1, and the figure is the proxy process's own user + system time (from /proc) over the
requests it served. Rounds are interleaved, the best of each kept."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiohttp
import pytest

from tests.perf.conftest import free_port, pinned, report
from tests.perf.test_proxy_throughput import _wait_http
from tests.perf.test_stream_cpu import _cpu_s

REQUESTS = 1500
IN_FLIGHT = 16
ROUNDS = 3
KEY = "bench-key"
ASK = [{"role": "user", "content": "What is the refund for order 1182?"}]
LOADS = {  # name: (path, body)
    "chat completions -> openai provider": ("/v1/chat/completions", {"model": "chat", "messages": ASK}),
    "messages -> anthropic provider (native)": ("/v1/messages", {"model": "native", "max_tokens": 64, "messages": ASK}),
    "messages -> openai provider (translated)": ("/v1/messages", {"model": "translated", "max_tokens": 64, "messages": ASK}),
}


async def _drive(url: str, path: str, body: dict) -> None:
    left = REQUESTS
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(url + path, json=body, headers={"x-api-key": KEY}) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


def _us_per_request(pid: int, url: str, path: str, body: dict) -> float:
    cpu = _cpu_s(pid)
    asyncio.run(_drive(url, path, body))
    return (_cpu_s(pid) - cpu) / REQUESTS * 1e6


@pytest.mark.timeout(600)
def test_messages_cpu_native_and_translated_vs_chat(upstream_url, tmp_path):
    root = upstream_url.removesuffix("/v1")
    cfg = tmp_path / "dialects.yaml"
    cfg.write_text(f"""
providers:
  up: {{kind: openai, model: bench-model, base_url: "{upstream_url}", api_key: sk-up}}
  claude: {{kind: anthropic, model: bench-claude, base_url: "{root}", api_key: sk-ant-up}}
steps:
  chat: {{providers: [up]}}
  native: {{providers: [claude]}}
  translated: {{providers: [up]}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0}}
""")
    port = free_port()
    proxy = subprocess.Popen(pinned([sys.executable, "-m", "crosswalk.router.cli", "serve", "--config", str(cfg), "--port", str(port)], 1),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/healthz")
        for path, body in LOADS.values():  # warm-up: imports, connection pools
            _us_per_request(proxy.pid, url, path, body)
        best: dict[str, float] = {}
        t0 = time.perf_counter()
        for _ in range(ROUNDS):
            for name, (path, body) in LOADS.items():
                best[name] = min(best.get(name, float("inf")), _us_per_request(proxy.pid, url, path, body))
        wall = time.perf_counter() - t0
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
    base = best["chat completions -> openai provider"]
    rows = [(name, f"{us:7.1f} us CPU per request ({us / base:.2f}x chat)") for name, us in best.items()]
    rows.append(("measured", f"{ROUNDS} rounds x {REQUESTS} requests per load, {IN_FLIGHT} in flight, {wall:.1f} s"))
    report("proxy CPU per request by dialect (non-streamed)", rows)
    # Native pass-through must cost no more than the Chat path it sits beside (10 % for noise).
    assert best["messages -> anthropic provider (native)"] <= base * 1.10

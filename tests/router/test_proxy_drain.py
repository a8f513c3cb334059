"""SIGTERM under load: a real `crosswalk serve` keeps serving through its drain window.

Keep-alive clients (aiohttp's, which reconnect after `Connection: close` as any HTTP/1.1
client does) send streamed and non-streamed requests over loopback before and during
the window; every one of them must be answered whole, and every answer sent in the
window must tell its client to close (so it reconnects, in production to a replica that
stays). A stream still waiting for its first token when the window ends (the listener
closes) is finished before the process exits."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import aiohttp

import tests.fakevendor as fv
from tests.eventually import eventually
from tests.router.proxy_harness import ProxyProcess

KEY = "drain-key-0123456789"
CLIENTS = 16
BODY = {"model": "draft", "messages": [{"role": "user", "content": "What refund do we owe?"}]}


class Tally:
    """What the load loop saw: answers (whole, by kind) and failures (with their reason)."""

    def __init__(self) -> None:
        self.ok = {"stream": 0, "plain": 0}
        self.failed: list[str] = []
        self.in_window = 0
        self.kept_alive_in_window = 0
        self.before = 0


async def _one(session: aiohttp.ClientSession, url: str, stream: bool, tally: Tally, window: asyncio.Event) -> None:
    body = {**BODY, "stream": stream}
    sent_in_window = window.is_set()
    try:
        async with session.post(url, json=body, headers={"authorization": f"Bearer {KEY}"}) as resp:
            data = await resp.read()
            if resp.status != 200:
                tally.failed.append(f"HTTP {resp.status}: {data[:200]!r}")
                return
            if stream and not data.rstrip().endswith(b"data: [DONE]"):
                tally.failed.append(f"stream without [DONE]: {data[-200:]!r}")
                return
            if not stream:
                json.loads(data)
            if sent_in_window:
                tally.in_window += 1
                if resp.headers.get("connection", "").lower() != "close":
                    tally.kept_alive_in_window += 1
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        tally.failed.append(f"{type(exc).__name__}: {exc}")
        return
    tally.ok["stream" if stream else "plain"] += 1


async def _client(url: str, index: int, until: list[float], tally: Tally, window: asyncio.Event) -> None:
    connector = aiohttp.TCPConnector(limit=1)  # one keep-alive connection, reused while the server allows
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        n = index
        while time.monotonic() < until[0]:
            await _one(session, url, n % 2 == 0, tally, window)
            n += 1


async def _draining(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(url + "/readyz") as resp:
                if resp.status == 503:
                    return
            await asyncio.sleep(0.01)
    raise AssertionError("the proxy never said it was draining")


async def _load_and_drain(proxy: ProxyProcess, url: str, tally: Tally, window: asyncio.Event, until: list[float]) -> None:
    """Keep-alive load; SIGTERM once every client holds a connection; the load goes on
    for 1.2 s of the 3 s window."""
    load = [asyncio.create_task(_client(url, i, until, tally, window)) for i in range(CLIENTS)]
    await asyncio.sleep(0.4)  # every client holds a kept-alive connection
    tally.before = sum(tally.ok.values())
    proxy.proc.send_signal(signal.SIGTERM)
    await _draining(proxy.url)
    window.set()
    until[0] = time.monotonic() + 1.2  # well inside the 3 s window: every request sent must be served
    await asyncio.gather(*load)


async def test_sigterm_under_keep_alive_load_loses_no_request(fake_vendor, tmp_path):
    vendor = await fake_vendor("primary", answer="The refund is $42.99.")
    cfg = tmp_path / "drain.yaml"
    cfg.write_text(f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{vendor.base_url}", vendor: alpha}}
steps:
  draft: {{providers: [primary]}}
proxy: {{api_keys: [{KEY}], drain_s: 3}}
health: {{probe_interval_s: 0}}
""")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    tally, window = Tally(), asyncio.Event()
    until = [time.monotonic() + 60]
    url = proxy.url + "/v1/chat/completions"
    try:
        # A stream whose first token comes only after the window ends: in flight, it finishes.
        vendor.script(fv.ok(delay_s=4.5))  # the window ends about 3.5 s after it starts
        slow_tally = Tally()
        async with aiohttp.ClientSession() as slow_session:
            slow = asyncio.create_task(_one(slow_session, url, True, slow_tally, asyncio.Event()))
            await eventually(lambda: vendor.count == 1, what="the slow stream reached the vendor")
            await _load_and_drain(proxy, url, tally, window, until)
            await slow
        rc = await asyncio.to_thread(proxy.proc.wait, 15)
    finally:
        await asyncio.to_thread(proxy.stop)
    assert slow_tally.failed == [] and slow_tally.ok["stream"] == 1
    assert tally.before > 0
    assert tally.failed == [], f"{len(tally.failed)} failed of {len(tally.failed) + sum(tally.ok.values())}: {tally.failed[:5]}"
    assert tally.in_window > CLIENTS and tally.ok["stream"] > CLIENTS and tally.ok["plain"] > CLIENTS
    assert tally.kept_alive_in_window == 0  # every answer in the window said Connection: close
    assert rc == 0
    assert "Traceback" not in proxy.log()

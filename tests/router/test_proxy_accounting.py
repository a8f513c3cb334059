"""Every upstream call is counted once, whoever cancelled it: through a real `crosswalk
serve`, /metrics against the calls the fake vendors counted. A caller that hangs up (before
the answer, before a stream's first token, mid-stream) leaves a `cancelled` request, its
calls as `cancelled` attempts and a decision line; panel members cancelled once the quorum
agreed are `cancelled` attempts too."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request

import openai
from prometheus_client.parser import text_string_to_metric_families

import tests.fakevendor as fv
from tests.eventually import eventually
from tests.router.proxy_harness import ProxyProcess

KEY = "accounting-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe?"}]
ANSWER = "The refund is $42.99."


def _config(primary: fv.FakeVendor, secondary: fv.FakeVendor, third: fv.FakeVendor) -> str:
    return f"""
providers:
  primary:   {{kind: openai, model: gpt-4o-mini, base_url: "{primary.base_url}", vendor: alpha, family: fa}}
  secondary: {{kind: openai, model: mistral-large, base_url: "{secondary.base_url}", vendor: beta, family: fb}}
  third:     {{kind: openai, model: m-third, base_url: "{third.base_url}", vendor: gamma, family: fc}}
steps:
  draft: {{providers: [primary], timeouts: {{per_try_s: 20, ttft_s: 20, idle_s: 20, total_s: 25}}}}
  refund: {{providers: [primary, secondary, third], verify: {{agree: {{min: 2, of: 3}}, compare: numeric}}}}
  shadowed: {{providers: [primary, secondary, third], verify: {{agree: {{min: 2, of: 3}}, compare: numeric, sample: 0.5}}}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0}}
"""


def _metrics(proxy: ProxyProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    req = urllib.request.Request(proxy.url + "/metrics", headers={"authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _sum(rows: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in rows.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def _request(stream: bool) -> bytes:
    body = json.dumps({"model": "draft", "messages": MSG, "stream": stream}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _hang_up_after_the_call(proxy: ProxyProcess, vendor: fv.FakeVendor, stream: bool, *, read_first: bool) -> None:
    """Send a request, wait until the vendor has it (and, with `read_first`, until the
    answer's first bytes arrived), then hang up."""
    calls = vendor.count
    sock = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", proxy.port), 10)
    try:
        await asyncio.to_thread(sock.sendall, _request(stream))
        await eventually(lambda: vendor.count == calls + 1, what="the call reached the vendor")
        if read_first:
            assert (await asyncio.to_thread(sock.recv, 65536)).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


async def test_a_caller_who_hangs_up_leaves_a_counted_request_and_counted_calls(fake_vendor, tmp_path):
    primary, secondary, third = [await fake_vendor(n, answer=ANSWER) for n in ("primary", "secondary", "third")]
    cfg = tmp_path / "acc.yaml"
    cfg.write_text(_config(primary, secondary, third))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg, extra=["--log-level", "info"]).wait_ready())
    try:
        for _ in range(3):
            primary.script(fv.ok(delay_s=10))  # non-streamed: no answer yet
            await _hang_up_after_the_call(proxy, primary, False, read_first=False)
            primary.script(fv.ok(delay_s=10))  # streamed: the role chunk came, no first token yet
            await _hang_up_after_the_call(proxy, primary, True, read_first=False)
            primary.script(fv.stall(after=3))  # streamed: past its first token, then silent
            await _hang_up_after_the_call(proxy, primary, True, read_first=True)

        async def settled() -> bool:
            rows = await asyncio.to_thread(_metrics, proxy)
            return _sum(rows, "crosswalk_requests_total", step="draft", outcome="cancelled") == 9

        await eventually(settled, within=10, what="9 cancelled requests on /metrics")
        rows = await asyncio.to_thread(_metrics, proxy)
        assert primary.count == 9
        assert _sum(rows, "crosswalk_requests_total", step="draft") == 9
        assert _sum(rows, "crosswalk_attempts_total", step="draft", provider="primary") == primary.count
        assert _sum(rows, "crosswalk_attempts_total", step="draft", provider="primary", result="cancelled") == 9
    finally:
        await asyncio.to_thread(proxy.stop)
    decisions = [line for line in proxy.log().splitlines() if "crosswalk decision step=draft" in line]
    assert len(decisions) == 9 and all("cancelled=true" in line and "primary:cancelled" in line for line in decisions)


async def test_panel_members_cancelled_once_the_quorum_agreed_are_counted(fake_vendor, tmp_path):
    primary, secondary, third = [await fake_vendor(n, answer=ANSWER) for n in ("primary", "secondary", "third")]
    third.always(fv.ok(delay_s=10))  # never answers in time: cancelled once the other two agree
    for fast in (primary, secondary):  # not so fast that the quorum is decided before the third call is sent
        fast.always(fv.ok(delay_s=0.5))
    cfg = tmp_path / "panel.yaml"
    cfg.write_text(_config(primary, secondary, third))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=15)
    try:
        for _ in range(4):
            raw = await client.chat.completions.with_raw_response.create(model="refund", messages=MSG)
            assert raw.headers["x-crosswalk-agreement"].startswith("agreed")
        await eventually(lambda: third.count == 4, what="every panel reached the slow member")
        rows = await asyncio.to_thread(_metrics, proxy)
        for vendor in (primary, secondary, third):
            assert _sum(rows, "crosswalk_attempts_total", step="refund", provider=vendor.name) == vendor.count == 4, vendor
        assert _sum(rows, "crosswalk_attempts_total", step="refund", provider="third", result="cancelled") == 4
        assert _sum(rows, "crosswalk_requests_total", step="refund", outcome="ok") == 4
        assert _sum(rows, "crosswalk_failovers_total", step="refund") == 0
        # Shadow panels (about half the requests) run after the answer: their calls count too.
        for _ in range(8):
            await client.chat.completions.create(model="shadowed", messages=MSG)

        async def counted() -> bool:
            rows = await asyncio.to_thread(_metrics, proxy)
            return all(_sum(rows, "crosswalk_attempts_total", provider=v.name) == v.count for v in (primary, secondary, third))

        await eventually(counted, within=15, what="every call, shadow panels' included, on /metrics")
        assert secondary.count > 4  # some shadow panels ran (on the members other than the one that answered)
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)

"""The sidecar in front of real loopback vendors with injected faults, driven by the
official openai client (async, sync and streaming): what a caller sees for each fault,
how many calls each vendor got, and that a hung-up client cancels the upstream call."""

from __future__ import annotations

import asyncio
import socket

import openai
import pytest

import tests.fakevendor as fv
from tests.eventually import eventually, eventually_sync
from tests.router.proxy_harness import ProxyProcess

KEY = "faults-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe?"}]


@pytest.fixture
async def stack(fake_vendor, tmp_path):
    primary = await fake_vendor("primary", answer="from primary: one two three four five six")
    secondary = await fake_vendor("secondary", answer="from secondary: the refund is 42.99")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{primary.base_url}", vendor: alpha, region: us}}
  secondary: {{kind: openai, model: mistral-large, base_url: "{secondary.base_url}", vendor: beta, region: eu}}
steps:
  draft: {{providers: [primary, secondary], timeouts: {{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: 3}}}}
  solo: {{providers: [primary], timeouts: {{per_try_s: 1, ttft_s: 0.5, idle_s: 0.5, total_s: 1}}}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0}}
""")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    yield proxy, client, primary, secondary
    await client.close()
    await asyncio.to_thread(proxy.stop)
    assert KEY not in proxy.log()


async def _text(client, stream_it: bool, step: str = "draft") -> tuple[str, str]:
    if not stream_it:
        raw = await asyncio.wait_for(client.chat.completions.with_raw_response.create(model=step, messages=MSG), 8)
        return raw.parse().choices[0].message.content, raw.headers["x-crosswalk-attempts"]
    raw = await asyncio.wait_for(client.chat.completions.with_raw_response.create(model=step, messages=MSG, stream=True), 8)
    text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    return text, raw.headers["x-crosswalk-attempts"]


@pytest.mark.parametrize("stream_it", [False, True])
@pytest.mark.parametrize("fault, attempts, primary_calls", [
    (fv.error(503, fv.OVERLOADED_503), "primary:transient,primary:transient,secondary:ok", 2),
    (fv.reset(), "primary:transient,primary:transient,secondary:ok", 2),
    (fv.hang(), "primary:timeout,secondary:ok", 1),
    (fv.error(403, fv.REGION_403), "primary:regulatory,secondary:ok", 1),
    (fv.error(451, fv.LEGAL_451), "primary:regulatory,secondary:ok", 1),
    (fv.error(404, fv.MODEL_WITHDRAWN_404), "primary:regulatory,secondary:ok", 1),
    (fv.error(400, fv.CONTEXT_LENGTH_400), "primary:context_length,secondary:ok", 1),
])
async def test_faults_fail_over_transparently(stack, fault, attempts, primary_calls, stream_it):
    proxy, client, primary, secondary = stack
    primary.always(fault)
    text, header = await _text(client, stream_it)
    assert text == "from secondary: the refund is 42.99"
    assert header == attempts
    assert primary.count == primary_calls


@pytest.mark.parametrize("fault", [fv.cut(after=1), fv.stall(after=1), fv.malformed(after=1)])
async def test_stream_faults_before_the_first_token_fail_over(stack, fault):
    proxy, client, primary, secondary = stack
    primary.always(fault)
    text, header = await _text(client, True)
    assert text == "from secondary: the refund is 42.99"
    assert header.startswith("primary:") and header.endswith("secondary:ok")


@pytest.mark.parametrize("fault", [fv.cut(after=3), fv.stall(after=3), fv.malformed(after=3), fv.no_done(finish=False)])
async def test_stream_faults_after_the_first_token_end_in_an_error_not_a_short_answer(stack, fault):
    proxy, client, primary, secondary = stack
    primary.always(fault)  # on a step with no other provider to resume it on
    stream = await client.chat.completions.create(model="solo", messages=MSG, stream=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        async for chunk in stream:
            if chunk.choices:
                got.append(chunk.choices[0].delta.content or "")
                assert chunk.choices[0].finish_reason is None  # never presented as complete
    if fault.kind != "no_done":  # (no_done delivers every word, but no finish: it cannot count as whole)
        assert "".join(got) and "".join(got) != "from primary: one two three four five six"
    assert "incomplete" in str(info.value) or "deadline" in str(info.value)
    assert secondary.count == 0


async def test_every_provider_down_is_502_listing_attempts(stack):
    proxy, client, primary, secondary = stack
    primary.always(fv.error(503, fv.OVERLOADED_503))
    secondary.always(fv.error(500, fv.SERVER_ERROR_500))
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model="draft", messages=MSG)
    assert info.value.status_code == 502
    assert "primary: transient" in info.value.message and "secondary: transient" in info.value.message
    body = info.value.response.json()
    assert [a["failure_class"] for a in body["crosswalk"]["attempts"]] == ["transient"] * 3


async def test_rate_limited_everywhere_is_429_with_retry_after(stack):
    proxy, client, primary, secondary = stack
    primary.always(fv.rate_limited(retry_after=30))
    secondary.always(fv.rate_limited(retry_after=20))
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="draft", messages=MSG)
    assert 15 <= int(info.value.response.headers["retry-after"]) <= 30


async def test_silent_provider_is_504_at_the_deadline(stack):
    proxy, client, primary, secondary = stack
    primary.always(fv.hang())
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model="solo", messages=MSG)
    assert info.value.status_code == 504 and primary.count == 1


@pytest.mark.parametrize("payload, status", [(fv.CONTENT_POLICY_400, 400), (fv.CLIENT_400, 400)])
async def test_request_refusals_come_back_as_the_vendors_400(stack, payload, status):
    proxy, client, primary, secondary = stack
    primary.always(fv.error(400, payload))
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="draft", messages=MSG)
    assert info.value.status_code == status and secondary.count == 0


async def test_sync_client_against_the_same_stack(stack):
    proxy, client, primary, secondary = stack
    primary.always(fv.error(403, fv.REGION_403))

    def call() -> str:
        sync = openai.OpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
        try:
            return sync.chat.completions.create(model="draft", messages=MSG).model
        finally:
            sync.close()

    assert await asyncio.to_thread(call) == "mistral-large"  # secondary's model, as its vendor names it
    assert await asyncio.to_thread(call) == "mistral-large"
    assert primary.count == 1  # called once, then excluded


@pytest.mark.parametrize("stream_it", [False, True])
async def test_client_disconnect_cancels_the_upstream_call(stack, stream_it):
    proxy, client, primary, secondary = stack
    primary.always(fv.ok(delay_s=2.0))
    body = ('{"model": "draft", "stream": %s, "messages": [{"role": "user", "content": "hi"}]}' % ("true" if stream_it else "false")).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    def hang_up() -> None:
        with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
            sock.sendall(head + body)
            eventually_sync(lambda: primary.count, what="the request reaches the vendor")  # then hang up

    await asyncio.to_thread(hang_up)
    await eventually(lambda: primary.calls[0].cancelled, what="the upstream call is cancelled")
    assert secondary.count == 0


async def test_background_probes_show_in_the_provider_state(fake_vendor, tmp_path):
    import json
    import urllib.request

    primary, secondary = await fake_vendor("primary"), await fake_vendor("secondary")
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"""
providers:
  primary: {{kind: openai, model: m1, base_url: "{primary.base_url}", vendor: alpha}}
  secondary: {{kind: openai, model: m2, base_url: "{secondary.base_url}", vendor: beta}}
steps:
  draft: {{providers: [primary, secondary], retry: {{same_provider: 0}}}}
proxy: {{api_keys: [{KEY}]}}
health: {{consecutive_failures: 2, ejection_base_s: 300, ejection_max_s: 300, half_open_probes: 2, probe_interval_s: 0.1}}
""")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)

    def state() -> dict:
        req = urllib.request.Request(proxy.url + "/v1/crosswalk/providers", headers={"authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return {p["provider"]: p for p in json.loads(resp.read())["providers"]}

    try:
        primary.always(fv.error(503, fv.OVERLOADED_503))
        for _ in range(2):
            assert (await client.chat.completions.create(model="draft", messages=MSG)).model == "m2"  # secondary's
        assert (await asyncio.to_thread(state))["primary"]["state"] == "ejected"
        primary.always(fv.ok())  # the vendor recovers; no user request goes to it
        async def healed() -> dict | None:
            current = await asyncio.to_thread(state)
            return current if current["primary"]["state"] == "healthy" else None

        current = await eventually(healed, what="the background probes heal the primary")
        results = [p["result"] for p in current["primary"]["probes"]]
        assert results[-2:] == ["ok", "ok"]  # two probe successes closed a 300 s ejection
        assert (await client.chat.completions.create(model="draft", messages=MSG)).model == "m1"  # primary's
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def test_callers_hanging_up_mid_stream_leave_no_error_in_the_log(fake_vendor, tmp_path):
    vendor = await fake_vendor("long", answer=" ".join(["word"] * 4000))  # a long stream: the proxy is mid-write
    cfg = tmp_path / "h.yaml"
    cfg.write_text(f"""
providers:
  long: {{kind: openai, model: m, base_url: "{vendor.base_url}"}}
steps:
  draft: {{providers: [long]}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0}}
""")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    body = b'{"model": "draft", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    def hang_up_after_first_bytes() -> bytes:
        with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
            sock.sendall(head + body)
            first = sock.recv(4096)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close with RST
        return first

    try:
        for _ in range(20):
            assert (await asyncio.to_thread(hang_up_after_first_bytes)).startswith(b"HTTP/1.1 200")
        client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
        assert (await client.chat.completions.create(model="draft", messages=MSG)).choices[0].message.content.startswith("word")
        await client.close()
    finally:
        await asyncio.to_thread(proxy.stop)
    log = proxy.log()
    assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]


@pytest.mark.parametrize("stream_it", [False, True])
async def test_short_retry_after_is_waited_out_on_the_primary(stack, stream_it):
    proxy, client, primary, secondary = stack
    primary.script(fv.rate_limited(retry_after=0.3))
    text, header = await _text(client, stream_it)
    assert text == "from primary: one two three four five six"
    assert header == "primary:rate_limited,primary:ok"
    assert (primary.count, secondary.count) == (2, 0)
    assert primary.calls[1].at - primary.calls[0].at >= 0.3  # never asked again within its Retry-After


async def test_long_retry_after_fails_over_at_once(stack):
    proxy, client, primary, secondary = stack
    primary.always(fv.rate_limited(retry_after=10))
    text, header = await _text(client, False)
    assert text == "from secondary: the refund is 42.99"
    assert header == "primary:rate_limited,secondary:ok"
    text, header = await _text(client, False)  # cooled down: not asked again within its Retry-After
    assert header == "secondary:ok" and primary.count == 1


async def test_total_outage_costs_each_vendor_one_call_per_request(stack):
    proxy, client, primary, secondary = stack
    primary.always(fv.error(503, fv.OVERLOADED_503))
    secondary.always(fv.error(500, fv.SERVER_ERROR_500))
    counts, statuses = [], []
    for _ in range(10):
        before = (primary.count, secondary.count)
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="draft", messages=MSG)
        statuses.append(info.value.status_code)
        counts.append((primary.count - before[0], secondary.count - before[1]))
    assert counts[0] == (2, 1)  # the first request cannot know yet that the outage is total
    assert all(p <= 1 and s <= 1 for p, s in counts[1:]), counts
    assert statuses[0] == 502 and statuses[-1] == 503  # at the end: both ejected, panic budget spent
    assert "retry-after" in info.value.response.headers

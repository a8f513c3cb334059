"""Output validators over real HTTP: loopback fake vendors whose answers break a rule,
the sidecar answered through the official openai client, and the SDK on openai-kind
providers (failover, flag, fail, streamed, hedged, a verify panel)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request

import openai
import pytest

import tests.fakevendor as fv
from crosswalk import InvalidOutput, Router
from crosswalk.policies.parse import parse_config
from crosswalk.router.metrics import Metrics
from tests.router.proxy_harness import ProxyProcess

KEY = "validate-key-0123456789"
MSG = [{"role": "user", "content": "Quote the yearly premium for home policy P-77."}]
BAD = "Premium: $84,000 per year for policy P-77."  # a slipped decimal: out of band
GOOD = "Premium: $840 per year for policy P-77."
BAND = "{name: premium-band, number: {field: premium, min: 100, max: 5000}}"
TIMEOUTS = "{per_try_s: 5, ttft_s: 5, idle_s: 5, total_s: 8}"


def _yaml(urls: dict[str, str], steps: dict[str, str]) -> str:
    lines = [f'  {n}: {{kind: openai, model: m-{n}, base_url: "{u}", vendor: v{i}, family: f{i}}}' for i, (n, u) in enumerate(urls.items())]
    body = "".join(f"  {name}: {{{spec}, timeouts: {TIMEOUTS}}}\n" for name, spec in steps.items())
    return "providers:\n" + "\n".join(lines) + "\nsteps:\n" + body + f"proxy: {{api_keys: [{KEY}]}}\n"


def _get(url: str) -> str:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return resp.read().decode()


@pytest.fixture
async def proxied(fake_vendor, tmp_path):
    """A real `crosswalk serve` over vendors a (out of band), b (in band), c (out of band),
    with one step per on_invalid mode; yields (client, proxy, vendors)."""
    a = await fake_vendor("a", answer=BAD)
    b = await fake_vendor("b", answer=GOOD)
    c = await fake_vendor("c", answer="Premium: $9 per year.")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_yaml({"a": a.base_url, "b": b.base_url, "c": c.base_url}, {
        "quote": f"providers: [a, b], validate: [{BAND}]",
        "flagged": f"providers: [a, b], validate: [{BAND}, {{max_chars: 20}}], on_invalid: flag",
        "strict": f"providers: [a, b], validate: [{BAND}], on_invalid: fail",
        "hopeless": f"providers: [a, c], validate: [{BAND}]",
    }))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        yield client, proxy, (a, b, c)
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def test_proxy_fails_over_an_invalid_answer_counts_it_and_keeps_the_provider_healthy(proxied):
    client, proxy, (a, b, _) = proxied
    for _ in range(6):  # more than consecutive_failures (5): an invalid answer is no outage
        raw = await client.chat.completions.with_raw_response.create(model="quote", messages=MSG)
        assert raw.headers["x-crosswalk-attempts"] == "a:invalid_output,b:ok"
        assert raw.headers["x-crosswalk-provider"] == "b"
        assert raw.headers["x-crosswalk-validation"] == "a:premium-band:failover"
        assert raw.parse().choices[0].message.content == GOOD
    assert a.count == 6 and b.count == 6  # a was asked every time: never ejected
    state = json.loads(await asyncio.to_thread(_get, proxy.url + "/v1/crosswalk/providers"))
    standing = next(p for p in state["providers"] if p["provider"] == "a")
    assert standing["state"] == "healthy" and standing["exclusion"] is None
    assert [f["failure_class"] for f in standing["recent_failures"]] == ["invalid_output"] * 6
    metrics = await asyncio.to_thread(_get, proxy.url + "/metrics")
    assert 'crosswalk_invalid_outputs_total{provider="a",rule="premium-band",step="quote"} 6.0' in metrics
    assert 'crosswalk_attempts_total{provider="a",result="invalid_output",step="quote"} 6.0' in metrics
    report = await asyncio.to_thread(lambda: subprocess.run(
        [sys.executable, "-m", "crosswalk.router.cli", "report", "--metrics", proxy.url + "/metrics"],
        capture_output=True, text=True, timeout=60))
    assert report.returncode == 0, report.stderr
    row = next(line for line in report.stdout.splitlines() if line.startswith("quote ") and "premium-band" in line)
    assert row.split() == ["quote", "a", "premium-band", "6", "100.0%"]


async def test_proxy_streams_only_the_answer_that_passed(proxied):
    client, _, (a, b, _) = proxied
    raw = await client.chat.completions.with_raw_response.create(model="quote", messages=MSG, stream=True)
    # The bad answer was read whole, judged and dropped before anything reached the caller.
    assert raw.headers["x-crosswalk-attempts"] == "a:invalid_output,b:ok"
    assert raw.headers["x-crosswalk-validation"] == "a:premium-band:failover"
    chunks = [chunk async for chunk in raw.parse()]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == GOOD
    assert raw.headers["x-crosswalk-provider"] == "b" and {c.model for c in chunks} == {"m-b"}
    assert a.calls[-1].stream and b.calls[-1].stream


async def test_proxy_flags_an_invalid_answer_in_the_header_and_the_body(proxied):
    client, _, (a, b, _) = proxied
    raw = await client.chat.completions.with_raw_response.create(model="flagged", messages=MSG)
    assert raw.headers["x-crosswalk-attempts"] == "a:ok" and b.count == 0
    assert raw.headers["x-crosswalk-validation"] == "a:premium-band:flag,a:max_chars:flag"
    body = json.loads(raw.http_response.text)
    assert body["choices"][0]["message"]["content"] == BAD
    assert body["crosswalk"]["validation"] == [
        {"provider": "a", "rule": "premium-band", "message": "'premium' is 84000, above max 5000", "action": "flag"},
        {"provider": "a", "rule": "max_chars", "message": f"the answer has {len(BAD)} characters, over max_chars 20", "action": "flag"},
    ]


async def test_proxy_fails_with_422_naming_the_rule(proxied):
    client, _, (a, b, _) = proxied
    with pytest.raises(openai.UnprocessableEntityError) as info:
        await client.chat.completions.create(model="strict", messages=MSG)
    err = info.value.response
    body = err.json()
    assert body["error"]["type"] == "invalid_output" and body["error"]["code"] == "invalid_output"
    assert body["error"]["message"] == ("step 'strict': the answer from a broke the step's validators: "
                                        "premium-band: 'premium' is 84000, above max 5000")
    assert err.headers["x-crosswalk-attempts"] == "a:invalid_output"
    assert body["crosswalk"]["validation"][0]["rule"] == "premium-band"
    assert b.count == 0  # fail: nobody else is asked


async def test_proxy_says_which_rule_each_provider_broke_when_none_passed(proxied):
    client, _, _ = proxied
    for stream in (False, True):
        with pytest.raises(openai.UnprocessableEntityError) as info:
            await client.chat.completions.create(model="hopeless", messages=MSG, stream=stream)
        message = info.value.response.json()["error"]["message"]
        assert message.startswith("step 'hopeless': no answer passed the step's validators: ")
        assert message.endswith("a: invalid_output (premium-band: 'premium' is 84000, above max 5000); "
                                "c: invalid_output (premium-band: 'premium' is 9, below min 100)")


# --- the SDK --------------------------------------------------------------------------------


async def test_sdk_flag_fail_and_failover(fake_vendor):
    a = await fake_vendor("a", answer=BAD)
    b = await fake_vendor("b", answer=GOOD)
    urls = {"a": a.base_url, "b": b.base_url}
    r = Router(parse_config(_yaml(urls, {
        "quote": f"providers: [a, b], validate: [{BAND}]",
        "flagged": f"providers: [a, b], validate: [{BAND}], on_invalid: flag",
        "strict": f"providers: [a, b], validate: [{BAND}], on_invalid: fail",
    }), env={}))
    try:
        resp = await r.acompletion(step="quote", messages=MSG)
        assert resp.crosswalk.provider == "b" and [x.short() for x in resp.crosswalk.attempts] == ["a:invalid_output", "b:ok"]
        assert resp.crosswalk.flagged == []  # the answer returned passed
        flagged = await r.acompletion(step="flagged", messages=MSG)
        assert flagged.crosswalk.provider == "a" and [v.short() for v in flagged.crosswalk.flagged] == ["a:premium-band:flag"]
        with pytest.raises(InvalidOutput) as info:
            await r.acompletion(step="strict", messages=MSG)
        assert info.value.status_code == 422 and "premium-band" in info.value.message
        assert [v.short() for v in info.value.record.validation] == ["a:premium-band:fail"]
    finally:
        await r.aclose()


async def test_sdk_hedge_racer_with_an_invalid_answer_loses_to_the_valid_one(fake_vendor):
    slow_good = await fake_vendor("a", answer=GOOD)
    slow_good.always(fv.ok(delay_s=1.0))  # far beyond the 50 ms hedge delay
    fast_bad = await fake_vendor("b", answer=BAD)
    r = Router(parse_config(_yaml({"a": slow_good.base_url, "b": fast_bad.base_url}, {
        "quote": f"providers: [a, b], hedge: {{after_ms: 50}}, validate: [{BAND}]",
    }), env={}), metrics=Metrics())
    try:
        for stream in (False, True):
            if stream:
                resp = await r.acompletion(step="quote", messages=MSG, stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in resp if c.choices])
                record = resp.crosswalk
            else:
                done = await r.acompletion(step="quote", messages=MSG)
                text, record = done.choices[0].message.content, done.crosswalk
            assert text == GOOD
            # b's answer came first and failed as its own attempt; a's, later, won.
            assert [(x.provider, x.result, x.hedge) for x in record.attempts] == [("b", "invalid_output", True), ("a", "ok", False)]
            assert [v.short() for v in record.validation] == ["b:premium-band:failover"]
        assert r.metrics is not None and r.metrics.invalid == {("quote", "b", "premium-band"): 2}
    finally:
        await r.aclose()


async def test_sdk_panel_member_with_an_invalid_answer_is_a_failed_member(fake_vendor):
    a = await fake_vendor("a", answer=GOOD)
    b = await fake_vendor("b", answer="Premium: $840.00 per year for policy P-77.")
    c = await fake_vendor("c", answer=BAD)
    for agreeing in (a, b):  # c answers (and is judged) before the quorum is in and the rest cancelled
        agreeing.always(fv.ok(delay_s=0.5))
    r = Router(parse_config(_yaml({"a": a.base_url, "b": b.base_url, "c": c.base_url}, {
        "quote": f"providers: [a, b, c], validate: [{BAND}], verify: {{agree: {{min: 2, of: 3}}, compare: numeric}}",
    }), env={}), metrics=Metrics())
    try:
        resp = await r.acompletion(step="quote", messages=MSG)
        agreement = resp.crosswalk.agreement
        assert agreement.decision == "agreed"
        assert sorted(v.provider for v in agreement.agreeing) == ["a", "b"] and agreement.dissenting == []
        assert agreement.failed == ["c"]  # its answer never reached the comparator
        assert [v.short() for v in resp.crosswalk.validation] == ["c:premium-band:failover"]
        assert r.metrics is not None and r.metrics.invalid == {("quote", "c", "premium-band"): 1}
        report = r.report()
        assert any(line.split() == ["quote", "c", "premium-band", "1", "100.0%"] for line in report.splitlines())
    finally:
        await r.aclose()


async def test_sdk_a_held_stream_that_stalls_fails_over_before_a_byte_is_delivered(fake_vendor):
    a = await fake_vendor("a", answer=GOOD)
    a.script(fv.stall(after=3))  # role chunk and two words, then silence
    b = await fake_vendor("b", answer=GOOD)
    config = _yaml({"a": a.base_url, "b": b.base_url}, {"quote": f"providers: [a, b], validate: [{BAND}]"})
    config = config.replace(TIMEOUTS, "{per_try_s: 5, ttft_s: 5, idle_s: 0.3, total_s: 8}")
    r = Router(parse_config(config, env={}))
    try:
        resp = await r.acompletion(step="quote", messages=MSG, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in resp if c.choices])
        # Without validators a's first words would have been committed and the stall would
        # end the stream with StreamInterrupted; held, it is an ordinary failover.
        assert text == GOOD
        assert [x.short() for x in resp.crosswalk.attempts] == ["a:timeout", "b:ok"]
        assert "stream idle" in resp.crosswalk.attempts[0].detail
    finally:
        await r.aclose()


# --- grounded: numbers: the answer's amounts against the request's context ---------------------

REFUND_MSG = [
    {"role": "system", "content": "You answer refund questions from the order record."},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "order", "arguments": '{"id": "8812"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"order": 8812, "paid": "$42.99", "shipping": "$5.00"}'},
    {"role": "user", "content": "How much will I get back for order 8812, shipping included?"},
]
MANGLED = "You will get $4299 back for order 8812."  # the decimal dropped
DERIVED = "You will get $47.99 back for order 8812 ($42.99 plus $5.00 shipping)."
GROUNDED = "{name: grounded, grounded: numbers, derive: [sum]}"


async def test_proxy_fails_over_an_answer_whose_amount_is_nowhere_in_the_context(fake_vendor, tmp_path):
    a = await fake_vendor("a", answer=MANGLED)
    b = await fake_vendor("b", answer=DERIVED)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_yaml({"a": a.base_url, "b": b.base_url}, {
        "refund": f"providers: [a, b], validate: [{GROUNDED}]",
        "refund-flag": f"providers: [a, b], validate: [{GROUNDED}], on_invalid: flag",
    }))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        raw = await client.chat.completions.with_raw_response.create(model="refund", messages=REFUND_MSG)
        assert raw.headers["x-crosswalk-attempts"] == "a:invalid_output,b:ok"
        assert raw.headers["x-crosswalk-validation"] == "a:grounded:failover"
        assert raw.parse().choices[0].message.content == DERIVED  # a sum the step declared derivable
        flagged = await client.chat.completions.with_raw_response.create(model="refund-flag", messages=REFUND_MSG)
        body = json.loads(flagged.http_response.text)
        assert body["choices"][0]["message"]["content"] == MANGLED
        assert body["crosswalk"]["validation"] == [{
            "provider": "a", "rule": "grounded", "action": "flag",
            "message": "the answer states USD 4299, found nowhere in the context (nor derived by sum)"}]
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def test_sdk_grounded_numbers_fails_on_an_invented_amount_and_passes_a_restated_one(fake_vendor):
    a = await fake_vendor("a", answer=MANGLED)
    b = await fake_vendor("b", answer="You will get $42.99 back; shipping is not refunded.")
    r = Router(parse_config(_yaml({"a": a.base_url, "b": b.base_url}, {
        "strict": "providers: [a], validate: [{grounded: numbers}], on_invalid: fail",
        "restated": "providers: [b], validate: [{grounded: numbers}], on_invalid: fail",
    }), env={}))
    try:
        with pytest.raises(InvalidOutput) as info:
            await r.acompletion(step="strict", messages=REFUND_MSG)
        assert "grounded: the answer states USD 4299, found nowhere in the context" in info.value.message
        ok = await r.acompletion(step="restated", messages=REFUND_MSG)
        assert ok.crosswalk.flagged == [] and b.count == 1
    finally:
        await r.aclose()

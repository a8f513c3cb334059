"""Seam checks over real HTTP: loopback fake vendors, the SDK on openai-kind providers, and
a real `crosswalk serve` answered through the official openai client. Step `extract`
answers a refund of $42.99; the application mangles it and step `issue` receives 4299."""

from __future__ import annotations

import asyncio
import urllib.request

import openai
import pytest

from crosswalk import Router, SeamBroken
from crosswalk.policies.parse import parse_config
from crosswalk.router.metrics import Metrics
from tests.router.proxy_harness import ProxyProcess

KEY = "seams-key-0123456789"
TIMEOUTS = "{per_try_s: 5, ttft_s: 5, idle_s: 5, total_s: 8}"
ASK = [{"role": "user", "content": "Order 88123: the customer returned the blender. How much is the refund?"}]
MANGLED = [{"role": "user", "content": "Issue a refund of 4299 to order 88123 and write the confirmation."}]
COPIED = [{"role": "user", "content": "Issue a refund of $42.99 to order 88123 and write the confirmation."}]
FLAG = "extract->issue:42.99 USD->4299:decimal dropped:flag"


def _yaml(a: str, b: str) -> str:
    return f"""
providers:
  a: {{kind: openai, model: m-a, base_url: "{a}", vendor: va}}
  b: {{kind: openai, model: m-b, base_url: "{b}", vendor: vb}}
steps:
  extract: {{providers: [a], timeouts: {TIMEOUTS}}}
  issue:   {{providers: [b], timeouts: {TIMEOUTS}}}
  strict:  {{providers: [b], timeouts: {TIMEOUTS}, on_seam: fail}}
  unchecked: {{providers: [b], timeouts: {TIMEOUTS}, on_seam: "off"}}
proxy: {{api_keys: [{KEY}]}}
"""


@pytest.fixture
async def vendors(fake_vendor):
    return await fake_vendor("a", answer="Refund amount: $42.99"), await fake_vendor("b", answer="Refund issued.")


async def test_sdk_flags_a_mangled_amount_between_two_steps_of_one_run(vendors):
    a, b = vendors
    router = Router(parse_config(_yaml(a.base_url, b.base_url), env={}), metrics=Metrics())
    try:
        first = await router.acompletion(step="extract", messages=ASK, run="order-88123")
        assert first.crosswalk.seams == [] and first.crosswalk.run == "order-88123"
        second = await router.acompletion(step="issue", messages=MANGLED, run="order-88123")
        assert [f.short() for f in second.crosswalk.seams] == [FLAG]
        assert second.choices[0].message.content == "Refund issued."  # flag: the answer still comes
        copy = await router.acompletion(step="issue", messages=COPIED, run="order-88123")
        assert copy.crosswalk.seams == []  # an exact copy is no near miss
        elsewhere = await router.acompletion(step="issue", messages=MANGLED, run="order-99999")
        assert elsewhere.crosswalk.seams == []  # another run answered nothing
        unchecked = await router.acompletion(step="unchecked", messages=MANGLED, run="order-88123")
        assert unchecked.crosswalk.seams == []
        stream = await router.acompletion(step="issue", messages=MANGLED, run="order-88123", stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "Refund issued."
        assert [f.kind for f in stream.crosswalk.seams] == ["decimal dropped"]
        calls = b.count
        with pytest.raises(SeamBroken) as caught:
            await router.acompletion(step="strict", messages=MANGLED, run="order-88123")
        assert b.count == calls  # failed before any provider was asked
        assert caught.value.status_code == 422
        assert "42.99 USD" in caught.value.message and "4299" in caught.value.message
        assert "'extract'" in caught.value.message and "'strict'" in caught.value.message
        report = router.report().splitlines()
        start = next(i for i, line in enumerate(report) if line.startswith("seams flagged "))
        assert [line.split() for line in report[start + 1:start + 3]] == [["extract", "issue", "2"], ["extract", "strict", "1"]]
        from prometheus_client import generate_latest

        text = generate_latest(router.metrics.registry).decode()
        assert 'crosswalk_seam_flags_total{from_step="extract",to_step="issue"} 2.0' in text
        assert 'crosswalk_seam_flags_total{from_step="extract",to_step="strict"} 1.0' in text
        assert 'crosswalk_requests_total{outcome="seam_near_miss",step="strict"} 1.0' in text
    finally:
        await router.aclose()


async def test_sdk_run_state_holds_amounts_and_step_names_only(vendors):
    a, b = vendors
    router = Router(parse_config(_yaml(a.base_url, b.base_url), env={}))
    try:
        await router.acompletion(step="extract", messages=ASK, run="r")
        assert router.runtime.runs.answered("r") == [("extract", "$42.99")]  # the amount as written, no other text
    finally:
        await router.aclose()


def _metrics(proxy: ProxyProcess) -> str:
    request = urllib.request.Request(proxy.url + "/metrics")
    with urllib.request.urlopen(request, timeout=5) as resp:
        return resp.read().decode()


async def test_proxy_ties_a_run_by_header_or_traceparent_and_flags_the_seam(vendors, tmp_path):
    a, b = vendors
    cfg = tmp_path / "seams.yaml"
    cfg.write_text(_yaml(a.base_url, b.base_url))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        run = {"x-crosswalk-run": "order-88123"}
        await client.chat.completions.create(model="extract", messages=ASK, extra_headers=run)
        raw = await client.chat.completions.with_raw_response.create(model="issue", messages=MANGLED, extra_headers=run)
        assert raw.headers["x-crosswalk-seam"] == FLAG
        assert raw.parse().model_extra["crosswalk"]["seams"][0]["received"] == "4299"
        clean = await client.chat.completions.with_raw_response.create(model="issue", messages=COPIED, extra_headers=run)
        assert "x-crosswalk-seam" not in clean.headers
        # A framework's W3C trace context ties the steps together without any run header.
        trace = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
        await client.chat.completions.create(model="extract", messages=ASK, extra_headers=trace)
        traced = await client.chat.completions.with_raw_response.create(model="issue", messages=MANGLED, extra_headers={
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"})
        assert traced.headers["x-crosswalk-seam"] == FLAG
        stream = await client.chat.completions.with_raw_response.create(model="issue", messages=MANGLED, extra_headers=run, stream=True)
        assert stream.headers["x-crosswalk-seam"] == FLAG
        calls = b.count
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            await client.chat.completions.create(model="strict", messages=MANGLED, extra_headers=run)
        assert b.count == calls
        assert caught.value.response.headers["x-crosswalk-seam"] == "extract->strict:42.99 USD->4299:decimal dropped:fail"
        assert caught.value.response.headers["x-should-retry"] == "false"
        error = caught.value.body
        assert error["code"] == "seam_near_miss" and "42.99 USD" in error["message"] and "4299" in error["message"]
        seams = caught.value.response.json()["crosswalk"]["seams"]
        assert seams[0]["from_step"] == "extract" and seams[0]["to_step"] == "strict" and seams[0]["action"] == "fail"
        text = await asyncio.to_thread(_metrics, proxy)
        assert 'crosswalk_seam_flags_total{from_step="extract",to_step="issue"} 3.0' in text
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def test_sdk_ties_a_run_by_the_applications_trace_and_puts_the_seam_on_its_span(vendors):
    """No run id: the application's current OpenTelemetry span's trace ties the two steps;
    the flagged seam is an event `crosswalk.seam` on the second step's request span."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from crosswalk.router import tracing

    a, b = vendors
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    router = Router(parse_config(_yaml(a.base_url, b.base_url), env={}))
    try:
        with provider.get_tracer("app").start_as_current_span("refund pipeline"):
            await router.acompletion(step="extract", messages=ASK)
            second = await router.acompletion(step="issue", messages=MANGLED)
        elsewhere = await router.acompletion(step="issue", messages=MANGLED)  # another trace: another run
    finally:
        tracing.disable()
        await router.aclose()
        provider.shutdown()
    assert [f.short() for f in second.crosswalk.seams] == [FLAG] and elsewhere.crosswalk.seams == []
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "chat issue" and s.events]
    (event,) = span.events
    assert event.name == "crosswalk.seam"
    assert dict(event.attributes) == {"crosswalk.seam.from_step": "extract", "crosswalk.seam.to_step": "issue",
                                      "crosswalk.seam.answered": "42.99 USD", "crosswalk.seam.received": "4299",
                                      "crosswalk.seam.kind": "decimal dropped", "crosswalk.seam.action": "flag"}

"""Traces through real processes: `crosswalk serve` exporting OTLP/HTTP to a real receiver
on loopback (tests/otlp_receiver.py decodes the protobuf), called by the official openai
client with a caller's `traceparent`, in front of loopback fake vendors that record the
traceparent they were sent."""

from __future__ import annotations

import asyncio

import openai
import pytest

import tests.fakevendor as fv
from crosswalk.providers import trace_headers
from crosswalk.router import otel, tracing
from tests.eventually import eventually
from tests.otlp_receiver import OTLPReceiver
from tests.router.proxy_harness import ProxyProcess

KEY = "tracing-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe?"}]
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


def _config(tmp_path, primary, secondary, a, b, judge):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{primary.base_url}", vendor: openai, region: us}}
  secondary: {{kind: openai, model: mistral-large, base_url: "{secondary.base_url}", vendor: mistral, region: eu}}
  a: {{kind: openai, model: m-a, base_url: "{a.base_url}", vendor: va, family: fa}}
  b: {{kind: openai, model: m-b, base_url: "{b.base_url}", vendor: vb, family: fb}}
  j: {{kind: openai, model: m-judge, base_url: "{judge.base_url}", vendor: vj, family: fj}}
steps:
  draft: {{providers: [primary, secondary], timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}}}
  refund: {{providers: [a, b], timeouts: {{per_try_s: 5, total_s: 8}}, verify: {{agree: {{min: 2, of: 2}}, compare: numeric}}}}
  quorum: {{providers: [a, b, j], timeouts: {{per_try_s: 5, total_s: 8}}, verify: {{agree: {{min: 2, of: 3}}, compare: numeric}}}}
  judged: {{providers: [a, b], timeouts: {{per_try_s: 5, total_s: 8}}, verify: {{agree: {{min: 2, of: 2}}, compare: judge, judge: j}}}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0}}
""")
    return cfg


@pytest.fixture
async def traced(fake_vendor, tmp_path):
    receiver = await OTLPReceiver().start()
    vendors = [await fake_vendor("primary"), await fake_vendor("secondary", answer="from secondary: the refund is 42.99"),
               await fake_vendor("a", answer="The refund is $42.99."), await fake_vendor("b", answer="Refund: 42.990 USD"),
               await fake_vendor("j", answer='{"verdict": "same"}')]
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "crosswalk-test"}
    proxy = await asyncio.to_thread(lambda: ProxyProcess(_config(tmp_path, *vendors), env=env).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10,
                                default_headers={"traceparent": TRACEPARENT})
    yield proxy, client, receiver, vendors
    await client.close()
    await asyncio.to_thread(proxy.stop)
    await receiver.stop()


def _children(receiver, parent):
    return sorted((s for s in receiver.spans if s.parent_id == parent.span_id), key=lambda s: s.start_ns)


async def _request_span(receiver, step, count=1):
    spans = await eventually(lambda: len(receiver.named(f"chat {step}")) >= count and receiver.named(f"chat {step}"),
                             what=f"the request span of step {step} reaches the receiver", within=20)
    return spans[-1]


@pytest.mark.parametrize("stream_it", [False, True])
async def test_request_and_attempt_spans_continue_the_callers_trace(traced, stream_it):
    proxy, client, receiver, (primary, secondary, *_) = traced
    primary.always(fv.error(503, fv.OVERLOADED_503))
    if stream_it:
        stream = await client.chat.completions.create(model="draft", messages=MSG, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    else:
        text = (await client.chat.completions.create(model="draft", messages=MSG)).choices[0].message.content
    assert text == "from secondary: the refund is 42.99"

    request = await _request_span(receiver, "draft")
    assert (request.trace_id, request.parent_id, request.kind) == (CALLER_TRACE, CALLER_SPAN, "server")
    assert request.resource["service.name"] == "crosswalk-test"
    assert request.attributes["gen_ai.operation.name"] == "chat"
    assert request.attributes["gen_ai.request.model"] == "draft"
    assert request.attributes["gen_ai.response.model"] == "mistral-large"
    assert request.attributes["gen_ai.provider.name"] == "mistral"
    assert request.attributes["crosswalk.step"] == "draft" and request.attributes["crosswalk.provider"] == "secondary"
    assert request.attributes["crosswalk.attempts.trail"] == "primary:transient,primary:transient,secondary:ok"
    assert request.attributes["crosswalk.failovers"] == 1 and request.status == "unset"
    if not stream_it:  # the vendor's token usage, on the request
        assert (request.attributes["gen_ai.usage.input_tokens"], request.attributes["gen_ai.usage.output_tokens"]) == (19, 10)

    attempts = await eventually(lambda: len(_children(receiver, request)) == 3 and _children(receiver, request),
                                what="three attempt spans under the request span")
    assert [s.name for s in attempts] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "chat mistral-large"]
    assert all(s.trace_id == CALLER_TRACE and s.kind == "client" for s in attempts)
    first, retry, failover = (s.attributes for s in attempts)
    assert (first["crosswalk.failure_class"], first["http.response.status_code"], first["gen_ai.provider.name"]) == ("transient", 503, "openai")
    assert (first["crosswalk.attempt.kind"], retry["crosswalk.attempt.kind"], failover["crosswalk.attempt.kind"]) == ("first", "retry", "failover")
    assert failover["gen_ai.response.model"] == "mistral-large" and "gen_ai.response.model" not in first
    assert failover["crosswalk.attempt.result"] == "ok" and "crosswalk.failure_class" not in failover
    assert [s.status for s in attempts] == ["error", "error", "unset"]
    assert all(request.start_ns <= s.start_ns <= s.end_ns <= request.end_ns for s in attempts)

    # Every vendor call carried the request's traceparent: the caller's trace, our span.
    for call in [*primary.calls, *secondary.calls]:
        version, trace_id, parent, flags = call.headers["traceparent"].split("-")
        assert (version, trace_id, parent, flags) == ("00", CALLER_TRACE, request.span_id, "01")
    assert receiver.content_types == {"application/x-protobuf"}


async def test_a_verified_step_has_a_span_per_panel_member(traced):
    proxy, client, receiver, (_, _, a, b, _) = traced
    resp = await client.chat.completions.create(model="refund", messages=MSG)
    assert resp.choices[0].message.content == "The refund is $42.99."
    request = await _request_span(receiver, "refund")
    assert request.attributes["crosswalk.agreement.decision"] == "agreed"
    assert request.attributes["crosswalk.agreement.comparator"] == "numeric"
    assert sorted(request.attributes["crosswalk.agreement.agreeing"]) == ["a", "b"]
    members = await eventually(lambda: len(_children(receiver, request)) == 2 and _children(receiver, request),
                               what="two panel member spans under the request")
    assert sorted(m.name for m in members) == ["crosswalk.verify.member a", "crosswalk.verify.member b"]
    for member in members:
        provider = member.attributes["crosswalk.verify.provider"]
        assert member.attributes["crosswalk.verify.answered"] is True
        (attempt,) = await eventually(lambda: _children(receiver, member), what=f"member {provider}'s attempt span")
        assert attempt.name == f"chat m-{provider}" and attempt.attributes["crosswalk.attempt.result"] == "ok"
        # the member's vendor call carried the member span as its parent
        vendor = {"a": a, "b": b}[provider]
        assert vendor.calls[0].headers["traceparent"].split("-")[1:3] == [CALLER_TRACE, member.span_id]


async def test_a_member_cancelled_once_the_quorum_is_decided_is_not_an_error(traced):
    proxy, client, receiver, (_, _, _, _, slow) = traced
    slow.always(fv.ok(delay_s=5.0))
    resp = await client.chat.completions.create(model="quorum", messages=MSG)
    assert resp.choices[0].message.content == "The refund is $42.99."
    request = await _request_span(receiver, "quorum")
    members = await eventually(lambda: len(_children(receiver, request)) == 3 and _children(receiver, request),
                               what="three member spans, the cancelled one included")
    (cancelled,) = [m for m in members if m.attributes["crosswalk.verify.provider"] == "j"]
    assert cancelled.attributes["crosswalk.cancelled"] is True and cancelled.status == "unset"
    assert all(m.attributes.get("crosswalk.verify.answered") for m in members if m is not cancelled)


async def test_the_judge_has_its_own_span_and_its_call_carries_it(traced):
    proxy, client, receiver, (_, _, _, _, judge) = traced
    resp = await client.chat.completions.create(model="judged", messages=MSG)
    assert resp.choices[0].message.content == "The refund is $42.99."
    request = await _request_span(receiver, "judged")
    (span,) = await eventually(lambda: [s for s in _children(receiver, request) if s.name == "crosswalk.judge j"],
                               what="the judge span under the request")
    assert span.attributes["crosswalk.judge.verdict"] == "same" and span.kind == "client"
    assert judge.calls[0].headers["traceparent"].split("-")[1:3] == [CALLER_TRACE, span.span_id]
    assert request.attributes["crosswalk.agreement.decision"] == "agreed"


async def test_a_validator_check_is_a_span_under_the_current_one(receiver):
    """`tracing.validator_span`, for the validators' code, exported by the real SDK set up
    in this process from OTEL_* values, to the real receiver."""
    shutdown = otel.setup()
    assert shutdown is not None and tracing.ON
    try:
        with tracing.request_span("extract", {"traceparent": TRACEPARENT}) as scope:
            tracing.validator_span("extract", "json_schema", True, provider="a", latency_s=0.002)
            tracing.validator_span("extract", "number.min", False, provider="a", reason="amount -3 is below 0")
            scope.done(None)
    finally:
        await asyncio.to_thread(shutdown)  # flushes; off the loop, which serves the receiver
    assert not tracing.ON
    request = await _request_span(receiver, "extract")
    ok, bad = await eventually(lambda: len(_children(receiver, request)) == 2 and _children(receiver, request),
                               what="two validator spans")
    assert (ok.name, ok.status, ok.attributes["crosswalk.validator.ok"]) == ("crosswalk.validate json_schema", "unset", True)
    assert (bad.name, bad.status, bad.status_message) == ("crosswalk.validate number.min", "error", "amount -3 is below 0")
    assert bad.attributes["crosswalk.failure_class"] == "invalid_output" and bad.attributes["crosswalk.provider"] == "a"
    assert ok.end_ns - ok.start_ns == 2_000_000


@pytest.fixture
async def receiver(monkeypatch):
    """A receiver, and this process's OTEL_* environment pointing at it."""
    receiver = await OTLPReceiver().start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "crosswalk-in-process")
    yield receiver
    await receiver.stop()


async def test_a_stream_rescued_or_not_says_its_recovery_outcome_on_the_span(traced):
    proxy, client, receiver, (primary, secondary, *_) = traced
    primary.always(fv.cut(after=3))  # "Answer from" delivered; secondary answers in its own words
    stream = await client.chat.completions.create(model="draft", messages=MSG, stream=True)
    with pytest.raises(openai.APIError, match="could not be resumed"):
        async for _ in stream:
            pass
    request = await _request_span(receiver, "draft")
    assert (request.attributes["crosswalk.recovery.outcome"], request.attributes["crosswalk.recovery.how"],
            request.attributes["crosswalk.recovery.broken"]) == ("failed", "cut", "primary")
    secondary.answer = primary.answer  # now it continues the same answer
    stream = await client.chat.completions.create(model="draft", messages=MSG, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == primary.answer
    request = await _request_span(receiver, "draft", count=2)
    assert (request.attributes["crosswalk.recovery.outcome"], request.attributes["crosswalk.recovery.mode"]) == ("resumed", "continue-user")


async def test_a_failed_request_span_says_why(traced):
    proxy, client, receiver, (primary, secondary, *_) = traced
    primary.always(fv.error(503, fv.OVERLOADED_503))
    secondary.always(fv.error(503, fv.OVERLOADED_503))
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model="draft", messages=MSG)
    assert info.value.status_code == 502
    request = await _request_span(receiver, "draft")
    assert request.status == "error" and request.attributes["error.type"] == "all_providers_failed"
    assert request.attributes["http.response.status_code"] == 502
    assert request.attributes["crosswalk.attempts"] == 3


async def test_tracing_off_still_passes_the_callers_traceparent_to_vendors(fake_vendor, tmp_path):
    vendors = [await fake_vendor(n) for n in ("primary", "secondary", "a", "b", "j")]
    proxy = await asyncio.to_thread(lambda: ProxyProcess(_config(tmp_path, *vendors)).wait_ready())
    try:
        async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10) as client:
            await client.chat.completions.create(model="draft", messages=MSG, extra_headers={"traceparent": TRACEPARENT})
            await client.chat.completions.create(model="draft", messages=MSG)  # no trace: no header
    finally:
        await asyncio.to_thread(proxy.stop)
    first, second = vendors[0].calls
    assert first.headers["traceparent"] == TRACEPARENT  # carried unchanged: nothing of ours recorded it
    assert "traceparent" not in second.headers


@pytest.mark.parametrize("env, wanted", [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
])
def test_export_is_on_only_when_the_environment_asks(env, wanted):
    assert otel.wanted(env) is wanted


async def test_sdk_calls_are_traced_under_the_applications_span(receiver, fake_vendor):
    """An application running its own OpenTelemetry SDK enables Crosswalk's spans once; a
    Router call is then a `chat {step}` span under the application's current span, and
    the vendor gets that trace."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from crosswalk import Router
    from crosswalk.policies.parse import parse_config

    vendor = await fake_vendor("solo")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint + "/v1/traces")))
    tracing.enable(provider)
    router = Router(parse_config(f'providers:\n  solo: {{kind: openai, model: m-solo, base_url: "{vendor.base_url}", vendor: vs}}\n'
                                 "steps:\n  draft: {providers: [solo]}\n", env={}))
    try:
        with provider.get_tracer("app").start_as_current_span("app handler") as app_span:
            resp = await router.acompletion(step="draft", messages=MSG)
    finally:
        tracing.disable()
        await router.aclose()
        await asyncio.to_thread(provider.shutdown)
    assert resp.crosswalk.provider == "solo"
    app_trace, app_id = format(app_span.get_span_context().trace_id, "032x"), format(app_span.get_span_context().span_id, "016x")
    request = await _request_span(receiver, "draft")
    assert (request.trace_id, request.parent_id, request.kind) == (app_trace, app_id, "internal")
    assert request.attributes["gen_ai.response.model"] == "m-solo" and request.attributes["gen_ai.usage.input_tokens"] == 19
    (attempt,) = _children(receiver, request)
    assert attempt.name == "chat m-solo" and attempt.attributes["gen_ai.provider.name"] == "vs"
    assert vendor.calls[0].headers["traceparent"].split("-")[1:3] == [app_trace, request.span_id]


TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize(("sent", "passed"), [
    ({"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01", "tracestate": "congo=t61rcWkgMzE"},
     {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01", "tracestate": "congo=t61rcWkgMzE"}),
    ({"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01", "tracestate": "x=1\x7f"},  # not header-safe: left out
     {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}),
    ({"traceparent": f"00-{'0' * 32}-b7ad6b7169203331-01"}, None),  # an all-zero trace id is no trace
    ({"traceparent": "not a traceparent"}, None),
    ({"content-type": "application/json"}, None),
])
def test_tracing_off_passes_on_only_a_well_formed_caller_trace(sent, passed):
    assert not tracing.ON
    with tracing.request_span("draft", sent):
        assert trace_headers.current() == passed
        assert tracing.current_trace_id() == (TRACE_ID if passed else None)
    assert trace_headers.current() is None

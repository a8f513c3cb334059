"""The SDK as a user touches it: both faces, streaming, records, errors (simulated vendors);
and, on a real loopback vendor, many threads calling the blocking API at once and
`asyncio.run()` per call (one loop thread; no socket or loop left behind)."""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import weakref

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from crosswalk.policies.parse import parse_config
from crosswalk.providers.simulated import Fault
from crosswalk import AllProvidersFailed, NoEligibleProvider, Router, StreamInterrupted, UnknownStep, UpstreamRejected
from tests.fakevendor import FakeVendor
from tests.sockets import have_proc, open_sockets_to

CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, region: us, simulate: {latency_ms: 0, jitter_ms: 0, answer: "from a"}}
  b: {kind: simulated, model: b-1, vendor: vb, region: eu, simulate: {latency_ms: 0, jitter_ms: 0, answer: "from b says hello world"}}
steps:
  draft: {providers: [a, b], timeouts: {per_try_s: 1, ttft_s: 1, idle_s: 1, total_s: 3}}
  eu-only: {providers: [a, b], allowed_regions: [eu]}
"""
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture
def router():
    r = Router(parse_config(CONFIG, env={}), rng=random.Random(0))
    yield r
    r.close()


async def test_async_completion_returns_openai_type_with_record(router):
    resp = await router.acompletion(step="draft", messages=MSG, temperature=0.2)
    assert isinstance(resp, ChatCompletion)
    assert resp.model == "a-1"  # the model as its vendor names it; the provider is in the record
    assert resp.choices[0].message.content == "from a"
    assert [(x.provider, x.failure_class) for x in resp.crosswalk.attempts] == [("a", None)]
    assert resp.crosswalk.provider == "a" and resp.crosswalk.step == "draft"
    assert resp.model_dump()["crosswalk"]["provider"] == "a"  # serialisable with the response


def test_sync_faces_match_openai_client_shape(router):
    resp = router.chat.completions.create(model="draft", messages=MSG)
    assert isinstance(resp, ChatCompletion) and resp.model == "a-1" and resp.crosswalk.provider == "a"
    assert router.completion(step="draft", messages=MSG).choices[0].message.content == "from a"
    chunks = list(router.chat.completions.create(model="draft", messages=MSG, stream=True))
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from a"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_aio_face_is_awaitable(router):
    resp = await router.aio.chat.completions.create(model="draft", messages=MSG)
    assert resp.crosswalk.provider == "a"


async def test_stream_fails_over_before_first_token_and_names_provider(router):
    router.providers["a"].set_fault(Fault("cut", after_chunks=0))
    stream = await router.acompletion(step="draft", messages=MSG, stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from b says hello world"
    assert {c.model for c in chunks} == {"b-1"} and stream.crosswalk.provider == "b"
    assert [(x.provider, x.failure_class) for x in stream.crosswalk.attempts] == [("a", "stream_broken"), ("b", None)]


async def test_stream_cut_after_first_token_is_resumed_and_the_record_says_how(router):
    router.providers["a"].set_fault(Fault("cut", after_chunks=1))
    router.providers["a"].answer = router.providers["b"].answer = "one two three four five six seven"
    stream = await router.acompletion(step="draft", messages=MSG, stream=True)
    got = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(got) == "one two three four five six seven"  # b continued a's answer: one whole answer
    recovery = stream.crosswalk.recovery
    assert (recovery.broken, recovery.how, recovery.mode, recovery.finished_by) == ("a", "cut", "continue-user", "b")
    assert stream.crosswalk.provider == "b"


def test_blocking_stream_cut_with_nobody_to_resume_is_an_error_not_a_short_answer(router):
    router.providers["a"].set_fault(Fault("cut", after_chunks=1))
    router.providers["a"].answer = "one two three four five six seven"
    router.providers["b"].set_fault(Fault.http(503, "overloaded"))
    stream = router.completion(step="draft", messages=MSG, stream=True)
    got = []
    with pytest.raises(StreamInterrupted) as info:
        for c in stream:
            got.append(c.choices[0].delta.content or "")
    assert "".join(got) == "one two three"
    assert "stream from a broke" in str(info.value) and "incomplete" in str(info.value)
    assert stream.crosswalk.recovery.outcome == "failed"


async def test_all_failed_lists_each_attempt(router):
    router.providers["a"].set_fault(Fault.outage())
    router.providers["b"].set_fault(Fault.http(502, "bad gateway"))
    with pytest.raises(AllProvidersFailed) as info:
        await router.acompletion(step="draft", messages=MSG)
    err = info.value
    assert err.status_code == 502
    assert [a.failure_class for a in err.attempts] == ["transient"] * 3
    assert "a: transient" in str(err) and "b: transient" in str(err)


async def test_client_error_is_returned_not_failed_over(router):
    router.providers["a"].set_fault(Fault.http(400, "messages[0].role: invalid value 'robot'", "invalid_value"))
    with pytest.raises(UpstreamRejected) as info:
        await router.acompletion(step="draft", messages=MSG)
    assert info.value.status_code == 400 and info.value.failure_class == "client"
    assert "robot" in info.value.message
    assert router.providers["b"].calls == 0


async def test_unknown_step_lists_known_ones(router):
    with pytest.raises(UnknownStep, match=r"unknown step 'drfat' \(known steps: draft, eu-only\)"):
        await router.acompletion(step="drfat", messages=MSG)


async def test_bad_arguments_are_named(router):
    with pytest.raises(ValueError, match="messages"):
        await router.acompletion(step="draft", messages=[])
    with pytest.raises(TypeError, match="step="):
        await router.acompletion(step="draft", messages=MSG, model="x")


async def test_regions_filter_before_any_call(router):
    resp = await router.acompletion(step="eu-only", messages=MSG)
    assert resp.crosswalk.provider == "b" and router.providers["a"].calls == 0
    rows = {r.provider: r for r in router.status("eu-only")}
    assert rows["a"].status == "blocked" and "region 'us' not in allowed regions ['eu']" in rows["a"].reason


async def test_no_eligible_provider_says_why_and_when(router):
    router.providers["b"].set_fault(Fault.region_block())
    with pytest.raises(AllProvidersFailed):
        await router.acompletion(step="eu-only", messages=MSG)
    with pytest.raises(NoEligibleProvider) as info:
        await router.acompletion(step="eu-only", messages=MSG)
    text = str(info.value)
    assert info.value.status_code == 503
    assert "a: blocked" in text and "b: excluded (regulatory since" in text
    assert "unsupported_country_region_territory" in text
    assert router.providers["b"].calls == 1  # called once, then excluded


async def test_stream_error_before_any_token_is_raised_at_await(router):
    router.providers["a"].set_fault(Fault.region_block())
    router.providers["b"].set_fault(Fault.http(401, "Incorrect API key provided", "invalid_api_key"))
    with pytest.raises(AllProvidersFailed) as info:
        await router.acompletion(step="draft", messages=MSG, stream=True)
    assert [a.failure_class for a in info.value.attempts] == ["regulatory", "auth"]


# --- threads, loops and sockets (an OpenAI-wire provider on a real loopback vendor) --------


@pytest.fixture
def threaded_vendor():
    """A FakeVendor on its own loop thread, so a test may call the blocking API or
    `asyncio.run()` from plain threads."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-vendor", daemon=True)
    thread.start()
    vendor = asyncio.run_coroutine_threadsafe(FakeVendor("primary").start(), loop).result(10)
    yield vendor
    asyncio.run_coroutine_threadsafe(vendor.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _wire_router(vendor: FakeVendor) -> Router:
    return Router(parse_config(
        f'providers:\n  p: {{kind: openai, model: gpt-4o-mini, base_url: "{vendor.base_url}"}}\nsteps:\n  draft: {{providers: [p]}}\n',
        env={}))


def _sync_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "crosswalk-sync"}


def test_threads_calling_first_share_one_loop_thread_and_close_stops_it(threaded_vendor):
    router = _wire_router(threaded_vendor)
    before = _sync_threads()
    start = threading.Barrier(16)
    answers: list[str] = []

    def call() -> None:
        start.wait()  # all 16 call the blocking API for the first time at once
        answers.append(router.chat.completions.create(model="draft", messages=MSG).crosswalk.provider)

    workers = [threading.Thread(target=call) for _ in range(16)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    try:
        assert answers == ["p"] * 16
        mine = _sync_threads() - before
        assert len(mine) == 1, f"{len(mine)} loop threads for one router"
    finally:
        router.close()
    (thread,) = mine
    assert not thread.is_alive()  # close() stopped it (and joined it)
    assert threaded_vendor.count == 16


@pytest.mark.skipif(not have_proc(), reason="counts sockets through /proc")
def test_asyncio_run_per_call_leaves_no_sockets_or_loops_behind(threaded_vendor):
    router = _wire_router(threaded_vendor)
    port = int(threaded_vendor.base_url.rsplit(":", 1)[1].split("/", 1)[0])
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def call() -> str:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        return (await router.acompletion(step="draft", messages=MSG)).crosswalk.provider

    for _ in range(100):
        assert asyncio.run(call()) == "p"
    gc.collect()
    assert threaded_vendor.count == 100
    assert open_sockets_to(port) <= 1, f"{open_sockets_to(port)} sockets to the vendor left open"
    assert sum(ref() is not None for ref in loops) <= 1  # closed loops are not kept alive
    # The provider still works, on yet another loop and on the blocking API's loop thread.
    assert asyncio.run(call()) == "p"
    assert router.completion(step="draft", messages=MSG).crosswalk.provider == "p"
    router.close()
    assert open_sockets_to(port) <= 1

"""`kind: anthropic` against the loopback fake Anthropic server: native pass-through,
translation of Chat requests, the event stream (pings, error events, cuts), request ids."""

from __future__ import annotations

import pytest
from anthropic.types import Message

import tests.fakeanthropic as fa
import tests.fakevendor as fv
from crosswalk.providers.anthropic_wire import AnthropicProvider
from crosswalk.providers.base import NATIVE, REQUEST_ID, ChatRequest, Native
from crosswalk.providers.classify import FailureClass, classify
from crosswalk.providers.errors import StreamBroken

ASK = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def claude(fake_anthropic):
    vendor = await fake_anthropic("claude")
    provider = AnthropicProvider(name="claude", model="claude-x", base_url=vendor.base_url + "/v1", api_key="sk-ant-k")
    yield vendor, provider
    await provider.aclose()


async def test_a_native_request_goes_as_it_came_and_its_message_rides_along(claude):
    vendor, provider = claude
    body = {"model": "caller-name", "max_tokens": 9, "messages": ASK, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    answer = await provider.complete(ChatRequest({"messages": ASK}, Native("messages", body, {"anthropic-beta": "b1"})))
    assert vendor.calls[-1].body == {**body, "model": "claude-x"} and vendor.calls[-1].headers["anthropic-beta"] == "b1"
    Message.model_validate(answer[NATIVE])
    assert answer["choices"][0]["message"]["content"] == vendor.answer and answer[REQUEST_ID].startswith("req_claude")


async def test_a_chat_request_is_translated_and_answered_as_chat(claude):
    vendor, provider = claude
    answer = await provider.complete(ChatRequest({"messages": [{"role": "system", "content": "S"}, *ASK], "stop": "X"}))
    assert vendor.calls[-1].body == {"model": "claude-x", "system": "S", "max_tokens": 4096, "stop_sequences": ["X"],
                                     "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    assert NATIVE not in answer and answer["usage"]["prompt_tokens"] == 32


async def test_stream_chunks_skip_pings_and_end_at_message_stop(claude):
    vendor, provider = claude
    chunks = [c async for c in provider.stream(ChatRequest({"messages": ASK}))]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == vendor.answer
    assert chunks[0][REQUEST_ID].startswith("req_claude") and chunks[-1]["usage"]["completion_tokens"] == 12
    assert all(NATIVE not in c for c in chunks) and vendor.calls[-1].body["stream"] is True


async def test_an_error_event_mid_stream_breaks_it_with_its_type(claude):
    vendor, provider = claude
    vendor.script(fv.Behaviour("error_event", after=3, payload={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    with pytest.raises(StreamBroken) as broken:
        [c async for c in provider.stream(ChatRequest({"messages": ASK}))]
    assert broken.value.code == "overloaded_error" and classify(broken.value).failure_class is FailureClass.STREAM_BROKEN


async def test_a_stream_cut_before_message_stop_is_never_a_short_success(claude):
    vendor, provider = claude
    vendor.script(fv.cut(after=4))
    with pytest.raises(StreamBroken):
        [c async for c in provider.stream(ChatRequest({"messages": ASK}))]


async def test_a_prefill_continues_the_partial_answer(claude):
    vendor, provider = claude
    partial = vendor.answer[:10]
    answer = await provider.complete(ChatRequest({"messages": [*ASK, {"role": "assistant", "content": partial}]}))
    assert partial + answer["choices"][0]["message"]["content"] == vendor.answer


async def test_errors_carry_anthropics_type_and_retry_after(claude):
    vendor, provider = claude
    vendor.script(fv.error(429, fa.RATE_LIMIT_429, {"retry-after": "12"}))
    with pytest.raises(Exception) as info:
        await provider.complete(ChatRequest({"messages": ASK}))
    got = classify(info.value)
    assert info.value.error_type == "rate_limit_error" and got.failure_class is FailureClass.RATE_LIMITED and got.retry_after_s == 12


async def test_a_thinking_stream_commits_at_its_first_thinking_delta(claude):
    from crosswalk.providers.base import chunk_commits
    from crosswalk.providers.messages_stream import EventsToChat

    chunks = EventsToChat()
    start = chunks.feed({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})
    thought = chunks.feed({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me see"}})
    signed = chunks.feed({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}})
    assert not chunk_commits(start) and chunk_commits(thought) and not chunk_commits(signed)

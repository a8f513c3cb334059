"""`POST /v1/messages` on a real `crosswalk serve`, driven by the official anthropic SDK
(and LangChain's ChatAnthropic), over a loopback fake Anthropic server and the fake
OpenAI vendor: native pass-through, translation after failover both ways, streams,
tools over several turns, images, system blocks, count_tokens, errors; every shape
validated by the SDK's own types."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest
from anthropic.types import Message

import tests.fakeanthropic as fa
import tests.fakevendor as fv
from tests.loopback import BackgroundLoop
from tests.router.proxy_harness import ProxyProcess

KEY = "messages-key-0123456789"
WEATHER = {"name": "weather", "description": "Weather now", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
ASK = [{"role": "user", "content": "Weather in Paris?"}]


def _config(claude: fa.FakeAnthropic, gpt: fv.FakeVendor, fable: fa.FakeAnthropic, plain: fv.FakeVendor) -> str:
    timeouts = "timeouts: {per_try_s: 5, ttft_s: 5, idle_s: 5, total_s: 8}, retry: {same_provider: 0}"
    claude_conf = f'kind: anthropic, model: claude-sonnet-4-5-20250929, base_url: "{claude.base_url}", api_key: sk-ant-fake'
    gpt_conf = f'kind: openai, model: gpt-4.1, base_url: "{gpt.base_url}", api_key: sk-fake'
    return f"""
providers:
  claude: {{{claude_conf}}}
  gpt:    {{{gpt_conf}}}
  claude_rl: {{{claude_conf}}}
  gpt_rl: {{{gpt_conf}}}
  fable:  {{kind: anthropic, model: claude-fable-5, base_url: "{fable.base_url}", api_key: sk-ant-fake}}
  plain:  {{kind: openai, model: gpt-4.1-mini, base_url: "{plain.base_url}", api_key: sk-fake}}
steps:
  assistant: {{providers: [claude, gpt], aliases: ["claude-sonnet-4-5*", "claude-opus-4-1"], {timeouts}}}
  gpt-first: {{providers: [gpt, claude], {timeouts}}}
  claude-only: {{providers: [claude], {timeouts}}}
  gpt-only: {{providers: [gpt], {timeouts}}}
  limited: {{providers: [claude_rl, gpt_rl], {timeouts}}}
  outage: {{providers: [fable, gpt], aliases: ["claude-fable-5*"], {timeouts}}}
  resume: {{providers: [claude, plain], {timeouts}}}
  verified: {{providers: [claude, gpt], {timeouts}, verify: {{agree: {{min: 2, of: 2}}, compare: numeric}}}}
  checked: {{providers: [claude, plain], {timeouts}, validate: [{{regex: "from plain"}}]}}
  hedged: {{providers: [claude, gpt], {timeouts}, hedge: {{after_ms: 200}}}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0, consecutive_failures: 1000, min_calls: 1000, window: 1000}}
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One proxy and its fake vendors for the module (a proxy takes seconds to start)."""
    loop = BackgroundLoop()
    claude = loop.run(fa.FakeAnthropic("claude", tool_use={"name": "weather", "input": {"city": "Paris"}}).start())
    gpt = loop.run(fv.FakeVendor("gpt", tool_call={"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}).start())
    fable = loop.run(fa.FakeAnthropic("fable").start())
    plain = loop.run(fv.FakeVendor("plain").start())
    cfg = tmp_path_factory.mktemp("messages") / "c.yaml"
    cfg.write_text(_config(claude, gpt, fable, plain))
    proxy = ProxyProcess(cfg).wait_ready()
    yield proxy, claude, gpt, fable, plain
    proxy.stop()
    for vendor in (claude, gpt, fable, plain):
        loop.run(vendor.stop())
    loop.close()
    assert KEY not in proxy.log()


@pytest.fixture
async def stack(servers):
    proxy, claude, gpt, fable, plain = servers
    for vendor in (claude, gpt, fable, plain):
        vendor.always(fv.ok())
        vendor._queue.clear()
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=KEY, max_retries=0, timeout=15)
    yield proxy, client, claude, gpt
    await client.close()


async def test_native_request_passes_through_and_the_vendors_message_comes_back(stack):
    _, client, claude, gpt = stack
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    raw = await client.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=100, system=system, messages=ASK,
                                                        extra_body={"top_k": 3}, extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    message = await raw.parse()
    assert message.content[0].text == claude.answer and message.usage.cache_read_input_tokens == 7
    assert raw.headers["x-crosswalk-provider"] == "claude" and raw.headers["x-crosswalk-step"] == "assistant"
    assert raw.headers["x-crosswalk-upstream-request-id"].startswith("req_claude_")
    sent = claude.calls[-1]
    assert sent.body["model"] == "claude-sonnet-4-5-20250929" and sent.body["system"] == system and sent.body["top_k"] == 3
    assert sent.headers["x-api-key"] == "sk-ant-fake" and sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.headers["anthropic-version"] == "2023-06-01" and gpt.count == 0


async def test_failover_to_openai_translates_system_images_and_stop(stack):
    _, client, claude, gpt = stack
    claude.script(fv.error(529, fa.OVERLOADED_529))
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]
    raw = await client.messages.with_raw_response.create(
        model="assistant", max_tokens=50, system=[{"type": "text", "text": "Be brief."}], stop_sequences=["END"],
        messages=[{"role": "user", "content": content}])
    message = await raw.parse()
    Message.model_validate(message.model_dump())
    assert message.content[0].text == gpt.answer and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 19 and message.usage.output_tokens == 10
    assert raw.headers["x-crosswalk-attempts"] == "claude:transient,gpt:ok"
    sent = gpt.calls[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert sent["stop"] == ["END"] and sent["max_tokens"] == 50


async def test_tools_over_turns_fail_over_both_ways_with_ids_kept(stack):
    _, client, claude, gpt = stack
    first = await client.messages.create(model="assistant", max_tokens=100, tools=[WEATHER], messages=ASK)
    call = first.content[0]
    assert first.stop_reason == "tool_use" and call.type == "tool_use" and call.input == {"city": "Paris"}
    turns = [*ASK, {"role": "assistant", "content": [c.model_dump(exclude_none=True) for c in first.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "21C"}]}]
    claude.script(fv.error(529, fa.OVERLOADED_529))  # turn two: Claude down, GPT reads Claude's tool id
    second = await client.messages.create(model="assistant", max_tokens=100, tools=[WEATHER], messages=turns)
    assert second.content[0].text == gpt.answer
    tool_msg = gpt.calls[-1].body["messages"][-1]
    assert tool_msg == {"role": "tool", "tool_call_id": call.id, "content": "21C"}
    assert gpt.calls[-1].body["messages"][-2]["tool_calls"][0]["id"] == call.id

    # The other way: GPT mints the id, Claude (natively) serves the next turn.
    third = await client.messages.create(model="gpt-first", max_tokens=100, tools=[WEATHER], messages=ASK)
    gcall = third.content[0]
    assert third.stop_reason == "tool_use" and gcall.input == {"city": "Oslo"} and gcall.id.startswith("call_gpt")
    gpt.script(fv.error(503, fv.OVERLOADED_503))
    turns = [*ASK, {"role": "assistant", "content": [c.model_dump(exclude_none=True) for c in third.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": gcall.id, "content": "3C"}]}]
    fourth = await client.messages.create(model="gpt-first", max_tokens=100, tools=[WEATHER], messages=turns)
    assert fourth.content[0].text == claude.answer
    assert claude.calls[-1].body["messages"][-1]["content"][0]["tool_use_id"] == gcall.id


async def test_streams_native_and_translated_give_the_full_event_sequence(stack):
    _, client, claude, gpt = stack
    async with client.messages.stream(model="assistant", max_tokens=100, messages=ASK) as stream:
        kinds = [event.type async for event in stream]
        native = await stream.get_final_message()
    assert native.content[0].text == claude.answer and native.usage.cache_read_input_tokens == 7
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "ping" not in kinds

    claude.script(fa.Behaviour("error_event", after=1, payload={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    async with client.messages.stream(model="assistant", max_tokens=100, tools=[WEATHER], messages=ASK, extra_body={"top_k": 4}) as stream:
        deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
        translated = await stream.get_final_message()
    assert stream.response.headers["x-crosswalk-dropped"] == "top_k" and stream.response.headers["x-crosswalk-provider"] == "gpt"
    assert translated.content[0].type == "tool_use" and translated.content[0].input == {"city": "Oslo"}
    assert translated.stop_reason == "tool_use" and deltas and set(deltas) == {"input_json_delta"}
    assert gpt.calls[-1].body["stream"] is True


async def test_tool_use_streamed_natively_is_parsed_by_the_sdk(stack):
    _, client, _, _ = stack
    async with client.messages.stream(model="assistant", max_tokens=100, tools=[WEATHER], messages=ASK) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Paris"}


async def test_count_tokens_and_error_shapes(stack):
    proxy, client, claude, gpt = stack
    counted = await client.messages.count_tokens(model="claude-opus-4-1", messages=ASK)
    assert counted.input_tokens > 0 and claude.calls[-1].path == "/v1/messages/count_tokens"
    with pytest.raises(anthropic.BadRequestError, match="no provider that can count"):
        await client.messages.count_tokens(model="gpt-only", messages=ASK)
    with pytest.raises(anthropic.NotFoundError) as unknown:
        await client.messages.create(model="claude-haiku-9", max_tokens=10, messages=ASK)
    assert unknown.value.body["error"]["type"] == "not_found_error" and "assistant" in unknown.value.message
    with pytest.raises(anthropic.AuthenticationError) as denied:
        await anthropic.AsyncAnthropic(base_url=proxy.url, api_key="wrong", max_retries=0).messages.create(
            model="assistant", max_tokens=10, messages=ASK)
    assert denied.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        await client.messages.create(model="assistant", max_tokens=0, messages=ASK)
    assert bad.value.body["type"] == "error" and bad.value.body["error"]["type"] == "invalid_request_error"
    claude.script(fv.error(529, fa.OVERLOADED_529))
    gpt.script(fv.error(500, fv.SERVER_ERROR_500))
    with pytest.raises(anthropic.InternalServerError) as failed:
        await client.messages.create(model="assistant", max_tokens=10, messages=ASK)
    assert failed.value.response.headers["x-should-retry"] == "false" and failed.value.body["error"]["type"] == "api_error"
    assert [a["provider"] for a in failed.value.body["crosswalk"]["attempts"]] == ["claude", "gpt"]
    claude.script(fv.error(429, fa.RATE_LIMIT_429, {"retry-after": "30"}))
    gpt.script(fv.rate_limited(retry_after=30))
    with pytest.raises(anthropic.RateLimitError) as limited:  # its own providers: their cool-down stays theirs
        await client.messages.create(model="limited", max_tokens=10, messages=ASK)
    assert limited.value.response.headers["x-should-retry"] == "true" and int(limited.value.response.headers["retry-after"]) >= 1


async def test_a_server_tool_makes_openai_ineligible_with_the_reason(stack):
    _, client, claude, gpt = stack
    claude.always(fv.error(529, fa.OVERLOADED_529))
    before = gpt.count
    with pytest.raises(anthropic.InternalServerError) as failed:
        await client.messages.create(model="assistant", max_tokens=10, messages=ASK,
                                     tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert gpt.count == before and [a["provider"] for a in failed.value.body["crosswalk"]["attempts"]] == ["claude"]
    claude.always(fv.ok())
    raw = await client.messages.with_raw_response.create(model="assistant", max_tokens=10, messages=ASK,
                                                        tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert raw.headers["x-crosswalk-ineligible"] == "gpt"


async def test_openai_callers_are_served_by_the_anthropic_provider(stack):
    proxy, _, claude, _ = stack
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0)
    answer = await client.chat.completions.create(model="claude-only", messages=[{"role": "system", "content": "Be brief."}, *ASK])
    assert answer.choices[0].message.content == claude.answer and answer.usage.prompt_tokens == 32
    assert claude.calls[-1].body["system"] == "Be brief." and claude.calls[-1].body["max_tokens"] == 4096
    raw = await client.chat.completions.with_raw_response.create(model="claude-only", messages=ASK, seed=7,
                                                                response_format={"type": "json_object"})
    assert raw.headers["x-crosswalk-dropped"] == "response_format,seed"  # what Messages has no place for, said
    chunks = [c async for c in await client.chat.completions.create(model="claude-only", messages=ASK, stream=True)]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == claude.answer
    await client.close()


async def test_the_seed_outage_replayed(stack, servers):
    proxy, client, _, gpt = stack
    fable = servers[3]
    fable.always(fv.error(404, fa.FABLE_404))
    # Different callers' requests: the 404 names the model only by its display name, so it
    # rests on the vendor's words and needs a second, different request to exclude.
    for i in range(3):
        ask = [{"role": "user", "content": f"Question {i}: the refund for order 12{i}4?"}]
        raw = await client.messages.with_raw_response.create(model="claude-fable-5-20260401", max_tokens=50, messages=ask)
        assert (await raw.parse()).content[0].text == gpt.answer and raw.headers["x-crosswalk-provider"] == "gpt"
    assert fable.count == 2  # excluded after the second: the third request never asked it
    state = json.loads(await asyncio.to_thread(_get, proxy, "/v1/crosswalk/providers"))
    fable_state = next(p for p in state["providers"] if p["provider"] == "fable")
    assert fable_state["exclusion"]["failure_class"] == "regulatory"
    assert fable_state["exclusion"]["basis"] == "corroborated"
    assert "Fable 5 is not available" in fable_state["exclusion"]["evidence"]


def _get(proxy: ProxyProcess, path: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(proxy.url + path, headers={"x-api-key": KEY})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.read()


async def test_langchain_chat_anthropic_through_the_sidecar(stack):
    from langchain_anthropic import ChatAnthropic

    proxy, _, claude, gpt = stack
    model = ChatAnthropic(model="claude-sonnet-4-5-20250929", base_url=proxy.url, api_key=KEY, max_retries=0, max_tokens=64)
    assert "".join([_text(c) async for c in model.astream("Hi")]) == claude.answer
    claude.script(fv.error(529, fa.OVERLOADED_529))
    assert (await model.ainvoke("Weather in Paris?")).content == gpt.answer


def _text(chunk) -> str:
    text = chunk.text  # a property in langchain-core 1.x, a method before
    return text() if callable(text) else text


async def test_a_native_stream_cut_mid_answer_is_resumed_in_the_same_event_stream(stack, servers):
    _, client, claude, _ = stack
    gpt = servers[4]
    claude.script(fv.cut(after=5))  # message_start, block start, ping, "Answer", " from"; then the connection drops
    async with client.messages.stream(model="resume", max_tokens=100, messages=ASK) as stream:
        events = [e async for e in stream]
        final = await stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds.count("message_start") == 1 and kinds.count("content_block_start") == 1 and kinds[-1] == "message_stop"
    assert final.content[0].text == gpt.answer  # "Answer from" from Claude, the rest continued by GPT
    assert gpt.calls[-1].body["messages"][-2:][0]["role"] == "assistant"


async def test_metrics_count_native_and_translated_messages_requests(stack):
    proxy, client, claude, _ = stack
    await client.messages.create(model="assistant", max_tokens=10, messages=ASK)
    claude.script(fv.error(529, fa.OVERLOADED_529))
    await client.messages.create(model="assistant", max_tokens=10, messages=ASK)
    text = (await asyncio.to_thread(_get, proxy, "/metrics")).decode()
    rows = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith("crosswalk_dialect_requests_total{")}
    assert rows['dialect="messages",served="native",step="assistant"'] >= 1
    assert rows['dialect="messages",served="translated",step="assistant"'] >= 1


async def test_panels_validators_and_hedges_work_from_this_ingress(stack, servers):
    _, client, claude, gpt = stack
    plain = servers[4]
    raw = await client.messages.with_raw_response.create(model="verified", max_tokens=50, messages=ASK)
    assert "42.99" in (await raw.parse()).content[0].text  # a panel of Claude (Messages) and GPT (Chat) agreeing
    assert raw.headers["x-crosswalk-agreement"].startswith("agreed")
    async with client.messages.stream(model="checked", max_tokens=50, messages=ASK) as stream:
        checked = await stream.get_final_message()
    assert checked.content[0].text == plain.answer  # Claude's answer broke the rule: GPT's, translated
    claude.script(fv.hang())
    raw = await client.messages.with_raw_response.create(model="hedged", max_tokens=50, messages=ASK)
    assert (await raw.parse()).content[0].text == gpt.answer and "gpt:ok" in raw.headers["x-crosswalk-attempts"]


async def test_thinking_with_its_signature_survives_natively_and_is_listed_when_dropped(stack):
    _, client, claude, gpt = stack
    thinking = {"type": "enabled", "budget_tokens": 1024}
    async with client.messages.stream(model="assistant", max_tokens=2000, thinking=thinking, messages=ASK) as stream:
        deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
        first = await stream.get_final_message()
    assert first.content[0].type == "thinking" and first.content[0].signature == fa.SIGNATURE
    assert "thinking_delta" in deltas and "signature_delta" in deltas
    turns = [*ASK, {"role": "assistant", "content": [c.model_dump(exclude_none=True) for c in first.content]},
             {"role": "user", "content": "And for order 1183?"}]
    raw = await client.messages.with_raw_response.create(model="assistant", max_tokens=2000, thinking=thinking, messages=turns)
    assert claude.calls[-1].body["messages"][1]["content"][0]["signature"] == fa.SIGNATURE  # sent back as it came
    claude.script(fv.error(529, fa.OVERLOADED_529))
    raw = await client.messages.with_raw_response.create(model="assistant", max_tokens=2000, thinking=thinking, messages=turns)
    assert (await raw.parse()).content[0].text == gpt.answer
    assert raw.headers["x-crosswalk-dropped"] == "thinking,thinking blocks"
    assert "signature" not in json.dumps(gpt.calls[-1].body)


async def test_a_stream_that_cannot_be_finished_ends_with_an_error_event(stack):
    _, client, claude, _ = stack
    claude.script(fv.cut(after=5))  # past the first token, and nobody else on the step to resume it
    with pytest.raises(anthropic.APIStatusError) as broken:
        async with client.messages.stream(model="claude-only", max_tokens=100, messages=ASK) as stream:
            async for _ in stream:
                pass
    assert broken.value.body["type"] == "error" and "incomplete" in broken.value.body["error"]["message"]


async def test_the_anthropic_sdk_lists_the_steps_as_models(stack):
    _, client, _, _ = stack
    page = await client.models.list()
    assert "assistant" in [m.id for m in page.data] and page.data[0].type == "model" and page.has_more is False


async def test_chat_callers_use_claudes_tools_over_turns_streamed_and_not(stack):
    proxy, _, claude, _ = stack
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0)
    tools = [{"type": "function", "function": {"name": "weather", "parameters": WEATHER["input_schema"]}}]
    first = await client.chat.completions.create(model="claude-only", messages=ASK, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments) == {"city": "Paris"}
    chunks = [c async for c in await client.chat.completions.create(model="claude-only", messages=ASK, tools=tools, stream=True)]
    streamed = "".join(tc.function.arguments or "" for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ())
    assert json.loads(streamed) == {"city": "Paris"}
    turns = [*ASK, first.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "21C"}]
    second = await client.chat.completions.create(model="claude-only", messages=turns, tools=tools)
    assert second.choices[0].message.content == claude.answer
    assert claude.calls[-1].body["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": call.id, "content": "21C"}
    await client.close()

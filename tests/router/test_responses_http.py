"""POST /v1/responses (and its stored responses) and POST /v1/completions on a real
`crosswalk serve`, driven by the official openai SDK over loopback fake vendors; every
shape emitted is validated against `openai.types.responses`."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from crosswalk.router.state.conversations import RedisConversations
from tests.fakevendor import FakeVendor, cut, error, ok
from tests.router.proxy_harness import ProxyProcess
from tests.router.test_shared_state import REDIS, RedisServer

KEY = "responses-key-0123456789"
EVENTS = TypeAdapter(ResponseStreamEvent)
UNAVAILABLE = {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}}


async def _serve(tmp_path: Path, *vendors: FakeVendor, extra: str = "") -> ProxyProcess:
    providers = "".join(f"  {v.name}: {{kind: openai, model: m-{v.name}, base_url: '{v.base_url}', vendor: {v.name}}}\n"
                        for v in vendors)
    names = ", ".join(v.name for v in vendors)
    steps = (f"  draft: {{providers: [{names}]}}\n"
             f"  checked: {{providers: [{names}], validate: [{{regex: 'secondary'}}]}}\n"  # only the secondary's answers pass
             f"  verified: {{providers: [{names}], verify: {{agree: {{min: 2, of: 2}}, compare: normalized, on_disagree: flag}}}}\n")
    cfg = tmp_path / "responses.yaml"
    cfg.write_text(f"providers:\n{providers}steps:\n{steps}proxy: {{api_keys: [{KEY}]}}\n{extra}")
    return await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())


@asynccontextmanager
async def _served(fake_vendor: Any, tmp_path: Path, extra: str = "") -> AsyncIterator[tuple[openai.AsyncOpenAI, FakeVendor, FakeVendor]]:
    primary = await fake_vendor("primary", agent=True)
    secondary = await fake_vendor("secondary", agent=True)
    proxy = await _serve(tmp_path, primary, secondary, extra=extra)
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0)
    try:
        yield client, primary, secondary
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


@pytest.fixture
async def served(fake_vendor: Any, tmp_path: Path) -> AsyncIterator[tuple[openai.AsyncOpenAI, FakeVendor, FakeVendor]]:
    async with _served(fake_vendor, tmp_path) as clients:
        yield clients


async def _create_with_instructions_tools_and_state_across_a_failover(client, primary, secondary):
    first = await client.responses.create(model="draft", instructions="Be brief.", input="What is the refund?",
                                          metadata={"ticket": "1234"}, max_output_tokens=50, temperature=0.2)
    Response.model_validate(first.model_dump())
    assert first.status == "completed" and first.output_text == primary.answer
    assert first.metadata == {"ticket": "1234"} and first.usage is not None and first.usage.input_tokens == 19
    sent = primary.calls[-1].body
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the refund?"}]
    assert sent["model"] == "m-primary" and sent["max_completion_tokens"] == 50 and sent["temperature"] == 0.2

    primary.script(error(503, UNAVAILABLE), error(503, UNAVAILABLE), error(503, UNAVAILABLE))
    raw = await client.responses.with_raw_response.create(model="draft", previous_response_id=first.id, input="And in euros?")
    assert raw.http_response.headers["x-crosswalk-provider"] == "secondary"
    second = raw.parse()
    assert second.output_text == secondary.answer  # the next turn, served by the other provider
    assert secondary.calls[-1].body["messages"] == [
        {"role": "user", "content": "What is the refund?"}, {"role": "assistant", "content": primary.answer},
        {"role": "user", "content": "And in euros?"}]  # instructions are not carried over, as at OpenAI
    assert (await client.responses.retrieve(second.id)).output_text == secondary.answer

    assert (await client.responses.delete(second.id)) is None
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(second.id)
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="draft", previous_response_id=second.id, input="more")
    assert err.value.body["param"] == "previous_response_id" and err.value.body["code"] == "previous_response_not_found"


async def _function_tools_round_trip_and_typed_output(client, primary, secondary):
    tools = [{"type": "function", "name": "lookup", "description": "Look up an order",
              "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}, "required": ["order"]}}]
    call = await client.responses.create(model="draft", input="Where is order 77?", tools=tools, tool_choice="required")
    Response.model_validate(call.model_dump())
    [item] = call.output
    assert item.type == "function_call" and item.name == "lookup" and json.loads(item.arguments) == {"order": 77}
    sent = primary.calls[-1].body
    assert sent["tools"][0]["function"]["name"] == "lookup" and sent["tool_choice"] == "required"
    done = await client.responses.create(model="draft", previous_response_id=call.id, tools=tools, input=[
        {"type": "function_call_output", "call_id": item.call_id, "output": "shipped"}])
    assert done.output_text == "The tool said: shipped"
    assert primary.calls[-1].body["messages"][1]["tool_calls"][0]["id"] == item.call_id  # ids survive the crossing

    schema = {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"], "additionalProperties": False}
    typed = await client.responses.create(model="draft", input="Refund 42.99", store=False,
                                          text={"format": {"type": "json_schema", "name": "refund", "schema": schema, "strict": True}})
    assert json.loads(typed.output_text) == {"amount": 42.99}
    assert primary.calls[-1].body["response_format"]["json_schema"]["name"] == "refund"
    with pytest.raises(openai.BadRequestError):  # store: false kept nothing
        await client.responses.create(model="draft", previous_response_id=typed.id, input="again")


async def _stream_helper_and_the_event_sequence(client, primary, secondary):
    async with client.responses.stream(model="draft", input="What is the refund?") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    assert final.output_text == primary.answer and final.usage is not None
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == primary.answer
    for event in events:
        EVENTS.validate_python(event.model_dump(warnings=False))
    follow = await client.responses.create(model="draft", previous_response_id=final.id, input="thanks")
    assert primary.calls[-1].body["messages"][1] == {"role": "assistant", "content": primary.answer}
    assert follow.previous_response_id == final.id


async def _streamed_tool_call_events(client, primary, secondary):
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}}}]
    async with client.responses.stream(model="draft", input="order 5", tools=tools) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    [call] = final.output
    assert call.type == "function_call" and json.loads(call.arguments) == {"order": 5}
    for event in events:
        EVENTS.validate_python(event.model_dump(warnings=False))


async def _a_stream_cut_after_its_first_token_is_recovered_in_the_event_stream(client, primary, secondary):
    primary.script(cut(after=3))
    async with client.responses.stream(model="draft", input="What is the refund?") as stream:
        final = await stream.get_final_response()
    # "Answer from" was delivered; the secondary continued it (its own answer starts so): one
    # whole answer, nothing twice.
    assert final.output_text == secondary.answer
    recovery = final.model_extra["crosswalk"]["recovery"]
    assert recovery["broken"] == "primary" and recovery["finished_by"] == "secondary" and recovery["outcome"] == "resumed"
    assert secondary.count == 1


async def _failover_before_the_first_token_and_an_unrecoverable_break(client, primary, secondary):
    before = primary.count
    primary.always(error(503, UNAVAILABLE))
    async with client.responses.stream(model="draft", input="What is the refund?") as stream:
        final = await stream.get_final_response()
    primary.always(ok())
    assert primary.count > before and final.output_text == secondary.answer  # nothing had reached the caller: a failover
    for vendor in (primary, secondary):  # whoever serves it breaks
        vendor.always(cut(after=3))
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}}}]
    body = {"model": "draft", "input": "order 5", "tools": tools, "stream": True}
    async with client._client.stream("POST", str(client.base_url) + "responses", json=body,
                                     headers={"authorization": f"Bearer {KEY}"}) as wire:
        events = [json.loads(line[6:]) async for line in wire.aiter_lines() if line.startswith("data: ")]
    for event in events:
        EVENTS.validate_python(event)
    # A tool call cut mid-arguments cannot be resumed: the stream ends with `error`, and no
    # response.completed lets a client take the partial call for a whole one.
    assert events[-1]["type"] == "error" and not any(e["type"] == "response.completed" for e in events)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for vendor in (primary, secondary):
        vendor.always(ok())


async def _what_cannot_be_translated_is_refused_by_name(client, primary, secondary):
    before = primary.count
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="draft", input="news?", tools=[{"type": "web_search"}])
    assert err.value.body["param"] == "tools[0].type"
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="draft", input=[
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}, {"role": "user", "content": "hi"}])
    assert err.value.body["param"] == "input[0]"
    with pytest.raises(openai.BadRequestError) as err:
        await client.responses.create(model="draft", input="hi", include=["reasoning.encrypted_content"])
    assert err.value.body["param"] == "include"
    with pytest.raises(openai.NotFoundError) as err:  # an unknown step, OpenAI's model_not_found shape
        await client.responses.create(model="nope", input="hi")
    assert primary.count == before  # nothing reached a vendor


async def _validators_and_verification_apply(client, primary, secondary):
    raw = await client.responses.with_raw_response.create(model="checked", input="What is the refund?")
    assert raw.parse().output_text == secondary.answer  # the primary's answer broke the rule: failed over
    assert "primary" in raw.http_response.headers["x-crosswalk-validation"]
    async with client.responses.stream(model="checked", input="What is the refund?") as stream:
        assert (await stream.get_final_response()).output_text == secondary.answer
    raw = await client.responses.with_raw_response.create(model="verified", input="What is the refund?")
    assert raw.http_response.headers["x-crosswalk-agreement"].startswith("disagreed")  # two vendors, two answers
    assert raw.parse().model_extra["crosswalk"]["agreement"]["decision"] == "disagreed"
    async with client.responses.stream(model="verified", input="What is the refund?") as stream:
        final = await stream.get_final_response()
    assert final.output_text in (primary.answer, secondary.answer)
    metrics = (await client.get(str(client.base_url).replace("/v1/", "/metrics"), cast_to=httpx.Response)).text  # as chat
    assert 'crosswalk_requests_total{outcome="ok",step="checked"} 2.0' in metrics
    assert 'crosswalk_invalid_outputs_total{provider="primary",rule="regex",step="checked"} 2.0' in metrics


async def _legacy_completions_streamed_and_not(client, primary, secondary):
    done = await client.completions.create(model="draft", prompt="Say hi", max_tokens=20)
    assert done.object == "text_completion" and done.choices[0].text == primary.answer
    assert primary.calls[-1].body["messages"] == [{"role": "user", "content": "Say hi"}]
    chunks = [c async for c in await client.completions.create(model="draft", prompt="Say hi", stream=True)]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == primary.answer
    with pytest.raises(openai.BadRequestError) as err:
        await client.completions.create(model="draft", prompt="Say hi", echo=True)
    assert err.value.body["param"] == "echo"


# One `crosswalk serve` per test, several checks each (a process start costs seconds); the
# checks that fail a provider over come last, so no scripted fault outlives its check.


async def test_responses_and_completions_not_streamed(served):
    for check in (_function_tools_round_trip_and_typed_output, _what_cannot_be_translated_is_refused_by_name,
                  _legacy_completions_streamed_and_not, _validators_and_verification_apply, _create_with_instructions_tools_and_state_across_a_failover):
        await check(*served)


@pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (`make test` installs it)")
async def test_responses_streamed_with_conversations_on_redis(fake_vendor, tmp_path):
    redis = RedisServer(tmp_path).start()
    store = RedisConversations(url=redis.url, prefix="cw", ttl_s=60)  # what another replica would read
    try:
        async with _served(fake_vendor, tmp_path, extra=f"state: {{backend: redis, url: '{redis.url}', prefix: cw}}\n") as served:
            for check in (_stream_helper_and_the_event_sequence, _streamed_tool_call_events,
                          _a_stream_cut_after_its_first_token_is_recovered_in_the_event_stream,
                          _failover_before_the_first_token_and_an_unrecoverable_break):
                await check(*served)
            client = served[0]
            done = await client.responses.create(model="draft", input="What is the refund?")
            entry = await store.get(done.id)
            assert entry is not None and entry["response"]["id"] == done.id
            assert entry["items"][-1]["content"][0]["text"] == done.output_text
            redis.kill()  # the store goes away: answers still come, and say they were not stored
            unsaved = await client.responses.create(model="draft", input="What is the refund?")
            assert unsaved.output_text and unsaved.model_extra["crosswalk"]["stored"] is False
            with pytest.raises(openai.InternalServerError) as err:  # 503: not a silent fresh start, not a 404
                await client.responses.create(model="draft", previous_response_id=done.id, input="more")
            assert err.value.status_code == 503 and err.value.body["code"] == "store_unavailable"
    finally:
        await store.aclose()
        redis.kill()

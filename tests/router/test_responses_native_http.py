"""`POST /v1/responses` served natively by a provider that speaks the Responses API
(`kind: openai` with `responses: true`) and translated for the others, on a real
`crosswalk serve` driven by the official openai SDK over a loopback fake Responses
server (tests/fakeresponses.py) and the fake Chat vendor: the vendor's Response and
events unchanged, failover native -> chat -> native across `previous_response_id`,
built-in tools making chat providers ineligible (header and decision record), the 400
of a step that has no Responses provider; every shape validated by `openai.types.responses`."""

from __future__ import annotations

import json
import subprocess
import sys

import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

import tests.fakeresponses as fr
import tests.fakevendor as fv
from crosswalk.policies.config import ConfigError
from crosswalk.policies.parse import parse_config
from tests.eventually import eventually
from tests.loopback import BackgroundLoop
from tests.router.proxy_harness import ProxyProcess

KEY = "responses-native-key-0123456789"
EVENTS = TypeAdapter(ResponseStreamEvent)
UNAVAILABLE = {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}}
WEB = [{"type": "web_search"}]
WEATHER = [{"type": "function", "name": "weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def _config(oai: fr.FakeResponses, chat: fv.FakeVendor) -> str:
    timeouts = "timeouts: {per_try_s: 5, ttft_s: 5, idle_s: 5, total_s: 8}, retry: {same_provider: 0}"
    return f"""
providers:
  oai:  {{kind: openai, model: gpt-5, base_url: "{oai.base_url}", api_key: sk-fake, responses: true, vendor: openai}}
  chat: {{kind: openai, model: m-chat, base_url: "{chat.base_url}", api_key: sk-fake, vendor: other}}
steps:
  mixed: {{providers: [oai, chat], {timeouts}}}
  chat-first: {{providers: [chat, oai], {timeouts}}}
  chat-only: {{providers: [chat], {timeouts}}}
  verified: {{providers: [oai, chat], {timeouts}, verify: {{agree: {{min: 2, of: 2}}, compare: normalized, on_disagree: flag}}}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0, consecutive_failures: 1000, min_calls: 1000, window: 1000}}
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One proxy and its two fake vendors for the module (a proxy takes seconds to start)."""
    loop = BackgroundLoop()
    oai = loop.run(fr.FakeResponses("oai", tool_call={"name": "weather", "arguments": "{\"city\": \"Paris\"}"}).start())
    chat = loop.run(fv.FakeVendor("chat").start())
    cfg = tmp_path_factory.mktemp("responses-native") / "c.yaml"
    cfg.write_text(_config(oai, chat))
    proxy = ProxyProcess(cfg, extra=["--log-level", "info", "--log-format", "json"]).wait_ready()
    yield proxy, oai, chat
    proxy.stop()
    for vendor in (oai, chat):
        loop.run(vendor.stop())
    loop.close()
    assert KEY not in proxy.log()


@pytest.fixture
async def stack(servers):
    proxy, oai, chat = servers
    for vendor in (oai, chat):
        vendor.always(fv.ok())
        vendor._queue.clear()
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=15)
    yield proxy, client, oai, chat
    await client.close()


def _decisions(proxy: ProxyProcess) -> list[dict]:
    lines = (json.loads(line) for line in proxy.log().splitlines() if line.startswith("{"))
    return [d for d in lines if d.get("event") == "decision"]


def _mixed(proxy: ProxyProcess) -> list[dict]:
    return [d for d in _decisions(proxy) if d["step"] == "mixed"]


async def test_the_vendors_response_and_events_reach_the_caller_unchanged(stack):
    proxy, client, oai, chat = stack
    before = chat.count
    raw = await client.responses.with_raw_response.create(model="mixed", input="Refund policy?", tools=WEB, metadata={"t": "1"})
    assert raw.http_response.json() == oai.responses[-1]  # reasoning, web_search_call and message items, as sent
    answer = Response.model_validate(raw.http_response.json())
    assert [item.type for item in answer.output] == ["reasoning", "web_search_call", "message"]
    assert answer.output_text == oai.answer and answer.usage.output_tokens_details.reasoning_tokens == 9
    assert oai.calls[-1].body == {"model": "gpt-5", "input": "Refund policy?", "tools": WEB, "metadata": {"t": "1"}}
    headers = raw.http_response.headers
    assert headers["x-crosswalk-provider"] == "oai" and headers["x-crosswalk-ineligible"] == "chat" and chat.count == before
    record = (await eventually(lambda: [d for d in _decisions(proxy) if d.get("ineligible")], what="the decision line"))[-1]
    assert record["dialect"] == "responses" and "built-in tool web_search" in record["ineligible"]["chat"]
    assert (await client.responses.retrieve(answer.id)).to_dict() == oai.responses[-1]  # stored under the vendor's id

    async with client.responses.with_streaming_response.create(model="mixed", input="Refund policy?", tools=WEB, stream=True) as wire:
        body = (await wire.http_response.aread()).decode()
    frames = [frame.split("\n") for frame in body.strip().split("\n\n")]
    sent = oai._events(oai.responses[-1])
    assert [json.loads(data.removeprefix("data: ")) for _, data in frames] == sent  # event by event, as the vendor sent them
    assert [kind.removeprefix("event: ") for kind, _ in frames] == [e["type"] for e in sent]
    for event in sent:
        EVENTS.validate_python(event)
    async with client.responses.stream(model="mixed", input="Refund policy?", tools=WEB) as stream:
        final = await stream.get_final_response()
    assert final.id == oai.responses[-1]["id"] and final.output_text == oai.answer
    assert [item.type for item in final.output] == ["reasoning", "web_search_call", "message"]
    assert oai.calls[-1].body["stream"] is True and chat.count == before


async def test_previous_response_id_across_native_chat_and_native_again(stack):
    proxy, client, oai, chat = stack
    lines = len(_mixed(proxy))
    first = await client.responses.create(model="mixed", input="Weather in Paris?", tools=WEATHER,
                                          include=["reasoning.encrypted_content"])
    call = next(item for item in first.output if item.type == "function_call")
    assert first.id == oai.responses[-1]["id"] and call.call_id == "call_oai" + first.id.removeprefix("resp_oai")

    oai.script(fv.error(503, UNAVAILABLE))  # the next turn fails over to the chat provider: translated
    output = [{"type": "function_call_output", "call_id": call.call_id, "output": "Rain, 12C"}]
    raw = await client.responses.with_raw_response.create(model="mixed", previous_response_id=first.id, input=output, tools=WEATHER)
    second = raw.parse()
    Response.model_validate(second.to_dict())
    assert raw.http_response.headers["x-crosswalk-provider"] == "chat" and second.output_text == chat.answer
    assert raw.http_response.headers["x-crosswalk-dropped"] == "reasoning items of earlier turns"
    assert chat.calls[-1].body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.call_id, "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": call.call_id, "content": "Rain, 12C"}]

    async with client.responses.stream(model="mixed", previous_response_id=second.id, input="And tomorrow?") as stream:
        third = await stream.get_final_response()
    assert third.id == oai.responses[-1]["id"] and third.output_text == oai.answer  # native again
    sent = oai.calls[-1].body
    assert "previous_response_id" not in sent  # the vendor never saw turn 2: it gets the whole conversation
    assert [i.get("type", "message") for i in sent["input"]] == ["message", "reasoning", "function_call",
                                                                 "function_call_output", "message", "message"]
    assert sent["input"][1] == first.output[0].to_dict() and sent["input"][1]["encrypted_content"]  # its reasoning, replayable
    assert sent["input"][4]["content"][0]["text"] == chat.answer

    fourth = await client.responses.create(model="mixed", previous_response_id=third.id, input="Thanks.")
    assert fourth.output_text == oai.answer  # turn 3's reasoning has no encrypted content: a pointer, not replayed
    assert [i.get("type", "message") for i in oai.calls[-1].body["input"]].count("reasoning") == 1
    assert (await client.responses.retrieve(third.id)).output_text == oai.answer
    await eventually(lambda: len(_mixed(proxy)) >= lines + 4, what="the four turns' decision lines")
    served = [(d["provider"], d.get("dropped")) for d in _mixed(proxy)][-4:]
    assert served == [("oai", None), ("chat", ["reasoning items of earlier turns"]), ("oai", None), ("oai", None)]


async def test_a_native_stream_broken_mid_answer_is_finished_by_the_chat_provider(stack):
    _, client, oai, chat = stack
    events = oai._events(oai._response({"input": "q"}))
    deltas = [i for i, e in enumerate(events) if e["type"] == "response.output_text.delta"]
    oai.script(fv.cut(after=deltas[1] + 1))  # two words of the answer out, then the connection drops
    seen = []
    async with client.responses.stream(model="mixed", input="What is the refund?") as stream:
        async for event in stream:
            seen.append(event)
        final = await stream.get_final_response()
    numbers = [e.sequence_number for e in seen]
    assert numbers == list(range(len(seen)))  # one numbering across the native events and the translated rest
    # "Answer from" came natively; the chat provider continued it (its own answer starts alike).
    assert [item.type for item in final.output] == ["reasoning", "message", "message"]
    assert final.output[1].content[0].text == "Answer from" and final.output_text == chat.answer
    assert seen[-1].type == "response.completed" and final.id == oai.responses[-1]["id"]
    recovery = final.crosswalk["recovery"]  # type: ignore[attr-defined]
    assert (recovery["broken"], recovery["finished_by"], recovery["outcome"]) == ("oai", "chat", "resumed")


async def test_built_in_tools_need_a_responses_provider_and_a_step_without_one_says_so(stack):
    _, client, oai, chat = stack
    raw = await client.responses.with_raw_response.create(model="chat-first", input="news?", tools=WEB)
    assert raw.http_response.headers["x-crosswalk-provider"] == "oai"  # chat ranks first but cannot carry web_search
    assert raw.http_response.headers["x-crosswalk-ineligible"] == "chat"
    raw = await client.responses.with_raw_response.create(model="chat-first", input="news?")
    assert raw.http_response.headers["x-crosswalk-provider"] == "chat"  # nothing native-only: its rank holds
    before = (oai.count, chat.count)
    for kwargs, param in [({"tools": WEB}, "tools[0].type"), ({"include": ["reasoning.encrypted_content"]}, "include"),
                          ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]")]:
        with pytest.raises(openai.BadRequestError) as err:
            await client.responses.create(model="chat-only", **{"input": "hi", **kwargs})
        assert err.value.body["param"] == param and "responses: true" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:  # a panel is asked in Chat: it cannot search either
        await client.responses.create(model="verified", input="hi", tools=WEB)
    assert err.value.body["param"] == "tools[0].type" and "verifies its answers" in err.value.body["message"]
    assert (oai.count, chat.count) == before  # refused before any vendor was asked


CONFIG = """
providers:
  openai: {kind: openai, model: gpt-5, base_url: "https://api.openai.com/v1"}
  compat: {kind: openai, model: llama, base_url: "http://127.0.0.1:9/v1"}
  gateway: {kind: openai, model: gpt-5, base_url: "http://127.0.0.1:9/v1", responses: true}
steps:
  assistant: {providers: [gateway, compat]}
"""


def test_responses_is_declared_per_provider_defaulting_to_openai_itself(tmp_path):
    providers = parse_config(CONFIG, env={}).providers
    assert (providers["openai"].responses, providers["compat"].responses, providers["gateway"].responses) == (True, False, True)
    with pytest.raises(ConfigError, match="providers.claude.*'responses' is for kind 'openai'"):
        parse_config("providers:\n  claude: {kind: anthropic, model: c, responses: true}\nsteps:\n  s: {providers: [claude]}\n", env={})
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    out = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "explain", "--step", "assistant", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/v1/responses: served natively by gateway; translated for compat, which are not eligible" in out.stdout



async def test_vendor_errors_are_classified_as_for_chat(stack):
    _, client, oai, chat = stack
    oai.script(fv.error_event(after=3, payload={"code": "server_error", "message": "The server had an error", "param": None}))
    async with client.responses.stream(model="mixed", input="What is the refund?") as stream:
        final = await stream.get_final_response()
    assert final.output_text == chat.answer and final.crosswalk["attempts"] == ["oai:stream_broken", "chat:ok"]  # type: ignore[attr-defined]
    before = chat.count
    unknown = {"error": {"message": "Unknown parameter: 'reasoning.colour'.", "type": "invalid_request_error",
                         "param": "reasoning.colour", "code": "unknown_parameter"}}
    oai.script(fv.error(400, unknown))
    with pytest.raises(openai.BadRequestError) as err:  # the caller's own mistake: no failover, the vendor's words
        await client.responses.create(model="mixed", input="hi", tools=WEB)
    assert err.value.body["code"] == "unknown_parameter" and "reasoning.colour" in err.value.body["message"]
    assert chat.count == before

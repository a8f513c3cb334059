"""The pure Responses <-> Chat and completions <-> Chat mappings, every emitted shape
validated against the official SDK's types (openai.types.responses, openai.types)."""

from __future__ import annotations

import json

import copy

import pytest
from openai.types import Completion
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from crosswalk.providers import completions_chat
from crosswalk.providers.responses_chat import Untranslatable, input_items, to_chat, to_response
from crosswalk.providers.responses_needs import replayable, split
from crosswalk.providers.responses_stream import EventRenderer

EVENTS = TypeAdapter(ResponseStreamEvent)


def test_request_items_become_chat_messages_without_touching_the_request():
    body = {
        "model": "draft", "instructions": "Be brief.", "max_output_tokens": 9, "parallel_tool_calls": False,
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        "input": [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "input_text", "text": "see "}, {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking.", "annotations": []}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{\"a\":1}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
        ],
    }
    frozen = copy.deepcopy(body)
    chat = to_chat(body, input_items(body["input"]))
    assert body == frozen  # every failover translates the original again
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": [{"type": "text", "text": "see "},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}}]},
        {"role": "assistant", "content": "Looking.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False and chat["max_completion_tokens"] == 9
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True}}


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "hi", "tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "tools[0].type"),
    ({"input": [{"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "x"}]}, "input[0]"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
    ({"input": [{"type": "web_search_call", "id": "ws_1", "status": "completed"}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0]"),
    ({"input": "hi", "include": ["reasoning.encrypted_content"]}, "include"),
    ({"input": "hi", "prompt": {"id": "p"}}, "prompt"),
    ({"input": "hi", "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
])
def test_what_only_a_responses_provider_can_carry_is_named_and_left_out_of_the_translation(body, param):
    parts = split(body, [], input_items(body["input"]))
    assert [p for p, _ in parts.needs] == [param]
    chat_only = json.dumps([{k: v for k, v in parts.body.items() if k != "input"}, parts.items])  # what to_chat reads
    assert "file_search" not in chat_only and "encrypted" not in chat_only and "web_search" not in chat_only


def test_what_earlier_turns_hold_that_chat_cannot_replay_is_dropped_not_needed():
    history = [{"role": "user", "content": "news?"}, {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"},
               {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "news"}},
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Rain.", "annotations": []}]}]
    parts = split({"input": "more?"}, history, input_items("more?"))
    assert parts.needs == () and parts.dropped == ("reasoning items of earlier turns", "web_search_call items of earlier turns")
    assert to_chat(parts.body, parts.items)["messages"] == [
        {"role": "user", "content": "news?"}, {"role": "assistant", "content": "Rain."}, {"role": "user", "content": "more?"}]
    assert split({"input": [{"type": "reasoning", "summary": []}]}, [], [{"type": "reasoning", "summary": []}]).dropped == ("reasoning items",)


def test_a_responses_provider_is_replayed_everything_but_reasoning_it_cannot_read():
    pointer = {"type": "reasoning", "id": "rs_1", "summary": []}
    sealed = {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAA"}
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}}
    user = {"role": "user", "content": "hi"}
    assert replayable([user, pointer, sealed, search]) == [user, sealed, search]


@pytest.mark.parametrize(("body", "param"), [
    ({"input": "hi", "background": True}, "background"),
    ({"input": "hi", "conversation": "conv_1"}, "conversation"),
    ({"input": "hi", "text": {"format": {"type": "grammar"}}}, "text.format"),
    ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role"),
])
def test_what_no_provider_is_given_is_refused_by_name(body, param):
    with pytest.raises(Untranslatable) as err:
        to_chat(body, input_items(body["input"]))
    assert err.value.param == param


def test_a_completion_becomes_a_response_with_calls_usage_and_incomplete_status():
    completion = {"id": "x", "model": "m-1", "choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": "partial", "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12, "prompt_tokens_details": {"cached_tokens": 2}}}
    response = Response.model_validate(to_response(completion, {"input": "hi", "metadata": {"k": "v"}}, response_id="resp_1", created_at=1.0))
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "partial" and response.output[1].call_id == "c9"
    assert response.usage.input_tokens_details.cached_tokens == 2 and response.usage.total_tokens == 12
    assert response.metadata == {"k": "v"} and response.model == "m-1"


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    return {"id": "c", "object": "chat.completion.chunk", "model": "m-1", "usage": usage,
            "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_a_chat_stream_of_text_then_two_tool_calls_renders_the_event_sequence():
    renderer = EventRenderer({"input": "hi"}, response_id="resp_1", created_at=1.0, model="m-1")
    chunks = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Checking"}), _chunk({"content": "."}),
              _chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
              _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}),
              _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
              _chunk({"tool_calls": [{"index": 1, "id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
              _chunk({}, "tool_calls"), _chunk({}, usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})]
    events = renderer.start()
    for chunk in chunks:
        events += renderer.feed(chunk)
    events += renderer.end()
    parsed = [EVENTS.validate_python(e) for e in events]
    assert [e.sequence_number for e in parsed] == list(range(len(parsed)))
    assert [e.type for e in parsed] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    final = parsed[-1].response
    assert [item.type for item in final.output] == ["message", "function_call", "function_call"]
    assert final.output_text == "Checking." and final.output[1].arguments == '{"a":1}' and final.output[2].call_id == "c2"
    assert [e.output_index for e in parsed if e.type == "response.output_item.added"] == [0, 1, 2]
    assert final.usage.output_tokens == 4


def test_a_failed_stream_ends_with_an_error_event():
    renderer = EventRenderer({"input": "hi"}, response_id="resp_1", created_at=1.0, model="m")
    events = [*renderer.start(), *renderer.feed(_chunk({"content": "par"})), renderer.error("cut", code="stream_interrupted")]
    error = EVENTS.validate_python(events[-1])
    assert error.type == "error" and error.sequence_number == len(events) - 1


def test_legacy_completions_map_to_chat_and_back():
    chat = completions_chat.to_chat({"prompt": ["Say hi"], "max_tokens": 5, "stop": ["\n"], "logprobs": 2})
    assert chat == {"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 5, "stop": ["\n"], "logprobs": True, "top_logprobs": 2}
    completion = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                  "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    assert Completion.model_validate(completions_chat.to_completion(completion)).choices[0].text == "hi"
    assert completions_chat.to_chunk(_chunk({"role": "assistant", "content": ""})) is None
    for bad, param in (({"prompt": ["a", "b"]}, "prompt"), ({"prompt": [1, 2]}, "prompt"), ({"prompt": "a", "suffix": "z"}, "suffix"),
                       ({"prompt": "a", "best_of": 3}, "best_of"), ({"prompt": "a", "functions": []}, "functions")):
        with pytest.raises(Untranslatable) as err:
            completions_chat.to_chat(bad)
        assert err.value.param == param


def test_token_logprobs_survive_the_crossing_whole_and_streamed():
    entry = {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": None}]}
    completion = {"model": "m", "choices": [{"index": 0, "finish_reason": "stop", "logprobs": {"content": [entry]},
                                             "message": {"role": "assistant", "content": "Hi"}}]}
    response = Response.model_validate(to_response(completion, {"input": "x", "top_logprobs": 1}, response_id="resp_1", created_at=1.0))
    [logprob] = response.output[0].content[0].logprobs
    assert logprob.token == "Hi" and logprob.logprob == -0.1 and logprob.bytes == [72, 105] and logprob.top_logprobs[0].bytes == []
    renderer = EventRenderer({"input": "x"}, response_id="resp_1", created_at=1.0, model="m")
    chunk = _chunk({"content": "Hi"})
    chunk["choices"][0]["logprobs"] = {"content": [entry]}
    events = [*renderer.start(), *renderer.feed(chunk), *renderer.end()]
    parsed = [EVENTS.validate_python(e) for e in events]
    assert [e for e in parsed if e.type == "response.output_text.delta"][0].logprobs[0].token == "Hi"
    assert parsed[-1].response.output[0].content[0].logprobs[0].logprob == -0.1

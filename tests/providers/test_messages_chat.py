"""The pure Messages <-> Chat mappings, checked against the official SDKs' typed models."""

from __future__ import annotations

import copy
import json

import pydantic
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from crosswalk.providers.messages_chat import chat_to_message, chat_to_messages, message_to_chat, messages_to_chat
from crosswalk.providers.messages_shapes import tool_id
from crosswalk.providers.messages_stream import ChatToEvents, EventsToChat

EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)
PNG = "iVBORw0KGgo="

MESSAGES_REQUEST = {
    "model": "claude-sonnet-4-5", "max_tokens": 300, "temperature": 0.2, "stop_sequences": ["END"], "top_k": 5,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Use metric."}],
    "tools": [{"name": "weather", "description": "Weather now", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Oslo?"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}},
                                          {"type": "tool_use", "id": "call_xyz", "name": "weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "21C"},
                                     {"type": "tool_result", "tool_use_id": "call_xyz", "content": [{"type": "text", "text": "3C"}]},
                                     {"type": "text", "text": "Thanks"}]},
    ],
}


def test_messages_request_becomes_chat_without_touching_the_input() -> None:
    original = copy.deepcopy(MESSAGES_REQUEST)
    chat, dropped = messages_to_chat(MESSAGES_REQUEST)
    assert MESSAGES_REQUEST == original
    assert chat["messages"][0] == {"role": "system", "content": "Be brief.\n\nUse metric."}
    user = chat["messages"][1]["content"]
    assert user[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assistant = chat["messages"][2]
    assert assistant["content"] == "Checking."
    assert [c["id"] for c in assistant["tool_calls"]] == ["toolu_01A", "call_xyz"]
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"city": "Oslo"}
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "toolu_01A", "content": "21C"}
    assert chat["messages"][4] == {"role": "tool", "tool_call_id": "call_xyz", "content": "3C"}
    assert chat["messages"][5] == {"role": "user", "content": [{"type": "text", "text": "Thanks"}]}
    assert chat["tools"][0]["function"]["parameters"]["properties"]["city"] == {"type": "string"}
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["stop"] == ["END"] and chat["max_tokens"] == 300 and chat["temperature"] == 0.2
    assert dropped == ["top_k", "cache_control"]


def test_round_trip_chat_to_messages_keeps_tools_ids_and_images() -> None:
    chat, _ = messages_to_chat(MESSAGES_REQUEST)
    back = chat_to_messages(chat)
    assert back["system"] == "Be brief.\n\nUse metric."
    turns = back["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0]["content"][1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert [b["id"] for b in turns[1]["content"] if b["type"] == "tool_use"] == ["toolu_01A", "call_xyz"]
    assert turns[1]["content"][1]["input"] == {"city": "Paris"}
    assert [b.get("tool_use_id") for b in turns[2]["content"]] == ["toolu_01A", "call_xyz", None]
    assert back["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert back["stop_sequences"] == ["END"] and back["max_tokens"] == 300


def test_foreign_tool_ids_are_rewritten_the_same_way_every_turn() -> None:
    odd = "call:abc/def.1"
    assert tool_id(odd) == tool_id(odd) and tool_id(odd) != tool_id("call:abc/def.2")
    assert set(tool_id(odd)) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    assert tool_id("toolu_01XYZ") == "toolu_01XYZ"


CHAT_ANSWER = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Two calls.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}}]}}],
    "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59, "prompt_tokens_details": {"cached_tokens": 20}},
}


def test_chat_answer_as_a_message_and_back() -> None:
    message = chat_to_message(CHAT_ANSWER)
    Message.model_validate(message)
    assert message["stop_reason"] == "tool_use"
    assert message["content"][1] == {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}}
    assert message["usage"] == {"input_tokens": 30, "output_tokens": 9, "cache_read_input_tokens": 20}
    chat = message_to_chat(message)
    ChatCompletion.model_validate(chat)
    assert chat["choices"][0]["finish_reason"] == "tool_calls"
    assert chat["usage"]["prompt_tokens"] == 50 and chat["usage"]["prompt_tokens_details"] == {"cached_tokens": 20}
    assert [c["id"] for c in chat["choices"][0]["message"]["tool_calls"]] == ["call_1", "call_2"]


def _chunks() -> list[dict]:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1"}

    def chunk(delta, finish=None):
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return [
        chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}), chunk({"content": "lo"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        {**base, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}},
    ]


def test_chat_stream_becomes_the_full_event_sequence_with_deltas_kept() -> None:
    out = ChatToEvents()
    events = [e for c in _chunks() for e in out.feed(c)] + out.finish()
    for event in events:
        EVENT.validate_python(event)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert [e["delta"]["text"] for e in events if e.get("delta", {}).get("type") == "text_delta"] == ["Hel", "lo"]
    assert [e["delta"]["partial_json"] for e in events if e.get("delta", {}).get("type") == "input_json_delta"] == ['{"city":', '"Paris"}', "{}"]
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert kinds.count("content_block_stop") == 3
    assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-2]["usage"]["output_tokens"] == 5


def test_events_back_to_chat_chunks_rebuild_the_same_answer() -> None:
    out = ChatToEvents()
    events = [e for c in _chunks() for e in out.feed(c)] + out.finish()
    back = EventsToChat()
    chunks = [c for c in map(back.feed, events) if c is not None]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    calls: dict[int, str] = {}
    for c in chunks:
        for call in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            calls[call["index"]] = calls.get(call["index"], "") + call["function"].get("arguments", "")
    assert text == "Hello" and calls == {0: '{"city":"Paris"}', 1: "{}"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["tool_calls"]
    assert chunks[-1]["usage"]["completion_tokens"] == 5


def test_a_native_stream_resumed_by_translation_keeps_numbering() -> None:
    out = ChatToEvents()
    native = [{"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                                     "model": "claude", "stop_reason": None, "stop_sequence": None,
                                                     "usage": {"input_tokens": 3, "output_tokens": 1}}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}]
    for event in native:
        out.observe(event)
    rest = [e for c in _chunks()[2:3] for e in out.feed(c)] + out.finish()
    assert rest[0] == {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}
    assert [e["type"] for e in rest] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]

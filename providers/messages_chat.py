"""Anthropic Messages <-> OpenAI Chat Completions: the pure format mappings, both ways.

Requests: `messages_to_chat` (a Messages caller served by an OpenAI-format provider) and
`chat_to_messages` (a Chat caller, or a failover, served by `kind: anthropic`). Answers:
`chat_to_message` / `message_to_chat` (streams: `messages_stream.py`). Nothing here mutates its input: every retry and failover translates the
caller's request again (the Envoy AI Gateway rule). Shapes follow `anthropic.types` and
`openai.types.chat`; the tests validate against them.

Tool-call ids survive every crossing: ids go through unchanged where the target allows
them, and otherwise through `tool_id`, a deterministic rewrite, so the id a vendor minted
in one turn names the same call in the next turn on any vendor.
"""

from __future__ import annotations

import json
import re
from typing import Any

from crosswalk.providers.messages_shapes import (
    CHAT_FINISH,
    MESSAGES_STOP,
    chat_usage,
    message_id,
    messages_usage,
    tool_id,
)

__all__ = ["messages_to_chat", "chat_to_messages", "chat_to_message", "message_to_chat"]

DEFAULT_MAX_TOKENS = 4096  # Messages requires max_tokens; Chat leaves it to the vendor


# ---- requests: Messages -> Chat ---------------------------------------------------------


def messages_to_chat(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A Messages request body as a Chat Completions body, and what could not be carried
    (listed for the decision record: `top_k`, `thinking`, cache_control...)."""
    dropped: list[str] = []
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system)})
    for turn in body.get("messages") or ():
        messages.extend(_chat_turn(turn, dropped))
    out: dict[str, Any] = {"messages": messages, "max_tokens": body.get("max_tokens", DEFAULT_MAX_TOKENS)}
    for key in ("temperature", "top_p"):
        if key in body:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        out["user"] = user
    if body.get("tools"):
        out["tools"] = [_chat_tool(t) for t in body["tools"]]
    choice = body.get("tool_choice")
    if choice:
        out.update(_chat_tool_choice(choice))
    for key in ("top_k", "thinking", "service_tier", "container", "mcp_servers"):
        if key in body:
            dropped.append(key)
    if _has_cache_control(body):
        dropped.append("cache_control")
    return out, dropped


def _text_of(content: Any) -> str:
    """A system prompt or tool result as plain text (blocks' texts joined)."""
    if isinstance(content, str):
        return content
    return "\n\n".join(b.get("text", "") for b in content or () if isinstance(b, dict) and b.get("type") == "text")


def _chat_turn(turn: dict[str, Any], dropped: list[str]) -> list[dict[str, Any]]:
    role, content = turn.get("role"), turn.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "assistant":
        return [_chat_assistant(content or [], dropped)]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "tool_result":
            result = block.get("content")
            text = result if isinstance(result, str) else _text_of(result)
            tools.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
            if not isinstance(result, str):  # images a tool returned follow as the user's
                parts.extend(_chat_part(b) for b in result or () if b.get("type") == "image")
        elif kind in ("text", "image"):
            parts.append(_chat_part(block))
        else:
            dropped.append(f"{kind} block")
    return tools + ([{"role": role, "content": parts}] if parts else [])


def _chat_part(block: dict[str, Any]) -> dict[str, Any]:
    if block["type"] == "text":
        return {"type": "text", "text": block["text"]}
    source = block.get("source") or {}
    if source.get("type") == "url":
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    return {"type": "image_url", "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data')}"}}


def _chat_assistant(blocks: list[dict[str, Any]], dropped: list[str]) -> dict[str, Any]:
    texts, calls = [], []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append({"id": block["id"], "type": "function", "function": {
                "name": block["name"], "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}})
        else:
            dropped.append(f"{kind} block")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    out: dict[str, Any] = {"tool_choice": {"auto": "auto", "any": "required", "none": "none"}.get(kind, "auto")}
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


def _has_cache_control(body: dict[str, Any]) -> bool:
    def blocks():
        for part in (body.get("system"), *(m.get("content") for m in body.get("messages") or ()), body.get("tools")):
            if isinstance(part, list):
                yield from (b for b in part if isinstance(b, dict))
    return any("cache_control" in b for b in blocks())


# ---- requests: Chat -> Messages ---------------------------------------------------------


# Chat fields the Messages API has no place for (listed in the record when a Chat caller
# is served by a Messages provider).
CHAT_ONLY = ("response_format", "logprobs", "top_logprobs", "seed", "presence_penalty", "frequency_penalty",
             "logit_bias", "audio", "modalities", "prediction", "reasoning_effort")


def chat_dropped(body: dict[str, Any]) -> tuple[str, ...]:
    """What `chat_to_messages` leaves out of `body`: Chat-only fields, more than one choice
    (`n`), tools that are not functions."""
    dropped = [key for key in CHAT_ONLY if body.get(key) not in (None, False)]
    if (body.get("n") or 1) > 1:
        dropped.append("n")
    if any(t.get("type", "function") != "function" for t in body.get("tools") or ()):
        dropped.append("non-function tools")
    return tuple(dropped)


def chat_to_messages(body: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions body as a Messages body (system lifted out, tool results as
    user turns, consecutive turns of one role merged, `max_tokens` always set)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in body.get("messages") or ():
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_chat_text(message.get("content")))
            continue
        blocks = _message_blocks(message)
        mrole = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == mrole:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": mrole, "content": blocks})
    out: dict[str, Any] = {"messages": turns,
                           "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS}
    if system:
        out["system"] = "\n\n".join(system)
    for key in ("temperature", "top_p", "stream"):
        if key in body:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    if body.get("tools"):
        out["tools"] = [_messages_tool(t) for t in body["tools"] if t.get("type", "function") == "function"]
    choice = _messages_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and out.get("tools"):
        out["tool_choice"] = choice
    return out


def _chat_text(content: Any) -> str:
    if isinstance(content, str) or content is None:
        return content or ""
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


_DATA_URL = re.compile(r"data:(?P<type>[\w/+.-]+);base64,(?P<data>.*)", re.DOTALL)


def _message_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    if role == "tool":
        return [{"type": "tool_result", "tool_use_id": tool_id(message.get("tool_call_id") or ""),
                 "content": _chat_text(content)}]
    blocks: list[dict[str, Any]] = []
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    else:
        for part in content or ():
            if part.get("type") == "text":
                blocks.append({"type": "text", "text": part["text"]})
            elif part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url", "")
                found = _DATA_URL.fullmatch(url)
                source = ({"type": "base64", "media_type": found["type"], "data": found["data"]} if found
                          else {"type": "url", "url": url})
                blocks.append({"type": "image", "source": source})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append({"type": "tool_use", "id": tool_id(call.get("id") or ""), "name": function.get("name", ""),
                       "input": _arguments(function.get("arguments"))})
    return blocks


def _arguments(raw: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Messages wants (`{}` when empty)."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _messages_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    out = {"name": function.get("name", ""), "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _messages_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    if isinstance(choice, dict):
        out: dict[str, Any] = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        out = {"type": {"required": "any", "none": "none"}.get(choice or "auto", "auto")}
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


# ---- answers ----------------------------------------------------------------------------


def chat_to_message(chat: dict[str, Any], *, model: str | None = None) -> dict[str, Any]:
    """A chat.completion as a Messages `message` object (choice 0)."""
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": _chat_text(message["content"])})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": tool_id(call.get("id") or ""), "name": function.get("name", ""),
                        "input": _arguments(function.get("arguments"))})
    return {
        "id": message_id(chat.get("id")), "type": "message", "role": "assistant", "content": content,
        "model": chat.get("model") or model or "", "stop_reason": MESSAGES_STOP.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None, "usage": messages_usage(chat.get("usage")),
    }


def message_to_chat(message: dict[str, Any], *, created: int = 0) -> dict[str, Any]:
    """A Messages `message` object as a chat.completion (text joined, tool_use as
    tool_calls with JSON arguments, thinking as `reasoning_content`)."""
    texts, thinking, calls = [], [], []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
        elif kind == "tool_use":
            calls.append({"id": block.get("id"), "type": "function", "function": {
                "name": block.get("name"), "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}})
    out_message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        out_message["tool_calls"] = calls
    if thinking:
        out_message["reasoning_content"] = "".join(thinking)
    finish = CHAT_FINISH.get(message.get("stop_reason") or "end_turn", "stop")
    return {"id": message.get("id"), "object": "chat.completion", "created": created, "model": message.get("model"),
            "choices": [{"index": 0, "message": out_message, "finish_reason": finish, "logprobs": None}],
            "usage": chat_usage(message.get("usage"))}


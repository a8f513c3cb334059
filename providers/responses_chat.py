"""OpenAI Responses API <-> Chat Completions: the pure mapping, both ways.

`to_chat` turns a Responses request (its `input` items already preceded by the stored
conversation, see router/dialects/responses.py) into a Chat Completions body;
`to_response` turns a chat.completion into a Response object; `EventRenderer` turns a
stream of chat.completion.chunk dicts into the Responses event sequence. Shapes follow
`openai.types.responses` (tests validate against them). Nothing here mutates its input:
every failover translates the original request again.

What only a Responses provider can carry (built-in tools, encrypted reasoning items...)
is taken out before the translation (providers/responses_needs.py): those requests go
to such a provider natively. What no provider is given (background mode, OpenAI-side
conversations) and what is malformed raises `Untranslatable` naming the field.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from crosswalk.providers.jsonwire import dumps


class Untranslatable(ValueError):
    """A Responses request field Chat Completions cannot carry; `param` names it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


# Request fields the translation reads (or that are Crosswalk's own: store, metadata,
# previous_response_id, include). Any other needs a provider that speaks Responses.
KNOWN_FIELDS = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "text", "max_output_tokens", "temperature", "top_p",
    "parallel_tool_calls", "metadata", "store", "include", "stream", "stream_options", "previous_response_id", "user",
    "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "reasoning", "top_logprobs", "truncation",
    "service_tier", "background",
})
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def new_id(prefix: str) -> str:
    """An id in OpenAI's style: `resp_…`, `msg_…`, `fc_…`."""
    return f"{prefix}_{uuid.uuid4().hex}"


def input_items(value: Any) -> list[dict[str, Any]]:
    """The request's `input` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise Untranslatable("'input' must be a string or an array of input items", "input")
    return list(value)


def to_chat(body: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The Chat Completions body (without `model`) for Responses request `body`, whose
    conversation is `items` (stored history, then this request's input)."""
    if body.get("conversation") is not None:
        raise Untranslatable("'conversation' (conversations kept at OpenAI) is not supported: Crosswalk keeps the "
                             "conversation itself, send 'previous_response_id'", "conversation")
    if body.get("background"):
        raise Untranslatable("'background' mode is not supported: send the request and wait, or stream it", "background")
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    messages += chat_messages(items)
    if not messages:
        raise Untranslatable("'input' is empty: send at least one message", "input")
    chat: dict[str, Any] = {"messages": messages}
    _copy_sampling(body, chat)
    tools = body.get("tools")
    if tools:
        chat["tools"] = [_tool(t, i) for i, t in enumerate(tools)]
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    fmt = _response_format((body.get("text") or {}).get("format"))
    if fmt is not None:
        chat["response_format"] = fmt
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _copy_sampling(body: dict[str, Any], chat: dict[str, Any]) -> None:
    for name in ("temperature", "top_p", "service_tier"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    user = body.get("safety_identifier") or body.get("user")
    if user is not None:
        chat["user"] = user
    if body.get("top_logprobs"):
        chat["logprobs"] = True
        chat["top_logprobs"] = body["top_logprobs"]
    if "message.output_text.logprobs" in (body.get("include") or ()):
        chat["logprobs"] = True
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None:
        chat["reasoning_effort"] = effort


def chat_messages(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses input items as chat messages: consecutive function calls (and the
    assistant text before them) become one assistant message with `tool_calls`."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        kind = item.get("type", "message")
        if kind == "message":
            role = _ROLES.get(item.get("role", ""))
            if role is None:
                raise Untranslatable(f"input[{i}].role must be user, assistant, system or developer", f"input[{i}].role")
            out.append({"role": role, "content": _content(item.get("content"), i)})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else _output_text(output, i)
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
        else:  # responses_needs took out every other kind a real request has
            raise Untranslatable(f"input[{i}] has type '{kind}', which Crosswalk cannot pass to a Chat Completions "
                                 "provider", f"input[{i}].type")
    return out


def _content(content: Any, i: int) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise Untranslatable(f"input[{i}].content must be a string or an array of parts", f"input[{i}].content")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal", "")})
        elif kind == "input_image" and part.get("image_url"):
            image = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise Untranslatable(f"input[{i}].content[{j}] ({kind}) cannot be passed to a Chat Completions provider "
                                 "(file ids and uploaded files are not supported)", f"input[{i}].content[{j}]")
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)  # assistant turns must be text for many vendors
    return parts


def _output_text(output: Any, i: int) -> str:
    if isinstance(output, list):
        return "".join(p.get("text", "") for p in output if isinstance(p, dict) and p.get("type") in ("input_text", "output_text"))
    raise Untranslatable(f"input[{i}].output must be a string or an array of text parts", f"input[{i}].output")


def _tool(tool: Any, i: int) -> dict[str, Any]:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind != "function":
        raise Untranslatable(f"tools[{i}] has type '{kind}': built-in tools (web search, file search, computer use, "
                             "code interpreter...) are not supported; declare function tools", f"tools[{i}].type")
    function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise Untranslatable("'tool_choice' must be auto, none, required or a function tool", "tool_choice")


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = {"name": fmt.get("name", "output"), "schema": fmt.get("schema", {})}
        for name in ("strict", "description"):
            if fmt.get(name) is not None:
                schema[name] = fmt[name]
        return {"type": "json_schema", "json_schema": schema}
    raise Untranslatable(f"text.format type '{fmt.get('type')}' is not supported", "text.format")


# --- answers -----------------------------------------------------------------------------

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def usage(chat_usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat usage as Responses usage (cached and reasoning token counts kept)."""
    if not chat_usage:
        return None
    prompt = chat_usage.get("prompt_tokens") or 0
    completion = chat_usage.get("completion_tokens") or 0
    cached = (chat_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (chat_usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0}, "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": chat_usage.get("total_tokens") or prompt + completion}


def skeleton(body: dict[str, Any], *, response_id: str, created_at: float, model: str) -> dict[str, Any]:
    """A Response object echoing the request's settings, with no output yet (in_progress)."""
    text = body.get("text") or {}
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": "in_progress", "model": model,
        "output": [], "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
        "metadata": body.get("metadata") or {}, "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature"), "top_p": body.get("top_p"), "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [], "text": {**text, "format": text.get("format") or {"type": "text"}},
        "max_output_tokens": body.get("max_output_tokens"), "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True), "truncation": body.get("truncation") or "disabled", "usage": None,
        "user": body.get("user"),
    }


def finish(response: dict[str, Any], finish_reason: str | None, chat_usage: dict[str, Any] | None) -> dict[str, Any]:
    """`response` with its final status (`incomplete` with the reason on a length or
    content-filter stop) and usage."""
    reason = _INCOMPLETE.get(finish_reason or "")
    status = "completed" if reason is None else "incomplete"
    for item in response["output"]:
        item["status"] = status
    return {**response, "status": status, "incomplete_details": None if reason is None else {"reason": reason},
            "usage": usage(chat_usage)}


def logprobs(choice: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat choice's token logprobs (asked for with `top_logprobs`) in the Responses shape."""
    def one(entry: dict[str, Any]) -> dict[str, Any]:
        return {"token": entry.get("token", ""), "logprob": entry.get("logprob", 0.0), "bytes": entry.get("bytes") or []}

    content = (choice.get("logprobs") or {}).get("content") or ()
    return [{**one(e), "top_logprobs": [one(t) for t in e.get("top_logprobs") or ()]} for e in content]


def message_item(text: str | None, refusal: str | None = None, *, item_id: str | None = None,
                 token_logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An assistant output message item holding `text` (and/or a refusal)."""
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": token_logprobs or []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": item_id or new_id("msg"), "type": "message", "role": "assistant", "status": "completed", "content": content}


def call_item(call_id: str, name: str, arguments: str, *, item_id: str | None = None) -> dict[str, Any]:
    """A function_call output item."""
    return {"id": item_id or new_id("fc"), "type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments, "status": "completed"}


def to_response(completion: dict[str, Any], body: dict[str, Any], *, response_id: str, created_at: float) -> dict[str, Any]:
    """The Response object for a chat.completion answering `body` (choice 0)."""
    response = skeleton(body, response_id=response_id, created_at=created_at, model=completion.get("model") or "")
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    if message.get("content") or message.get("refusal"):
        response["output"].append(message_item(message.get("content"), message.get("refusal"), token_logprobs=logprobs(choice)))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        response["output"].append(call_item(call.get("id") or new_id("call"), function.get("name", ""), function.get("arguments") or ""))
    return finish(response, choice.get("finish_reason"), completion.get("usage"))


def output_text(response: dict[str, Any]) -> str:
    """The response's text (every output_text part, joined), as the SDK's `output_text`."""
    return "".join(part.get("text", "") for item in response.get("output") or () if item.get("type") == "message"
                   for part in item.get("content") or () if part.get("type") == "output_text")


def sse(event: dict[str, Any]) -> bytes:
    """One Responses stream event on the wire (`event:` line, then `data:`)."""
    return b"event: " + event["type"].encode() + b"\ndata: " + dumps(event) + b"\n\n"

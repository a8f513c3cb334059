"""A fake Anthropic Messages API on a real loopback port, with the fakevendor's faults.

POST /v1/messages answers a `message` object, or with "stream": true the SSE event
sequence (message_start, content_block_start, ping, content_block_delta..., 
content_block_stop, message_delta, message_stop), each as `event: <type>` + `data:`;
POST /v1/messages/count_tokens answers `{"input_tokens": N}`. Errors are Anthropic's
JSON (`{"type": "error", "error": {"type", "message"}, "request_id"}`) with a
`request-id` header. Shapes from the API reference and `anthropic.types`.

Behaviours (tests/fakevendor.py): ok, error, cut (after N events), stall, error_event
(Anthropic's `event: error` mid-stream, e.g. overloaded_error). `tool_use` makes the
vendor call that tool when the request offers tools and the last user turn carries no
tool_result (so a multi-turn conversation ends in text).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakevendor import Behaviour, ScriptedServer, ok


def anthropic_error(type_: str, message: str, request_id: str = "req_011CFAKE") -> dict[str, Any]:
    """Anthropic's error body."""
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}


# The seed's outage, as the API answered it (a public Claude Code issue), and a retirement.
FABLE_404 = anthropic_error("not_found_error", "Claude Fable 5 is not available. Please use Opus 4.8. Learn more: "
                                               "https://www.anthropic.com/news/fable-mythos-access", "req_011Cbz0000")
RETIRED_404 = anthropic_error("not_found_error", "model: claude-sonnet-4-20250514")
OVERLOADED_529 = anthropic_error("overloaded_error", "Overloaded")
RATE_LIMIT_429 = anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
API_500 = anthropic_error("api_error", "Internal server error")
AUTH_401 = anthropic_error("authentication_error", "invalid x-api-key")
PERMISSION_403 = anthropic_error("permission_error", "Your API key does not have permission to use the specified resource.")
TOO_LARGE_413 = anthropic_error("request_too_large", "Request exceeds the maximum allowed number of bytes.")
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
INVALID_400 = anthropic_error("invalid_request_error", "messages: roles must alternate between \"user\" and \"assistant\"")


class FakeAnthropic(ScriptedServer):
    """An Anthropic Messages server on 127.0.0.1:<free port>; `base_url` has no /v1 (as
    the SDK's)."""

    def __init__(self, name: str, *, answer: str | None = None, tool_use: dict[str, Any] | None = None) -> None:
        super().__init__(name, answer=answer)
        self.tool_use = tool_use  # {"name", "input"}

    async def start(self) -> "FakeAnthropic":
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count)
        port = await self._serve(app)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def _count(self, request: web.Request) -> web.Response:
        body, _ = await self._record(request)
        return web.json_response({"input_tokens": len(json.dumps(body.get("messages"))) // 4},
                                 headers={"request-id": self._request_id()})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, call = await self._record(request)
        b = self._next()
        if b.kind == "error":
            return web.json_response(b.payload, status=b.status, headers={"request-id": self._request_id(), **b.headers})
        if b.kind == "hang":
            await self._release.wait()
            return web.Response(status=500)
        message = self._message(body)
        if not call.stream:
            return web.json_response(message, headers={"request-id": self._request_id()})
        return await self._stream(request, b, message)

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]]
        last = (body.get("messages") or [{}])[-1]
        answered = isinstance(last.get("content"), list) and any(b.get("type") == "tool_result" for b in last["content"])
        if self.tool_use is not None and body.get("tools") and not answered:
            content = [{"type": "tool_use", "id": f"toolu_01{self.name}{self._seq}", "name": self.tool_use["name"],
                        "input": self.tool_use["input"]}]
            stop = "tool_use"
        else:
            text = self.answer
            partial = last.get("content") if last.get("role") == "assistant" else None
            if isinstance(partial, list):
                partial = "".join(b.get("text", "") for b in partial if b.get("type") == "text")
            if isinstance(partial, str) and partial and text.startswith(partial):
                text = text[len(partial):]  # a prefill: continue it
            content = [{"type": "text", "text": text}]
            stop = "end_turn"
            if (body.get("thinking") or {}).get("type") == "enabled":  # extended thinking: a signed block first
                content.insert(0, {"type": "thinking", "thinking": "The refund is the order total.", "signature": SIGNATURE})
        return {"id": f"msg_01{self.name}{self._seq}", "type": "message", "role": "assistant", "content": content,
                "model": body.get("model"), "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 7}}

    def _events(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        for i, block in enumerate(message["content"]):
            if block["type"] == "text":
                events.append({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})
                if i == 0:
                    events.append({"type": "ping"})
                words = block["text"].split(" ")
                events += [{"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": w if j == 0 else " " + w}}
                           for j, w in enumerate(words)]
            elif block["type"] == "thinking":
                events.append({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
                events.append({"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": block["thinking"]}})
                events.append({"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": block["signature"]}})
            else:
                events.append({"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}})
                args = json.dumps(block["input"])
                events += [{"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": args[k:k + 6]}}
                           for k in range(0, len(args), 6)]
            events.append({"type": "content_block_stop", "index": i})
        events.append({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                       "usage": {"output_tokens": message["usage"]["output_tokens"]}})
        events.append({"type": "message_stop"})
        return events

    async def _stream(self, request: web.Request, b: Behaviour, message: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache",
                                           "request-id": self._request_id()})
        await resp.prepare(request)
        events = self._events(message)
        limit = len(events) if b.kind == "ok" else b.after
        for event in events[:limit]:
            await resp.write(_sse(event))
        if b.kind == "cut":
            self._reset(request)
        elif b.kind == "stall":
            await self._release.wait()
        elif b.kind == "error_event":
            await resp.write(_sse(b.payload))
        return resp


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

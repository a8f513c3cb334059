"""A fake OpenAI Responses API on a real loopback port, with the fakevendor's faults.

POST /v1/responses answers a Response object, or with "stream": true the event sequence
(response.created, response.in_progress, then per output item output_item.added, its own
events, output_item.done, and response.completed), each as `event: <type>` + `data:`
with one `sequence_number` across the stream. Every answer holds a reasoning item (its
summary; `encrypted_content` when `include` asks for it), a web_search_call item when a
web_search tool is offered, then the answer text, or a function_call when function tools
are offered and the input does not end with a function_call_output. Shapes from the API
reference and `openai.types.responses`. Errors are OpenAI's error JSON.

Behaviours (tests/fakevendor.py): ok, error, hang, cut (after N events), error_event
(Responses' in-band `error` event after N events).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakevendor import Behaviour, ScriptedServer, ok

SUMMARY = "The refund is the order total."


class FakeResponses(ScriptedServer):
    """A Responses API server on 127.0.0.1:<free port>; `base_url` ends in /v1 (as the SDK's).
    `responses` holds every Response it answered, as sent."""

    def __init__(self, name: str, *, answer: str | None = None, tool_call: dict[str, str] | None = None) -> None:
        super().__init__(name, answer=answer)
        self.tool_call = tool_call  # {"name", "arguments"}
        self.responses: list[dict[str, Any]] = []

    async def start(self) -> "FakeResponses":
        app = web.Application()
        app.router.add_post("/v1/responses", self._responses)
        port = await self._serve(app)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, call = await self._record(request)
        headers = {"x-request-id": self._request_id()}
        b = self._next()
        if b.kind == "error":
            return web.json_response(b.payload, status=b.status, headers={**headers, **b.headers})
        if b.kind == "hang":
            await self._release.wait()
            return web.Response(status=500)
        response = self._response(body)
        self.responses.append(response)
        if not call.stream:
            return web.json_response(response, headers=headers)
        return await self._stream(request, b, response, headers)

    def _response(self, body: dict[str, Any]) -> dict[str, Any]:
        n = self._seq
        include = body.get("include") or ()
        reasoning: dict[str, Any] = {"id": f"rs_{self.name}{n}", "type": "reasoning", "summary": [{"type": "summary_text", "text": SUMMARY}]}
        if "reasoning.encrypted_content" in include:
            reasoning["encrypted_content"] = f"gAAAA{self.name}{n}"
        output: list[dict[str, Any]] = [reasoning]
        tools = body.get("tools") or []
        if any(t.get("type") in ("web_search", "web_search_preview") for t in tools):
            output.append({"id": f"ws_{self.name}{n}", "type": "web_search_call", "status": "completed",
                           "action": {"type": "search", "query": "refund policy"}})
        items = body.get("input") if isinstance(body.get("input"), list) else []
        answered = bool(items) and items[-1].get("type") == "function_call_output"
        if self.tool_call is not None and any(t.get("type") == "function" for t in tools) and not answered:
            output.append({"id": f"fc_{self.name}{n}", "type": "function_call", "status": "completed",
                           "call_id": f"call_{self.name}{n}", **self.tool_call})
        else:
            output.append({"id": f"msg_{self.name}{n}", "type": "message", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": self.answer, "annotations": [], "logprobs": []}]})
        return {"id": f"resp_{self.name}{n}", "object": "response", "created_at": 1767000000 + n, "status": "completed",
                "model": body.get("model"), "output": output, "error": None, "incomplete_details": None,
                "instructions": body.get("instructions"), "metadata": body.get("metadata") or {}, "parallel_tool_calls": True,
                "temperature": body.get("temperature"), "top_p": None, "tool_choice": body.get("tool_choice") or "auto",
                "tools": tools, "text": {"format": {"type": "text"}}, "max_output_tokens": body.get("max_output_tokens"),
                "previous_response_id": None, "store": body.get("store", True), "truncation": "disabled", "user": None,
                "usage": {"input_tokens": 31, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0}, "output_tokens": 17,
                          "output_tokens_details": {"reasoning_tokens": 9}, "total_tokens": 48}}

    def _events(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        """The stream for `response`, numbered."""
        opening = {**response, "status": "in_progress", "output": [], "usage": None}
        events: list[dict[str, Any]] = [{"type": "response.created", "response": opening},
                                        {"type": "response.in_progress", "response": opening}]
        for i, item in enumerate(response["output"]):
            events += _item_events(i, item)
        events.append({"type": "response.completed", "response": response})
        return [{**e, "sequence_number": n} for n, e in enumerate(events)]

    async def _stream(self, request: web.Request, b: Behaviour, response: dict[str, Any], headers: dict[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8", **headers})
        await resp.prepare(request)
        events = self._events(response)
        limit = len(events) if b.kind == "ok" else b.after
        for event in events[:limit]:
            await resp.write(_sse(event))
        if b.kind == "cut":
            # A FIN in the middle of the chunked body: every event written reaches the proxy
            # before the cut (an RST could discard what it had not read yet, load permitting).
            if request.transport is not None:
                request.transport.close()
        elif b.kind == "error_event":
            await resp.write(_sse({"type": "error", "sequence_number": limit, **b.payload}))
        return resp


def _item_events(i: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    """An output item's events: added, its own deltas, done."""
    kind, at = item["type"], {"item_id": item["id"], "output_index": i}
    events: list[dict[str, Any]] = []
    if kind == "reasoning":
        events.append({"type": "response.output_item.added", "output_index": i, "item": {**item, "summary": []}})
        part = item["summary"][0]
        events += [{"type": "response.reasoning_summary_part.added", **at, "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
                   {"type": "response.reasoning_summary_text.delta", **at, "summary_index": 0, "delta": part["text"]},
                   {"type": "response.reasoning_summary_text.done", **at, "summary_index": 0, "text": part["text"]},
                   {"type": "response.reasoning_summary_part.done", **at, "summary_index": 0, "part": part}]
    elif kind == "web_search_call":
        events.append({"type": "response.output_item.added", "output_index": i, "item": {**item, "status": "in_progress"}})
        events += [{"type": f"response.web_search_call.{s}", **at} for s in ("in_progress", "searching", "completed")]
    elif kind == "function_call":
        events.append({"type": "response.output_item.added", "output_index": i, "item": {**item, "arguments": "", "status": "in_progress"}})
        args = item["arguments"]
        events += [{"type": "response.function_call_arguments.delta", **at, "delta": args[k:k + 6]} for k in range(0, len(args), 6)]
        events.append({"type": "response.function_call_arguments.done", **at, "name": item["name"], "arguments": args})
    else:
        events.append({"type": "response.output_item.added", "output_index": i, "item": {**item, "content": [], "status": "in_progress"}})
        text = item["content"][0]["text"]
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        events.append({"type": "response.content_part.added", **at, "content_index": 0, "part": empty})
        words = text.split(" ")
        events += [{"type": "response.output_text.delta", **at, "content_index": 0, "delta": w if j == 0 else " " + w, "logprobs": []}
                   for j, w in enumerate(words)]
        events += [{"type": "response.output_text.done", **at, "content_index": 0, "text": text, "logprobs": []},
                   {"type": "response.content_part.done", **at, "content_index": 0, "part": item["content"][0]}]
    events.append({"type": "response.output_item.done", "output_index": i, "item": item})
    return events


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

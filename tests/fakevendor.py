"""A fake OpenAI vendor on a real loopback port, with scriptable faults.

It speaks POST /v1/chat/completions (and /v1/embeddings) the way api.openai.com does: a chat.completion JSON
body, or with "stream": true an SSE stream of chat.completion.chunk events (role chunk,
content chunks, finish chunk, optional usage chunk, `data: [DONE]`). Error answers carry
OpenAI's own error JSON. Every call is recorded (path, headers, parsed body).

Faults are set per server from the test: `script(...)` queues behaviours for the next
calls, `always(...)` sets what every call gets once the queue is empty (default: answer).
Faults at the socket level (reset, hang, cut, stall) are real: the transport is closed or
left silent, so the adapter meets exactly what a broken network gives it.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping, Self

from aiohttp import web

from tests.agent_vendor import reply as agent_reply
from tests.loopback import serve_loopback


@dataclass
class Vendors:
    """Three vendors for failover tests: `primary`, its same-vendor `twin`, `secondary`."""

    primary: "FakeVendor"
    twin: "FakeVendor"
    secondary: "FakeVendor"


# --- behaviours ------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """What the vendor does with one call.

    kind:
      ok         answer normally (after `delay_s` before the first token, if set)
      error      HTTP `status` with JSON `payload` and `headers`
      reset      read the request, then reset the connection before any header (RST)
      hang       read the request, then never answer (connection kept open)
      cut        stream: send `after` events, then drop the connection (no [DONE]);
                 non-stream: send headers and half the body, then drop the connection
      stall      stream: send `after` events, then go silent with the connection open;
                 non-stream: send headers and half the body, then go silent
      malformed  stream: send `after` events, then a chunk that is not JSON;
                 non-stream: a 200 whose body is not JSON
      no_done    stream: end the body cleanly without `data: [DONE]`; `finish` says
                 whether the finish_reason chunk is still sent; with `after`, the body
                 ends after that many events (a missing terminator after an incomplete answer)
      error_event  stream: send `after` events, then an in-band `data: {"error": ...}`
                 event carrying `payload` (as OpenAI does when a stream fails server-side)
      echo_field   answer 400 `Unrecognized request argument supplied: <field>` for the
                 first body field OpenAI does not know (as api.openai.com does); a body
                 with none is answered normally
      echo_content HTTP `status` with an error whose message is `payload["template"]` with
                 `{content}` replaced by the last message's content (vendors quote the
                 request back: "Invalid value for 'messages[0].content': ...")
    `after` counts SSE events, the role chunk included: after=1 means only the role chunk
    (no content yet) went out, after=3 means the role chunk and two content chunks.
    """

    kind: str
    status: int = 200
    payload: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    after: int = 0
    delay_s: float = 0.0
    finish: bool = True


def ok(*, delay_s: float = 0.0) -> Behaviour:
    """A normal answer; `delay_s` delays the first token (stream) or the whole answer."""
    return Behaviour("ok", delay_s=delay_s)


def error(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Behaviour:
    """An HTTP error answer with a JSON body."""
    return Behaviour("error", status=status, payload=payload, headers=dict(headers or {}))


def reset() -> Behaviour:
    """Connection reset before headers."""
    return Behaviour("reset")


def hang() -> Behaviour:
    """No response at all."""
    return Behaviour("hang")


def cut(after: int) -> Behaviour:
    """Drop the connection after `after` SSE events (no [DONE])."""
    return Behaviour("cut", after=after)


def stall(after: int) -> Behaviour:
    """Go silent after `after` SSE events, keeping the connection open."""
    return Behaviour("stall", after=after)


def malformed(after: int) -> Behaviour:
    """A chunk that is not JSON after `after` good SSE events."""
    return Behaviour("malformed", after=after)


def no_done(*, finish: bool, after: int = 0) -> Behaviour:
    """A stream that ends cleanly without `data: [DONE]` (and without finish_reason
    unless `finish`); with `after`, it ends after that many events."""
    return Behaviour("no_done", finish=finish, after=after)


def error_event(after: int, payload: Any) -> Behaviour:
    """An in-band error event after `after` good SSE events, then the stream ends."""
    return Behaviour("error_event", after=after, payload=payload)


def echo_field() -> Behaviour:
    """400 `Unrecognized request argument supplied: <field>` for an unknown body field."""
    return Behaviour("echo_field")


def echo_content(status: int, template: str, *, type_: str | None = "invalid_request_error", code: str | None = None) -> Behaviour:
    """An error quoting the request's last message content into `template` ({content})."""
    return Behaviour("echo_content", status=status, payload={"template": template, "type": type_, "code": code})


# What api.openai.com accepts in a chat completion body; anything else is "unrecognized".
OPENAI_FIELDS = frozenset({
    "model", "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "response_format",
    "seed", "tools", "tool_choice", "parallel_tool_calls", "stream", "stream_options", "reasoning_effort",
    "modalities", "audio", "prediction", "service_tier", "functions", "function_call", "metadata", "store",
})


def _echo(b: Behaviour, body: Any) -> tuple[int, dict[str, Any]] | None:
    """The status and error body an echoing behaviour answers `body` with (None: answer)."""
    if b.kind == "echo_field":
        unknown = [k for k in body if k not in OPENAI_FIELDS] if isinstance(body, dict) else []
        if not unknown:
            return None
        return 400, _openai_error(f"Unrecognized request argument supplied: {unknown[0]}", "invalid_request_error", None)
    messages = body.get("messages") if isinstance(body, dict) else None
    content = str(messages[-1].get("content", "")) if isinstance(messages, list) and messages and isinstance(messages[-1], dict) else ""
    p = b.payload
    return b.status, _openai_error(p["template"].replace("{content}", content), p["type"], p["code"])


def _calls_tool(body: Any) -> bool:
    """A non-streamed answer calls the vendor's tool when the request offers tools and its
    last message is not a tool's result (so a multi-turn conversation ends in text)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    last = messages[-1] if isinstance(messages, list) and messages and isinstance(messages[-1], dict) else {}
    return bool(body.get("tools")) and last.get("role") != "tool"


def _ends_with_assistant(body: Any) -> bool:
    messages = body.get("messages") if isinstance(body, dict) else None
    return isinstance(messages, list) and bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant"


def _continuing(body: Any, answer: str) -> str | None:
    """The rest of `answer` when the request continues it: its last assistant message (a
    prefill, or followed by a user message asking to go on) is the start of `answer`."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages[-2:]):
        if isinstance(message, dict) and message.get("role") == "assistant":
            partial = message.get("content")
            if isinstance(partial, str) and partial and answer.startswith(partial):
                return answer[len(partial):]
    return None


def _tail(partial: str) -> str:
    """What a model repeating itself says again: the partial answer's last sentence, or
    (within the first) its last three words."""
    sentences = re.split(r"(?<=[.!?])\s+", partial)
    if len(sentences) > 1 and sentences[-1]:
        return sentences[-1]
    words = partial.split(" ")
    return " ".join(words[-3:])


def _openai_error(message: str, type_: str | None, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# OpenAI's error bodies, as api.openai.com sends them.
SERVER_ERROR_500 = _openai_error(
    "The server had an error while processing your request. Sorry about that!", "server_error", None
)
OVERLOADED_503 = _openai_error(
    "The engine is currently overloaded, please try again later", "server_error", None
)
RATE_LIMIT_429 = _openai_error(
    "Rate limit reached for gpt-4o-mini in organization org-fakefakefakefake on requests per min (RPM): "
    "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits "
    "to learn more.",
    "requests",
    "rate_limit_exceeded",
)
INSUFFICIENT_QUOTA_429 = _openai_error(
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    "insufficient_quota",
    "insufficient_quota",
)
CONTEXT_LENGTH_400 = _openai_error(
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130542 tokens. "
    "Please reduce the length of the messages.",
    "invalid_request_error",
    "context_length_exceeded",
    "messages",
)
CONTENT_POLICY_400 = _openai_error(
    "Your request was rejected as a result of our safety system. Your prompt may contain text that is not "
    "allowed by our safety system.",
    "invalid_request_error",
    "content_policy_violation",
)
REGION_403 = {
    "error": {
        "code": "unsupported_country_region_territory",
        "message": "Country, region, or territory not supported",
        "param": None,
        "type": "request_forbidden",
    }
}
PREFILL_400 = _openai_error(
    "This model does not support assistant message prefill. The conversation must end with a user message.",
    "invalid_request_error",
    None,
)
LEGAL_451 = _openai_error(
    "This service is unavailable for legal reasons in your jurisdiction.", "unavailable_for_legal_reasons", None
)
MODEL_WITHDRAWN_404 = _openai_error(
    "The model `gpt-4-32k` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations",
    "invalid_request_error",
    "model_not_found",
)
CLIENT_400 = _openai_error(
    "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and "
    "'developer'.",
    "invalid_request_error",
    "invalid_value",
    "messages[0].role",
)


def invalid_api_key_401(key: str) -> dict[str, Any]:
    """OpenAI's 401 for a bad key; the real one masks the key, this one echoes it whole
    so tests can check the router redacts it."""
    return _openai_error(
        f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )


def rate_limited(retry_after: float | None = None) -> Behaviour:
    """429 rate_limit_exceeded, with OpenAI's rate-limit headers and optional Retry-After."""
    headers = {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "20s",
    }
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return error(429, RATE_LIMIT_429, headers)


# --- the server ------------------------------------------------------------------------


@dataclass
class Call:
    """One request the vendor received. `cancelled`: the client closed the connection
    while the vendor was still working on it (its handler was cancelled). `at`: when it
    arrived, on the monotonic clock (how far apart two calls were, never how fast)."""

    path: str
    headers: dict[str, str]
    body: Any
    cancelled: bool = False
    at: float = field(default_factory=time.monotonic)  # when it arrived (the router's clock: monotonic too)

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


class ScriptedServer:
    """What every fake vendor shares (OpenAI's, Anthropic's Messages, the Responses API): an
    answer, the calls received, behaviours scripted per call, a loopback server started on
    a free port and stopped with every hanging or stalled handler released."""

    def __init__(self, name: str, *, answer: str | None = None) -> None:
        self.name = name
        self.answer = answer if answer is not None else f"Answer from {name}: the refund is $42.99."
        self.calls: list[Call] = []
        self.base_url = ""
        self._queue: deque[Behaviour] = deque()
        self._default = ok()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._seq = 0

    # -- scripting ----------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many calls reached the vendor."""
        return len(self.calls)

    def script(self, *behaviours: Behaviour) -> Self:
        """The next calls get these behaviours, in order; later calls get the default."""
        self._queue.extend(behaviours)
        return self

    def always(self, behaviour: Behaviour) -> Self:
        """Every call (after the scripted ones) gets `behaviour`."""
        self._default = behaviour
        return self

    def _next(self) -> Behaviour:
        return self._queue.popleft() if self._queue else self._default

    def _request_id(self) -> str:
        self._seq += 1
        return f"req_{self.name}_{self._seq}"

    async def _record(self, request: web.Request) -> tuple[Any, Call]:
        """The request's body (JSON, else its text) and its `Call`, kept in `calls`."""
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        call = Call(request.path, dict(request.headers), body)
        self.calls.append(call)
        return body, call

    @staticmethod
    def _reset(request: web.Request) -> None:
        """Abort the connection with an RST, as a crashed proxy or load balancer does."""
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()

    # -- lifecycle ----------------------------------------------------------------------

    async def _serve(self, app: web.Application, *, tls: ssl.SSLContext | None = None) -> int:
        """Serve `app` on a free loopback port; a client that hangs up cancels the handler
        (handler_cancellation), as at a real vendor."""
        self._runner, port = await serve_loopback(app, ssl_context=tls, shutdown_timeout=0.5, handler_cancellation=True)
        return port

    async def stop(self) -> None:
        """Release every hanging or stalled handler, then shut the server down."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class FakeVendor(ScriptedServer):
    """An OpenAI-compatible server on 127.0.0.1:<free port>. `base_url` ends in /v1."""

    def __init__(self, name: str, *, answer: str | None = None, tls: ssl.SSLContext | None = None,
                 rejects_prefill: bool = False, tool_call: dict[str, str] | None = None,
                 continuation: str = "continue", agent: bool = False) -> None:
        """`tls`: serve https with this context. `rejects_prefill`: a conversation that ends
        with an assistant message gets a 400 (as models without prefill answer). `tool_call`
        ({"name", "arguments"}): streams answer with that tool call instead of text. A request
        whose last assistant message is the start of `answer` is a continuation, answered
        as `continuation` says: `continue` (the rest of it), `restart` (the whole answer
        again, as models often do) or `repeat_tail` (the partial answer's last sentence, or
        its last three words, again, then the rest). A vendor whose `answer` is another
        wording answers a continuation with it whole: a paraphrased restart. `agent`: answer
        as a tool-using model does (tests/agent_vendor.py): call a tool when tools are
        offered, answer the tool's result after it, fit a json_schema response_format;
        streamed and not."""
        super().__init__(name, answer=answer)
        self.agent = agent
        self._tls = tls  # serve https (base_url https://localhost:PORT/v1) with this server context
        self.rejects_prefill = rejects_prefill
        self.tool_call = tool_call
        self.continuation = continuation
        self.extra: dict[str, Any] = {}  # fields added to every completion and chunk
        self.last_request_id: str | None = None  # the x-request-id of the last answer sent

    def __repr__(self) -> str:
        return f"FakeVendor({self.name!r}, {self.base_url!r}, calls={self.count})"

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> "FakeVendor":
        app = web.Application(client_max_size=64 << 20)  # api.openai.com takes bodies far past aiohttp's 1 MiB default
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._chat)  # the same faults; `_answer` tells them apart
        port = await self._serve(app, tls=self._tls)
        self.base_url = f"https://localhost:{port}/v1" if self._tls is not None else f"http://127.0.0.1:{port}/v1"
        return self

    # -- answering ----------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, call = await self._record(request)
        try:
            return await self._answer(request, call, body)
        except asyncio.CancelledError:
            call.cancelled = not self._release.is_set()  # not the server's own shutdown
            raise

    async def _answer(self, request: web.Request, call: Call, body: Any) -> web.StreamResponse:
        b = self._next()
        if b.kind == "error":
            return web.json_response(b.payload, status=b.status, headers={"x-request-id": self._request_id(), **b.headers})
        if b.kind in ("echo_field", "echo_content") and (echoed := _echo(b, body)) is not None:
            return web.json_response(echoed[1], status=echoed[0], headers={"x-request-id": self._request_id()})
        if b.kind == "reset":
            self._reset(request)
            return web.Response()  # never written: the transport is gone
        if b.kind == "hang":
            await self._release.wait()
            return web.Response(status=500)
        if self.rejects_prefill and _ends_with_assistant(body):
            return web.json_response(PREFILL_400, status=400, headers={"x-request-id": self._request_id()})
        model = body.get("model", "gpt-4o-mini") if isinstance(body, dict) else "gpt-4o-mini"
        if request.path.endswith("/embeddings"):
            return await self._embeddings(b, model, body)
        if call.stream:
            return await self._stream(request, b, model, body)
        return await self._complete(request, b, model, body)

    def _completion(self, model: str, body: Any = None) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.answer, "refusal": None, "annotations": []}
        if self.agent and isinstance(body, dict):
            message = {**message, **agent_reply(body, self.answer)}
        return {
            "id": f"chatcmpl-{self.name}-{self._seq}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }],
            "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
            "service_tier": "default",
            "system_fingerprint": "fp_fake0001",
            **self.extra,
        }

    async def _complete(self, request: web.Request, b: Behaviour, model: str, body: Any = None) -> web.StreamResponse:
        self._request_id()
        await self._pause(b.delay_s)
        completion = self._completion(model, body)
        if self.tool_call is not None and not self.agent and _calls_tool(body):
            completion["choices"][0]["message"].update(content=None, tool_calls=[{
                "id": f"call_{self.name}{self._seq}", "type": "function",
                "function": {"name": self.tool_call["name"], "arguments": self.tool_call["arguments"]}}])
            completion["choices"][0]["finish_reason"] = "tool_calls"
        data = json.dumps(completion).encode()
        if b.kind == "malformed":
            return web.Response(body=data[: len(data) // 2], content_type="application/json")
        if b.kind in ("cut", "stall"):
            resp = web.StreamResponse(status=200, headers={"content-type": "application/json"})
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: len(data) // 2])
            if b.kind == "cut":
                self._reset(request)
            else:
                await self._release.wait()
            return resp
        self.last_request_id = f"req_{self._seq}"
        return web.Response(body=data, content_type="application/json", headers={"x-request-id": self.last_request_id})

    def vector(self, text: str) -> list[float]:
        """The embedding this vendor gives `text`: its length, its word count, and a mark
        of this vendor (so a test can tell who answered)."""
        return [float(len(text)), float(len(text.split())), float(sum(map(ord, self.name)) % 97)]

    async def _embeddings(self, b: Behaviour, model: str, body: Any) -> web.StreamResponse:
        self._request_id()
        await self._pause(b.delay_s)
        texts = body.get("input") if isinstance(body, dict) else None
        texts = [texts] if isinstance(texts, str) else texts or []
        if b.kind == "malformed":
            data = [{"object": "embedding", "index": 0, "embedding": "not a vector"}]
        else:
            data = [{"object": "embedding", "index": i, "embedding": self.vector(t)} for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        answer = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        self.last_request_id = f"req_{self._seq}"
        return web.json_response(answer, headers={"x-request-id": self.last_request_id})

    def _events(self, model: str, body: dict[str, Any], finish: bool) -> list[bytes]:
        """The SSE events of a whole answer, as OpenAI sends them (without [DONE])."""
        base = {
            "id": f"chatcmpl-{self.name}-{self._seq}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake0001",
            **self.extra,
        }
        usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def event(delta: dict[str, Any], finish_reason: str | None) -> bytes:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
            if usage:
                chunk["usage"] = None
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        answer, tool_call = self.answer, self.tool_call
        if self.agent:
            message = agent_reply(body, self.answer)
            answer = message.get("content") or ""
            calls = message.get("tool_calls")
            tool_call = None if not calls else calls[0]["function"]
        rest = _continuing(body, answer)
        if rest is not None and self.continuation == "restart":
            rest = None
        elif rest is not None and self.continuation == "repeat_tail":
            rest = _tail(answer[:len(answer) - len(rest)]) + rest
        if rest is not None:  # a continuation: the rest of the answer, cut where the words are
            pieces = re.findall(r"\s*\S+", rest) or [rest]
        else:
            words = answer.split(" ")
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        events = [event({"role": "assistant", "content": "", "refusal": None}, None)]
        if tool_call is not None:
            events += self._tool_events(event, tool_call)
        else:
            events += [event({"content": p}, None) for p in pieces]
        if finish:
            events.append(event({}, "tool_calls" if tool_call is not None else "stop"))
            if usage:
                tail = {**base, "choices": [], "usage": {"prompt_tokens": 19, "completion_tokens": len(pieces), "total_tokens": 19 + len(pieces)}}
                events.append(b"data: " + json.dumps(tail).encode() + b"\n\n")
        return events

    def _tool_events(self, event: Any, tool_call: dict[str, str]) -> list[bytes]:
        """A tool call as OpenAI streams it: id and name first, then the arguments in pieces."""
        args = tool_call["arguments"]
        head = {"index": 0, "id": f"call_{self.name}", "type": "function", "function": {"name": tool_call["name"], "arguments": ""}}
        out = [event({"tool_calls": [head]}, None)]
        out += [event({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 8]}}]}, None) for i in range(0, len(args), 8)]
        return out

    async def _stream(self, request: web.Request, b: Behaviour, model: str, body: dict[str, Any]) -> web.StreamResponse:
        self._request_id()
        self.last_request_id = f"req_{self._seq}"
        resp = web.StreamResponse(status=200, headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-request-id": self.last_request_id,
        })
        await resp.prepare(request)
        events = self._events(model, body, finish=b.finish)
        if b.kind in ("ok", "echo_field", "echo_content"):  # an echoing vendor with nothing to echo answers
            await resp.write(events[0])
            await self._pause(b.delay_s)  # slow first token: headers and role chunk came fast
            for e in events[1:]:
                await resp.write(e)
            await resp.write(b"data: [DONE]\n\n")
            return resp
        for e in events[: b.after]:
            await resp.write(e)
        if b.kind == "cut":
            self._reset(request)
        elif b.kind == "stall":
            await self._release.wait()
        elif b.kind == "malformed":
            await resp.write(b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"delta":{"content":"tru\n\n')
            await resp.write(b"data: [DONE]\n\n")
        elif b.kind == "error_event":
            await resp.write(b"data: " + json.dumps(b.payload).encode() + b"\n\n")
        elif b.kind == "no_done":
            if not b.after:
                for e in events:
                    await resp.write(e)
            await resp.write_eof()  # a clean end of the chunked body, without [DONE]
        return resp

    async def _pause(self, seconds: float) -> None:
        """Sleep, but end at once when the server stops."""
        if seconds > 0:
            try:
                await asyncio.wait_for(self._release.wait(), seconds)
            except TimeoutError:
                pass


"""Every way an attempt can end gives its provider back: an adapter that raises something
other than a ProviderError (a bug) is a failed attempt, never a leaked half-open probe
slot; a body no wire can carry is the caller's error before any provider is called; a
stream served by the proxy closes the engine's generator, and so the upstream, on every
exit (caller hang-up, in-band error, a chunk that cannot be written)."""

from __future__ import annotations

import asyncio
import socket
from textwrap import dedent
from typing import Any, AsyncIterator

import pytest

from crosswalk.policies.parse import parse_config
from crosswalk.policies.health import State
from crosswalk.providers.base import ChatRequest
from crosswalk.providers.errors import StreamBroken
from crosswalk.router.errors import InvalidRequest
from crosswalk.router.proxy import ProxyState
from crosswalk.router.proxy_app import build_app
from crosswalk.router.sdk import Router
from tests.loopback import serve_loopback

CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, simulate: {latency_ms: 0, jitter_ms: 0, answer: "from a"}}
  b: {kind: simulated, model: b-1, vendor: vb, simulate: {latency_ms: 0, jitter_ms: 0, answer: "from b"}}
steps:
  draft: {providers: [a, b], retry: {same_provider: 0}}
  racing: {providers: [a, b], hedge: {after_ms: 1000}, retry: {same_provider: 0}}
health: {probe_interval_s: 0, half_open_probes: 1}
"""
MSG = [{"role": "user", "content": "hi"}]


def _chunk(content: Any = None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Scripted:
    """A provider whose `complete` raises `raises` (if set) and whose stream yields
    `chunks` (an exception in the list is raised there), recording its calls and closes."""

    def __init__(self, name: str, *, raises: BaseException | None = None, chunks: list[Any] | None = None, hold: bool = False) -> None:
        self.name = name
        self.raises = raises
        self.chunks = chunks if chunks is not None else [_chunk("hello"), _chunk(finish="stop")]
        self.hold = hold  # after the chunks, wait (a long stream) until closed
        self.calls = 0
        self.closed = asyncio.Event()

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        self.calls += 1
        if self.raises is not None:
            raise self.raises
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"from {self.name}"}, "finish_reason": "stop"}]}

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        self.calls += 1
        try:
            for item in self.chunks:
                if isinstance(item, BaseException):
                    raise item
                yield item
            if self.hold:
                await asyncio.Event().wait()
        finally:
            self.closed.set()

    async def aclose(self) -> None:
        pass


def _router(**providers: Scripted) -> Router:
    return Router(parse_config(dedent(CONFIG), env={}, source="test.yaml"), providers=providers)


def _half_open(router: Router, name: str) -> None:
    health = router.state.health[name]
    health.state = State.HALF_OPEN
    health.probes_in_flight = health.probe_successes = 0


@pytest.mark.parametrize("step", ["draft", "racing"])
async def test_an_adapter_bug_is_a_failed_attempt_that_gives_back_its_probe_slot(step):
    a, b = Scripted("a", raises=KeyError("not a ProviderError")), Scripted("b")
    router = _router(a=a, b=b)
    _half_open(router, "a")
    result, record = await router.runtime.complete(step, {"messages": MSG})
    assert record.provider == "b" and result["model"] == "m"  # the vendor's model name stays
    assert [x.provider for x in record.attempts] == ["a", "b"] and record.attempts[0].failure_class is not None
    assert router.state.health["a"].probes_in_flight == 0


async def test_a_body_no_wire_can_carry_is_refused_before_any_call():
    a, b = Scripted("a"), Scripted("b")
    router = _router(a=a, b=b)
    deep: list[Any] = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(InvalidRequest) as info:
        await router.acompletion(step="draft", messages=MSG, metadata={"x": deep})
    assert isinstance(info.value, ValueError) and info.value.status_code == 400
    assert "nested deeper than" in info.value.message
    with pytest.raises(InvalidRequest):
        await router.acompletion(step="draft", messages=MSG, stream=True, metadata={1: "a non-string key"})
    assert a.calls == b.calls == 0
    # A big integer is no problem: it is sent exactly.
    result = await router.acompletion(step="draft", messages=MSG, seed=2**100)
    assert result.choices[0].message.content == "from a"


async def _serve(router: Router) -> tuple[Any, int]:
    return await serve_loopback(build_app(ProxyState(runtime=router.runtime, keys=())), handler_cancellation=True)


def _stream_request() -> bytes:
    body = b'{"model": "draft", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


async def _read_all(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_stream_request())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


@pytest.mark.parametrize("case", ["in-band error", "unwritable chunk"])
async def test_proxy_stream_closes_the_upstream_and_releases_the_attempt(case):
    bad = StreamBroken("a: cut", provider="a") if case == "in-band error" else _chunk({1: "a key JSON cannot carry"})
    a = Scripted("a", chunks=[_chunk("hello"), bad, _chunk(" more"), _chunk(finish="stop")])
    b = Scripted("b", chunks=[StreamBroken("b: cut", provider="b")])  # so the break cannot be resumed on b
    router = _router(a=a, b=b)
    _half_open(router, "a")
    runner, port = await _serve(router)
    try:
        data = await _read_all(port)
    finally:
        await runner.cleanup()
    assert b'"content":"hello"' in data
    assert b'data: {"error"' in data and b"[DONE]" not in data  # an in-band error event, never a short success
    assert data.count(b"HTTP/1.1 ") == 1  # not a second response head written into the stream
    assert a.closed.is_set()
    assert router.state.health["a"].probes_in_flight == 0


async def test_proxy_stream_closes_the_upstream_when_the_caller_hangs_up():
    a = Scripted("a", chunks=[_chunk("hello")], hold=True)
    router = _router(a=a, b=Scripted("b"))
    _half_open(router, "a")
    runner, port = await _serve(router)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_stream_request())
        assert b"hello" in await asyncio.wait_for(reader.readuntil(b"hello"), 10)
        writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.close()
        await asyncio.wait_for(a.closed.wait(), 10)
    finally:
        await runner.cleanup()
    assert router.state.health["a"].probes_in_flight == 0

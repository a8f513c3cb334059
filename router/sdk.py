"""The drop-in Python SDK: `Router`, shaped like the OpenAI client.

    r = Router(config="config/default.yaml")
    resp = await r.acompletion(step="draft", messages=[...])       # ChatCompletion
    resp = r.chat.completions.create(model="draft", messages=[...]) # sync, OpenAI shape
    client = r.aio                                                   # AsyncOpenAI shape
    async for chunk in await r.acompletion(step="draft", messages=[...], stream=True): ...

Responses are the OpenAI SDK's own types; `resp.model` names the provider that answered
and `resp.crosswalk` holds the decision record (attempts with failure class and latency).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Coroutine, Iterator, Literal, Mapping, TypeVar, overload

from crosswalk.policies.config import RouterConfig
from crosswalk.policies.selection import Row
from crosswalk.providers.base import Provider
from crosswalk.router.clock import Clock, SystemClock
from crosswalk.router.configfile import load_config
from crosswalk.router.convert import to_chunk, to_completion
from crosswalk.router.engine import Engine
from crosswalk.router.metrics import Metrics
from crosswalk.router.records import DecisionRecord
from crosswalk.router.registry import build_providers
from crosswalk.router.state import RouterState

if TYPE_CHECKING:  # openai's types take about half a second to import: annotations only
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

T = TypeVar("T")


class Router:
    """Routes each step's requests down its ranked providers, failing over on outages."""

    def __init__(
        self,
        config: str | os.PathLike[str] | RouterConfig | None = None,
        *,
        clock: Clock | None = None,
        providers: Mapping[str, Provider] | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`config`: a YAML path (default: $CROSSWALK_CONFIG, else the embedded
        config/default.yaml) or a loaded `RouterConfig`. `providers` replaces the adapters
        built from config by name (an injected client); `metrics` exports Prometheus
        metrics to its registry; `clock` and `rng` are for tests."""
        self.config = config if isinstance(config, RouterConfig) else load_config(config)
        self.clock = clock or SystemClock()
        self.metrics = metrics
        self._rng = rng
        self._overrides = dict(providers or {})
        self.state = RouterState(self.config, self.clock, rng=rng)
        self.providers = build_providers(self.config, self._overrides)
        self.engine = Engine(self.state, self.providers, observer=metrics)
        if metrics is not None:
            self.state.listen(metrics.on_event)
            metrics.watch(lambda: self.state)
        self.chat = _Chat(self, sync=True)
        self.aio = _AsyncFace(self)
        self._loop_thread: _LoopThread | None = None
        self._lock = threading.Lock()  # one loop thread and one shared-state sync, whatever the threads
        self._closing: set[asyncio.Task[None]] = set()
        self._background: Any = None
        self._sync: Any = None  # a router.state.redis_sync.RedisSync while state.backend is redis

    def __repr__(self) -> str:
        return f"Router(config={self.config.source!r}, steps={sorted(self.config.steps)})"

    @property
    def steps(self) -> list[str]:
        """The configured step names (what the OpenAI `model` field selects)."""
        return list(self.config.steps)

    @overload
    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[False] = False,
                          **params: Any) -> ChatCompletion: ...
    @overload
    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[True],
                          **params: Any) -> AsyncCompletionStream: ...
    @overload
    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: bool,
                          **params: Any) -> ChatCompletion | AsyncCompletionStream: ...

    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: bool = False,
                          **params: Any) -> ChatCompletion | AsyncCompletionStream:
        """Run one step. Returns a `ChatCompletion`, or with stream=True an
        `AsyncCompletionStream` whose first token has already been secured (failures
        before it fail over, and if nothing answers the error is raised here)."""
        body = _body(messages, params)
        if self.config.state.backend == "redis":
            self._sync_here()  # SDK processes share state without having to call astart()
        if not stream:
            result, record = await self.engine.complete(step, body)
            return to_completion(result, record)
        records: list[DecisionRecord] = []
        chunks = self.engine.stream(step, body, records)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
        return AsyncCompletionStream(chunks, records[0], first)

    @overload
    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[False] = False,
                   **params: Any) -> ChatCompletion: ...
    @overload
    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[True],
                   **params: Any) -> CompletionStream: ...
    @overload
    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: bool,
                   **params: Any) -> ChatCompletion | CompletionStream: ...

    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: bool = False,
                   **params: Any) -> ChatCompletion | CompletionStream:
        """Blocking form of `acompletion`; with stream=True a plain iterator of chunks."""
        loop = self._loop()
        result = loop.run(self.acompletion(step=step, messages=messages, stream=stream, **params))
        if isinstance(result, AsyncCompletionStream):
            return CompletionStream(result, loop)
        return result

    async def areload(self, config: RouterConfig) -> None:
        """Switch to a new config without a restart. Health and exclusions carry over for
        providers that still exist (an exclusion only if the provider's entry is unchanged);
        unchanged providers keep their connections; removed ones are closed. Requests in
        flight finish on the config they started with."""
        state = RouterState(config, self.clock, rng=self._rng)
        state.adopt(self.state)
        providers = {
            name: self.providers[name] if name in self.providers and self.config.providers.get(name) == conf else None
            for name, conf in config.providers.items()
        }
        built = build_providers(config, {**{k: v for k, v in providers.items() if v is not None}, **self._overrides})
        retired = [p for name, p in self.providers.items() if built.get(name) is not p]
        grace_s = max((s.timeouts.total_s for s in self.config.steps.values()), default=0.0)
        self.config, self.state, self.providers = config, state, built
        self.engine = Engine(state, built, observer=self.metrics)
        if self._sync is not None and self._sync.spec != config.state:  # one sync, on the new settings
            await self._sync.stop()
            self._sync = None
            if self.metrics is not None:
                self.metrics.state_backend = None
        if self._sync is None and config.state.backend == "redis":
            self._start_sync()
        if retired:  # close once every request that could still use them has finished
            task = asyncio.create_task(_close_later(retired, grace_s))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def report(self, pipeline: list[str] | None = None) -> str:
        """The reliability table (see `crosswalk report`) from this router's own metrics."""
        if self.metrics is None:
            raise ValueError("metrics: construct the Router with metrics=Metrics() to get a report")
        from prometheus_client import generate_latest

        from crosswalk.router.report import from_exposition, render

        return render(from_exposition(generate_latest(self.metrics.registry).decode()), pipeline)

    def status(self, step: str) -> list[Row]:
        """Each provider of `step` with its current standing (eligible, ejected, excluded...) and why."""
        return self.state.explain(self.engine.step(step))

    @property
    def prober(self) -> Any:
        """The active prober, once started (see `astart`)."""
        return self._background

    async def astart(self) -> None:
        """Start the background work (active probes of ejected providers; with
        `state.backend: redis`, the shared-state sync) on the running loop. The proxy
        calls it at start-up; SDK users may, else the first request does."""
        if self._background is None:
            from crosswalk.router.probes import Prober

            self._background = Prober(lambda: self.state, lambda: self.providers, clock=self.clock, metrics=self.metrics)
            self._background.start()
        if self.config.state.backend == "redis":
            self._sync_here()

    def _sync_here(self) -> None:
        """Keep the shared-state sync running on a live loop. `asyncio.run()` per call
        cancels the sync's task and closes its loop: the next call, on a new loop, starts
        it again there. A sync whose loop still runs (the blocking API's loop thread, or
        the caller's own loop while another one calls) is left where it is."""
        sync = self._sync
        if sync is not None and sync.alive():
            return
        with self._lock:  # threads that each asyncio.run() a call must not start two
            sync = self._sync
            if sync is not None and sync.alive():
                return
            self._sync = None
            if sync is not None:
                sync.abandon()
            self._start_sync()

    def _start_sync(self) -> None:
        """Share ejections, exclusions, cooldowns and the retry budget through Redis; the
        sync runs in the background, requests never wait on it."""
        from crosswalk.router.state.redis_sync import RedisSync

        self._sync = RedisSync(lambda: self.state, self.config.state, clock=self.clock)
        self._sync.start()
        if self.metrics is not None:
            self.metrics.state_backend = self._sync

    async def aclose(self) -> None:
        """Close provider connections opened on the running loop (and the sync loop)."""
        if self._background is not None:
            await self._background.stop()
            self._background = None
        if self._sync is not None:
            await self._sync.stop()
            self._sync = None
        await self.engine.verifier.aclose()
        for provider in self.providers.values():
            await provider.aclose()
        self.close()

    def close(self) -> None:
        """Close connections opened by the blocking API and stop its loop thread."""
        with self._lock:
            thread, self._loop_thread = self._loop_thread, None
        if thread is not None:
            if self._sync is not None:
                thread.run(self._sync.stop())
                self._sync = None
            for provider in self.providers.values():
                thread.run(provider.aclose())
            thread.stop()

    def __enter__(self) -> "Router":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> "Router":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _loop(self) -> "_LoopThread":
        thread = self._loop_thread
        if thread is not None:
            return thread
        with self._lock:  # two threads calling first must not start two loop threads
            if self._loop_thread is None:
                self._loop_thread = _LoopThread()
            return self._loop_thread


async def _close_later(providers: list[Provider], delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    for provider in providers:
        await provider.aclose()


def _body(messages: Any, params: dict[str, Any]) -> dict[str, Any]:
    if "model" in params:
        raise TypeError("name the step with step=..., not model= (the chat.completions face takes model=)")
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages: must be a non-empty list of {'role': ..., 'content': ...}")
    return {"messages": messages, **params}


class AsyncCompletionStream:
    """Async iterator of `ChatCompletionChunk`; `crosswalk` is the decision record."""

    def __init__(self, chunks: AsyncIterator[dict[str, Any]], record: DecisionRecord, first: dict[str, Any] | None) -> None:
        self._chunks = chunks
        self._first = first
        self.crosswalk = record

    def __aiter__(self) -> "AsyncCompletionStream":
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._first is not None:
            chunk, self._first = self._first, None
            return to_chunk(chunk)
        return to_chunk(await anext(self._chunks))

    async def aclose(self) -> None:
        """Stop early; the upstream call is cancelled."""
        await self._chunks.aclose()  # type: ignore[attr-defined]


class CompletionStream:
    """Blocking iterator over an `AsyncCompletionStream` run on the router's loop thread."""

    def __init__(self, stream: AsyncCompletionStream, loop: "_LoopThread") -> None:
        self._stream = stream
        self._loop = loop
        self.crosswalk = stream.crosswalk

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        try:
            return self._loop.run(_anext(self._stream))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """Stop early; the upstream call is cancelled."""
        self._loop.run(self._stream.aclose())


async def _anext(stream: AsyncCompletionStream) -> ChatCompletionChunk:
    return await anext(stream)


class _Completions:
    def __init__(self, router: Router, *, sync: bool) -> None:
        self._router = router
        self._sync = sync

    def create(self, *, model: str, messages: list[dict[str, Any]], stream: bool = False, **params: Any
               ) -> ChatCompletion | CompletionStream | Awaitable[ChatCompletion | AsyncCompletionStream]:
        """OpenAI's `chat.completions.create`: `model` names the step. The blocking face
        returns the completion (or a `CompletionStream`); the `aio` face an awaitable of it
        (or of an `AsyncCompletionStream`)."""
        if self._sync:
            return self._router.completion(step=model, messages=messages, stream=stream, **params)
        return self._router.acompletion(step=model, messages=messages, stream=stream, **params)


class _Chat:
    def __init__(self, router: Router, *, sync: bool) -> None:
        self.completions = _Completions(router, sync=sync)


class _AsyncFace:
    """`router.aio.chat.completions.create(...)` is awaitable, like `AsyncOpenAI`."""

    def __init__(self, router: Router) -> None:
        self.chat = _Chat(router, sync=False)


class _LoopThread:
    """A private event loop in a daemon thread that runs the blocking API's coroutines."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="crosswalk-sync", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

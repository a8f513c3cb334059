"""The drop-in Python SDK: `Router`, shaped like the OpenAI client.

    r = Router(config="config/default.yaml")
    resp = await r.acompletion(step="draft", messages=[...])       # ChatCompletion
    resp = r.chat.completions.create(model="draft", messages=[...]) # sync, OpenAI shape
    client = r.aio                                                   # AsyncOpenAI shape
    async for chunk in await r.acompletion(step="draft", messages=[...], stream=True): ...

    vecs = r.embeddings.create(model="embed", input=["a", "b"])     # CreateEmbeddingResponse

Responses are the OpenAI SDK's own types; `resp.model` is the model that answered, as its
vendor names it, and `resp.crosswalk` holds the decision record: the provider that
answered (`resp.crosswalk.provider`, its config name) and every attempt with its failure
class and latency.
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
from crosswalk.router import tracing
from crosswalk.router.clock import Clock
from crosswalk.router.configfile import load_config
from crosswalk.router.convert import to_chunk, to_completion, to_embeddings
from crosswalk.router.errors import CrosswalkError
from crosswalk.router.metrics import Metrics
from crosswalk.router.records import DecisionRecord
from crosswalk.router.runtime import Runtime

if TYPE_CHECKING:  # openai's types take about half a second to import: annotations only
    from openai.types import CreateEmbeddingResponse
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    from crosswalk.router.probes import Prober
    from crosswalk.router.state import RouterState

T = TypeVar("T")


class Router:
    """Routes each step's requests down its ranked providers, failing over on outages.

    A thin client of its `runtime` (router/runtime.py), which owns the config, state,
    providers and background work: this class adds the OpenAI-shaped faces and the
    loop thread behind the blocking API."""

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
        loaded = config if isinstance(config, RouterConfig) else load_config(config)
        self.runtime = Runtime(loaded, clock=clock, providers=providers, rng=rng, metrics=metrics)
        self.chat = _Chat(self, sync=True)
        self.embeddings = _Embeddings(self, sync=True)
        self.aio = _AsyncFace(self)
        self._loop_thread: _LoopThread | None = None
        self._lock = threading.Lock()  # one loop thread, whatever the threads

    @property
    def config(self) -> RouterConfig:
        """The config in force (a reload replaces it)."""
        return self.runtime.config

    @property
    def state(self) -> RouterState:
        """The routing state book in force (read it; the runtime owns it)."""
        return self.runtime.state

    @property
    def providers(self) -> dict[str, Provider]:
        """The provider adapters in force, by name."""
        return self.runtime.providers

    @property
    def metrics(self) -> Metrics | None:
        """The metrics this router reports to, if any."""
        return self.runtime.metrics

    @property
    def clock(self) -> Clock:
        """The clock the router runs on."""
        return self.runtime.clock

    def __repr__(self) -> str:
        config = self.runtime.config
        return f"Router(config={config.source!r}, steps={sorted(config.steps)})"

    @property
    def steps(self) -> list[str]:
        """The configured step names (what the OpenAI `model` field selects)."""
        return list(self.runtime.config.steps)

    @overload
    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[False] = False,
                          run: str | None = None, **params: Any) -> ChatCompletion: ...
    @overload
    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[True],
                          run: str | None = None, **params: Any) -> AsyncCompletionStream: ...
    @overload
    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: bool,
                          run: str | None = None, **params: Any) -> ChatCompletion | AsyncCompletionStream: ...

    async def acompletion(self, *, step: str, messages: list[dict[str, Any]], stream: bool = False,
                          run: str | None = None, **params: Any) -> ChatCompletion | AsyncCompletionStream:
        """Run one step. Returns a `ChatCompletion`, or with stream=True an
        `AsyncCompletionStream` whose first token has already been secured (failures
        before it fail over, and if nothing answers the error is raised here). `run`: the
        pipeline run this call is a step of (default: the current trace id, if any); an
        amount it carries that is a near miss of one an earlier step of the run answered
        is flagged in `resp.crosswalk.seams` (or raises `SeamBroken`, `on_seam: fail`)."""
        body = _body(messages, params)
        runtime = self.runtime
        runtime.keep_sync()  # SDK processes share state without having to call astart()
        if not stream:
            with tracing.request_span(step, None) as span:  # under the caller's span, when tracing is enabled
                try:
                    result, record = await runtime.complete(step, body, run=run)
                except CrosswalkError as err:
                    span.done(err.record, err, providers=runtime.config.providers)
                    raise
                span.done(record, result=result, providers=runtime.config.providers)
            return to_completion(result, record)
        records: list[DecisionRecord] = []
        chunks = runtime.stream(step, body, records, run=run)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
        return AsyncCompletionStream(chunks, records[0], first)

    @overload
    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[False] = False,
                   run: str | None = None, **params: Any) -> ChatCompletion: ...
    @overload
    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: Literal[True],
                   run: str | None = None, **params: Any) -> CompletionStream: ...
    @overload
    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: bool,
                   run: str | None = None, **params: Any) -> ChatCompletion | CompletionStream: ...

    def completion(self, *, step: str, messages: list[dict[str, Any]], stream: bool = False,
                   run: str | None = None, **params: Any) -> ChatCompletion | CompletionStream:
        """Blocking form of `acompletion`; with stream=True a plain iterator of chunks."""
        loop = self._loop()
        run = run or tracing.current_trace_id()  # the caller's trace, read on its own thread
        result = loop.run(self.acompletion(step=step, messages=messages, stream=stream, run=run, **params))
        if isinstance(result, AsyncCompletionStream):
            return CompletionStream(result, loop)
        return result

    async def aembedding(self, *, step: str, input: str | list[str], **params: Any) -> CreateEmbeddingResponse:
        """Embed `input` on `step`'s providers that embed, with chat's failover; returns
        OpenAI's `CreateEmbeddingResponse` with the decision record at `.crosswalk`.
        `params`: `encoding_format` (float, base64), `dimensions`, `user`."""
        runtime = self.runtime
        runtime.keep_sync()
        result, record = await runtime.embed(step, {"input": input, **params})
        return to_embeddings(result, record)

    def embedding(self, *, step: str, input: str | list[str], **params: Any) -> CreateEmbeddingResponse:
        """Blocking form of `aembedding`."""
        return self._loop().run(self.aembedding(step=step, input=input, **params))

    async def areload(self, config: RouterConfig) -> None:
        """Switch to a new config without a restart. Health and exclusions carry over for
        providers that still exist (an exclusion only if the provider's entry is unchanged);
        unchanged providers keep their connections; removed ones are closed. Requests in
        flight finish on the config they started with."""
        await self.runtime.swap(config)

    def report(self, pipeline: list[str] | None = None) -> str:
        """The reliability table (see `crosswalk report`) from this router's own metrics."""
        metrics = self.runtime.metrics
        if metrics is None:
            raise ValueError("metrics: construct the Router with metrics=Metrics() to get a report")
        from prometheus_client import generate_latest

        from crosswalk.router.report import from_exposition, render, render_details

        text = generate_latest(metrics.registry).decode()
        rows = from_exposition(text)
        return render(rows, pipeline) + render_details(text, rows)

    def status(self, step: str) -> list[Row]:
        """Each provider of `step` with its current standing (eligible, ejected, excluded...) and why."""
        return self.runtime.status(step)

    @property
    def prober(self) -> Prober | None:
        """The active prober, once started (see `astart`)."""
        return self.runtime.prober

    async def astart(self) -> None:
        """Start the background work (active probes of ejected providers; with
        `state.backend: redis`, the shared-state sync) on the running loop. The proxy
        calls it at start-up; SDK users may, else the first request does."""
        await self.runtime.astart()

    async def aclose(self) -> None:
        """Close provider connections opened on the running loop (and the sync loop)."""
        await self.runtime.aclose()
        self.close()

    def close(self) -> None:
        """Close connections opened by the blocking API and stop its loop thread."""
        with self._lock:
            thread, self._loop_thread = self._loop_thread, None
        if thread is not None:
            thread.run(self.runtime.release())
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


class _Embeddings:
    def __init__(self, router: Router, *, sync: bool) -> None:
        self._router = router
        self._sync = sync

    def create(self, *, model: str, input: str | list[str], **params: Any
               ) -> CreateEmbeddingResponse | Awaitable[CreateEmbeddingResponse]:
        """OpenAI's `embeddings.create`: `model` names the step. The blocking face returns
        the response; the `aio` face an awaitable of it."""
        if "step" in params:
            raise TypeError("name the step with model=... on the OpenAI face")
        if self._sync:
            return self._router.embedding(step=model, input=input, **params)
        return self._router.aembedding(step=model, input=input, **params)


class _Chat:
    def __init__(self, router: Router, *, sync: bool) -> None:
        self.completions = _Completions(router, sync=sync)


class _AsyncFace:
    """`router.aio.chat.completions.create(...)` is awaitable, like `AsyncOpenAI`."""

    def __init__(self, router: Router) -> None:
        self.chat = _Chat(router, sync=False)
        self.embeddings = _Embeddings(router, sync=False)


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

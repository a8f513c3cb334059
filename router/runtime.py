"""The runtime: everything a router holds while it serves, behind one object.

It owns the config, the state book, the providers, the failover chain and the verifier
that wraps it, and the background workers (active probes, the Redis sync, the metrics
watch). `swap(config)` moves all of it to a new config without a restart. The SDK faces
(router/sdk.py), the proxy (router/proxy.py) and its reload watcher (router/reload.py)
are its clients: they call `complete`, `stream`, `status` and `swap`, and read `config`,
`state` and `metrics`, never the parts they are built from.
"""

from __future__ import annotations

import asyncio
import random
import threading
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping

from crosswalk.policies.config import RouterConfig, StepConf
from crosswalk.policies.prefill import PrefillRefusals
from crosswalk.policies.selection import Row
from crosswalk.providers.base import Native, Provider, stream_text
from crosswalk.providers.jsonwire import encoding_problem
from crosswalk.router.chain import FailoverChain
from crosswalk.router.clock import Clock, SystemClock
from crosswalk.router.embed_chain import embed
from crosswalk.router.errors import CrosswalkError, InvalidRequest, UnknownStep
from crosswalk.router.metrics import Metrics
from crosswalk.router.records import DecisionRecord
from crosswalk.router.registry import build_providers
from crosswalk.router.seams import Seams, run_id
from crosswalk.router.state import RouterState
from crosswalk.router.state.runs import RunBook
from crosswalk.router.validation import answer_text
from crosswalk.router.verify import Verifier, synthetic_chunks

if TYPE_CHECKING:  # loaded only when used: a memory-state router never imports redis
    from crosswalk.router.probes import Prober
    from crosswalk.router.state.redis_sync import RedisSync


class Runtime:
    """One router's live parts, and the only code that builds or replaces them."""

    def __init__(self, config: RouterConfig, *, clock: Clock | None = None, providers: Mapping[str, Provider] | None = None,
                 rng: random.Random | None = None, metrics: Metrics | None = None) -> None:
        """`providers` replaces the adapters built from config by name (an injected client,
        kept across swaps); `metrics` is told of requests, events and probes; `clock` and
        `rng` are for tests."""
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics
        self._rng = rng
        self._overrides = dict(providers or {})
        self.state = RouterState(config, self.clock, rng=rng)
        self.runs = RunBook(config.seams, self.clock)  # pipeline runs' answered amounts (seam checks)
        self.providers = build_providers(config, self._overrides)
        # Kept across reloads (the chain is rebuilt): a provider that rejected a prefill
        # a minute ago is not sent one again after a config change either.
        self.prefill_refusals = PrefillRefusals()
        self._build()
        if metrics is not None:
            self.state.listen(metrics.on_event)
            metrics.watch(lambda: self.state)
        self.prober: Prober | None = None
        self.sync: RedisSync | None = None  # while state.backend is redis and a loop runs it
        self._lock = threading.Lock()  # one shared-state sync, whatever the threads
        self._closing: set[asyncio.Task[None]] = set()

    def _build(self) -> None:
        """The chain and its verifier for the current state and providers."""
        self.chain = FailoverChain(self.state, self.providers, observer=self.metrics, prefill_refusals=self.prefill_refusals)
        self.verifier = Verifier(self.chain, clock=self.clock, rng=self.state.rng, observer=self.metrics)
        self.seams = Seams(self.runs, observer=self.metrics)

    def step(self, name: str) -> StepConf:
        """The step called `name` (or aliased so), or `UnknownStep` listing the known ones."""
        step = self.config.step_for(name)
        if step is None:
            known = ", ".join(sorted(self.config.steps))
            aliases = ", ".join(a for s in self.config.steps.values() for a in s.aliases)
            also = f"; aliases: {aliases}" if aliases else ""
            raise UnknownStep(f"unknown step '{name}' (known steps: {known}{also})", step=name)
        return step

    def _sendable(self, name: str, body: dict[str, Any]) -> StepConf:
        """The step, once the body is known to be sendable: a body no provider could be
        sent (too deep, or a value JSON cannot carry) is the caller's error, refused
        before any upstream call, not a provider failure."""
        step = self.step(name)
        problem = encoding_problem(body)
        if problem is not None:
            raise InvalidRequest(f"step '{step.name}': the request body cannot be sent as JSON: {problem}", step=step.name)
        return step

    async def complete(self, step: str, body: dict[str, Any], *, run: str | None = None,
                       native: Native | None = None) -> tuple[dict[str, Any], DecisionRecord]:
        """Run a non-streaming request on `step`; returns the completion dict and its record.
        `run`: the pipeline run it belongs to (default: the caller's trace id), whose
        earlier answers its amounts are checked against (router/seams.py). `native`: the
        caller's own request, when it came in another dialect (Messages, Responses): providers that
        speak it are sent it as it came; a verified step's panel is asked in Chat, among the
        providers that can carry what the request needs."""
        config, conf = self.config, self._sendable(step, body)
        run = run_id(run)
        flags = self.seams.check(config, conf, run, body)
        try:
            if conf.verify is not None:
                result, record = await self.verifier.complete(self.chain.fit.narrow(conf, native)[0], body)
            else:
                result, record = await self.chain.complete(conf, body, native=native)
        except CrosswalkError as error:  # a flagged seam stays on the error's record
            if error.record is not None:
                error.record.run, error.record.seams = run, flags
            raise
        record.run, record.seams = run, flags
        self.seams.answered(config, conf, run, answer_text(result))
        return result, record

    async def stream(self, step: str, body: dict[str, Any], records: list[DecisionRecord] | None = None,
                     *, run: str | None = None, native: Native | None = None) -> AsyncIterator[dict[str, Any]]:
        """Run a streaming request on `step`, yielding chunk dicts; the decision record is
        appended to `records` at once and filled in as attempts happen. A verified step
        answers once verification is done, as synthetic chunks. `run` as for `complete`."""
        config, conf = self.config, self._sendable(step, body)
        run = run_id(run)
        flags = self.seams.check(config, conf, run, body)
        records = records if records is not None else []
        if conf.verify is not None:
            conf = self.chain.fit.narrow(conf, native)[0]
            plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            result, record = await self.verifier.complete(conf, plain)
            record.run, record.seams = run, flags
            records.append(record)
            self.seams.answered(config, conf, run, answer_text(result))
            for chunk in synthetic_chunks(result, created=int(self.clock.wall().timestamp())):
                yield chunk
            return
        said: list[dict[str, Any]] = []  # the answer's chunks, read for its amounts once it is whole
        first = True
        # aclosing: a caller who stops reading closes the chain's generator at once.
        async with aclosing(self.chain.stream(conf, body, records, native=native)) as chunks:
            async for chunk in chunks:
                if first:  # the record exists once the chain has started
                    records[-1].run, records[-1].seams, first = run, flags, False
                if run is not None:
                    said.append(chunk)
                yield chunk
        self.seams.answered(config, conf, run, stream_text(said))

    async def embed(self, step: str, body: dict[str, Any]) -> tuple[dict[str, Any], DecisionRecord]:
        """Embed `body["input"]` on `step`'s providers that embed (router/embed_chain.py);
        returns OpenAI's embeddings list and the record."""
        return await embed(self.chain, self._sendable(step, body), body)

    def status(self, step: str) -> list[Row]:
        """Each provider of `step` with its current standing (eligible, ejected, excluded...) and why."""
        return self.state.explain(self.step(step))

    async def swap(self, config: RouterConfig) -> None:
        """Switch to a new config without a restart. Health and exclusions carry over for
        providers that still exist (an exclusion only if the provider's entry is unchanged);
        unchanged providers keep their connections; removed ones are closed. Requests in
        flight finish on the config they started with."""
        state = RouterState(config, self.clock, rng=self._rng)
        state.adopt(self.state)
        kept = {name: self.providers[name] for name, conf in config.providers.items()
                if name in self.providers and self.config.providers.get(name) == conf}
        if "local" in self.providers and "local" not in self.config.providers:
            kept["local"] = self.providers["local"]  # the in-process embedder keeps its loaded model
        built = build_providers(config, {**kept, **self._overrides})
        retired = [p for name, p in self.providers.items() if built.get(name) is not p]
        grace_s = max((s.timeouts.total_s for s in self.config.steps.values()), default=0.0)
        self.config, self.state, self.providers = config, state, built
        self.runs.resize(config.seams)
        self._build()
        if self.sync is not None and self.sync.spec != config.state:  # one sync, on the new settings
            await self.sync.stop()
            self.sync = None
            if self.metrics is not None:
                self.metrics.state_backend = None
        if self.sync is None and config.state.backend == "redis":
            self._start_sync()
        if retired:  # close once every request that could still use them has finished
            task = asyncio.create_task(self._close_later(retired, grace_s))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close_later(self, providers: list[Provider], delay_s: float) -> None:
        await self.clock.sleep(delay_s)
        for provider in providers:
            await provider.aclose()

    async def astart(self) -> None:
        """Start the background work on the running loop: active probes of ejected
        providers and, with `state.backend: redis`, the shared-state sync."""
        if self.prober is None:
            from crosswalk.router.probes import Prober

            self.prober = Prober(lambda: self.state, lambda: self.providers, clock=self.clock, metrics=self.metrics)
            self.prober.start()
        self.keep_sync()

    def keep_sync(self) -> None:
        """With `state.backend: redis`, keep the shared-state sync running on a live loop.
        `asyncio.run()` per call cancels the sync's task and closes its loop: the next call,
        on a new loop, starts it again there. A sync whose loop still runs (the blocking
        API's loop thread, or the caller's own loop while another one calls) is left where
        it is. SDK processes share state this way without having to call `astart()`."""
        if self.config.state.backend != "redis":
            return
        sync = self.sync
        if sync is not None and sync.alive():
            return
        with self._lock:  # threads that each asyncio.run() a call must not start two
            sync = self.sync
            if sync is not None and sync.alive():
                return
            self.sync = None
            if sync is not None:
                sync.abandon()
            self._start_sync()

    def _start_sync(self) -> None:
        """Share ejections, exclusions, cooldowns, the retry budget and the runs' answered
        amounts through Redis; the sync runs in the background, requests never wait on it."""
        from crosswalk.router.state.redis_sync import RedisSync

        self.sync = RedisSync(lambda: self.state, self.config.state, clock=self.clock, runs=self.runs)
        self.sync.start()
        if self.metrics is not None:
            self.metrics.state_backend = self.sync

    async def release(self) -> None:
        """Stop the sync and close provider connections opened on the running loop (the
        blocking API's loop thread calls it before it stops)."""
        if self.sync is not None:
            await self.sync.stop()
            self.sync = None
        for provider in self.providers.values():
            await provider.aclose()

    async def aclose(self) -> None:
        """Stop the background work, wait for shadow verifications, close connections."""
        if self.prober is not None:
            await self.prober.stop()
            self.prober = None
        if self.sync is not None:
            await self.sync.stop()
            self.sync = None
        await self.verifier.aclose()
        for provider in self.providers.values():
            await provider.aclose()

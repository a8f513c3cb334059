"""Shared routing state on Redis (`state: {backend: redis}`): an ejection, a hard exclusion
(with its evidence) or a rate-limit cooldown learned by one replica reaches every other
replica within a fraction of a second, and the retry budget holds across the fleet.

Local state stays authoritative for the hot path: nothing on a request's path awaits
Redis. A `RouterState` listener queues this process's events (a bounded queue) and one
background task per router keeps a connection. While it is up, the task
- publishes queued events: SET `{prefix}:standing:{kind}:{provider}` expiring when the
  standing ends, and PUBLISH on `{prefix}:events`; an operator's lift DELetes the
  provider's "excluded" key and stands in its place (kind "lifted"), so the lift reaches
  every replica, also one that reconnects later; likewise a probe's answer, which ends an
  ejection early, DELetes the "ejected" key and stands in its place (kind "reopened");
- applies the other replicas' messages through `RouterState.apply_remote`, which tells no
  listener, so nothing learned from Redis is ever published again (no echo);
- exchanges retry-budget counts every `sync_interval_s` (`redis_budget.py`), which is
  also its liveness check;
- with a run book (router/state/runs.py), publishes the amounts each local answer of a
  pipeline run gave on `{prefix}:runs` and keeps the other replicas' (the seam checks of a
  run whose steps land on different replicas); runs live in memory only, never in a key.
On every (re)connect it resynchronises: subscribe first, then read every live standing key
and apply it, then publish what this process knows that Redis does not (a restarted Redis
is empty). When Redis is slow or down, requests run on local state as they always do; the
`up` flag (exported as `crosswalk_state_backend_up`) turns 0, one line is logged per
transition, and the task reconnects with capped, jittered backoff. Every wait and every
timestamp is on the injected clock (the state's, unless told otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import defaultdict, deque
from typing import Any, Awaitable, Callable

from crosswalk.policies.schema import StateSpec
from crosswalk.providers.errors import redact
from crosswalk.providers.redaction import redact_url, url_secrets
from crosswalk.router.background import cancel_and_wait
from crosswalk.router.clock import Clock
from crosswalk.router.state.book import RouterState
from crosswalk.router.state import runs as run_wire
from crosswalk.router.state.redis_budget import BudgetShare
from crosswalk.router.state.runs import RunAnswer, RunBook
from crosswalk.router.state.standing import Event
from crosswalk.router.state.wire import KINDS, Update, from_event, snapshot, standing_key, to_event

log = logging.getLogger("crosswalk.state")

QUEUE_MAX = 1024  # events waiting to be published; the oldest are dropped (and counted) past it
BATCH = 64
MAX_STRIKES = 3  # Redis round trips in a row over timeout_ms before the connection is given up
CONNECT_TIMEOUT_S = 1.0  # connecting and resynchronising may take longer than one command
RESYNC_MARGIN_S = 1.0  # a local standing is pushed on resync only if it outlasts Redis's by this
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 2.0
UNTIL_CONFIG_TTL_S = 86400  # exclusions that last until the config changes; re-pushed on every reconnect


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RedisSync:
    """Keeps `state()` in step with the other replicas through Redis (see the module doc).

    `state` is a callable, so a config reload is followed. `connect` builds the client
    (default: redis-py's asyncio client for `spec.url`, imported only here); `clock` times
    the waits and converts deadlines (default: the state's clock)."""

    def __init__(self, state: Callable[[], RouterState], spec: StateSpec, *, connect: Callable[[], Any] | None = None,
                 rng: random.Random | None = None, clock: Clock | None = None, runs: RunBook | None = None) -> None:
        self.spec = spec
        self.runs = runs
        self.runs_channel = f"{spec.prefix}:runs"
        self._run_queue: deque[RunAnswer] = deque(maxlen=QUEUE_MAX)  # past it the oldest go: a run is short-lived
        self.origin = uuid.uuid4().hex[:12]  # this process, so it skips its own messages
        self.channel = f"{spec.prefix}:events"
        self.up = False
        self.publish_failures = 0  # events that could not be published (failed writes, queue overflow)
        self.slow = 0  # round trips that took over timeout_ms
        self.applied: defaultdict[str, int] = defaultdict(int)  # other replicas' updates applied here, by kind
        self._state = state
        self._clock = clock or state().clock
        self._url = spec.url.get_secret_value() if spec.url is not None else ""
        self._connect = connect or self._redis_client
        self._rng = rng or random.Random()
        self._timeout_s = spec.timeout_ms / 1000.0
        self._queue: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._budget = BudgetShare(spec.prefix, state().config.retry_budget.window_s)
        self._strikes = 0
        self._said_down = False  # one log line per transition, not per failed reconnect
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"RedisSync({redact_url(self._url)!r}, prefix={self.spec.prefix!r}, up={self.up})"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Listen to the state's events and start the sync task on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._state().listen(self.on_event)
        if self.runs is not None:
            self.runs.listen(self.on_run)
        self._task = self._loop.create_task(self._run(), name="crosswalk-shared-state")

    async def stop(self) -> None:
        """Stop publishing and syncing; the router goes on with its local state."""
        self._state().unlisten(self.on_event)
        if self.runs is not None:
            self.runs.unlisten(self.on_run)
        self._state().set_fleet_budget(0, 0)
        task, self._task = self._task, None
        if task is None or self._loop is None or self._loop.is_closed():
            return
        if asyncio.get_running_loop() is self._loop:
            await cancel_and_wait(task)
        else:  # started by the blocking API's loop thread
            self._loop.call_soon_threadsafe(task.cancel)

    def alive(self) -> bool:
        """Whether the sync can still make progress: its task is unfinished and its loop
        runs (`asyncio.run()` cancels the task and closes the loop when its call returns)."""
        task, loop = self._task, self._loop
        return task is not None and not task.done() and loop is not None and not loop.is_closed() and loop.is_running()

    def abandon(self) -> None:
        """Stop without waiting, from any loop or thread, so that a new sync can take over:
        the listener goes at once; the task is cancelled if its loop can still run it."""
        self._state().unlisten(self.on_event)
        if self.runs is not None:
            self.runs.unlisten(self.on_run)
        task, self._task = self._task, None
        loop = self._loop
        if task is not None and not task.done() and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)

    def on_event(self, event: Event) -> None:
        """`RouterState` listener, called on the request path: only queues the event."""
        if len(self._queue) >= QUEUE_MAX:
            self._queue.popleft()
            self.publish_failures += 1
        self._queue.append(event)
        self._wake_up()

    def on_run(self, answer: RunAnswer) -> None:
        """`RunBook` listener, called on the request path: only queues the answer's amounts."""
        self._run_queue.append(answer)
        self._wake_up()

    def _wake_up(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            self._wake.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def receive(self, raw: bytes | str) -> bool:
        """Apply one message of another replica; returns whether it changed anything. The
        process's own messages (they come back from the channel) are skipped."""
        update = Update.decode(raw)
        return update is not None and self._apply(update)

    def receive_run(self, raw: bytes | str) -> bool:
        """Keep another replica's run answer; returns whether it was one (not ours, well formed)."""
        decoded = run_wire.decode(raw)
        if decoded is None or decoded[0] == self.origin or self.runs is None:
            return False
        self.runs.apply_remote(decoded[1])
        return True

    # -- the connection -------------------------------------------------------------------

    def _redis_client(self) -> Any:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries inside redis-py: a failure ends the session and `_run` reconnects.
        return Redis.from_url(self._url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=None,
                              retry=Retry(NoBackoff(), 0), client_name=f"crosswalk-{self.origin}")

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            client = None
            try:
                client = self._connect()
                await self._session(client)
            except Exception as exc:  # any failure means "not shared right now"; the reason is logged
                if self.up:
                    backoff = BACKOFF_MIN_S  # it had been up: start the backoff over
                self._down(exc)
            finally:
                if client is not None:
                    await _quietly(client.aclose())
            await self._clock.sleep(backoff * (0.5 + self._rng.random() / 2))
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _session(self, client: Any) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            async with asyncio.timeout(max(self._timeout_s, CONNECT_TIMEOUT_S)):
                await pubsub.subscribe(self.channel, self.runs_channel)  # before the resync, so no message falls in between
                applied, pushed = await self._resync(client)
            self._strikes = 0
            self._set_up(applied, pushed)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._listen(pubsub))
                tasks.create_task(self._publish(client))
                tasks.create_task(self._exchange(client))
        finally:
            await _quietly(pubsub.aclose())

    async def _resync(self, client: Any) -> tuple[int, int]:
        """Apply every live standing in Redis, then push the local ones Redis lacks. The
        keys are named from this config's providers: one MGET, never a SCAN of a Redis that
        may hold millions of other keys."""
        keys = [standing_key(self.spec.prefix, kind, name) for name in self._state().config.providers for kind in KINDS]
        known: dict[tuple[str, str], Update] = {}
        applied = 0
        for raw in await client.mget(keys):
            update = Update.decode(raw)
            if update is not None:
                known[(update.kind, update.provider)] = update
                applied += self._apply(update)
        self._queue.clear()  # the snapshot below covers whatever was queued while down
        fresh = [u for u in snapshot(self._state(), origin=self.origin)
                 if u.outlasts(known.get((u.kind, u.provider)), margin=RESYNC_MARGIN_S)]
        if fresh:
            await self._write(client, fresh)
        return applied, len(fresh)

    # -- the three loops of a session ------------------------------------------------------

    async def _listen(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message.get("type") == "message":
                if message.get("channel") in (self.runs_channel, self.runs_channel.encode()):
                    self.receive_run(message["data"])
                else:
                    self.receive(message["data"])

    async def _publish(self, client: Any) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._run_queue:  # best effort: a run's amounts lost while Redis is down are not re-sent
                answers = [self._run_queue.popleft() for _ in range(min(len(self._run_queue), BATCH))]
                if self._run_queue:
                    self._wake.set()
                await self._bounded(self._publish_runs(client, answers))
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), BATCH))]
                try:
                    done = await self._bounded(self._write(client, self._updates(batch)))
                except Exception:
                    self.publish_failures += len(batch)  # the resync after the reconnect pushes them
                    raise
                if not done:  # a slow round trip: try again shortly (the write is idempotent)
                    self.publish_failures += len(batch)
                    self._queue.extendleft(reversed(batch))
                    await self._clock.sleep(self.spec.sync_interval_s)

    async def _exchange(self, client: Any) -> None:
        while True:
            budget = self._state().budget
            await self._bounded(self._budget.exchange(client, budget, self._clock.wall().timestamp()))
            await self._clock.sleep(self.spec.sync_interval_s)

    async def _bounded(self, work: Awaitable[None]) -> bool:
        """One round trip within timeout_ms. A busy event loop can hold a reply past a few
        ms, so a timeout alone is tolerated (False); MAX_STRIKES in a row mean Redis is
        slow, which ends the session like a lost connection."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await work
        except TimeoutError:
            self.slow += 1
            self._strikes += 1
            if self._strikes >= MAX_STRIKES:
                raise TimeoutError(f"{MAX_STRIKES} Redis round trips in a row took over {self.spec.timeout_ms:g} ms") from None
            return False
        self._strikes = 0
        return True

    # -- helpers --------------------------------------------------------------------------

    def _updates(self, events: list[Event]) -> list[Update]:
        now, wall = self._clock.now(), self._clock.wall().timestamp()
        providers = self._state().config.providers
        return [from_event(e, providers[e.provider], origin=self.origin, now=now, wall=wall) for e in events if e.provider in providers]

    async def _write(self, client: Any, updates: list[Update]) -> None:
        wall = self._clock.wall().timestamp()
        pipe = client.pipeline(transaction=False)
        for update in updates:
            ttl_ms = UNTIL_CONFIG_TTL_S * 1000 if update.until is None else int((update.until - wall) * 1000)
            if ttl_ms > 0:
                payload = update.encode()
                displaced = update.displaces()
                if displaced is not None:
                    pipe.delete(standing_key(self.spec.prefix, displaced, update.provider))
                pipe.set(update.key(self.spec.prefix), payload, px=ttl_ms)
                pipe.publish(self.channel, payload)
        await pipe.execute()

    async def _publish_runs(self, client: Any, answers: list[RunAnswer]) -> None:
        pipe = client.pipeline(transaction=False)
        for answer in answers:
            pipe.publish(self.runs_channel, run_wire.encode(answer, origin=self.origin))
        await pipe.execute()

    def _apply(self, update: Update) -> bool:
        if update.origin == self.origin:
            return False
        state = self._state()
        event = to_event(update, state.config.providers.get(update.provider), now=self._clock.now(), wall=self._clock.wall().timestamp())
        if event is None or not state.apply_remote(event):
            return False
        self.applied[update.kind] += 1
        if event.exclusion is not None:
            log.warning("crosswalk: provider %s hard-excluded (learned from another replica): %s", update.provider, event.exclusion.describe())
        elif update.kind == "lifted":
            log.warning("crosswalk: provider %s: exclusion lifted on another replica (%s)", update.provider, update.reason)
        else:
            log.info("crosswalk: provider %s %s by another replica: %s", update.provider, update.kind, update.reason)
        return True

    def _set_up(self, applied: int, pushed: int) -> None:
        if not self.up:
            (log.warning if self._said_down else log.info)(
                "crosswalk: shared state on %s is up (prefix %s): %d standings applied from it, %d pushed to it",
                redact_url(self._url), self.spec.prefix, applied, pushed)
        self.up = True
        self._said_down = False

    def _down(self, exc: BaseException) -> None:
        self._state().set_fleet_budget(0, 0)  # stale fleet counts would skew the budget
        if not self._said_down:
            log.warning("crosswalk: shared state on %s is down (%s); routing on this replica's own state, reconnecting",
                        redact_url(self._url), redact(_describe(exc), url_secrets(self._url)))
        self.up = False
        self._said_down = True


async def _quietly(closing: Awaitable[Any]) -> None:
    """Close a client or pubsub without letting a dead connection's error escape."""
    try:
        async with asyncio.timeout(1.0):
            await closing
    except Exception:
        pass

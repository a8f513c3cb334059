"""Shared state on a real redis-server: two `crosswalk serve` replicas in front of one set
of loopback fake vendors. What one replica learns (an ejection, a regulatory exclusion
with its evidence) the other acts on within a second; killing Redis loses no request;
restarting it restores sharing. Plus the pieces in isolation: the clock conversion, the
wire form, no echo, the fleet-wide retry budget.

Every wait polls with a deadline (a liveness bound), never a sleep-and-assert."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable

import aiohttp
import pytest

from crosswalk.policies.actions import action_for
from crosswalk.policies.parse import parse_config
from crosswalk.policies.exclusions import Exclusion
from crosswalk.providers.classify import Classification, FailureClass
from crosswalk.providers.errors import ProviderHTTPError
from crosswalk.providers.redaction import redact_url as redacted
from crosswalk.router.state.redis_sync import RedisSync
from crosswalk.router.state import Event, RouterState
from crosswalk.router.state.wire import Update, from_event, identity, to_event, to_local, to_wall
from tests import fakevendor as fv
from tests.eventually import eventually, eventually_sync
from tests.loopback import free_port
from tests.router.proxy_harness import ProxyProcess
from tests.virtual_time import ManualClock

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (`make test` installs it)")

ASK = "Shared-state test: how much is the refund for order 1234?"
PROPAGATION_S = 1.0  # the bound: the other replicas stop calling a provider within 1 s
CONFIG = """
providers:
  primary:   {{kind: openai, model: gpt-4o-mini, base_url: "{primary}", vendor: alpha, region: us, headers: {{x-replica: "{replica}"}}}}
  backup:    {{kind: openai, model: gpt-4o, base_url: "{backup}", vendor: gamma, region: us, headers: {{x-replica: "{replica}"}}}}
  secondary: {{kind: openai, model: mistral-large-latest, base_url: "{secondary}", vendor: beta, region: eu, headers: {{x-replica: "{replica}"}}}}
steps:
  draft: {{providers: [primary, secondary], timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}}}
  other: {{providers: [backup, secondary], timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}}}
health:
  consecutive_failures: 2
  ejection_base_s: 120
  ejection_max_s: 300
state:
  backend: redis
  url: "redis://127.0.0.1:${{REDIS_PORT}}/0"
  prefix: cw-test
  sync_interval_s: 0.1
"""


# --- a real redis-server -----------------------------------------------------------------


class RedisServer:
    """`redis-server` on a loopback port, without persistence; kill and restart it at will."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "RedisServer":
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self._tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        eventually_sync(self._pong, within=10, what=f"redis-server answers PING on port {self.port}", every=0.02)
        return self

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self, paused: bool) -> None:
        """SIGSTOP / SIGCONT: a Redis that accepts connections and never answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Any:
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


# --- two proxy replicas ------------------------------------------------------------------


@dataclass
class Vendors:
    primary: fv.FakeVendor
    backup: fv.FakeVendor
    secondary: fv.FakeVendor


@dataclass
class Replica:
    name: str
    proc: ProxyProcess
    http: aiohttp.ClientSession

    async def ask(self, step: str = "draft") -> tuple[int, dict[str, str]]:
        body = {"model": step, "messages": [{"role": "user", "content": ASK}]}
        async with self.http.post(self.proc.url + "/v1/chat/completions", json=body) as resp:
            await resp.read()
            return resp.status, dict(resp.headers)

    async def provider(self, name: str) -> dict[str, Any]:
        async with self.http.get(self.proc.url + "/v1/crosswalk/providers") as resp:
            rows = (await resp.json())["providers"]
        return next(r for r in rows if r["provider"] == name)

    async def backend_up(self) -> float | None:
        async with self.http.get(self.proc.url + "/metrics") as resp:
            text = await resp.text()
        for line in text.splitlines():
            if line.startswith('crosswalk_state_backend_up{backend="redis"}'):
                return float(line.rsplit(" ", 1)[1])
        return None


def user_calls(vendor: fv.FakeVendor, replica: str) -> int:
    """Calls a replica made to `vendor` for the test's requests (background probes, if any
    are configured, are not user traffic)."""
    n = 0
    for call in vendor.calls:
        headers = {k.lower(): v for k, v in call.headers.items()}
        body = call.body if isinstance(call.body, dict) else {}
        if headers.get("x-replica") == replica and ASK in json.dumps(body.get("messages")):
            n += 1
    return n


@pytest.fixture
async def vendors(fake_vendor: Any) -> Vendors:
    return Vendors(await fake_vendor("primary"), await fake_vendor("backup"), await fake_vendor("secondary"))


@pytest.fixture
async def replicas(tmp_path: Path, vendors: Vendors, redis_server: RedisServer) -> Any:
    procs = []
    for name in ("A", "B"):
        path = tmp_path / f"replica-{name}.yaml"
        path.write_text(CONFIG.format(primary=vendors.primary.base_url, backup=vendors.backup.base_url,
                                      secondary=vendors.secondary.base_url, replica=name))
        procs.append(ProxyProcess(path, env={"REDIS_PORT": str(redis_server.port)}))
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    try:
        for p in procs:
            await asyncio.to_thread(p.wait_ready)
        a, b = (Replica(n, p, http) for n, p in zip(("A", "B"), procs))
        for r in (a, b):
            await eventually(lambda r=r: _is(r.backend_up(), 1.0), within=10, what=f"replica {r.name} connected to Redis")
        yield a, b
    finally:
        await http.close()
        for p in procs:
            p.stop()


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


async def _state(replica: Replica, provider: str) -> str:
    return (await replica.provider(provider))["state"]


async def _eject_on(a: Replica, vendor: fv.FakeVendor, step: str, provider: str) -> None:
    """Make `vendor` fail every call and send `a` requests until it ejects `provider`;
    every request still succeeds (failover)."""
    vendor.always(fv.error(503, fv.OVERLOADED_503))
    for _ in range(10):
        status, _ = await a.ask(step)
        assert status == 200
        if await _state(a, provider) == "ejected":
            return
    raise AssertionError(f"replica A never ejected {provider}")


# --- the fleet ---------------------------------------------------------------------------


async def test_an_ejection_on_one_replica_stops_the_other_calling_the_provider(replicas: Any, vendors: Vendors) -> None:
    a, b = replicas
    await _eject_on(a, vendors.primary, "draft", "primary")
    start = time.monotonic()
    await eventually(lambda: _is(_state(b, "primary"), "ejected"), within=PROPAGATION_S, what="B learns of A's ejection")
    took = time.monotonic() - start
    seen = await b.provider("primary")
    assert seen["ejection_reason"] and "consecutive failures" in seen["ejection_reason"]
    assert seen["ejected_for_s"] > 60  # A's ejection time, converted to B's clock
    for _ in range(10):
        status, headers = await b.ask()
        assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
        assert "primary" not in headers["x-crosswalk-attempts"]
    assert user_calls(vendors.primary, "B") == 0
    assert user_calls(vendors.primary, "A") >= 2
    print(f"ejection propagated A -> B in {took * 1000:.0f} ms (poll granularity 10 ms)")


# A regional block, and a model the vendor calls gone (Anthropic's not_found_error naming
# the model Crosswalk sent): both regulatory, both the whole fleet's at once.
@pytest.mark.parametrize(("status", "payload", "evidence"), [
    (403, fv.REGION_403, "unsupported_country_region_territory"),
    (404, {"type": "error", "error": {"type": "not_found_error", "message": "model: gpt-4o-mini"}}, "model: gpt-4o-mini"),
], ids=["region-block", "model-withdrawn"])
async def test_a_regional_block_is_shared_with_its_evidence(replicas: Any, vendors: Vendors, status: int, payload: Any,
                                                            evidence: str) -> None:
    a, b = replicas
    vendors.primary.always(fv.error(status, payload))
    status, headers = await a.ask()
    assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
    assert (await a.provider("primary"))["state"] == "excluded"
    await eventually(lambda: _is(_state(b, "primary"), "excluded"), within=PROPAGATION_S, what="B learns of A's exclusion")
    exclusion = (await b.provider("primary"))["exclusion"]
    assert exclusion["failure_class"] == "regulatory"
    assert evidence in exclusion["evidence"]
    assert exclusion["at"] == (await a.provider("primary"))["exclusion"]["at"]
    assert exclusion["until_s"] > 3600  # the long re-probe interval came along
    for _ in range(5):
        status, headers = await b.ask()
        assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
    assert user_calls(vendors.primary, "B") == 0
    assert "hard-excluded (learned from another replica)" in b.proc.log()


async def test_killing_redis_mid_traffic_loses_no_request(replicas: Any, vendors: Vendors, redis_server: RedisServer) -> None:
    a, b = replicas
    statuses: list[int] = []

    async def traffic(replica: Replica, n: int) -> None:
        for _ in range(n):
            statuses.append((await replica.ask())[0])

    async def kill_after(n: int) -> None:
        await eventually(lambda: len(statuses) >= n, within=30, what=f"{n} requests done")
        redis_server.kill()

    await asyncio.gather(*(traffic(r, 40) for r in (a, b, a, b)), kill_after(40))
    assert statuses == [200] * 160
    await eventually(lambda: _is(b.backend_up(), 0.0), within=5, what="B reports the backend down")
    assert [(await r.ask())[0] for r in (a, b)] == [200, 200]
    assert b.proc.log().split(" is up ")[-1].count(" is down ") == 1  # one line per transition, not per retry


async def test_a_redis_that_stops_answering_counts_as_down_and_blocks_nothing(replicas: Any, vendors: Vendors,
                                                                             redis_server: RedisServer) -> None:
    a, b = replicas
    redis_server.pause(True)
    try:
        for _ in range(20):
            status, headers = await b.ask()
            assert status == 200 and headers["x-crosswalk-provider"] == "primary"
        await eventually(lambda: _is(b.backend_up(), 0.0), within=5, what="B reports the backend down")
        assert "round trips in a row took over" in b.proc.log()
    finally:
        redis_server.pause(False)
    for r in (a, b):
        await eventually(lambda r=r: _is(r.backend_up(), 1.0), within=10, what=f"replica {r.name} reconnects once Redis answers again")
    await _eject_on(a, vendors.primary, "draft", "primary")
    await eventually(lambda: _is(_state(b, "primary"), "ejected"), within=PROPAGATION_S, what="B learns of A's ejection")


async def test_restarting_redis_restores_sharing(replicas: Any, vendors: Vendors, redis_server: RedisServer) -> None:
    a, b = replicas
    redis_server.kill()
    await eventually(lambda: _is(b.backend_up(), 0.0), within=5, what="B reports the backend down")
    await eventually(lambda: _is(a.backend_up(), 0.0), within=5, what="A reports the backend down")
    await _eject_on(a, vendors.primary, "draft", "primary")  # while Redis is down: B cannot hear of it
    assert await _state(b, "primary") == "healthy"
    redis_server.start()  # same port, empty
    for r in (a, b):
        await eventually(lambda r=r: _is(r.backend_up(), 1.0), within=10, what=f"replica {r.name} reconnected")
    # A's resync pushed what Redis missed while it was down ...
    await eventually(lambda: _is(_state(b, "primary"), "ejected"), within=2, what="B learns of the ejection made while Redis was down")
    # ... and a new ejection travels as before.
    await _eject_on(a, vendors.backup, "other", "backup")
    await eventually(lambda: _is(_state(b, "backup"), "ejected"), within=PROPAGATION_S, what="B learns of A's new ejection")
    status, headers = await b.ask("other")
    assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
    assert user_calls(vendors.backup, "B") == 0
    assert "is up" in b.proc.log()


# --- the pieces --------------------------------------------------------------------------


UNIT_CONFIG = """
providers:
  primary:   {kind: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:9/v1", api_key: sk-one, vendor: alpha}
  secondary: {kind: openai, model: mistral-large-latest, base_url: "http://127.0.0.1:9/v1", vendor: beta}
steps:
  draft: {providers: [primary, secondary]}
health: {consecutive_failures: 1, jitter: 0}
retry_budget: {ratio: 0.1, min: 3, window_s: 10}
state: {backend: redis, url: "REDIS_URL", prefix: PREFIX, timeout_ms: 200, sync_interval_s: 0.05}
"""


def _config(url: str = "redis://127.0.0.1:9/0", prefix: str = "cw-unit", text: str = UNIT_CONFIG) -> Any:
    return parse_config(text.replace("REDIS_URL", url).replace("PREFIX", prefix), env={})


def _fail(state: RouterState, provider: str, status: int, body: dict[str, Any], cls: FailureClass) -> None:
    error = ProviderHTTPError(f"upstream {status}", provider=provider, status=status, code=(body.get("error") or {}).get("code"))
    outcome = Classification(cls)
    state.record_failure(provider, action_for(cls), outcome, error)


def test_until_goes_from_one_monotonic_clock_to_another_through_wall_time() -> None:
    # Process X: monotonic 1000 at wall T; its ejection ends 30 s from now.
    wall = to_wall(1030.0, now=1000.0, wall=1_700_000_000.0)
    assert wall == 1_700_000_030.0
    # Process Y reads it 0.25 s later, when its own monotonic clock says 5.0.
    assert to_local(wall, now=5.0, wall=1_700_000_000.25) == pytest.approx(34.75)
    assert to_wall(None, now=1.0, wall=2.0) is None and to_local(None, now=1.0, wall=2.0) is None


def test_an_update_round_trips_and_junk_is_ignored() -> None:
    config = _config()
    conf = config.providers["primary"]
    ex = Exclusion("primary", "regulatory", "status 403: code unsupported_country_region_territory", "2025-01-01T00:00:00+00:00", 10.0, 40.0)
    update = from_event(Event("excluded", "primary", "regulatory: ...", 40.0, ex), conf, origin="x", now=10.0, wall=100.0)
    assert update.until == 130.0 and update.ident == identity(conf)
    assert Update.decode(update.encode()) == update
    for junk in (b"", b"null", b"[]", b'{"v": 2}', b'{"v": 1, "kind": "nuked"}', b'{"v":1,"kind":"ejected","provider":1}', "\xff"):
        assert Update.decode(junk) is None
    event = to_event(update, conf, now=500.0, wall=110.0)
    assert event is not None and event.until == pytest.approx(520.0) and event.exclusion is not None
    assert event.exclusion.evidence == ex.evidence and event.exclusion.at == ex.at
    other = _config(text=UNIT_CONFIG.replace("sk-one", "sk-two")).providers["primary"]
    assert to_event(update, other, now=500.0, wall=110.0) is None  # same name, another provider: ignored
    assert "sk-one" not in update.encode().decode()


def test_remote_updates_are_applied_without_echo() -> None:
    config = _config()
    clock = ManualClock(50.0, wall=dt.datetime.fromtimestamp(1_000.0, dt.timezone.utc))  # its own monotonic base
    state = RouterState(config, clock, rng=random.Random(0))
    heard: list[Event] = []
    state.listeners.append(heard.append)
    sync = RedisSync(lambda: state, config.state)
    state.listeners.append(sync.on_event)
    conf = config.providers["primary"]
    theirs = Update("ejected", "primary", identity(conf), 1_030.0, "5 consecutive failures", origin="another-replica")
    assert sync.receive(theirs.encode())
    health = state.health["primary"]
    assert health.state.value == "ejected" and health.ejected_until == pytest.approx(80.0)
    assert heard == [] and len(sync._queue) == 0  # applied, never published again
    assert not sync.receive(theirs.encode())  # a duplicate changes nothing
    shorter = Update("ejected", "primary", identity(conf), 1_010.0, "shorter", origin="another-replica")
    assert not sync.receive(shorter.encode()) and health.ejected_until == pytest.approx(80.0)
    mine = Update("cooled", "secondary", identity(config.providers["secondary"]), 1_020.0, "429", origin=sync.origin)
    assert not sync.receive(mine.encode())  # this process's own message, back from the channel
    assert state.health["secondary"].cooldown_until == 0.0
    _fail(state, "secondary", 503, {}, FailureClass.TRANSIENT)  # a local ejection is queued for publishing
    assert [e.kind for e in heard] == ["ejected"] and [e.provider for e in sync._queue] == ["secondary"]
    assert sync._queue[0].until == state.health["secondary"].ejected_until


def test_the_redis_url_is_not_logged_with_its_password() -> None:
    assert redacted("redis://:hunter2@10.0.0.1:6380/0") == "redis://:***@10.0.0.1:6380/0"
    assert redacted("redis://app:hunter2@cache/1") == "redis://app:***@cache/1"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert "hunter2" not in repr(_config(url="redis://:hunter2@127.0.0.1:6379/0"))


async def _synced_pair(redis_server: RedisServer, prefix: str) -> tuple[RouterState, RouterState, RedisSync, RedisSync]:
    states, syncs = [], []
    for _ in range(2):
        config = _config(redis_server.url, prefix)
        from crosswalk.router.clock import SystemClock

        state = RouterState(config, SystemClock(), rng=random.Random(0))
        sync = RedisSync(lambda s=state: s, config.state)
        sync.start()
        states.append(state)
        syncs.append(sync)
    for sync in syncs:
        await eventually(lambda sync=sync: sync.up, within=5, what="sync up")
    return states[0], states[1], syncs[0], syncs[1]


async def test_two_processes_share_exclusions_cooldowns_and_the_retry_budget(redis_server: RedisServer) -> None:
    a, b, sa, sb = await _synced_pair(redis_server, "cw-pair")
    try:
        _fail(a, "primary", 403, fv.REGION_403, FailureClass.REGULATORY)
        await eventually(lambda: b.exclusions.active("primary", b.clock.now()) is not None, within=2, what="exclusion shared")
        assert b.exclusions.active("primary", b.clock.now()).failure_class == "regulatory"  # type: ignore[union-attr]
        b.health["secondary"].cool_down(b.clock.now(), 30, "429")
        b._emit(Event("cooled", "secondary", "30s: 429", b.health["secondary"].cooldown_until))
        await eventually(lambda: a.health["secondary"].cooldown_until > a.clock.now() + 20, within=2, what="cooldown shared")
        assert sb.applied["excluded"] == 1 and sa.applied["cooled"] == 1
        # The budget: A's 100 first attempts let B retry 10 times, not just its floor of 3.
        now = a.clock.now()
        for _ in range(100):
            a.budget.record_first(now)
        await eventually(lambda: b.budget.fleet[0] == 100, within=3, what="fleet counts reach B")
        spent = sum(b.budget.try_spend(b.clock.now()) for _ in range(20))
        assert spent == 10
        await eventually(lambda: a.budget.fleet[1] == 10, within=3, what="B's retries reach A")
        assert not a.budget.try_spend(a.clock.now())  # the fleet's budget is spent
        assert a.budget.snapshot(a.clock.now()) == (100, 10, 10)
    finally:
        await sa.stop()
        await sb.stop()
    assert a.budget.fleet == (0, 0)


def test_a_probe_answer_on_one_replica_ends_the_ejection_on_the_others() -> None:
    config = _config()
    clock = ManualClock(50.0, wall=dt.datetime.fromtimestamp(1_000.0, dt.timezone.utc))
    state = RouterState(config, clock, rng=random.Random(0))
    sync = RedisSync(lambda: state, config.state)
    conf = config.providers["primary"]
    ejected = Update("ejected", "primary", identity(conf), 1_030.0, "5 consecutive failures", origin="replica-a")
    assert sync.receive(ejected.encode()) and state.health["primary"].state.value == "ejected"
    reopened = Update("reopened", "primary", identity(conf), 1_030.0, "a probe got an answer", origin="replica-a", since=1_004.0)
    assert Update.decode(reopened.encode()) == reopened and reopened.displaces() == "ejected"
    clock.advance(5)
    assert sync.receive(reopened.encode())
    assert state.health["primary"].state.value == "half_open" and state.available("primary")
    # An ejection this replica began after that probe rests on newer evidence: it stands.
    clock.advance(1)
    _fail(state, "primary", 503, {}, FailureClass.TRANSIENT)  # the half-open trial fails: ejected again
    assert not sync.receive(reopened.encode()) and state.health["primary"].state.value == "ejected"


async def test_a_probe_answer_is_shared_and_replaces_the_ejection_in_redis(redis_server: RedisServer) -> None:
    import redis.asyncio as redis_asyncio

    a, b, sa, sb = await _synced_pair(redis_server, "cw-reopen")
    client = redis_asyncio.Redis.from_url(redis_server.url)
    try:
        _fail(a, "primary", 503, {}, FailureClass.TRANSIENT)  # consecutive_failures: 1
        await eventually(lambda: b.health["primary"].state.value == "ejected", within=2, what="ejection shared")
        assert a.probe_result("primary") == "ok"
        assert a.health["primary"].state.value in ("half_open", "healthy")
        await eventually(lambda: b.health["primary"].state.value == "half_open", within=2, what="B reopens it too")
        assert sb.applied["reopened"] == 1
        assert await client.get("cw-reopen:standing:ejected:primary") is None  # a reconnecting replica is not re-ejected
        assert await client.get("cw-reopen:standing:reopened:primary") is not None
    finally:
        await client.aclose()
        await sa.stop()
        await sb.stop()


SDK_CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, simulate: {latency_ms: 1, jitter_ms: 0}}
steps:
  draft: {providers: [a]}
state: {backend: redis, url: "REDIS_URL", prefix: PREFIX}
"""


async def test_the_sdk_starts_one_sync_lazily_follows_reloads_and_stops_it(redis_server: RedisServer) -> None:
    from prometheus_client import generate_latest

    from crosswalk import Router
    from crosswalk.router.metrics import Metrics

    router = Router(_config(redis_server.url, "cw-sdk", SDK_CONFIG), metrics=Metrics())
    assert router.runtime.sync is None  # nothing runs before there is a loop to run on
    await router.acompletion(step="draft", messages=[{"role": "user", "content": "hi"}])
    sync = router.runtime.sync
    assert isinstance(sync, RedisSync)
    await eventually(lambda: sync.up, within=5, what="the SDK's sync connected")
    assert b'crosswalk_state_backend_up{backend="redis"} 1.0' in generate_latest(router.metrics.registry)  # type: ignore[union-attr]
    await router.areload(_config(redis_server.url, "cw-sdk", SDK_CONFIG))
    assert router.runtime.sync is sync and sync.on_event in router.state.listeners  # same settings: the same sync
    await router.areload(_config(redis_server.url, "cw-sdk-2", SDK_CONFIG))
    assert router.runtime.sync is not sync and router.runtime.sync.spec.prefix == "cw-sdk-2"
    assert router.state.listeners.count(router.runtime.sync.on_event) == 1 and sync.on_event not in router.state.listeners
    second = router.runtime.sync
    await router.aclose()
    assert router.runtime.sync is None and second._task is None


def test_a_memory_router_never_imports_redis() -> None:
    code = ("import asyncio, sys\nfrom crosswalk import Router\nr = Router()\n"
            "asyncio.run(r.acompletion(step='draft', messages=[{'role': 'user', 'content': 'hi'}]))\n"
            "print('redis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


RUNS_CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, simulate: {latency_ms: 1, jitter_ms: 0}}
  b: {kind: simulated, model: b-1, vendor: vb, simulate: {latency_ms: 1, jitter_ms: 0}}
steps:
  draft: {providers: [a, b]}
state: {backend: redis, url: "REDIS_URL", prefix: PREFIX, timeout_ms: 200, sync_interval_s: 0.05}
"""


async def test_asyncio_run_per_call_keeps_sharing_alive(redis_server: RedisServer) -> None:
    """Each `asyncio.run()` cancels the sync's task and closes its loop; the next call
    starts the sync again on its own loop, so a standing another replica publishes after
    100 such calls still reaches this router (and no Redis connection is left open)."""
    from crosswalk import Router
    from tests.sockets import have_proc, open_sockets_to

    router = Router(_config(redis_server.url, "cw-runs", RUNS_CONFIG))
    ask = [{"role": "user", "content": "hi"}]

    def hundred_runs() -> None:
        for _ in range(100):
            assert asyncio.run(router.acompletion(step="draft", messages=ask)).crosswalk.provider == "a"

    await asyncio.to_thread(hundred_runs)
    if have_proc():
        assert open_sockets_to(redis_server.port) <= 2  # the last run's sync closed its connections
    other_config = _config(redis_server.url, "cw-runs", RUNS_CONFIG)
    from crosswalk.router.clock import SystemClock

    other = RouterState(other_config, SystemClock(), rng=random.Random(0))
    other_sync = RedisSync(lambda: other, other_config.state)
    other_sync.start()
    try:
        await eventually(lambda: other_sync.up, within=5, what="the other replica's sync connected")
        _fail(other, "a", 403, fv.REGION_403, FailureClass.REGULATORY)  # the other replica learns a regional block

        async def next_call_learns_it() -> bool:
            resp = await router.acompletion(step="draft", messages=ask)
            # The sync runs only while this loop does.
            await eventually(lambda: router.state.exclusions.active("a", router.state.clock.now()) is not None,
                             within=5, what="the exclusion reaches the router")
            return resp.crosswalk.provider in ("a", "b")

        assert await asyncio.to_thread(asyncio.run, next_call_learns_it()), "the exclusion never reached the router"
        syncs = [fn for fn in router.state.listeners if isinstance(getattr(fn, "__self__", None), RedisSync)]
        assert len(syncs) == 1  # one sync listening, not one per loop it ever ran on
        later = await asyncio.to_thread(asyncio.run, router.acompletion(step="draft", messages=ask))
        assert later.crosswalk.provider == "b"  # the block learned from the other replica keeps routing off 'a'
    finally:
        await other_sync.stop()
        await router.aclose()

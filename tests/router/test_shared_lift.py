"""An operator's lift is fleet-wide: on a real redis-server, lifting an exclusion on one
replica lifts it on the others, deletes the standing key, and a replica that was away
during the lift drops its copy when it reconnects instead of pushing it back. Newer
evidence after the lift still excludes everywhere.

Every wait polls with a deadline, never a sleep-and-assert."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from crosswalk.providers.classify import FailureClass
from crosswalk.router.clock import SystemClock
from crosswalk.router.state.redis_sync import RedisSync
from crosswalk.router.state import RouterState
from crosswalk.router.state.wire import standing_key
from tests import fakevendor as fv
from tests.eventually import eventually
from tests.router.test_shared_state import (
    PROPAGATION_S,
    REDIS,
    RedisServer,
    Replica,
    Vendors,
    _config,
    _fail,
    _is,
    _state,
    redis_server,
    replicas,
    user_calls,
    vendors,
)

__all__ = ["redis_server", "replicas", "vendors"]  # fixtures shared with test_shared_state

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (`make test` installs it)")


async def _keys(redis_server: RedisServer, prefix: str, provider: str) -> tuple[bool, bool]:
    """(excluded key exists, lifted key exists)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server.url)
    try:
        excluded = await client.exists(standing_key(prefix, "excluded", provider))
        lifted = await client.exists(standing_key(prefix, "lifted", provider))
    finally:
        await client.aclose()
    return bool(excluded), bool(lifted)


async def test_a_lift_on_one_replica_reaches_the_other(replicas: Any, vendors: Vendors, redis_server: RedisServer) -> None:
    a, b = replicas
    vendors.primary.always(fv.error(403, fv.REGION_403))
    status, headers = await a.ask()
    assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
    await eventually(lambda: _is(_state(b, "primary"), "excluded"), within=PROPAGATION_S, what="B learns of A's exclusion")
    assert await _keys(redis_server, "cw-test", "primary") == (True, False)
    vendors.primary.always(fv.ok())  # the operator fixed the account's region
    async with a.http.post(a.proc.url + "/v1/crosswalk/providers/primary/unexclude") as resp:
        assert resp.status == 200
        assert (await resp.json())["lifted"]["failure_class"] == "regulatory"
    assert await _state(a, "primary") == "healthy"
    await eventually(lambda: _is(_state(b, "primary"), "healthy"), within=PROPAGATION_S, what="B learns of A's lift")
    assert await _keys(redis_server, "cw-test", "primary") == (False, True)
    status, headers = await b.ask()
    assert status == 200 and headers["x-crosswalk-provider"] == "primary"
    assert user_calls(vendors.primary, "B") == 1
    assert "exclusion lifted on another replica" in b.proc.log()


async def test_a_replica_away_during_the_lift_drops_its_copy_and_newer_evidence_still_spreads(redis_server: RedisServer) -> None:
    prefix = "cw-lift"
    a = RouterState(_config(redis_server.url, prefix), SystemClock(), rng=random.Random(0))
    c = RouterState(_config(redis_server.url, prefix), SystemClock(), rng=random.Random(0))
    sa = RedisSync(lambda: a, a.config.state)
    sc = RedisSync(lambda: c, c.config.state)
    sa.start()
    try:
        await eventually(lambda: sa.up, within=5, what="A's sync up")
        _fail(a, "primary", 403, fv.REGION_403, FailureClass.REGULATORY)
        _fail(c, "primary", 403, fv.REGION_403, FailureClass.REGULATORY)  # C saw it too, with Redis out of reach
        await eventually(lambda: _has_key(redis_server, prefix, 0), within=2, what="A's exclusion in Redis")
        lift = a.lift("primary", by="the test")
        assert lift.exclusion is not None and a.exclusions.active("primary", a.clock.now()) is None
        await eventually(lambda: _has_key(redis_server, prefix, 1), within=2, what="the lift in Redis, the exclusion key gone")
        sc.start()  # C comes back: its resync finds the lift
        await eventually(lambda: sc.up, within=5, what="C's sync up")
        assert c.exclusions.active("primary", c.clock.now()) is None
        assert sc.applied["lifted"] == 1
        assert await _keys(redis_server, prefix, "primary") == (False, True)  # C did not push its old copy back
        assert a.exclusions.active("primary", a.clock.now()) is None
        # Evidence after the lift is news: it excludes on every replica again.
        _fail(c, "primary", 403, fv.REGION_403, FailureClass.REGULATORY)
        await eventually(lambda: a.exclusions.active("primary", a.clock.now()) is not None, within=2,
                         what="C's new exclusion reaches A")
        assert await _keys(redis_server, prefix, "primary") == (True, False)
    finally:
        await sa.stop()
        await sc.stop()


async def _has_key(redis_server: RedisServer, prefix: str, which: int) -> bool:
    """0: the excluded key is there; 1: only the lifted key is."""
    excluded, lifted = await _keys(redis_server, prefix, "primary")
    return excluded if which == 0 else (lifted and not excluded)

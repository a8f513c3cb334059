"""`LoopPools`: one pool per event loop, closed with its loop, never keeping a loop alive."""

from __future__ import annotations

import asyncio
import gc
import warnings
import weakref

from crosswalk.providers.http1 import Origin, Pool
from crosswalk.providers.loop_pools import LoopPools


def _pools() -> tuple[LoopPools, list[Pool]]:
    made: list[Pool] = []

    def factory() -> Pool:
        made.append(Pool(Origin("http://127.0.0.1:9")))
        return made[-1]

    return LoopPools(factory), made


def test_one_pool_per_loop_closed_when_asyncio_run_ends():
    pools, made = _pools()

    async def twice() -> bool:
        return pools.get() is pools.get()

    assert asyncio.run(twice()) and len(made) == 1
    assert made[0].closed and len(pools) == 0  # asyncio.run finalized the guard: pool closed, forgotten
    assert asyncio.run(twice()) and len(made) == 2 and made[1].closed


def test_a_loop_closed_by_hand_is_dropped_on_the_next_loop_without_noise():
    pools, made = _pools()
    loop = asyncio.new_event_loop()

    async def get() -> Pool:
        return pools.get()

    first = loop.run_until_complete(get())
    loop.close()  # no shutdown_asyncgens: the guard never ran
    ref = weakref.ref(loop)
    del loop
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine never awaited", no "loop is closed"
        second = asyncio.run(get())
        gc.collect()
    assert second is not first and len(pools) == 0
    assert ref() is None  # the dead loop was let go


async def test_aclose_closes_the_running_loops_pool_and_the_next_get_makes_a_new_one():
    pools, made = _pools()
    first = pools.get()
    await pools.aclose()
    assert first.closed and len(pools) == 0
    assert pools.get() is not first and len(made) == 2
    await pools.aclose()

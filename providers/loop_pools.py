"""One connection pool per event loop, closed with its loop.

A provider is shared by every face of the SDK: the blocking API's loop thread, the
caller's own loop, and `asyncio.run()` per call, which makes (and closes) a new loop each
time. A pool's connections belong to the loop that opened them, so each loop gets its
own pool, and a pool must not outlive its loop: its sockets would stay open, and through
them the dead loop itself (a pool map keyed by loop kept every loop alive).

So each pool parks a small async generator on its loop. `asyncio.run()` (and any runner
that calls `loop.shutdown_asyncgens()`) finalizes it before closing the loop, and its
`finally` closes the pool's connections while the loop can still run their callbacks.
A loop closed without that step is noticed the next time another loop asks for a pool:
its pool is dropped then (its transports close their sockets when collected).
"""

from __future__ import annotations

import asyncio
import threading
from typing import AsyncGenerator, Callable

from crosswalk.providers.http1 import Pool


class LoopPools:
    """Pools by event loop; `get()` is the running loop's pool, made on first use."""

    def __init__(self, factory: Callable[[], Pool]) -> None:
        self._factory = factory
        self._pools: dict[asyncio.AbstractEventLoop, tuple[Pool, AsyncGenerator[None, None]]] = {}
        # (loop, pool) in one tuple: two threads' loops must never pair a loop with the other's pool.
        self._last: tuple[asyncio.AbstractEventLoop | None, Pool | None] = (None, None)
        self._lock = threading.RLock()  # the slow path only; guards may finish inside it

    def __len__(self) -> int:
        return len(self._pools)

    def get(self) -> Pool:
        """The running loop's pool."""
        loop = asyncio.get_running_loop()
        last_loop, pool = self._last
        if last_loop is loop and pool is not None and not pool.closed:
            return pool  # the hot path: a dict lookup per call showed in profiles
        return self._switch(loop)

    def _switch(self, loop: asyncio.AbstractEventLoop) -> Pool:
        with self._lock:
            for dead in [other for other in self._pools if other.is_closed()]:
                self._finish(dead)
            entry = self._pools.get(loop)
            if entry is None or entry[0].closed:
                if entry is not None:
                    self._finish(loop)
                pool = self._factory()
                guard = _close_with_loop(self, loop)
                self._pools[loop] = (pool, guard)
                _start(guard)
            else:
                pool = entry[0]
            self._last = (loop, pool)
            return pool

    def _forget(self, loop: asyncio.AbstractEventLoop) -> Pool | None:
        """Drop `loop`'s pool from the map (and from the fast path); the pool is returned."""
        with self._lock:
            entry = self._pools.pop(loop, None)
            if self._last[0] is loop:
                self._last = (None, None)
            return entry[0] if entry is not None else None

    def _finish(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget a pool whose loop is closed (or that was closed), ending its guard
        synchronously: no coroutine may be scheduled on a closed loop."""
        entry = self._pools.get(loop)
        if entry is None:
            return
        self._forget(loop)
        try:
            entry[1].aclose().send(None)  # the guard's finally sees nothing left to close
        except (StopIteration, RuntimeError):
            pass

    async def aclose(self) -> None:
        """Close the running loop's pool (other loops' pools close with their loops)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._pools.get(loop)
            pool = self._forget(loop)
        if entry is not None:
            await entry[1].aclose()
        if pool is not None and not pool.closed:
            await pool.aclose()


async def _close_with_loop(pools: LoopPools, loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
    """Parked on `loop` until the loop shuts its async generators down; then closes the
    pool it guards, if nobody has yet."""
    try:
        yield
    finally:
        pool = pools._forget(loop)
        if pool is not None and not pool.closed and not loop.is_closed():
            await pool.aclose()


def _start(guard: AsyncGenerator[None, None]) -> None:
    """Run the guard to its `yield`: its first step registers it with the running loop
    (the loop's async-generator hooks), which finalizes it at shutdown."""
    try:
        guard.asend(None).send(None)
    except StopIteration:
        pass

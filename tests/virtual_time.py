"""The tests' fake time: a virtual-time event loop and the router `Clock`s that go with it.

- `VirtualTimeLoop` + `LoopClock`: the whole run is in virtual time. The loop's clock jumps
  to the next timer instead of waiting, and the router's clock reads the loop, so timeouts,
  backoff and Retry-After waits cost no real time. For in-process code (simulated
  providers); real sockets need real waits.
- `ManualClock`: time only the test moves (`advance`); `sleep` advances it at once. For
  state machines driven by direct calls (no event loop involved).
- `SkippingClock`: the real clock plus an offset the test jumps forward (`skip`), for tests
  over real loopback sockets: waits stay real, ejections and exclusions still run out at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Coroutine, TypeVar

from crosswalk.router.clock import SystemClock

T = TypeVar("T")

EPOCH = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
"""Wall time at virtual second 0."""


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps straight to the next timer when nothing is ready."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._horizon = float("inf")
        select = self._selector.select  # type: ignore[attr-defined]

        def jump(timeout: float | None = None) -> Any:
            events = select(0)
            if events or timeout == 0:
                return events
            if timeout is None or self._now + timeout > self._horizon:
                raise RuntimeError("virtual-time loop: nothing left to wait for in time: the code under test hangs for ever")
            self._now += timeout
            return events

        self._selector.select = jump  # type: ignore[attr-defined]

    def time(self) -> float:
        return self._now

    def run(self, coro: Coroutine[Any, Any, T], *, within_s: float = 3600.0) -> T:
        """run_until_complete, failing if it needs more than `within_s` virtual seconds
        (background timers, such as the prober's, would otherwise hide a hang)."""
        self._horizon = self._now + within_s
        try:
            return self.run_until_complete(coro)
        finally:
            self._horizon = float("inf")

    def advance(self, seconds: float) -> None:
        """Let time pass between runs."""
        self._now += seconds


class LoopClock:
    """The router's Clock, reading the virtual loop's time; sleep is the loop's (instant) sleep."""

    EPOCH = EPOCH

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def wall(self) -> dt.datetime:
        return self.EPOCH + dt.timedelta(seconds=self._loop.time())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """The router's Clock standing still until the test moves it: `now()` starts at `now`,
    `wall()` at `wall`; `advance()` and `sleep()` move both forward together."""

    def __init__(self, now: float = 0.0, *, wall: dt.datetime = EPOCH) -> None:
        self._now = now
        self._wall = wall

    def now(self) -> float:
        return self._now

    def wall(self) -> dt.datetime:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self._now += seconds
        self._wall += dt.timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class SkippingClock(SystemClock):
    """The real clock plus an offset the test can jump forward, so ejections, cooldowns and
    exclusions run out without the test waiting for them (waits stay real)."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset

    def wall(self) -> dt.datetime:
        return super().wall() + dt.timedelta(seconds=self.offset)

    def skip(self, seconds: float) -> None:
        """Jump `seconds` ahead."""
        self.offset += seconds

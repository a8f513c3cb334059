"""Time as the router sees it: injected, so tests and the demo can control it."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds for deadlines and health, wall time for records, and sleep."""

    def now(self) -> float: ...

    def wall(self) -> dt.datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def __init__(self) -> None:
        # Bound straight to the C function (`now()` runs several times per request), unless
        # a subclass supplies its own `now`.
        if type(self).now is SystemClock.now:
            self.now = time.monotonic  # type: ignore[method-assign]

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

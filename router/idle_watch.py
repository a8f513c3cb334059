"""The idle limit of a committed stream, kept with one timer per stream instead of one per chunk.

A committed stream waits for each next chunk at most `min(idle_s, time left)`. A fresh timer
for each wait (`call_later`, then `cancel`: a timer handle made, pushed on the loop's heap and
dropped 200 times for a 200-chunk answer) cost about a tenth of the proxy's CPU per relayed
chunk (cProfile of `crosswalk serve` relaying 200-chunk answers). `IdleWatch` keeps one timer:
each wait only moves the deadline (a float store); a timer that fires before the current
deadline re-arms itself for it, and cancels the waiting task only when a wait is in progress
and its deadline has passed. Between waits (the caller's writes, a slow reader's drain) the
watch is disarmed, so it never cancels anything but a wait for the upstream's next chunk."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator


class IdleWatch:
    """Waits for a stream's chunks with a deadline each (`next`); `close` when the stream ends.
    Made inside the running loop."""

    __slots__ = ("_loop", "_task", "_deadline", "_when", "_handle", "_waiting", "_fired")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = None
        self._deadline = 0.0  # the current wait's deadline, on the loop's clock
        self._when = 0.0  # when the pending timer fires
        self._handle: asyncio.TimerHandle | None = None
        self._waiting = False
        self._fired = False

    async def next(self, upstream: AsyncIterator[Any], seconds: float) -> Any:
        """`await anext(upstream)`, raising TimeoutError after `seconds`."""
        loop = self._loop
        self._deadline = deadline = loop.time() + seconds
        if self._handle is None or self._when > deadline:  # none pending, or one too late for this wait
            if self._handle is not None:
                self._handle.cancel()
            self._when = deadline
            self._handle = loop.call_at(deadline, self._check)
        self._task = task = asyncio.current_task()
        self._waiting = True
        try:
            return await anext(upstream)
        except asyncio.CancelledError:
            if self._fired:
                self._fired = False
                if task is not None and task.uncancel() == 0:  # ours alone, not also the caller's
                    raise TimeoutError from None
            raise
        finally:
            self._waiting = False

    def _check(self) -> None:
        self._handle = None
        if not self._waiting:  # between waits: the next wait arms a timer again
            return
        if self._loop.time() < self._deadline:  # the deadline moved on since this timer was set
            self._when = self._deadline
            self._handle = self._loop.call_at(self._deadline, self._check)
            return
        self._fired = True
        assert self._task is not None
        self._task.cancel()

    def close(self) -> None:
        """Drop the pending timer (the stream ended, broke or was abandoned)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

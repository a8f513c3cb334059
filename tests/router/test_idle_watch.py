"""router/idle_watch.py: a committed stream's idle limit with one timer per stream, in virtual
time (tests/virtual_time.py): the loop's clock jumps to the next timer, so the limits are
exact and nothing waits for real."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from crosswalk.router.idle_watch import IdleWatch
from tests.virtual_time import VirtualTimeLoop


async def _chunks(gaps: list[float]) -> AsyncIterator[int]:
    """One chunk after each gap (seconds)."""
    for i, gap in enumerate(gaps):
        await asyncio.sleep(gap)
        yield i


def _run(coro: Any) -> Any:
    loop = VirtualTimeLoop()
    try:
        return loop.run(coro)
    finally:
        loop.close()


def test_chunks_inside_the_limit_all_arrive_and_few_timers_are_made():
    async def main() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        made = 0
        call_at = loop.call_at

        def counting(when: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
            nonlocal made
            made += 1
            return call_at(when, callback, *args, **kw)

        upstream = _chunks([0.01] * 200)  # 200 tokens in 2 s
        watch = IdleWatch()
        loop.call_at = counting  # type: ignore[method-assign]
        try:
            got = [await watch.next(upstream, 1.0) for _ in range(200)]
        finally:
            loop.call_at = call_at  # type: ignore[method-assign]
            watch.close()
        return got, made - 200  # less the sleeps' own timers

    got, timers = _run(main())
    assert got == list(range(200))
    # A timer re-arms for the latest deadline when it fires: about one per second of stream
    # (2 s here), not one per chunk.
    assert timers <= 4


def test_a_stall_past_the_limit_times_out_at_the_limit():
    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        upstream = _chunks([0.5, 0.5, 0.5, 10.0])
        watch = IdleWatch()
        got = [await watch.next(upstream, 2.0) for _ in range(3)]
        last = loop.time()
        with pytest.raises(TimeoutError):
            await watch.next(upstream, 2.0)
        watch.close()
        await upstream.aclose()
        return len(got), loop.time() - last

    received, waited = _run(main())
    assert received == 3
    assert waited == pytest.approx(2.0, abs=0.01)


def test_a_shorter_wait_after_a_longer_one_fires_at_its_own_deadline():
    async def main() -> float:
        loop = asyncio.get_running_loop()
        upstream = _chunks([0.1, 10.0])
        watch = IdleWatch()
        await watch.next(upstream, 30.0)  # a long first wait arms a late timer
        start = loop.time()
        with pytest.raises(TimeoutError):
            await watch.next(upstream, 1.0)  # the step's time is almost out
        watch.close()
        await upstream.aclose()
        return loop.time() - start

    assert _run(main()) == pytest.approx(1.0, abs=0.01)


def test_time_spent_between_waits_never_counts():
    """Between waits the caller writes or waits for a slow reader to drain: the watch is
    disarmed, however long that takes."""

    async def main() -> list[int]:
        upstream = _chunks([0.1, 0.1, 0.1])
        watch = IdleWatch()
        got = []
        for _ in range(3):
            got.append(await watch.next(upstream, 1.0))
            await asyncio.sleep(50.0)  # a reader that stopped reading for a while
        watch.close()
        return got

    assert _run(main()) == [0, 1, 2]


def test_a_cancel_from_outside_is_a_cancel_not_a_timeout():
    async def main() -> str:
        upstream = _chunks([10.0])
        watch = IdleWatch()

        async def read() -> Any:
            return await watch.next(upstream, 5.0)

        task = asyncio.ensure_future(read())
        await asyncio.sleep(1.0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        except TimeoutError:
            return "timeout"
        finally:
            watch.close()
            await upstream.aclose()
        return "answered"

    assert _run(main()) == "cancelled"


def test_close_drops_the_pending_timer():
    async def main() -> int:
        loop = asyncio.get_running_loop()
        watch = IdleWatch()
        upstream = _chunks([0.0, 0.0])
        await watch.next(upstream, 100.0)
        await upstream.aclose()
        pending = sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]
        watch.close()
        return pending - sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]

    assert _run(main()) == 1

"""The tests' fake time (tests/virtual_time.py): the virtual-time loop jumps to timers and
reports a hang; the manual and skipping clocks move only when the test moves them."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from tests.virtual_time import EPOCH, LoopClock, ManualClock, SkippingClock, VirtualTimeLoop


def test_virtual_time_loop_jumps_to_timers_and_times_out():
    loop = VirtualTimeLoop()
    clock = LoopClock(loop)

    async def scenario() -> tuple[float, float]:
        await clock.sleep(5.0)
        after_sleep = clock.now()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.0):
                await asyncio.Event().wait()
        return after_sleep, clock.now()

    try:
        assert loop.run_until_complete(scenario()) == (5.0, 7.0)
        assert clock.wall() == EPOCH + dt.timedelta(seconds=7)
        with pytest.raises(RuntimeError, match="hangs for ever"):
            loop.run_until_complete(asyncio.Event().wait())
        background = loop.create_task(asyncio.sleep(1e9))
        with pytest.raises(RuntimeError, match="hangs for ever"):
            loop.run(asyncio.Event().wait(), within_s=10)
        background.cancel()
    finally:
        loop.close()


async def test_manual_clock_moves_only_when_told_and_sleep_advances_it():
    clock = ManualClock(50.0, wall=EPOCH)
    assert (clock.now(), clock.wall()) == (50.0, EPOCH)
    clock.advance(1.5)
    await clock.sleep(2.5)
    assert (clock.now(), clock.wall()) == (54.0, EPOCH + dt.timedelta(seconds=4))


def test_skipping_clock_is_the_real_clock_plus_the_skips():
    clock = SkippingClock()
    before, wall = clock.now(), clock.wall()
    clock.skip(3600)
    assert clock.now() >= before + 3600
    assert clock.wall() >= wall + dt.timedelta(seconds=3600)

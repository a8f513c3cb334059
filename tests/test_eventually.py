"""The one polling helper (tests/eventually.py): it returns what the condition returned,
takes plain and async conditions, and fails naming what it waited for."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.eventually import eventually, eventually_sync


async def test_eventually_returns_the_first_truthy_value_of_a_plain_or_async_condition():
    values = iter([0, None, "ready"])
    assert await eventually(lambda: next(values)) == "ready"

    async def later() -> int:
        await asyncio.sleep(0)
        return 7

    assert await eventually(later) == 7


async def test_eventually_waits_for_another_task():
    flag = asyncio.Event()
    asyncio.get_running_loop().call_soon(flag.set)
    assert await eventually(flag.is_set, what="the flag") is True


async def test_eventually_fails_naming_what_it_waited_for():
    with pytest.raises(AssertionError, match=r"not within 0.05s: the door opens \(last seen: False\)"):
        await eventually(lambda: False, within=0.05, what="the door opens")


def test_eventually_sync_waits_for_another_thread_and_fails_naming_what():
    done = threading.Event()
    threading.Thread(target=done.set).start()
    assert eventually_sync(done.is_set, what="the thread") is True
    with pytest.raises(AssertionError, match="not within 0.05s: never"):
        eventually_sync(lambda: [], within=0.05, what="never")

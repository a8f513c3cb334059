"""Waiting for what happens elsewhere (another task, thread or process) without a
sleep-and-assert: poll a condition until it holds. The bound is a liveness bound (how long
before the test gives up), never a timing assertion: make it generous."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Awaitable, Callable, TypeVar, Union

T = TypeVar("T")


async def eventually(condition: Callable[[], Union[T, Awaitable[T]]], *, within: float = 10.0,
                     what: str = "the condition", every: float = 0.01) -> T:
    """Poll `condition` (plain or async) every `every` seconds until it returns something
    truthy, and return that. Fails with AssertionError naming `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= end:
            raise AssertionError(f"not within {within:g}s: {what} (last seen: {value!r})")
        await asyncio.sleep(every)


def eventually_sync(condition: Callable[[], T], *, within: float = 10.0, what: str = "the condition",
                    every: float = 0.05) -> T:
    """`eventually` for code without an event loop (a thread, a test driving a subprocess):
    blocks this thread between polls."""
    end = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"not within {within:g}s: {what} (last seen: {value!r})")
        time.sleep(every)

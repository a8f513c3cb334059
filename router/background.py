"""Background tasks' end of life: cancel, then wait until they have really stopped."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: "asyncio.Task[Any] | None") -> None:
    """Cancel each task and wait for all of them; their own exceptions are swallowed
    (they are being stopped), a cancellation of the caller is not."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    if live:
        await asyncio.gather(*live, return_exceptions=True)

"""Shared fixtures. Keep this file to fixtures only."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import pytest

from tests.fakevendor import FakeVendor, Vendors


@pytest.fixture
async def fake_vendor() -> Any:
    """Start fake OpenAI vendors on loopback ports: `v = await fake_vendor("primary")`.
    Every vendor started is stopped (hanging handlers released) at teardown."""
    started: list[FakeVendor] = []

    async def start(name: str, *, answer: str | None = None, tls: Any = None, rejects_prefill: bool = False,
                    tool_call: dict[str, str] | None = None, continuation: str = "continue", agent: bool = False) -> FakeVendor:
        vendor = await FakeVendor(name, answer=answer, tls=tls, rejects_prefill=rejects_prefill, tool_call=tool_call,
                                  continuation=continuation, agent=agent).start()
        started.append(vendor)
        return vendor

    factory: Callable[..., Awaitable[FakeVendor]] = start
    yield factory
    for vendor in started:
        await vendor.stop()


@pytest.fixture
async def vendors(fake_vendor: Any) -> Vendors:
    """Three fake vendors on loopback: primary, its same-vendor twin, secondary."""
    return Vendors(await fake_vendor("primary"), await fake_vendor("twin"), await fake_vendor("secondary"))


@pytest.fixture
async def fake_anthropic() -> Any:
    """Start fake Anthropic Messages vendors on loopback ports: `a = await fake_anthropic("claude")`."""
    from tests.fakeanthropic import FakeAnthropic

    started: list[FakeAnthropic] = []

    async def start(name: str, **options: Any) -> FakeAnthropic:
        vendor = await FakeAnthropic(name, **options).start()
        started.append(vendor)
        return vendor

    yield start
    for vendor in started:
        await vendor.stop()

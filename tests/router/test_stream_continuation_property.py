"""Property: whatever the cut point and whatever the fallback does with the request to go on
(continue, restart verbatim, restart in other words, repeat the last sentence, reject the
prefill, break again), the caller receives the whole answer exactly once, or a prefix of it
ending in an error event: never duplicated or stitched-in foreign content. Real HTTP:
loopback fake vendors and the SDK run on one event loop in a background thread, and
Hypothesis draws the cut (the number of events before it) and the break."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crosswalk import Router, StreamInterrupted
from crosswalk.policies.parse import parse_config
from tests import continuation_fallbacks as cf
from tests import fakevendor as fv
from tests.continuation_fallbacks import ANSWER

EVENTS = 1 + len(ANSWER.split(" "))  # the role chunk and one per word
TIMEOUTS = "{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.3, total_s: 10}"
FALLBACKS = tuple(cf.STEPS)
BREAKS = {"cut": fv.cut, "malformed": fv.malformed,
          "error_event": lambda after: fv.error_event(after=after, payload={"error": {"message": "overloaded", "type": "server_error"}})}


class Stack:
    """Vendors and a router on a loop of their own (Hypothesis runs the test synchronously)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.vendors: dict[str, fv.FakeVendor] = self.run(self._start())
        self.router = Router(parse_config(self._config(), env={}), rng=random.Random(0))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self) -> dict[str, fv.FakeVendor]:
        return await cf.start_vendors(lambda name, **options: fv.FakeVendor(name, **options).start())

    def _config(self) -> str:
        # Never ejected, never out of retry budget: every example is a recovery, whatever came before.
        return cf.config(self.vendors, timeouts=TIMEOUTS, tail="""
health: {probe_interval_s: 0, consecutive_failures: 1000000, failure_rate: 1.0, window: 1000000, min_calls: 1000000}
retry_budget: {ratio: 1, min: 1000000}""")

    async def read(self, step: str) -> tuple[str, str | None, StreamInterrupted | None, Any]:
        return await cf.read(self.router, step)

    def close(self) -> None:
        async def stop() -> None:
            await self.router.aclose()
            for vendor in self.vendors.values():
                await vendor.stop()
        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack()
    yield s
    s.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fallback=st.sampled_from(FALLBACKS), after=st.integers(2, EVENTS), how=st.sampled_from(sorted(BREAKS)))
def test_any_cut_and_any_fallback_gives_a_whole_answer_once_or_a_prefix_and_an_error(stack, fallback, after, how):
    stack.vendors["primary"].script(BREAKS[how](after))
    text, finish, error, record = stack.run(asyncio.wait_for(stack.read(fallback), 20))
    event(f"{fallback}: {record.recovery.outcome if record.recovery else 'none'}")
    if error is None:
        assert (text, finish) == (ANSWER, "stop")  # whole, exactly once
    else:
        assert ANSWER.startswith(text) and finish is None  # what was delivered before the break, nothing foreign
        assert record.recovery.outcome in ("failed", "not_resumable")
    if fallback == "paraphrase":
        assert error is not None or record.recovery.outcome == "restarted"  # never a stitched paraphrase

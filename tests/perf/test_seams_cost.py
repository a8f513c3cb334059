"""What the seam checks cost a request, side by side in one run: SDK calls to the same
loopback upstream (its answer: "The refund is $42.99.") without a run id, and with every
call in one run (as when a framework sends one trace id for a whole pipeline: each answer's
amounts are kept, each request is checked against them). Also the two phases alone on a
150-character answer. Measured on the shared 2-core machine: about +50 us a call in a run
(1.2-1.35x of a ~0.5 ms loopback call); the bound only catches a regression to parsing
whole answers (that cost ~0.8 ms a call)."""

from __future__ import annotations

import asyncio
import time
import timeit

from crosswalk import Router
from crosswalk.policies.seams import amount_tokens, check
from tests.perf.conftest import report
from tests.perf.test_sdk_overhead import MESSAGES, _config

ROUNDS = 5
CALLS = 400
ANSWER = ("Hello, your refund of $42.99 for order 1234 has been approved and will reach your card within 5 days. "
          "Total charged was $1,299.00 on 2026-03-02.")


async def _round(router: Router, run: str | None) -> float:
    t0 = time.perf_counter()
    for _ in range(CALLS):
        await router.acompletion(step="s", messages=MESSAGES, run=run)
    return (time.perf_counter() - t0) / CALLS


async def _per_call(router: Router) -> tuple[float, float]:
    """Best seconds per call without a run and within one run, rounds interleaved (the
    machine's load moves both alike)."""
    for run in (None, "pipeline-run-1"):
        for _ in range(50):
            await router.acompletion(step="s", messages=MESSAGES, run=run)
    plain = in_run = float("inf")
    for _ in range(ROUNDS):
        plain = min(plain, await _round(router, None))
        in_run = min(in_run, await _round(router, "pipeline-run-1"))
    return plain, in_run


def test_seam_checks_cost(upstream_url: str) -> None:
    async def measure() -> tuple[float, float]:
        router = Router(_config(upstream_url))
        try:
            return await _per_call(router)
        finally:
            await router.aclose()

    plain, in_run = asyncio.run(measure())
    tokens_us = min(timeit.repeat(lambda: amount_tokens(ANSWER), number=2000, repeat=5)) / 2000 * 1e6
    earlier = [("extract", t) for t in amount_tokens(ANSWER)]
    check_us = min(timeit.repeat(lambda: check(earlier, MESSAGES[0]["content"]), number=2000, repeat=5)) / 2000 * 1e6
    report("seam checks", [
        ("SDK call, no run", f"{plain * 1e6:.0f} us"),
        ("SDK call, every call in one run", f"{in_run * 1e6:.0f} us ({in_run / plain:.2f}x)"),
        ("amount tokens of a 150-char answer", f"{tokens_us:.1f} us"),
        ("check of a request, nothing related", f"{check_us:.1f} us"),
    ])
    assert in_run / plain <= 1.6

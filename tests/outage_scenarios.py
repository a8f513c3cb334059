"""Outage scenarios in virtual time, measured by counting calls at the providers: what a
total outage costs each provider per request, how long callers stay on the fallback
after the ranked-first provider recovers from a flap, and what one 429 with a Retry-After
does to a request (plain and hedged steps).

Real parts: the SDK `Router` with its background prober, simulated vendors that raise the
same errors real ones cause, on a virtual-time loop (tests/virtual_time.py), so seconds
of outage cost no real time and every run repeats exactly. The tests in
tests/router/test_outage.py assert on these figures; `python -m tests.outage_scenarios`
prints them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from crosswalk import CrosswalkError, Router
from crosswalk.policies.parse import parse_config
from crosswalk.providers.simulated import Fault, SimulatedProvider
from tests.virtual_time import LoopClock, VirtualTimeLoop

MSG = [{"role": "user", "content": "How much is the refund for order 1234?"}]
CONFIG = """
providers:
  primary:   {kind: simulated, model: p-1, vendor: alpha}
  secondary: {kind: simulated, model: s-1, vendor: beta}
steps:
  draft: {providers: [primary, secondary]}
"""
HEDGED = CONFIG.replace("draft: {providers: [primary, secondary]}", "draft: {providers: [primary, secondary], hedge: {after_ms: 10}}")


@dataclass(frozen=True)
class OutageCost:
    """What `requests` requests cost while every provider of the step was down."""

    requests: int
    calls: dict[str, int]  # provider -> calls that reached it (user requests only)
    per_request: dict[str, list[int]]  # provider -> calls each request made to it, in order
    panic_attempts: int
    errors: int

    def most_in_one_request(self, *, skip: int = 0) -> dict[str, int]:
        """Provider -> the most calls one request made to it (the first `skip` left out)."""
        return {n: max(counts[skip:], default=0) for n, counts in self.per_request.items()}


@dataclass(frozen=True)
class Recovery:
    """When the primary came back after a flap, and when callers were back on it."""

    recovered_at: float
    back_at: float | None  # first request answered by the primary after recovering
    on_fallback_s: float | None  # back_at - recovered_at
    probes_to_primary: int  # background probe calls to the primary after it recovered


@dataclass(frozen=True)
class RateLimit:
    """One request whose first provider answered 429 with a Retry-After."""

    provider: str | None  # who answered in the end (None: an error)
    attempts: list[tuple[str, str | None]]
    call_times: dict[str, list[float]]  # provider -> when each call reached it (virtual seconds)


class _Counting(SimulatedProvider):
    """A simulated vendor that also notes which request each call belonged to, and when
    each call came; `once` holds faults for the next calls only."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.request = 0
        self.per_request: dict[int, int] = {}
        self.times: list[float] = []
        self.once: list[Fault] = []
        self._now = lambda: 0.0

    async def _before_answer(self):
        self.per_request[self.request] = self.per_request.get(self.request, 0) + 1
        self.times.append(self._now())
        if self.once:
            self.set_fault(self.once.pop(0))
            try:
                return await super()._before_answer()
            finally:
                self.set_fault(None)
        return await super()._before_answer()


def _providers(clock: LoopClock) -> dict[str, _Counting]:
    providers = {name: _Counting(name=name, model=f"{name[0]}-1", latency_ms=20, jitter_ms=0, sleep=clock.sleep)
                 for name in ("primary", "secondary")}
    for p in providers.values():
        p._now = clock.now
    return providers


def rate_limited_once(retry_after_s: float, *, stream: bool = False, config: str = CONFIG) -> RateLimit:
    """One request whose first call (to the primary) is a 429 with `retry_after_s`."""
    loop = VirtualTimeLoop()
    clock = LoopClock(loop)
    providers = _providers(clock)
    providers["primary"].once.append(Fault.http(429, "Rate limit reached", "rate_limit_exceeded", retry_after_s=retry_after_s))
    router = Router(parse_config(config, env={}), clock=clock, providers=providers, rng=random.Random(0))

    async def run() -> RateLimit:
        try:
            if stream:
                s = await router.acompletion(step="draft", messages=MSG, stream=True)
                [chunk async for chunk in s]
                record = s.crosswalk
                provider = record.provider
            else:
                resp = await router.acompletion(step="draft", messages=MSG)
                record, provider = resp.crosswalk, resp.crosswalk.provider
            attempts = record.attempts
        except CrosswalkError as exc:
            attempts, provider = exc.attempts, None
        await router.aclose()
        return RateLimit(provider, [(a.provider, a.failure_class) for a in attempts],
                         {n: list(p.times) for n, p in providers.items()})

    try:
        return loop.run(run())
    finally:
        loop.close()


def total_outage(requests: int = 10, *, gap_s: float = 1.0, config: str = CONFIG) -> OutageCost:
    """`requests` requests, `gap_s` apart, while every provider answers 503."""
    loop = VirtualTimeLoop()
    clock = LoopClock(loop)
    providers = _providers(clock)
    for p in providers.values():
        p.set_fault(Fault.outage())
    router = Router(parse_config(config, env={}), clock=clock, providers=providers, rng=random.Random(0))
    panic = errors = 0

    async def run() -> None:
        nonlocal panic, errors
        for i in range(requests):
            for p in providers.values():
                p.request = i
            try:
                await router.acompletion(step="draft", messages=MSG)
            except CrosswalkError as exc:
                errors += 1
                panic += sum(a.panic for a in exc.attempts)
            await clock.sleep(gap_s)
        await router.aclose()

    try:
        loop.run(run())
    finally:
        loop.close()
    return OutageCost(requests, {n: p.calls for n, p in providers.items()},
                      {n: [p.per_request.get(i, 0) for i in range(requests)] for n, p in providers.items()}, panic, errors)


def flap_recovery(*, down_s: float = 3.0, gap_s: float = 0.5, horizon_s: float = 120.0, config: str = CONFIG) -> Recovery:
    """The primary fails for `down_s` (long enough to be ejected) and then answers again;
    a caller sends one request every `gap_s`, and the background prober runs."""
    loop = VirtualTimeLoop()
    clock = LoopClock(loop)
    providers = _providers(clock)
    primary = providers["primary"]
    router = Router(parse_config(config, env={}), clock=clock, providers=providers, rng=random.Random(0))
    result: dict[str, float | int | None] = {"back_at": None}

    async def run() -> None:
        await router.astart()
        primary.set_fault(Fault.outage())
        start = clock.now()
        while clock.now() - start < down_s:
            await _ask(router)
            await clock.sleep(gap_s)
        primary.set_fault(None)
        recovered_at = clock.now()
        result["recovered_at"] = recovered_at
        primary.request = -1  # calls from here on that are not a request's are probes
        calls_before = primary.calls
        requests_to_primary = 0
        while clock.now() - recovered_at < horizon_s:
            primary.request = -2
            if await _ask(router) == "primary":
                result["back_at"] = clock.now()
                requests_to_primary = 1
                break
            primary.request = -1
            await clock.sleep(gap_s)
        result["probes"] = primary.calls - calls_before - requests_to_primary
        await router.aclose()

    try:
        loop.run(run(), within_s=horizon_s + 600)
    finally:
        loop.close()
    recovered_at = float(result["recovered_at"])  # type: ignore[arg-type]
    back_at = result["back_at"]
    return Recovery(recovered_at, back_at, None if back_at is None else back_at - recovered_at,  # type: ignore[operator]
                    int(result["probes"]))  # type: ignore[arg-type]


async def _ask(router: Router) -> str | None:
    try:
        resp = await router.acompletion(step="draft", messages=MSG)
    except CrosswalkError:
        return None
    return resp.crosswalk.provider


if __name__ == "__main__":
    for label, config in (("", CONFIG), (" (hedged step)", HEDGED)):
        cost = total_outage(config=config)
        print(f"total outage{label}, {cost.requests} requests: calls {cost.calls}, most calls in one request "
              f"{cost.most_in_one_request()} (after the first: {cost.most_in_one_request(skip=1)}), "
              f"panic attempts {cost.panic_attempts}, errors {cost.errors}")
    rec = flap_recovery()
    print(f"flap: primary recovered at t={rec.recovered_at:.2f}s, back on it at "
          f"{'never' if rec.back_at is None else f't={rec.back_at:.2f}s'}: "
          f"{rec.on_fallback_s if rec.on_fallback_s is None else round(rec.on_fallback_s, 2)} s on the fallback, "
          f"{rec.probes_to_primary} probe calls to the primary after it recovered")

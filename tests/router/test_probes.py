"""Active probes: ejected providers recover without user requests; regulatory exclusions
are re-probed only on their long interval and only when the config allows it."""

from __future__ import annotations

import random

import pytest

from crosswalk.policies.parse import parse_config
from crosswalk.policies.health import State
from crosswalk.providers.simulated import Fault
from crosswalk import Router
from crosswalk.router.metrics import Metrics
from crosswalk.router.probes import Prober
from tests.eventually import eventually
from tests.virtual_time import SkippingClock

MSG = [{"role": "user", "content": "hi"}]


def _router(health: str = "", **kw) -> Router:
    text = f"""
providers:
  a: {{kind: simulated, model: a-1, vendor: va, simulate: {{latency_ms: 0, jitter_ms: 0}}}}
  b: {{kind: simulated, model: b-1, vendor: vb, simulate: {{latency_ms: 0, jitter_ms: 0}}}}
steps:
  s: {{providers: [a, b], retry: {{same_provider: 0}}}}
health: {{consecutive_failures: 2, ejection_base_s: 300, ejection_max_s: 600, half_open_probes: 2{health}}}
"""
    return Router(parse_config(text, env={}), rng=random.Random(0), **kw)


def _prober(r: Router) -> Prober:
    """A prober wired to `r` as `Router.astart` wires its own."""
    return Prober(lambda: r.state, lambda: r.providers, clock=r.clock, metrics=r.metrics)


async def _eject_a(r: Router) -> None:
    r.providers["a"].set_fault(Fault.outage())
    for _ in range(2):
        await r.acompletion(step="s", messages=MSG)
    assert r.state.health["a"].state is State.EJECTED


async def test_recovery_is_found_by_probes_not_user_requests():
    metrics = Metrics()
    r = _router(metrics=metrics)
    await _eject_a(r)
    prober = _prober(r)
    assert prober.due() == ["a"]
    await prober.probe_due()  # still down: the ejection stands, no longer than before
    until = r.state.health["a"].ejected_until
    assert r.state.health["a"].state is State.EJECTED and r.state.health["a"].ejected_until == until
    r.providers["a"].set_fault(None)
    calls = r.providers["a"].calls
    await prober.probe_due()  # one answer ends the 300 s ejection: half-open, that probe its first trial
    assert r.state.health["a"].state is State.HALF_OPEN
    assert prober.due() == ["a"]  # still probed until it closes, but a live request needs no probe:
    assert (await r.acompletion(step="s", messages=MSG)).crosswalk.provider == "a"
    assert r.state.health["a"].state is State.HEALTHY  # half_open_probes (2) trials answered
    assert r.providers["a"].calls == calls + 2
    assert metrics.probes[("a", "transient")] == 1 and metrics.probes[("a", "ok")] == 1
    await r.aclose()


async def test_background_loop_probes_on_its_schedule():
    r = _router(", probe_interval_s: 0.02")
    await _eject_a(r)
    r.providers["a"].set_fault(None)
    await r.astart()
    await eventually(lambda: r.state.health["a"].state is State.HEALTHY, what="the background probes close a's ejection")
    assert [res for _, res in r.state.standing("a").probes][-2:] == ["ok", "ok"]
    await r.aclose()
    assert r.prober is None


async def test_regulatory_exclusion_is_reprobed_only_when_it_lapses():
    clock = SkippingClock()
    r = _router(", regulatory_reprobe_s: 3600, probe_interval_s: 5", clock=clock)
    r.providers["a"].set_fault(Fault.region_block())
    await r.acompletion(step="s", messages=MSG)
    prober = _prober(r)
    assert prober.due() == []  # an hour to go: not probed
    clock.skip(3600 - 2)
    assert prober.due() == ["a"]
    await prober.probe_due()  # still blocked: the exclusion is renewed with fresh evidence
    exclusion = r.state.exclusions.active("a", clock.now())
    assert exclusion is not None and exclusion.until is not None and exclusion.until - clock.now() > 3500
    assert prober.due() == []
    clock.skip(3600)
    r.providers["a"].set_fault(None)
    assert await prober.probe("a") is True
    assert r.state.exclusions.active("a", clock.now()) is None
    assert (await r.acompletion(step="s", messages=MSG)).crosswalk.provider == "a"
    await r.aclose()


async def test_no_reprobe_when_the_config_forbids_it():
    clock = SkippingClock()
    r = _router(", reprobe_excluded: false", clock=clock)
    r.providers["a"].set_fault(Fault.region_block())
    await r.acompletion(step="s", messages=MSG)
    clock.skip(10 * 86400)
    assert _prober(r).due() == []
    exclusion = r.state.exclusions.active("a", clock.now())
    assert exclusion is not None and exclusion.until is None  # until the config changes
    assert (await r.acompletion(step="s", messages=MSG)).crosswalk.provider == "b"
    assert r.providers["a"].calls == 1
    await r.aclose()


@pytest.mark.parametrize("fault, cls", [(Fault("hang"), "timeout"), (Fault.http(401, "bad key", "invalid_api_key"), "auth")])
async def test_probe_failures_are_classified(fault, cls):
    r = _router(", probe_timeout_s: 0.05")
    await _eject_a(r)
    r.providers["a"].set_fault(fault)
    prober = _prober(r)
    assert await prober.probe("a") is False
    assert [res for _, res in r.state.standing("a").probes] == [cls]
    if cls == "auth":  # a probe that learns of a hard failure excludes, with the evidence
        assert "invalid_api_key" in r.state.exclusions.active("a", r.clock.now()).evidence
    await r.aclose()

"""Failure-rate ejection as configured: `failure_rate` over the calls that finished in the
last `window`, through the real callers (`RouterState.record_failure` / `record_success`
with the actions the failure classes get), on a fake clock.

Before: a call the vendor answered with a 4xx about the request or a rate limit was left
out of the window, so the rate was failures / (failures + successes) and ran high; a
reload that shortened `window` kept computing over the old length; failures that finished
late while the provider was ejected were carried into the next healthy period."""

from __future__ import annotations

import random

from crosswalk.policies.actions import action_for
from crosswalk.policies.parse import parse_config
from crosswalk.providers.classify import Classification, FailureClass
from crosswalk.providers.errors import ProviderHTTPError
from crosswalk.router.state import RouterState
from tests.virtual_time import ManualClock

F = FailureClass


def _state(health: str) -> RouterState:
    config = parse_config(
        "providers:\n  p: {kind: simulated, model: m, vendor: v}\n  q: {kind: simulated, model: n, vendor: w}\n"
        f"steps:\n  s: {{providers: [p, q]}}\nhealth: {{{health}, jitter: 0}}\n", env={})
    return RouterState(config, ManualClock(1000.0), rng=random.Random(0))


def _call(state: RouterState, outcome: str) -> None:
    """One finished call on p: S (answer), F (503), C (400 about the request), R (429)."""
    state.clock.advance(1.0)  # type: ignore[attr-defined]
    if outcome == "S":
        state.record_success("p")
        return
    cls, status = {"F": (F.TRANSIENT, 503), "C": (F.CLIENT, 400), "R": (F.RATE_LIMITED, 429)}[outcome]
    state.record_failure("p", action_for(cls), Classification(cls, 1.0), ProviderHTTPError("x", provider="p", status=status))


def test_the_rate_is_failures_over_every_finished_call():
    state = _state("window: 20, min_calls: 10, failure_rate: 0.5, consecutive_failures: 100")
    for outcome in "SFC" * 4 + "SFR":  # 5 of 15 finished calls failed: 33 %
        _call(state, outcome)
    health = state.health["p"]
    assert health.state.value == "healthy"  # before: 5 of 10 "calls" (answered 4xx/429 left out), ejected
    assert sum(health.window) / len(health.window) == 5 / 15
    for outcome in "FF" * 5:  # now 10 of 25... then the rate crosses 50 % of what finished
        _call(state, outcome)
        if health.state.value == "ejected":
            break
    assert health.state.value == "ejected"
    assert "50% of the last 20 calls failed" in health.reason  # 10 failures in the last 20 finished


def test_a_reload_that_shortens_the_window_computes_over_the_new_window_at_once():
    old = _state("window: 20, min_calls: 4, failure_rate: 0.5, consecutive_failures: 100")
    for outcome in "FFF" + "S" * 17:
        _call(old, outcome)
    new = _state("window: 4, min_calls: 4, failure_rate: 0.5, consecutive_failures: 100")
    new.adopt(old)
    assert len(new.health["p"].window) == 4
    _call(new, "F")
    assert new.health["p"].state.value == "healthy"  # 1 of the last 4
    _call(new, "F")
    assert new.health["p"].state.value == "ejected"  # 2 of the last 4: before, 3 of 20 and no ejection
    assert "50% of the last 4 calls failed" in new.health["p"].reason


def test_failures_finishing_late_during_an_ejection_do_not_count_after_recovery():
    state = _state("consecutive_failures: 5, half_open_probes: 2")
    for _ in range(5):
        _call(state, "F")
    health = state.health["p"]
    assert health.state.value == "ejected"
    for _ in range(3):  # attempts admitted before the ejection, failing late
        _call(state, "F")
    for _ in range(2):  # background probes find it up again
        health.probe_succeeded(state.clock.now())
    assert health.state.value == "healthy"
    for _ in range(4):
        _call(state, "F")
    assert health.state.value == "healthy"  # 4 in a row since recovery; before: 3 + 2 = 5, ejected
    _call(state, "F")
    assert health.state.value == "ejected"


def test_a_cancelled_attempt_is_not_a_finished_call():
    state = _state("window: 20, min_calls: 10")
    _call(state, "S")
    state.release("p")  # the caller went away, or a hedge won
    assert list(state.health["p"].window) == [False]

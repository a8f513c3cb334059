"""The state book's own face: `Standing` snapshots, probe results, the fleet's budget counts
and the verifier's candidates, on a manual clock (no provider is called)."""

from __future__ import annotations

import random

from crosswalk.policies.actions import action_for
from crosswalk.policies.parse import parse_config
from crosswalk.providers.classify import Classification, FailureClass
from crosswalk.providers.errors import ProviderHTTPError
from crosswalk.router.state import STATES, RouterState
from crosswalk.router.state.wire import snapshot
from tests.virtual_time import ManualClock

CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va}
  b: {kind: simulated, model: b-1, vendor: vb}
  c: {kind: simulated, model: c-1, vendor: vc}
steps:
  s: {providers: [a, b, c]}
health: {consecutive_failures: 1, ejection_base_s: 30, jitter: 0, half_open_probes: 1}
"""


def _state() -> tuple[RouterState, ManualClock]:
    clock = ManualClock(1000.0)
    return RouterState(parse_config(CONFIG, env={}), clock, rng=random.Random(0)), clock


def _fail(state: RouterState, provider: str, cls: FailureClass, status: int, *, retry_after_s: float | None = None) -> None:
    error = ProviderHTTPError(f"status {status}", provider=provider, status=status)
    state.record_failure(provider, action_for(cls), Classification(cls, retry_after_s), error)


def test_standings_say_where_each_provider_stands_with_its_times_and_evidence() -> None:
    state, clock = _state()
    assert [(s.provider, s.state) for s in state.standings()] == [("a", "healthy"), ("b", "healthy"), ("c", "healthy")]
    _fail(state, "a", FailureClass.TRANSIENT, 503)
    _fail(state, "b", FailureClass.RATE_LIMITED, 429, retry_after_s=10)
    _fail(state, "c", FailureClass.AUTH, 401)
    a, b, c = state.standings()
    assert (a.state, a.health, a.ejected_until, a.recent_failures[-1][1]) == ("ejected", "ejected", 1030.0, "transient")
    assert a.ejection_reason and "status 503" in a.ejection_reason
    assert (b.state, b.health, b.cooldown_until, b.ejected_until) == ("cooling_down", "healthy", 1010.0, None)
    assert c.state == "excluded" and c.excluded and c.exclusion is not None and c.exclusion.failure_class == "auth"
    assert {s.state for s in (a, b, c)} <= set(STATES) and a.now == 1000.0
    clock.advance(31)
    a = state.standing("a")
    assert (a.state, a.ejected_until) == ("half_open", None) and a.ejection_reason  # the reason stays until it closes
    assert state.standing("b").cooldown_until is None


def test_probe_results_are_applied_and_remembered() -> None:
    state, clock = _state()
    _fail(state, "a", FailureClass.TRANSIENT, 503)
    assert state.due_for_probe() == ["a"]
    assert state.probe_result("a", ProviderHTTPError("status 503", provider="a", status=503)) == "transient"
    assert state.standing("a").state == "ejected"  # a failed probe leaves the ejection as it was
    assert state.probe_result("a") == "ok"  # one probe success (half_open_probes) closes it early
    a = state.standing("a")
    assert a.state == "healthy" and [r for _, r in a.probes] == ["transient", "ok"] and state.due_for_probe() == []
    assert state.probe_result("b", ProviderHTTPError("bad key", provider="b", status=401)) == "auth"
    assert state.standing("b").state == "excluded"


def test_fleet_budget_counts_are_set_through_the_book() -> None:
    state, _ = _state()
    assert state.budget_window() == (0, 0, 3)
    state.set_fleet_budget(100, 4)
    assert state.budget_window() == (100, 4, 10) and state.budget.fleet == (100, 4)
    state.set_fleet_budget(0, 0)
    assert state.budget_window() == (0, 0, 3)


def test_candidates_put_callable_providers_first_and_leave_excluded_ones_out() -> None:
    state, _ = _state()
    step = state.config.steps["s"]
    _fail(state, "a", FailureClass.TRANSIENT, 503)
    _fail(state, "c", FailureClass.AUTH, 401)
    assert state.candidates(step) == ["b", "a"]


def test_the_redis_snapshot_is_taken_from_the_standings() -> None:
    state, _ = _state()
    _fail(state, "a", FailureClass.TRANSIENT, 503)
    _fail(state, "b", FailureClass.RATE_LIMITED, 429, retry_after_s=10)
    _fail(state, "c", FailureClass.AUTH, 401)
    state.lift("c", by="the test")
    kinds = [(u.kind, u.provider) for u in snapshot(state, origin="here")]
    assert kinds == [("ejected", "a"), ("cooled", "b"), ("lifted", "c")]

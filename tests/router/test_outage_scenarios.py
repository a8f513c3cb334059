"""The outage scenarios of tests/outage_scenarios.py, run in virtual time (a real Router,
its background prober, simulated vendors), with their figures asserted.

Before this change (same scenarios, commit c355ccd): 10 requests under total outage cost
the primary 12 calls (2 in every request that was not refused) and 7 panic calls; after a
flap, callers stayed on the fallback for 11.98 s after the primary had recovered."""

from __future__ import annotations

import pytest

from crosswalk.policies.parse import parse_config
from tests.outage_scenarios import CONFIG, HEDGED, flap_recovery, rate_limited_once, total_outage


@pytest.mark.parametrize("config", [CONFIG, HEDGED], ids=["plain", "hedged"])
def test_total_outage_costs_each_provider_at_most_one_call_per_request(config):
    cost = total_outage(10, config=config)
    assert cost.errors == 10
    # Only the first request, before anything is known, retries the primary once.
    assert cost.per_request["primary"][0] == 2
    assert cost.most_in_one_request(skip=1) == {"primary": 1, "secondary": 1}
    spec = parse_config(config, env={}).retry_budget
    assert cost.panic_attempts <= spec.min  # panic calls are paid from the retry budget
    assert sum(cost.calls.values()) <= cost.requests + spec.min  # every call past a first one is paid for
    assert cost.calls["primary"] < 12 and cost.panic_attempts < 7  # the figures before this change


def test_after_a_flap_the_primary_takes_traffic_back_within_a_probe_interval():
    rec = flap_recovery(down_s=3.0, gap_s=0.5)
    interval = parse_config(CONFIG, env={}).health.probe_interval_s
    assert rec.on_fallback_s is not None
    # Back on the next request after the first probe that finds it answering.
    assert rec.on_fallback_s <= interval + 0.5
    assert rec.probes_to_primary == 1


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("config", [CONFIG, HEDGED], ids=["plain", "hedged"])
def test_a_short_retry_after_is_waited_out_also_on_a_hedged_step(config, stream):
    out = rate_limited_once(1.5, stream=stream, config=config)
    assert out.provider == "primary"
    assert out.attempts[0] == ("primary", "rate_limited") and ("primary", None) in out.attempts
    first, second = out.call_times["primary"]
    assert second - first >= 1.5  # never called within its Retry-After (virtual seconds)
    # Nothing is hedged during the wait (no attempt in flight); a hedge of the retry may
    # race it and lose.
    assert all(t >= second for t in out.call_times["secondary"])
    if config == CONFIG:
        assert out.attempts == [("primary", "rate_limited"), ("primary", None)]


@pytest.mark.parametrize("config", [CONFIG, HEDGED], ids=["plain", "hedged"])
def test_a_retry_after_past_wait_max_fails_over_at_once(config):
    out = rate_limited_once(2.5, config=config)
    assert out.provider == "secondary"
    assert out.attempts == [("primary", "rate_limited"), ("secondary", None)]
    assert len(out.call_times["primary"]) == 1

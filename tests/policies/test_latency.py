"""Latency rings and the hedge delay they imply (pure: samples are passed in)."""

from __future__ import annotations

import pytest

from crosswalk.policies.latency import LatencyBook, LatencyRing, hedge_delay_s
from crosswalk.policies.schema import HedgeSpec


def test_quantile_is_nearest_rank():
    ring = LatencyRing(100)
    ring.extend(float(i) for i in range(1, 101))  # 1..100
    assert ring.quantile(0.5) == 50.0
    assert ring.quantile(0.95) == 95.0
    assert ring.quantile(0.99) == 99.0
    assert ring.quantile(1.0) == 100.0


def test_empty_ring_has_no_quantile():
    assert LatencyRing(8).quantile(0.95) is None


def test_ring_keeps_only_the_most_recent_samples():
    ring = LatencyRing(4)
    ring.extend([9.0, 9.0, 9.0, 9.0, 1.0, 2.0, 3.0])
    assert len(ring) == 4
    assert ring.quantile(1.0) == 9.0  # one 9 left
    ring.add(4.0)
    assert ring.quantile(1.0) == 4.0


def test_quantile_sees_samples_added_after_a_read():
    ring = LatencyRing(8)
    ring.extend([1.0, 2.0])
    assert ring.quantile(1.0) == 2.0
    ring.add(7.0)
    assert ring.quantile(1.0) == 7.0


@pytest.mark.parametrize("q", [0.0, -0.1, 1.5])
def test_quantile_out_of_range_is_refused(q):
    with pytest.raises(ValueError):
        LatencyRing(8).quantile(q)


def test_book_keeps_kinds_apart_and_refuses_unknown_ones():
    book = LatencyBook(size=8)
    book.observe("a", "complete", 2.0)
    book.observe("a", "ttft", 0.1)
    assert book.ring("a", "complete").quantile(1.0) == 2.0
    assert book.ring("a", "ttft").quantile(1.0) == 0.1
    with pytest.raises(ValueError):
        book.ring("a", "total")


def test_book_adopts_only_providers_that_still_exist():
    old = LatencyBook()
    old.observe("kept", "complete", 1.0)
    old.observe("gone", "complete", 1.0)
    new = LatencyBook()
    new.adopt(old, ["kept"])
    assert len(new.ring("kept", "complete")) == 1
    assert len(new.ring("gone", "complete")) == 0


def test_fixed_delay_ignores_observations():
    ring = LatencyRing(8)
    ring.extend([5.0] * 8)
    assert hedge_delay_s(HedgeSpec(after_ms=80), ring) == pytest.approx(0.08)


def test_quantile_delay_needs_enough_samples():
    spec = HedgeSpec(after="p95", min_samples=20, default_ms=700)
    ring = LatencyRing()
    ring.extend([0.2] * 19)
    assert hedge_delay_s(spec, ring) == pytest.approx(0.7)
    ring.add(0.2)
    assert hedge_delay_s(spec, ring) == pytest.approx(0.2)


def test_quantile_delay_tracks_the_tail():
    ring = LatencyRing()
    ring.extend([0.1] * 90 + [2.0] * 10)
    assert hedge_delay_s(HedgeSpec(after="p50"), ring) == pytest.approx(0.1)
    assert hedge_delay_s(HedgeSpec(after="p95"), ring) == pytest.approx(2.0)


def test_quantile_delay_never_goes_below_min_ms():
    ring = LatencyRing()
    ring.extend([0.001] * 50)
    assert hedge_delay_s(HedgeSpec(after="p95", min_ms=25), ring) == pytest.approx(0.025)

"""Backoff for same-provider retries: full jitter under an exponential cap, drawn from
the injected generator so a seeded router retries on the same schedule every run."""

from __future__ import annotations

import random

import pytest

from crosswalk.policies.actions import backoff_s


def test_same_seed_same_schedule_and_the_global_random_is_left_alone():
    random.seed(7)
    before = random.getstate()
    first = [backoff_s(n, base_s=0.1, max_s=5.0, rng=random.Random(42)) for n in range(1, 8)]
    again = [backoff_s(n, base_s=0.1, max_s=5.0, rng=random.Random(42)) for n in range(1, 8)]
    assert first == again
    assert random.getstate() == before


@pytest.mark.parametrize("retry, cap", [(1, 0.1), (2, 0.2), (3, 0.4), (6, 3.2), (7, 5.0), (30, 5.0)])
def test_each_wait_is_within_its_exponential_cap(retry, cap):
    rng = random.Random(retry)
    waits = [backoff_s(retry, base_s=0.1, max_s=5.0, rng=rng) for _ in range(300)]
    assert all(0.0 <= w <= cap + 1e-12 for w in waits)
    assert max(waits) > 0.8 * cap  # full jitter reaches up toward the cap, not a fixed fraction of it

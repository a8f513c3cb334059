"""Total outage, Retry-After waits and half-open after a probe, as pure decisions
(policies/outage.py, policies/health.py) driven by plain `now` floats."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from crosswalk.policies.compliance import ComplianceTable
from crosswalk.policies.exclusions import Exclusion, ExclusionBook
from crosswalk.policies.health import HealthBook, ProviderHealth, State
from crosswalk.policies.outage import step_down, waits_out
from crosswalk.policies.parse import parse_config
from crosswalk.policies.schema import HealthSpec

THREE = """
providers:
  a: {kind: simulated, model: a-1, vendor: va}
  b: {kind: simulated, model: b-1, vendor: vb}
  c: {kind: simulated, model: c-1, vendor: vc}
steps:
  s: {providers: [a, b, c]}
"""


def _book():
    config = parse_config(THREE, env={})
    health = HealthBook(config.health, {n: p.vendor for n, p in config.providers.items()}, rng=random.Random(0))
    step = config.steps["s"]
    return step, ComplianceTable(config).for_step(step, dt.date(2026, 6, 1)), health, ExclusionBook()


def _down(book, now: float, failed: str) -> bool:
    step, verdicts, health, exclusions = book
    return step_down(step, verdicts, health, exclusions, now, failed=failed)


# --------------------------------------------------------------------------- step_down


def test_one_failure_after_answers_is_a_blip_not_an_outage():
    book = _book()
    book[2].record_failure("a", 0.0, "503")
    assert not _down(book, 0.0, "a")  # a failed once; b and c are untried: retry a


def test_every_provider_failing_is_an_outage():
    book = _book()
    health = book[2]
    for name in ("b", "c"):
        health.record_failure(name, 0.0, "503")
    health.record_failure("a", 1.0, "503")
    assert not _down(book, 1.0, "a")  # a's call before this one answered
    health.record_failure("a", 2.0, "503")
    assert _down(book, 2.0, "a")


def test_an_old_failure_on_an_idle_provider_is_no_evidence_now():
    book = _book()
    health = book[2]
    health.record_failure("b", 0.0, "503")
    health.record_failure("c", 0.0, "503")
    for t in (100.0, 101.0):
        health.record_failure("a", t, "503")
    # b and c last failed 100 s ago, longer than an ejection (30 s) would have lasted.
    assert not _down(book, 101.0, "a")


def test_ejected_providers_are_down_and_excluded_ones_do_not_count():
    book = _book()
    step, verdicts, health, exclusions = book
    for _ in range(5):
        health.record_failure("b", 0.0, "503")
    assert health["b"].state is State.EJECTED
    exclusions.add(Exclusion("c", "regulatory", "451", "2026-06-01T00:00:00", 0.0, None, "structured"))
    health.record_failure("a", 1.0, "503")
    health.record_failure("a", 2.0, "503")
    assert _down(book, 2.0, "a")
    health["a"].record_success(3.0)
    assert not _down(book, 3.0, "b")  # a answers again: the step is up


# --------------------------------------------------------------------------- waits_out


@pytest.mark.parametrize("retry_after, wait, wait_max, remaining, expected", [
    (0.5, 0.5, 2.0, 10.0, True),
    (None, 5.0, 2.0, 10.0, False),  # no Retry-After: no idea how long, fail over
    (3.0, 3.0, 2.0, 10.0, False),  # longer than wait_max_s
    (1.0, 1.0, 2.0, 1.0, False),  # ends at the deadline: no time for the call
    (0.5, 1.5, 2.0, 10.0, True),  # a longer cooldown already known is what is waited for
    (0.5, 2.5, 2.0, 10.0, False),
    (0.1, 0.1, 0.0, 10.0, False),  # wait_max_s 0: never wait
])
def test_waits_out(retry_after, wait, wait_max, remaining, expected):
    assert waits_out(retry_after, wait_s=wait, wait_max_s=wait_max, remaining_s=remaining) is expected


# --------------------------------------------------------------------------- half-open after a probe


def _ejected(**spec) -> ProviderHealth:
    h = ProviderHealth(HealthSpec(jitter=0.0, **spec))
    for _ in range(h.spec.consecutive_failures):
        h.record_failure(0.0, random.Random(0), "503")
    assert h.state is State.EJECTED and h.ejected_until == 30.0
    return h


def test_a_probe_answer_ends_the_ejection_and_live_trials_close_it():
    h = _ejected(half_open_probes=3)
    h.probe_succeeded(4.0)
    assert h.state is State.HALF_OPEN and h.available(4.0)  # 26 s before the ejection would have lapsed
    assert h.probe_successes == 1
    assert h.admit(4.0) and h.admit(4.0) and not h.admit(4.0)  # the probe was the first of three trials
    h.record_success(4.1)
    h.record_success(4.2)
    assert h.state is State.HEALTHY and h.closed_at == 4.2


def test_a_probe_answer_in_half_open_takes_no_live_slot():
    h = _ejected(half_open_probes=3)
    h.probe_succeeded(4.0)
    assert h.admit(4.0)  # a live trial in flight
    h.probe_succeeded(5.0)  # a second probe answers meanwhile
    assert h.probes_in_flight == 1 and h.probe_successes == 2 and not h.available(5.0)
    h.record_success(5.1)
    assert h.state is State.HEALTHY


def test_a_failed_live_trial_after_a_probe_ejects_again_for_longer():
    h = _ejected(half_open_probes=3)
    h.probe_succeeded(4.0)
    assert h.admit(4.0)
    assert h.record_failure(4.5, random.Random(0), "503") is True
    assert h.state is State.EJECTED and h.ejected_until == 4.5 + 60.0  # the second ejection: 2 x 30 s

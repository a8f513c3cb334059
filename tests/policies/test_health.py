"""Health, exclusions, retry budget, selection and compliance: the pure policies, driven
by plain `now` floats (a fake clock) and a seeded `random.Random`."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from crosswalk.policies.budget import RetryBudget
from crosswalk.policies.compliance import ComplianceTable, embargo_applies, verdict
from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.policies.exclusions import Exclusion, ExclusionBook
from crosswalk.policies.health import HealthBook, ProviderHealth, State
from crosswalk.policies.schema import HealthSpec, RetryBudgetSpec
from crosswalk.policies.selection import Choice, choose, explain, retry_after_s


def _health(**overrides) -> ProviderHealth:
    return ProviderHealth(HealthSpec(**overrides))


def _eject(h: ProviderHealth, now: float, rng: random.Random) -> None:
    """Drive `h` to EJECTED through consecutive failures, as traffic would."""
    for _ in range(h.spec.consecutive_failures):
        h.record_failure(now, rng, "status 503")
    assert h.state is State.EJECTED


def _duration(h: ProviderHealth) -> float:
    return h.ejected_until - h.ejected_at


# --------------------------------------------------------------------------- ejection


def test_five_consecutive_failures_eject():
    h, rng = _health(), random.Random(0)
    for t in range(4):
        assert h.record_failure(float(t), rng, "status 503") is False
        assert h.state is State.HEALTHY and h.available(float(t))
    assert h.record_failure(4.0, rng, "status 503: overloaded") is True
    assert h.state is State.EJECTED
    assert not h.available(4.0)
    assert "5 consecutive failures" in h.reason and "overloaded" in h.reason
    assert h.ejected_at == 4.0


def test_a_success_resets_the_consecutive_count():
    h, rng = _health(), random.Random(0)
    for _ in range(4):
        h.record_failure(0.0, rng, "x")
    h.record_success(0.0)
    for _ in range(4):
        assert h.record_failure(0.0, rng, "x") is False
    assert h.state is State.HEALTHY  # 8 failures, never 5 in a row, fewer than 10 calls


def test_failure_rate_ejects_when_failures_are_not_consecutive():
    h, rng = _health(), random.Random(0)
    for i in range(9):  # S F S F S F S F S: 4 of 9, below min_calls
        if i % 2:
            assert h.record_failure(float(i), rng, "x") is False
        else:
            h.record_success(float(i))
        assert h.state is State.HEALTHY
    assert h.record_failure(9.0, rng, "status 500") is True  # 5 of the last 10 = 50 %
    assert h.state is State.EJECTED
    assert "50% of the last 10 calls failed" in h.reason


def test_failure_rate_needs_min_calls():
    h, rng = _health(), random.Random(0)
    for i, failed in enumerate([True, True, False, True, True, False, True, True]):
        if failed:
            assert h.record_failure(float(i), rng, "x") is False
        else:
            h.record_success(float(i))
    assert h.state is State.HEALTHY  # 75 % failures, but only 8 calls and never 5 in a row


def test_failure_rate_below_threshold_never_ejects():
    h, rng = _health(), random.Random(0)
    for i in range(60):
        if i % 3 == 0:
            h.record_failure(float(i), rng, "x")
        else:
            h.record_success(float(i))
    assert h.state is State.HEALTHY


def test_failure_rate_counts_only_the_sliding_window():
    h, rng = _health(window=4, min_calls=4, failure_rate=0.5, consecutive_failures=10), random.Random(0)
    for i, failed in enumerate([True, True, True, False, False, False, False]):
        if failed:
            h.record_failure(float(i), rng, "x")
        else:
            h.record_success(float(i))
    # 4 of 8 calls failed overall (50 %), but only 1 of the last 4.
    assert h.record_failure(8.0, rng, "x") is False
    assert h.state is State.HEALTHY


def test_ejection_time_grows_with_consecutive_ejections_and_caps():
    h, rng = _health(jitter=0.0), random.Random(0)
    now = 0.0
    durations = []
    for _ in range(12):
        if h.state is State.HEALTHY:
            _eject(h, now, rng)
        durations.append(_duration(h))
        now = h.ejected_until
        assert h.admit(now)  # half-open probe
        assert h.record_failure(now, rng, "status 503") is True  # probe fails: re-eject
    durations.append(_duration(h))
    assert durations[:10] == [30.0 * n for n in range(1, 11)]
    assert set(durations[10:]) == {300.0}


def test_ejection_time_has_jitter_within_its_band():
    rng = random.Random(1234)
    firsts = []
    for _ in range(50):
        h = _health()  # jitter 0.1
        _eject(h, 0.0, rng)
        firsts.append(_duration(h))
    assert all(27.0 <= d <= 33.0 for d in firsts)
    assert len(set(firsts)) > 1  # jitter is applied, not a constant

    h = _health()
    _eject(h, 0.0, rng)
    h.admit(h.ejected_until)
    h.record_failure(h.ejected_until, rng, "x")
    assert 54.0 <= _duration(h) <= 66.0
    for _ in range(20):
        now = h.ejected_until
        h.admit(now)
        h.record_failure(now, rng, "x")
        nominal = min(30.0 * h.ejections, 300.0)
        assert 0.9 * nominal <= _duration(h) <= 1.1 * nominal
    assert h.ejections == 22 and _duration(h) <= 330.0


def test_same_seed_same_ejection_times():
    def run(seed: int) -> list[float]:
        rng, h, out = random.Random(seed), _health(), []
        _eject(h, 0.0, rng)
        for _ in range(5):
            out.append(h.ejected_until)
            h.admit(h.ejected_until)
            h.record_failure(h.ejected_until, rng, "x")
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_ejected_becomes_half_open_once_the_time_passes():
    h, rng = _health(), random.Random(0)
    _eject(h, 100.0, rng)
    until = h.ejected_until
    assert not h.available(until - 0.001)
    assert h.state is State.EJECTED
    assert h.available_at(until - 0.001) == until
    assert h.available(until)
    assert h.state is State.HALF_OPEN
    assert h.available_at(until + 5) == until + 5


def test_half_open_admits_only_the_configured_number_of_probes():
    h, rng = _health(half_open_probes=2), random.Random(0)
    _eject(h, 0.0, rng)
    now = h.ejected_until
    assert h.admit(now) and h.admit(now)
    assert h.probes_in_flight == 2
    assert not h.available(now) and not h.admit(now)
    h.release()  # one probe ended with no verdict (cancelled)
    assert h.probes_in_flight == 1
    assert h.admit(now)
    assert not h.admit(now)


def test_release_outside_half_open_changes_nothing():
    h = _health()
    h.release()
    assert h.probes_in_flight == 0 and h.state is State.HEALTHY and h.admit(0.0)


def test_probe_successes_close_the_circuit():
    h, rng = _health(half_open_probes=2), random.Random(0)
    _eject(h, 0.0, rng)
    now = h.ejected_until
    assert h.admit(now)
    h.record_success(now)
    assert h.state is State.HALF_OPEN  # one of two probes
    assert h.admit(now) and not h.admit(now)  # one success + one in flight fill the slots
    h.record_success(now + 1)
    assert h.state is State.HEALTHY
    assert h.closed_at == now + 1 and h.reason == "" and h.probes_in_flight == 0
    assert h.admit(now + 1) and h.admit(now + 1) and h.admit(now + 1)  # no probe limit when closed


def test_probe_failure_re_ejects_for_longer():
    h, rng = _health(jitter=0.0, half_open_probes=3), random.Random(0)
    _eject(h, 0.0, rng)
    assert _duration(h) == 30.0
    now = h.ejected_until
    assert h.admit(now)
    h.record_success(now)
    assert h.admit(now)
    assert h.record_failure(now + 1, rng, "status 502") is True
    assert h.state is State.EJECTED
    assert h.reason.startswith("probe failed") and "502" in h.reason
    assert _duration(h) == 60.0
    assert h.ejected_at == now + 1


def test_late_failure_while_ejected_does_not_extend_the_ejection():
    h, rng = _health(jitter=0.0), random.Random(0)
    _eject(h, 0.0, rng)
    until = h.ejected_until
    assert h.record_failure(1.0, rng, "admitted before the ejection") is False
    assert h.ejected_until == until and h.ejections == 1


@pytest.mark.parametrize(
    "healthy_for, expected",
    [
        (10.0, 90.0),  # under one base interval: nothing forgiven, third ejection
        (30.0, 60.0),  # one interval forgives one ejection
        (65.0, 30.0),  # two intervals forgive both
        (10_000.0, 30.0),  # never below the first step
    ],
)
def test_healthy_time_forgives_ejections(healthy_for, expected):
    h, rng = _health(jitter=0.0, half_open_probes=1), random.Random(0)
    _eject(h, 0.0, rng)
    now = h.ejected_until
    h.admit(now)
    h.record_failure(now, rng, "x")  # second ejection: 60 s
    now = h.ejected_until
    h.admit(now)
    h.record_success(now)
    assert h.state is State.HEALTHY and h.ejections == 2
    _eject(h, now + healthy_for, rng)
    assert _duration(h) == expected


# --------------------------------------------------------------------------- cooldown


def test_cooldown_is_never_shortened_by_a_shorter_retry_after():
    """LiteLLM's bug: a Retry-After of 1 s overrode a 60 s cooldown."""
    h = _health()
    h.cool_down(0.0, 60.0, "status 429: slow down")
    h.cool_down(1.0, 1.0, "status 429: retry-after 1")
    assert h.cooldown_until == 60.0
    assert h.cooldown_reason == "status 429: slow down"
    assert not h.available(2.0) and not h.admit(59.9)
    assert h.available_at(2.0) == 60.0
    assert h.available(60.0)


def test_longer_cooldown_extends_and_keeps_its_start():
    h = _health()
    h.cool_down(0.0, 10.0, "first")
    h.cool_down(5.0, 100.0, "second")
    assert h.cooldown_until == 105.0 and h.cooldown_reason == "second"
    assert h.unavailable_since() == 0.0  # unavailable since the first 429, not the second
    h.cool_down(200.0, 5.0, "third")  # the old cooldown is over: a new one starts
    assert h.cooldown_since == 200.0 and h.cooldown_until == 205.0


def test_cooldown_blocks_even_a_healthy_provider_and_ejection_outlasts_cooldown():
    h, rng = _health(jitter=0.0), random.Random(0)
    h.cool_down(0.0, 5.0, "429")
    assert h.state is State.HEALTHY and not h.available(1.0)
    _eject(h, 1.0, rng)
    assert h.available_at(6.0) == 31.0


# --------------------------------------------------------------------------- vendor outage


def _book(**overrides) -> HealthBook:
    vendors = {"a1": "va", "a2": "va", "a3": "va", "b1": "vb", "b2": "vb"}
    return HealthBook(HealthSpec(**overrides), vendors, rng=random.Random(0))


def _fail_until_ejected(book: HealthBook, name: str, now: float) -> list[str]:
    ejected: list[str] = []
    for _ in range(book.spec.consecutive_failures):
        ejected += book.record_failure(name, now, "status 503")
    return ejected


def test_vendor_outage_ejects_the_vendors_other_providers_only():
    book = _book()
    assert _fail_until_ejected(book, "a1", 0.0) == ["a1"]
    assert book["a2"].state is State.HEALTHY and book["a3"].state is State.HEALTHY
    ejected = _fail_until_ejected(book, "a2", 1.0)
    assert sorted(ejected) == ["a2", "a3"]
    assert book["a3"].state is State.EJECTED
    assert "vendor 'va' outage" in book["a3"].reason and "a1" in book["a3"].reason
    assert book["b1"].state is State.HEALTHY and book["b2"].state is State.HEALTHY
    assert book["b1"].available(1.0)


def test_vendor_outage_threshold_is_configurable():
    book = _book(vendor_outage_min=3)
    _fail_until_ejected(book, "a1", 0.0)
    assert _fail_until_ejected(book, "a2", 0.0) == ["a2"]
    assert book["a3"].state is State.HEALTHY


def test_an_ejection_that_has_ended_is_not_part_of_a_vendor_outage():
    book = _book()
    _fail_until_ejected(book, "a1", 0.0)  # ejected for about 30 s, then nobody calls it
    assert _fail_until_ejected(book, "a2", 1000.0) == ["a2"]
    assert book["a3"].state is State.HEALTHY
    assert book["a3"].available(1000.0)


def test_health_book_adopt_keeps_state_across_a_reload():
    old = _book()
    _fail_until_ejected(old, "a1", 0.0)
    old["b1"].cool_down(0.0, 50.0, "429")
    until = old["a1"].ejected_until
    new_spec = HealthSpec(half_open_probes=1, ejection_base_s=10.0)
    new = HealthBook(new_spec, {"a1": "va", "b1": "vb", "c1": "vc"}, rng=random.Random(1))
    new.adopt(old)
    assert new["a1"].state is State.EJECTED and new["a1"].ejected_until == until
    assert new["a1"].spec == new_spec  # the new rules apply from now on
    assert new["b1"].cooldown_until == 50.0
    assert new["c1"].state is State.HEALTHY
    assert {name for name, _ in new.items()} == {"a1", "b1", "c1"}
    with pytest.raises(KeyError):
        new["a2"]
    assert new["a1"].admit(until) and not new["a1"].admit(until)  # one probe under the new spec


# --------------------------------------------------------------------------- exclusions


def _exclusion(provider: str, until: float | None, cls: str = "regulatory", evidence: str = "status 451: blocked") -> Exclusion:
    return Exclusion(provider, cls, evidence, "2026-01-01T00:00:00+00:00", 0.0, until)


def test_exclusion_expires():
    book = ExclusionBook()
    book.add(_exclusion("p", 100.0))
    assert book.active("p", 99.9) is not None
    assert [e.provider for e in book.all(50.0)] == ["p"]
    assert book.active("p", 100.0) is None
    assert list(book.all(100.0)) == []
    assert book.active("p", 0.0) is None  # expired ones are gone for good


def test_longer_exclusion_is_not_replaced_by_a_shorter_one():
    book = ExclusionBook()
    book.add(_exclusion("p", 100.0, evidence="long"))
    book.add(_exclusion("p", 50.0, evidence="short"))
    assert book.active("p", 60.0).evidence == "long"
    book.add(_exclusion("p", 200.0, evidence="longer"))
    assert book.active("p", 150.0).evidence == "longer"
    book.add(_exclusion("p", None, cls="auth", evidence="forever"))
    assert book.active("p", 1e9).evidence == "forever"
    book.add(_exclusion("p", 1e12, evidence="finite"))
    assert book.active("p", 1e9).evidence == "forever"


def test_exclusion_clear_and_describe():
    book = ExclusionBook()
    book.add(_exclusion("p", None, cls="auth", evidence="status 401: code invalid_api_key: bad key"))
    book.add(_exclusion("q", 10.0))
    line = book.active("p", 0.0).describe()
    assert line.startswith("auth since 2026-01-01") and "invalid_api_key" in line
    book.clear("p")
    book.clear("nobody")
    assert book.active("p", 0.0) is None and book.active("q", 0.0) is not None


# --------------------------------------------------------------------------- retry budget


def test_retry_budget_floor():
    budget = RetryBudget(RetryBudgetSpec(ratio=0.1, min=3, window_s=10.0))
    assert [budget.try_spend(0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.denied == 1
    assert budget.snapshot(0.0) == (0, 3, 3)


def test_retry_budget_ratio_of_first_attempts():
    budget = RetryBudget(RetryBudgetSpec(ratio=0.1, min=3, window_s=10.0))
    for _ in range(100):
        budget.record_first(0.0)
    granted = sum(budget.try_spend(1.0) for _ in range(20))
    assert granted == 10
    assert budget.snapshot(1.0) == (100, 10, 10)


def test_retry_budget_zero_floor_and_zero_ratio_allows_nothing():
    budget = RetryBudget(RetryBudgetSpec(ratio=0.0, min=0, window_s=10.0))
    for _ in range(50):
        budget.record_first(0.0)
    assert budget.try_spend(0.0) is False


def test_retry_budget_window_slides():
    budget = RetryBudget(RetryBudgetSpec(ratio=0.1, min=3, window_s=10.0))
    for _ in range(100):
        budget.record_first(0.0)
    assert sum(budget.try_spend(0.0) for _ in range(10)) == 10
    assert budget.try_spend(5.0) is False
    assert budget.try_spend(10.0) is False  # still inside the window at its edge
    # Past the window both the retries and the first attempts have slid out: the floor.
    assert sum(budget.try_spend(10.5) for _ in range(5)) == 3
    assert budget.snapshot(10.5) == (0, 3, 3)
    assert budget.try_spend(21.0) is True


# --------------------------------------------------------------------------- selection

SELECTION_CONFIG = """
providers:
  p1: {kind: simulated, model: m1, vendor: v1, region: us}
  p2: {kind: simulated, model: m2, vendor: v2, region: us}
  blocked: {kind: simulated, model: m9, vendor: banned-co, region: us}
  p3: {kind: simulated, model: m3, vendor: v3, region: us}
steps:
  s: {providers: [p1, p2, blocked, p3]}
compliance:
  deny_vendors: ["banned*"]
health:
  jitter: 0
  half_open_probes: 1
"""


class _World:
    def __init__(self) -> None:
        self.config = parse_config(SELECTION_CONFIG, env={})
        self.step = self.config.steps["s"]
        self.verdicts = ComplianceTable(self.config).for_step(self.step, dt.date(2026, 3, 1))
        self.health = HealthBook(self.config.health, {n: p.vendor for n, p in self.config.providers.items()}, rng=random.Random(0))
        self.exclusions = ExclusionBook()
        self.rng = random.Random(0)

    def choose(self, now: float, *, skip: set[str] = frozenset(), allow_panic: bool = False) -> Choice | None:
        return choose(self.step, self.verdicts, self.health, self.exclusions, now, skip=set(skip), allow_panic=allow_panic)

    def explain(self, now: float):
        return explain(self.step, self.verdicts, self.health, self.exclusions, now)

    def eject(self, name: str, now: float) -> None:
        _eject(self.health[name], now, self.rng)

    def exclude(self, name: str, until: float | None = None) -> None:
        self.exclusions.add(_exclusion(name, until))


def test_choose_takes_rank_order_and_honours_skip():
    w = _World()
    assert w.choose(0.0) == Choice("p1")
    assert w.choose(0.0, skip={"p1"}) == Choice("p2")
    assert w.choose(0.0, skip={"p1", "p2"}) == Choice("p3")  # 'blocked' is passed over
    assert w.choose(0.0, skip={"p1", "p2", "p3"}) is None
    assert w.choose(0.0, skip={"p1", "p2", "p3"}, allow_panic=True) is None


def test_choose_passes_over_ejected_cooling_and_excluded_providers():
    w = _World()
    w.eject("p1", 0.0)
    assert w.choose(1.0) == Choice("p2")
    w.health["p2"].cool_down(1.0, 10.0, "429")
    assert w.choose(2.0) == Choice("p3")
    w.exclude("p3", until=100.0)
    assert w.choose(2.0) is None
    assert w.choose(11.0) == Choice("p2")  # p2's cooldown is over
    assert w.health["p1"].state is State.EJECTED
    assert w.choose(100.0, skip={"p2"}) == Choice("p1")  # p1 half-open, p3's exclusion expired
    assert w.health["p1"].state is State.HALF_OPEN
    assert w.choose(100.0, skip={"p2"}) == Choice("p3")


def test_compliance_blocked_is_never_chosen():
    w = _World()
    for name in ("p1", "p2", "p3"):
        w.exclude(name)
    assert w.choose(0.0) is None
    assert w.choose(0.0, allow_panic=True) is None  # its health is perfect, still never


def test_excluded_never_chosen_even_in_panic():
    w = _World()
    w.eject("p2", 0.0)  # ejected longest ago...
    w.exclude("p2")  # ...but hard-excluded
    w.eject("p1", 5.0)
    w.eject("p3", 6.0)
    choice = w.choose(7.0, allow_panic=True)
    assert choice == Choice("p1", panic=True)


def test_panic_picks_the_provider_unavailable_longest_and_only_when_allowed():
    w = _World()
    w.eject("p3", 1.0)
    w.eject("p1", 2.0)
    w.health["p2"].cool_down(3.0, 60.0, "429")
    assert w.choose(4.0) is None
    assert w.choose(4.0, allow_panic=True) == Choice("p3", panic=True)
    assert w.choose(4.0, skip={"p3"}, allow_panic=True) == Choice("p1", panic=True)
    # A panic pick takes no probe slot and changes no state.
    assert w.health["p3"].state is State.EJECTED


def test_panic_only_when_every_eligible_provider_is_soft_unavailable():
    w = _World()
    w.eject("p1", 0.0)
    assert w.choose(1.0, allow_panic=True) == Choice("p2")


def test_choose_claims_a_half_open_probe_slot():
    w = _World()
    w.eject("p1", 0.0)
    now = w.health["p1"].ejected_until
    assert w.choose(now) == Choice("p1")
    assert w.health["p1"].probes_in_flight == 1
    assert w.choose(now) == Choice("p2")  # the single probe slot is taken
    w.health["p1"].release()
    assert w.choose(now) == Choice("p1")


def test_explain_gives_every_provider_a_status_and_reason_in_rank_order():
    w = _World()
    w.eject("p1", 0.0)
    w.health["p2"].cool_down(0.0, 20.0, "status 429: slow down")
    w.exclude("p3", until=500.0)
    rows = w.explain(1.0)
    assert [r.provider for r in rows] == ["p1", "p2", "blocked", "p3"]
    assert [r.status for r in rows] == ["ejected", "cooling_down", "blocked", "excluded"]
    assert "5 consecutive failures" in rows[0].reason and rows[0].retry_at == 30.0
    assert "rate limited" in rows[1].reason and rows[1].retry_at == 20.0
    assert "deny_vendors" in rows[2].reason and rows[2].retry_at is None
    assert rows[3].reason.startswith("regulatory since") and rows[3].retry_at == 500.0
    assert retry_after_s(rows, 1.0) == 19.0

    rows = w.explain(30.0)
    assert rows[0].status == "half_open" and rows[1].status == "eligible"
    w.health["p1"].admit(30.0)
    assert "probe slots taken" in w.explain(30.0)[0].reason
    assert retry_after_s([r for r in w.explain(30.0) if r.status == "blocked"], 30.0) is None


# --------------------------------------------------------------------------- compliance

COMPLIANCE_CONFIG = """
providers:
  us-gpt: {kind: simulated, model: gpt-4o, vendor: openai, region: us}
  eu-mistral: {kind: simulated, model: mistral-large, vendor: mistral, region: eu}
  eu-gpt: {kind: simulated, model: gpt-4o-mini, vendor: openai, region: eu}
  ds: {kind: simulated, model: deepseek-chat, vendor: deepseek-ai, region: cn}
  nowhere: {kind: simulated, model: local, vendor: self}
  acme: {kind: simulated, model: acme-1, vendor: acme-labs, region: us}
steps:
  any: {providers: [us-gpt, eu-mistral, eu-gpt, ds, nowhere, acme]}
  eu: {providers: [us-gpt, eu-mistral, eu-gpt, nowhere], allowed_regions: [eu]}
compliance:
  allowed_regions: [us, eu, cn]
  deny_vendors: ["acme*"]
  embargo:
    - {vendor: "deepseek*", since: 2026-01-15, reason: "export control notice 7"}
    - {model: "gpt-4o-mini*", until: 2026-02-01, reason: "model recalled"}
    - {provider: "eu-m*", since: 2026-03-01, until: 2026-03-03, reason: "data residency audit"}
"""


def _verdicts(step: str, day: dt.date):
    config = parse_config(COMPLIANCE_CONFIG, env={})
    return ComplianceTable(config).for_step(config.steps[step], day)


def test_embargo_by_vendor_glob_from_its_since_date_inclusive():
    assert _verdicts("any", dt.date(2026, 1, 14))["ds"].eligible
    v = _verdicts("any", dt.date(2026, 1, 15))["ds"]
    assert not v.eligible
    assert v.reason == "embargo on vendor 'deepseek*' since 2026-01-15: export control notice 7"
    assert not _verdicts("any", dt.date(2030, 1, 1))["ds"].eligible  # no until: open-ended


def test_embargo_by_model_glob_until_its_date_inclusive():
    assert not _verdicts("any", dt.date(2020, 1, 1))["eu-gpt"].eligible  # no since: from always
    v = _verdicts("any", dt.date(2026, 2, 1))["eu-gpt"]
    assert not v.eligible and "model 'gpt-4o-mini*'" in v.reason and "model recalled" in v.reason
    assert _verdicts("any", dt.date(2026, 2, 2))["eu-gpt"].eligible
    assert _verdicts("any", dt.date(2026, 2, 1))["us-gpt"].eligible  # gpt-4o does not match gpt-4o-mini*


def test_embargo_by_provider_glob_between_dates_inclusive():
    days = {d: _verdicts("any", dt.date(2026, 2, 28) + dt.timedelta(days=d))["eu-mistral"].eligible for d in range(5)}
    assert days == {0: True, 1: False, 2: False, 3: False, 4: True}
    v = _verdicts("any", dt.date(2026, 3, 2))["eu-mistral"]
    assert v.reason == "embargo on provider 'eu-m*' since 2026-03-01 until 2026-03-03: data residency audit"


def test_embargo_applies_checks_the_target_kind():
    config = parse_config(COMPLIANCE_CONFIG, env={})
    entry = config.compliance.embargo[0]
    assert embargo_applies(entry, config.providers["ds"], dt.date(2026, 6, 1))
    assert not embargo_applies(entry, config.providers["us-gpt"], dt.date(2026, 6, 1))


def test_deny_vendors_glob_with_reason():
    v = _verdicts("any", dt.date(2026, 1, 1))["acme"]
    assert not v.eligible
    assert v.reason == "vendor 'acme-labs' is denied by compliance.deny_vendors ('acme*')"


def test_region_rules_global_and_step_narrowing():
    any_step = _verdicts("any", dt.date(2026, 6, 1))
    assert any_step["us-gpt"].eligible and any_step["us-gpt"].reason == "region 'us' allowed"
    assert not any_step["nowhere"].eligible
    assert "region unknown" in any_step["nowhere"].reason and "providers.nowhere.region" in any_step["nowhere"].reason

    eu = _verdicts("eu", dt.date(2026, 6, 1))
    assert not eu["us-gpt"].eligible
    assert eu["us-gpt"].reason == "region 'us' not in allowed regions ['eu']"
    assert eu["eu-gpt"].eligible and eu["eu-mistral"].eligible
    assert not eu["nowhere"].eligible


def test_no_rule_means_eligible_with_a_reason():
    config = parse_config(
        "providers: {p: {kind: simulated, model: m}}\nsteps: {s: {providers: [p]}}\n", env={}
    )
    v = verdict(config, config.steps["s"], config.providers["p"], dt.date(2026, 1, 1))
    assert v.eligible and v.reason == "no compliance rule applies"


def test_a_step_may_only_narrow_the_global_regions():
    text = COMPLIANCE_CONFIG.replace("allowed_regions: [eu]}", "allowed_regions: [eu, mars]}")
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert "steps.eu.allowed_regions[1]: region 'mars'" in str(info.value)
    assert "may only narrow" in str(info.value)


def test_deny_list_is_checked_before_embargo_and_region():
    text = COMPLIANCE_CONFIG.replace('deny_vendors: ["acme*"]', 'deny_vendors: ["acme*", "deep*"]')
    config = parse_config(text, env={})
    v = verdict(config, config.steps["any"], config.providers["ds"], dt.date(2026, 6, 1))
    assert "deny_vendors" in v.reason


def test_compliance_table_recomputes_when_the_date_changes():
    config = parse_config(COMPLIANCE_CONFIG, env={})
    table = ComplianceTable(config)
    step = config.steps["any"]
    assert table.for_step(step, dt.date(2026, 1, 14))["ds"].eligible
    assert table.for_step(step, dt.date(2026, 1, 14)) is table.for_step(step, dt.date(2026, 1, 14))
    assert not table.for_step(step, dt.date(2026, 1, 15))["ds"].eligible
    assert list(table.for_step(step, dt.date(2026, 1, 15))) == list(step.providers)

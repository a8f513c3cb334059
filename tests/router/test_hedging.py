"""Hedged requests over real HTTP: fake OpenAI vendors on loopback ports, slowed per call.

A hedging step sends the same request to a second provider when the first has not
answered (a stream: sent no first token) within the hedge delay; the first good answer
wins and the other call is cancelled all the way to the vendor, whose handler sees the
connection close. Delays in these tests are wide apart (50 ms hedge vs 1-2 s slow calls)
so the winner is never a matter of scheduling luck; every request runs under a hang guard,
and nothing asserts a speed.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk import AllProvidersFailed, DeadlineExceeded, Router
from crosswalk.router.metrics import Metrics
from tests import fakevendor as fv
from tests.eventually import eventually
from tests.fakevendor import Vendors

GUARD_S = 6.0
MSG = [{"role": "user", "content": "How much is the refund for order 1234?"}]
SLOW_S = 1.5
TIMEOUTS = "{per_try_s: 3, ttft_s: 3, idle_s: 0.5, total_s: 4}"

CONFIG = """
providers:
  primary:   {{kind: openai, model: gpt-4o-mini, base_url: "{primary}", vendor: alpha}}
  twin:      {{kind: openai, model: gpt-4o, base_url: "{twin}", vendor: gamma}}
  secondary: {{kind: openai, model: mistral-large-latest, base_url: "{secondary}", vendor: beta}}
steps:
  draft:    {{providers: [primary, secondary], hedge: {{after_ms: 50}}, timeouts: {timeouts}}}
  three:    {{providers: [primary, twin, secondary], hedge: {{after_ms: 50}}, retry: {{same_provider: 0}},
              timeouts: {{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: 4}}}}
  two_max:  {{providers: [primary, twin, secondary], hedge: {{after_ms: 50}}, max_attempts: 2, retry: {{same_provider: 0}},
              timeouts: {{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: 4}}}}
  tight:    {{providers: [primary, secondary], hedge: {{after_ms: 50}}, timeouts: {{per_try_s: 0.8, ttft_s: 0.8, idle_s: 0.8, total_s: 0.8}}}}
  lazy:     {{providers: [primary, secondary], hedge: {{after_ms: 2000}}, timeouts: {timeouts}}}
  observed: {{providers: [primary, secondary], hedge: {{after: p95, default_ms: 2500}}, timeouts: {timeouts}}}
  cold:     {{providers: [primary, secondary], hedge: {{after: p95, default_ms: 50}}, timeouts: {timeouts}}}
  plain:    {{providers: [primary, secondary], timeouts: {timeouts}}}
  only_sec: {{providers: [secondary], timeouts: {timeouts}}}
{budget}
"""


def make_router(v: Vendors, *, budget: str = "", metrics: Metrics | None = None) -> Router:
    text = CONFIG.format(primary=v.primary.base_url, twin=v.twin.base_url, secondary=v.secondary.base_url,
                         timeouts=TIMEOUTS, budget=budget)
    return Router(parse_config(text, env={}), rng=random.Random(0), metrics=metrics)


@pytest.fixture
async def router(vendors: Vendors) -> Any:
    r = make_router(vendors)
    yield r
    await r.aclose()


async def ask(router: Router, step: str = "draft") -> Any:
    return await asyncio.wait_for(router.acompletion(step=step, messages=MSG), GUARD_S)


async def ask_stream(router: Router, step: str = "draft") -> tuple[str, set[str], Any]:
    async def run() -> tuple[str, set[str], Any]:
        s = await router.acompletion(step=step, messages=MSG, stream=True)
        text, models = "", set()
        # Distinct here; a litellm model's vendor name is what follows its `openai/` prefix.
        by_model = {conf.model.rsplit("/", 1)[-1]: name for name, conf in router.config.providers.items()}
        async for chunk in s:
            models.add(by_model[chunk.model])  # chunks name the vendor's model: whose it is
            for choice in chunk.choices:
                text += choice.delta.content or ""
        return text, models, s.crosswalk

    return await asyncio.wait_for(run(), GUARD_S)


def trail(record: Any) -> list[tuple[str, str, bool]]:
    """(provider, result, hedge) per attempt."""
    return [(a.provider, a.result, a.hedge) for a in record.attempts]


# --- non-streaming ---------------------------------------------------------------------


async def test_slow_primary_loses_to_the_hedge_and_its_call_is_cancelled(vendors):
    metrics = Metrics()
    router = make_router(vendors, metrics=metrics)
    try:
        vendors.primary.script(fv.ok(delay_s=SLOW_S))
        resp = await ask(router)
        assert resp.crosswalk.provider == "secondary"
        assert resp.choices[0].message.content == vendors.secondary.answer
        assert trail(resp.crosswalk) == [("primary", "cancelled", False), ("secondary", "ok", True)]
        lost = resp.crosswalk.attempts[0]
        assert lost.failure_class is None and lost.cancelled and lost.detail == "cancelled (hedge lost to secondary)"
        assert resp.crosswalk.failovers == 0  # a hedge is a race, not a move
        assert ",".join(a.short() for a in resp.crosswalk.attempts) == "primary:cancelled,secondary:ok"  # the proxy's header
        # The cancellation reached the vendor: its handler saw the connection close.
        await eventually(lambda: vendors.primary.calls[0].cancelled)
        assert (vendors.primary.count, vendors.secondary.count) == (1, 1)
        assert not vendors.secondary.calls[0].cancelled
        assert metrics.hedges == {("draft", "sent"): 1, ("draft", "won"): 1}
        assert metrics.attempts[("draft", "primary", "cancelled")] == 1
        assert metrics.failovers["draft"] == 0
        from prometheus_client import generate_latest

        text = generate_latest(metrics.registry).decode()
        assert 'crosswalk_hedges_total{result="sent",step="draft"} 1.0' in text
        assert 'crosswalk_hedges_total{result="won",step="draft"} 1.0' in text
    finally:
        await router.aclose()


async def test_the_cancelled_loser_leaves_health_alone(router, vendors):
    vendors.primary.script(fv.ok(delay_s=SLOW_S))
    await ask(router)
    health = router.state.health["primary"]
    assert health.consecutive == 0 and not any(health.window)


async def test_fast_primary_never_triggers_a_hedge(router, vendors):
    for _ in range(10):
        resp = await ask(router, "lazy")
        assert resp.crosswalk.provider == "primary"
        assert trail(resp.crosswalk) == [("primary", "ok", False)]
    assert vendors.secondary.count == 0
    assert not any(c.cancelled for c in vendors.primary.calls)


async def test_no_hedge_when_the_retry_budget_is_spent(vendors):
    router = make_router(vendors, budget="retry_budget: {ratio: 0, min: 0}")
    try:
        vendors.primary.script(fv.ok(delay_s=0.5))
        resp = await ask(router)
        assert resp.crosswalk.provider == "primary"
        assert trail(resp.crosswalk) == [("primary", "ok", False)]
        assert vendors.secondary.count == 0
        assert router.state.budget.denied == 1
    finally:
        await router.aclose()


async def test_hedges_come_out_of_the_retry_budget(vendors):
    router = make_router(vendors, budget="retry_budget: {ratio: 0, min: 1, window_s: 60}")
    try:
        vendors.primary.script(fv.ok(delay_s=SLOW_S), fv.ok(delay_s=0.5))
        assert (await ask(router)).crosswalk.provider == "secondary"  # the one token in the window
        resp = await ask(router)
        assert resp.crosswalk.provider == "primary" and trail(resp.crosswalk) == [("primary", "ok", False)]
        assert vendors.secondary.count == 1
        assert router.state.budget.snapshot(router.clock.now())[1] == 1
    finally:
        await router.aclose()


@pytest.mark.parametrize(("primary_s", "secondary_s", "winner", "loser"), [
    (1.8, 0.4, "secondary", "primary"),
    (0.4, 1.8, "primary", "secondary"),
], ids=["hedge-first", "primary-first"])
async def test_both_slow_the_first_to_finish_wins(router, vendors, primary_s, secondary_s, winner, loser):
    vendors.primary.script(fv.ok(delay_s=primary_s))
    vendors.secondary.script(fv.ok(delay_s=secondary_s))
    resp = await ask(router)
    assert resp.crosswalk.provider == winner
    results = {a.provider: (a.result, a.hedge) for a in resp.crosswalk.attempts}
    assert results == {"primary": ("ok" if winner == "primary" else "cancelled", False),
                       "secondary": ("ok" if winner == "secondary" else "cancelled", True)}
    loser_vendor = getattr(vendors, loser)
    await eventually(lambda: loser_vendor.calls[0].cancelled)


async def test_failed_hedge_keeps_waiting_for_the_primary(router, vendors):
    vendors.primary.script(fv.ok(delay_s=0.4))
    vendors.secondary.script(fv.error(500, fv.SERVER_ERROR_500))
    resp = await ask(router)
    assert resp.crosswalk.provider == "primary"
    assert resp.choices[0].message.content == vendors.primary.answer
    assert trail(resp.crosswalk) == [("secondary", "transient", True), ("primary", "ok", False)]
    assert vendors.secondary.count == 1  # the failed hedge is not retried while the primary runs


async def test_failed_primary_keeps_waiting_for_the_hedge(router, vendors):
    vendors.primary.script(fv.Behaviour("cut", delay_s=0.3))  # fails while the hedge is running
    vendors.secondary.script(fv.ok(delay_s=0.8))
    resp = await ask(router)
    assert resp.crosswalk.provider == "secondary"
    assert trail(resp.crosswalk) == [("primary", "transient", False), ("secondary", "ok", True)]
    assert vendors.primary.count == 1
    # The hedge stood in for a same-provider retry: one token spent (the hedge), not two.
    assert router.state.budget.snapshot(router.clock.now())[1] == 1


async def test_both_racers_failing_fails_over_by_the_usual_rules(router, vendors):
    vendors.primary.script(fv.hang())  # silent: times out after per_try_s
    vendors.twin.script(fv.error(500, fv.SERVER_ERROR_500))  # the hedge fails at once
    resp = await ask(router, "three")
    assert resp.crosswalk.provider == "secondary"
    assert trail(resp.crosswalk) == [("twin", "transient", True), ("primary", "timeout", False), ("secondary", "ok", False)]
    assert resp.crosswalk.failovers == 1  # primary -> secondary; the hedge is beside the chain


async def test_max_attempts_counts_the_hedge(router, vendors):
    vendors.primary.script(fv.hang())
    vendors.twin.script(fv.error(500, fv.SERVER_ERROR_500))
    with pytest.raises(AllProvidersFailed) as info:
        await ask(router, "two_max")
    assert [(a.provider, a.failure_class) for a in info.value.attempts] == [("twin", "transient"), ("primary", "timeout")]
    assert vendors.secondary.count == 0


async def test_the_step_deadline_bounds_the_race(router, vendors):
    vendors.primary.script(fv.hang())
    vendors.secondary.script(fv.hang())
    with pytest.raises(DeadlineExceeded):
        await ask(router, "tight")
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)


async def test_a_hedge_never_goes_to_a_hard_excluded_provider(router, vendors):
    vendors.secondary.script(fv.error(451, fv.LEGAL_451))
    with pytest.raises(Exception):
        await ask(router, "only_sec")  # secondary is now excluded (regulatory)
    vendors.primary.script(fv.ok(delay_s=0.5))
    resp = await ask(router)  # draft: primary, secondary; nobody left to hedge to
    assert resp.crosswalk.provider == "primary" and trail(resp.crosswalk) == [("primary", "ok", False)]
    assert vendors.secondary.count == 1
    vendors.primary.script(fv.ok(delay_s=SLOW_S))
    resp = await ask(router, "three")  # the hedge skips secondary and goes to twin
    assert resp.crosswalk.provider == "twin"
    assert vendors.secondary.count == 1


async def test_caller_cancelling_a_hedged_request_cancels_both_calls(router, vendors):
    vendors.primary.script(fv.ok(delay_s=SLOW_S))
    vendors.secondary.script(fv.ok(delay_s=SLOW_S))
    task = asyncio.ensure_future(router.acompletion(step="draft", messages=MSG))
    await eventually(lambda: vendors.secondary.count == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: vendors.primary.calls[0].cancelled and vendors.secondary.calls[0].cancelled)


# --- observed latency (after: pNN) -----------------------------------------------------


async def test_answers_feed_the_latency_ring(router, vendors):
    for _ in range(5):
        await ask(router, "plain")
    assert len(router.state.latency.ring("primary", "complete")) == 5
    assert len(router.state.latency.ring("primary", "ttft")) == 0
    await ask_stream(router, "plain")
    assert len(router.state.latency.ring("primary", "ttft")) == 1


async def test_p95_mode_hedges_after_the_observed_latency(router, vendors):
    for _ in range(25):  # fast loopback answers: the observed p95 is a few ms
        assert (await ask(router, "observed")).crosswalk.provider == "primary"
    assert vendors.secondary.count == 0
    vendors.primary.script(fv.ok(delay_s=SLOW_S))
    resp = await ask(router, "observed")  # default_ms would be 2.5 s: only the p95 hedges this
    assert resp.crosswalk.provider == "secondary"
    assert trail(resp.crosswalk) == [("primary", "cancelled", False), ("secondary", "ok", True)]


async def test_p95_mode_does_not_hedge_below_the_observed_latency(router, vendors):
    ring = router.state.latency.ring("primary", "complete")
    ring.extend([5.0] * 30)  # this provider usually takes 5 s
    vendors.primary.script(fv.ok(delay_s=0.4))
    resp = await ask(router, "observed")
    assert resp.crosswalk.provider == "primary" and vendors.secondary.count == 0


async def test_p95_mode_uses_the_default_until_enough_samples(router, vendors):
    vendors.primary.script(fv.ok(delay_s=SLOW_S))
    resp = await ask(router, "cold")  # no samples yet: default_ms (50) applies
    assert resp.crosswalk.provider == "secondary"


# --- streaming: hedge on time to first token --------------------------------------------


async def test_stream_hedges_on_time_to_first_token(router, vendors):
    vendors.primary.script(fv.ok(delay_s=SLOW_S))  # headers and role chunk fast, content late
    text, models, record = await ask_stream(router)
    assert text == vendors.secondary.answer
    assert models == {"secondary"}
    assert trail(record) == [("primary", "cancelled", False), ("secondary", "ok", True)]
    await eventually(lambda: vendors.primary.calls[0].cancelled)


async def test_stream_primary_committing_first_wins(router, vendors):
    vendors.primary.script(fv.ok(delay_s=0.4))
    vendors.secondary.script(fv.ok(delay_s=SLOW_S))
    text, models, record = await ask_stream(router)
    assert text == vendors.primary.answer and models == {"primary"}
    assert trail(record) == [("secondary", "cancelled", True), ("primary", "ok", False)]
    await eventually(lambda: vendors.secondary.calls[0].cancelled)


async def test_stream_fast_first_token_is_never_hedged(router, vendors):
    for _ in range(5):
        text, models, record = await ask_stream(router, "lazy")
        assert models == {"primary"} and trail(record) == [("primary", "ok", False)]
    assert vendors.secondary.count == 0


async def test_stream_is_not_hedged_after_commit(router, vendors):
    vendors.primary.script(fv.stall(after=3))  # two content chunks, then silence
    text, models, record = await ask_stream(router)
    # Past the commit point the stall is resumed on the next provider, never hedged.
    assert record.recovery is not None and record.recovery.how == "stall" and record.recovery.finished_by == "secondary"
    assert not any(a.hedge for a in record.attempts)
    assert vendors.secondary.calls[-1].body["messages"][-2]["role"] == "assistant"  # a continuation, not a race


async def test_stream_failed_hedge_keeps_waiting_for_the_primary(router, vendors):
    vendors.primary.script(fv.ok(delay_s=0.4))
    vendors.secondary.script(fv.cut(after=1))  # breaks before its first token
    text, models, record = await ask_stream(router)
    assert text == vendors.primary.answer and models == {"primary"}
    assert trail(record) == [("secondary", "stream_broken", True), ("primary", "ok", False)]


# --- config -----------------------------------------------------------------------------


def _config_error(step: str) -> str:
    text = f"""
providers:
  a: {{kind: simulated, model: m1}}
  b: {{kind: simulated, model: m2}}
steps:
  draft: {step}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    return str(info.value)


@pytest.mark.parametrize(("hedge", "message"), [
    ("{after_ms: 50, after: p95}", "steps.draft.hedge: name exactly one of after_ms"),
    ("{}", "steps.draft.hedge: name exactly one of after_ms"),
    ("{after: p100}", "steps.draft.hedge.after: expected a latency quantile from p50 to p99"),
    ("{after: p40}", "steps.draft.hedge.after: expected a latency quantile from p50 to p99"),
    ("{after: '95'}", "steps.draft.hedge.after: expected a latency quantile from p50 to p99"),
    ("{after: fast}", "steps.draft.hedge.after: expected a latency quantile from p50 to p99"),
    ("{after_ms: 0}", "steps.draft.hedge.after_ms: Input should be greater than 0"),
    ("{after_ms: 50, min_ms: 5}", "steps.draft.hedge: min_ms only apply with 'after'"),
    ("{after: p95, delay: 3}", "steps.draft.hedge.delay: unknown key 'delay'"),
    ("{after: p95, min_samples: 1000}", "steps.draft.hedge.min_samples: Input should be less than or equal to 256"),
])
def test_hedge_config_errors_name_the_path(hedge, message):
    assert message in _config_error(f"{{providers: [a, b], hedge: {hedge}}}")


def test_hedge_needs_another_provider():
    assert "steps.draft.hedge: a hedge goes to a different provider, but the step lists only one" in _config_error(
        "{providers: [a], hedge: {after_ms: 50}}")


def test_hedge_needs_an_attempt_to_spare():
    assert "steps.draft.hedge: max_attempts is 1" in _config_error("{providers: [a, b], max_attempts: 1, hedge: {after: p95}}")


def test_hedge_config_round_trip():
    config = parse_config("""
providers:
  a: {kind: simulated, model: m1}
  b: {kind: simulated, model: m2}
steps:
  fixed: {providers: [a, b], hedge: {after_ms: 120}}
  observed: {providers: [a, b], hedge: {after: p90, min_ms: 30, default_ms: 400, min_samples: 50}}
  plain: {providers: [a, b]}
""", env={})
    fixed, observed = config.steps["fixed"].hedge, config.steps["observed"].hedge
    assert fixed is not None and fixed.after_ms == 120 and fixed.after is None
    assert observed is not None and observed.quantile == 0.9 and observed.min_samples == 50
    assert config.steps["plain"].hedge is None


# --- the litellm adapter: a stream opened in a racer task is read on in the caller's -----

LITELLM_CONFIG = """
providers:
  lp: {{kind: litellm, model: openai/gpt-4o-mini, base_url: "{primary}", api_key: sk-litellm-primary, vendor: alpha}}
  ls: {{kind: litellm, model: openai/gpt-4o, base_url: "{secondary}", api_key: sk-litellm-secondary, vendor: beta}}
steps:
  draft: {{providers: [lp, ls], hedge: {{after_ms: 300}}, timeouts: {{per_try_s: 15, ttft_s: 15, idle_s: 15, total_s: 20}}}}
"""


@pytest.mark.timeout(120)  # the first litellm import takes seconds
async def test_litellm_streams_race_and_the_loser_is_closed(vendors, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: F401  (imported before the hang guard starts counting)

    cfg = parse_config(LITELLM_CONFIG.format(primary=vendors.primary.base_url, secondary=vendors.secondary.base_url), env={})
    async with Router(cfg, rng=random.Random(0)) as r:
        await asyncio.wait_for(r.acompletion(step="draft", messages=MSG), 20)  # litellm's slow first call
        vendors.primary.script(fv.ok(delay_s=2.5))
        vendors.secondary.script(fv.ok(delay_s=0.8))
        text, models, record = await ask_stream(r)
        assert text == vendors.secondary.answer and models == {"ls"}
        assert trail(record) == [("lp", "cancelled", False), ("ls", "ok", True)]
        await eventually(lambda: vendors.primary.calls[-1].cancelled)
        vendors.primary.script(fv.ok(delay_s=0.8))
        vendors.secondary.script(fv.ok(delay_s=2.5))
        text, models, record = await ask_stream(r)
        assert text == vendors.primary.answer and models == {"lp"}
        await eventually(lambda: vendors.secondary.calls[-1].cancelled)


"""Cross-model verification through the SDK: comparators, quorum edge cases,
cancellation, escalation, shadow sampling, metrics (simulated vendors)."""

from __future__ import annotations

import asyncio
import random

import pytest

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.providers.simulated import Fault, SimulatedProvider
from crosswalk import Router
from crosswalk.router.metrics import Metrics
from crosswalk.router.errors import VerificationFailed

MSG = [{"role": "user", "content": "What refund amount do we owe for order 1182?"}]


def _config(verify: str, answers: dict[str, str], *, latency: dict[str, int] | None = None, extra: str = "", providers: str | None = None) -> str:
    latency = latency or {}
    lines = []
    for i, (name, answer) in enumerate(answers.items()):
        lines.append(
            f"  {name}: {{kind: simulated, model: {name}-m, vendor: v{i}, family: f{i}, "
            f"simulate: {{latency_ms: {latency.get(name, 1)}, jitter_ms: 0, answer: {answer!r}}}}}"
        )
    names = providers or ", ".join(answers)
    return f"providers:\n" + "\n".join(lines) + extra + f"\nsteps:\n  s: {{providers: [{names}], verify: {verify}}}\n"


class Tracked:
    """Wraps a provider to record calls that were cancelled before answering."""

    def __init__(self, inner: SimulatedProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.cancelled = 0

    async def complete(self, request):
        try:
            return await self.inner.complete(request)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    def stream(self, request):
        return self.inner.stream(request)

    async def aclose(self):
        pass


def _router(text: str, **kw) -> Router:
    return Router(parse_config(text, env={}), rng=random.Random(1), **kw)


async def test_numeric_quorum_agrees_and_cancels_the_straggler():
    cfg = _config("{agree: {min: 2, of: 3}, compare: numeric}",
                  {"a": "The refund is $42.99.", "b": "42.990", "c": "Refund: 42.99 USD"}, latency={"c": 2000})
    r = _router(cfg)
    c = Tracked(r.providers["c"])
    r.providers["c"] = c
    resp = await r.acompletion(step="s", messages=MSG)
    ag = resp.crosswalk.agreement
    assert ag.decision == "agreed" and ag.score == 1.0 and ag.quorum == "2 of 3"
    assert sorted(v.provider for v in ag.agreeing) == ["a", "b"]
    assert ag.dissenting == [] and ag.failed == []
    assert c.cancelled == 1  # the quorum was decided: the third call was cancelled
    assert resp.crosswalk.provider in ("a", "b")
    assert ag.usage["total_tokens"] > 0
    await r.aclose()


async def test_dropped_decimal_is_flagged_with_the_record():
    cfg = _config("{agree: {min: 3, of: 3}, compare: numeric, on_disagree: flag}",
                  {"a": "The refund amount is $42.99.", "b": "Refund: 42.99 USD", "c": "Refund amount: 4299"})
    r = _router(cfg)
    resp = await r.acompletion(step="s", messages=MSG)
    ag = resp.crosswalk.agreement
    assert ag.decision == "disagreed"
    assert resp.choices[0].message.content == "The refund amount is $42.99."  # the majority answer
    assert [v.provider for v in ag.dissenting] == ["c"] and ag.dissenting[0].answer == "Refund amount: 4299"
    assert ag.score == pytest.approx(2 / 3)
    assert "weak evidence of truth" in ag.evidence
    await r.aclose()


async def test_fail_policy_raises_with_the_panel():
    cfg = _config("{agree: {min: 2, of: 2}, compare: numeric, on_disagree: fail}", {"a": "42.99", "b": "4299"})
    r = _router(cfg)
    with pytest.raises(VerificationFailed) as info:
        await r.acompletion(step="s", messages=MSG)
    err = info.value
    assert err.status_code == 409
    assert err.record.agreement.decision == "disagreed"
    assert {v.answer for v in err.record.agreement.agreeing + err.record.agreement.dissenting} == {"42.99", "4299"}
    await r.aclose()


async def test_tie_goes_to_the_better_ranked_answer():
    r = _router(_config("{agree: {min: 2, of: 2}, compare: exact}", {"a": "yes", "b": "no"}))
    resp = await r.acompletion(step="s", messages=MSG)
    assert resp.crosswalk.agreement.decision == "disagreed"
    assert resp.choices[0].message.content == "yes" and resp.crosswalk.provider == "a"
    await r.aclose()


async def test_escalate_asks_another_provider_before_deciding():
    cfg = _config("{agree: {min: 2, of: 2}, compare: numeric, on_disagree: escalate}",
                  {"a": "42.99", "b": "4299", "c": "$42.99"})
    r = _router(cfg)
    resp = await r.acompletion(step="s", messages=MSG)
    ag = resp.crosswalk.agreement
    assert ag.escalated == ["c"]
    assert ag.decision == "agreed"
    assert sorted(v.provider for v in ag.agreeing) == ["a", "c"] and [v.provider for v in ag.dissenting] == ["b"]
    await r.aclose()


async def test_a_failing_member_is_recorded_and_the_rest_decide():
    cfg = _config("{agree: {min: 2, of: 3}, compare: normalized}", {"a": "Paris", "b": "paris.", "c": "Paris"},
                  latency={"a": 0, "b": 300, "c": 300})  # a fails before the others could decide
    r = _router(cfg)
    r.providers["a"].set_fault(Fault.outage())
    resp = await r.acompletion(step="s", messages=MSG)
    ag = resp.crosswalk.agreement
    assert ag.decision == "agreed" and "a" in ag.failed
    assert sorted(v.provider for v in ag.agreeing) == ["b", "c"]
    assert any(x.provider == "a" and x.failure_class == "transient" for x in resp.crosswalk.attempts)
    await r.aclose()


async def test_panel_larger_than_eligible_is_inconclusive():
    cfg = _config("{agree: {min: 3, of: 3}, compare: exact}", {"a": "x", "b": "x", "c": "x"})
    r = _router(cfg)
    r.providers["c"].set_fault(Fault.region_block())
    await r.acompletion(step="s", messages=MSG)  # c is called once and excluded
    resp = await r.acompletion(step="s", messages=MSG)
    ag = resp.crosswalk.agreement
    assert ag.decision == "inconclusive"  # two agree but three were required and only two may be asked
    assert r.providers["c"].calls == 1
    await r.aclose()


def test_config_error_when_the_panel_cannot_be_diverse():
    text = """
providers:
  a: {kind: simulated, model: m1, vendor: x}
  b: {kind: simulated, model: m2, vendor: x}
  c: {kind: simulated, model: m3, vendor: y}
steps:
  s: {providers: [a, b, c], verify: {agree: {min: 2, of: 3}}}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert "steps.s.verify.agree.of: 3 providers differing in vendor and family are needed, but step 's' has 2 (a, c)" in str(info.value)
    with pytest.raises(ConfigError, match=r"steps.s.verify.agree: min \(4\) is larger than of \(3\)"):
        parse_config(text.replace("min: 2", "min: 4"), env={})
    with pytest.raises(ConfigError, match="compare 'semantic' needs 'embeddings"):
        parse_config(text.replace("of: 3}", "of: 2}, compare: semantic"), env={})


async def test_json_comparator_with_field_rules_and_ignore():
    a = '{"amount": 42.99, "currency": "USD", "ticket": "T-1"}'
    b = 'Here you go: ```json\n{"amount": 42.991, "currency": "usd", "ticket": "T-2"}\n```'
    verify = "{agree: {min: 2, of: 2}, compare: json, fields: {amount: {compare: numeric, tolerance: 0.001}, currency: {compare: normalized}}, ignore: [ticket]}"
    r = _router(_config(verify, {"a": a, "b": b}))
    assert (await r.acompletion(step="s", messages=MSG)).crosswalk.agreement.decision == "agreed"
    await r.aclose()
    r = _router(_config(verify, {"a": a, "b": b.replace("42.991", "4299")}))
    ag = (await r.acompletion(step="s", messages=MSG)).crosswalk.agreement
    assert ag.decision == "disagreed" and ag.differences == ["amount"]
    await r.aclose()


async def test_semantic_comparator_uses_the_embeddings_provider():
    extra = "\n  emb: {kind: simulated, model: emb-m, vendor: ve, simulate: {latency_ms: 0, jitter_ms: 0}}"
    verify = "{agree: {min: 2, of: 2}, compare: semantic, embeddings: emb, threshold: 0.8}"
    r = _router(_config(verify, {"a": "The refund is 42.99 dollars", "b": "the refund is 42.99 dollars!"}, extra=extra, providers="a, b"))
    assert (await r.acompletion(step="s", messages=MSG)).crosswalk.agreement.decision == "agreed"
    assert r.providers["emb"].calls == 2
    await r.aclose()
    r = _router(_config(verify, {"a": "The refund is 42.99 dollars", "b": "We cannot refund this order"}, extra=extra, providers="a, b"))
    assert (await r.acompletion(step="s", messages=MSG)).crosswalk.agreement.decision == "disagreed"
    await r.aclose()


@pytest.mark.parametrize("verdict, decision", [('{"verdict": "same", "reason": "both 42.99"}', "agreed"),
                                               ('{"verdict": "different", "reason": "4299"}', "disagreed"),
                                               ("I am not sure", "disagreed")])
async def test_judge_comparator_parses_the_verdict(verdict, decision):
    extra = f"\n  judge: {{kind: simulated, model: judge-m, vendor: vj, simulate: {{latency_ms: 0, jitter_ms: 0, answer: {verdict!r}}}}}"
    verify = "{agree: {min: 2, of: 2}, compare: judge, judge: judge}"
    r = _router(_config(verify, {"a": "42.99", "b": "forty-two ninety-nine"}, extra=extra, providers="a, b"))
    resp = await r.acompletion(step="s", messages=MSG)
    assert resp.crosswalk.agreement.decision == decision
    assert r.providers["judge"].calls == 1
    await r.aclose()


async def test_shadow_sampling_verifies_a_fraction_without_blocking():
    cfg = _config("{agree: {min: 2, of: 2}, compare: numeric, sample: 0.5}", {"a": "42.99", "b": "4299"})
    metrics = Metrics()
    r = _router(cfg, metrics=metrics)
    records = [(await r.acompletion(step="s", messages=MSG)).crosswalk for _ in range(40)]
    await r.aclose()  # waits for shadow checks
    shadowed = [rec for rec in records if rec.agreement is not None]
    assert all(rec.provider == "a" for rec in records)  # callers always got the primary at once
    assert 5 < len(shadowed) < 35
    assert {rec.agreement.mode for rec in shadowed} == {"shadow"}
    assert {rec.agreement.decision for rec in shadowed} == {"disagreed"}
    assert metrics.agreements[("s", "numeric", "disagreed", "shadow")] == len(shadowed)
    assert metrics.requests[("s", "ok")] == 40


async def test_streaming_a_verified_step_answers_after_verification():
    r = _router(_config("{agree: {min: 2, of: 2}, compare: numeric}", {"a": "42.99", "b": "$42.99"}), metrics=Metrics())
    stream = await r.acompletion(step="s", messages=MSG, stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "42.99"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert stream.crosswalk.agreement.decision == "agreed"
    assert r.metrics.agreements[("s", "numeric", "agreed", "inline")] == 1
    report = r.report(pipeline=["s"])
    assert "pipeline s" in report and "100.0%" in report
    assert "pipeline" not in r.report()  # steps are a pipeline only when named one
    await r.aclose()

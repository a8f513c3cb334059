"""Prefill defaults and the memory of providers that rejected a prefill (policies/prefill.py)."""

from __future__ import annotations

from crosswalk.policies.prefill import PrefillRefusals, prefill_default


def test_a_refusal_is_remembered_for_its_time_then_forgotten():
    refusals = PrefillRefusals(ttl_s=600)
    refusals.note("claude", now=1000.0)
    assert refusals.refused_since("claude", now=1060.0) == 60.0  # a minute ago: no prefill now
    assert refusals.refused_since("other", now=1060.0) is None
    assert refusals.refused_since("claude", now=1600.0) is None  # ten minutes on: tried again


def test_the_memory_is_bounded_oldest_first():
    refusals = PrefillRefusals(ttl_s=600, capacity=2)
    for i, name in enumerate(("a", "b", "a", "c")):
        refusals.note(name, now=float(i))
    assert refusals.refused_since("b", now=4.0) is None  # the oldest went
    assert refusals.refused_since("a", now=4.0) == 2.0 and refusals.refused_since("c", now=4.0) == 1.0


def test_prefill_defaults():
    assert prefill_default("litellm", "anthropic/claude-3-5-sonnet")
    assert not prefill_default("openai", "gpt-4o-mini")

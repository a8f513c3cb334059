""""Did you mean" measured on labelled misspellings (policies/suggest.py). The rule was
tuned on TUNED (the cases met while building `crosswalk check`); HELD_OUT was written
before the rule was run on it and not tuned on. Each case: (what was written, the names it
is checked against, the right suggestion or None). Traps expect None: a wrong suggestion
is worse than none. Measured: tuned 17/17, held out 40/40 (0 wrong suggestions)."""

from __future__ import annotations

from crosswalk.policies.problems import annotation_at, choices_of, keys_of
from crosswalk.policies.schema import ConfigSpec
from crosswalk.policies.suggest import closest, instead_of_key

PROVIDER_KEYS = keys_of(annotation_at(ConfigSpec, ("providers", "x")))
STEP_KEYS = keys_of(annotation_at(ConfigSpec, ("steps", "x")))
TIMEOUT_KEYS = keys_of(annotation_at(ConfigSpec, ("steps", "x", "timeouts")))
KINDS = choices_of(annotation_at(ConfigSpec, ("providers", "x", "kind")))
COMPARE = choices_of(annotation_at(ConfigSpec, ("steps", "x", "verify", "compare")))
HOLD = choices_of(annotation_at(ConfigSpec, ("stream", "hold")))
REGIONS = ["eu", "us"]
PROVIDERS = ["alpha-large", "alpha-mini", "beta-pro", "gamma-fast"]

TUNED = [
    ("max_atempts", STEP_KEYS, "max_attempts"), ("modle", PROVIDER_KEYS, "model"), ("per_try", TIMEOUT_KEYS, "per_try_s"),
    ("untill", ["vendor", "model", "provider", "since", "until", "reason"], "until"), ("wait_max", ["wait_max_s"], "wait_max_s"),
    ("holds", ["hold", "resume", "continue_prompt"], "hold"), ("mx", ["min", "max", "field"], "max"),
    ("validators", STEP_KEYS, "validate"), ("exakt", COMPARE, "exact"), ("nonee", HOLD, "none"), ("gtp", ["claude", "gpt"], "gpt"),
    ("ue", REGIONS, "eu"), ("reveiw", ["review"], "review"), ("drafts", ["draft", "extract"], "draft"),
    ("simulatd", KINDS, "simulated"), ("opneai", KINDS, "openai"), ("mars", REGIONS, None),
]
HELD_OUT = [
    ("baseurl", PROVIDER_KEYS, "base_url"), ("base-url", PROVIDER_KEYS, "base_url"), ("apikey", PROVIDER_KEYS, "api_key"),
    ("regoin", PROVIDER_KEYS, "region"), ("contextwindow", PROVIDER_KEYS, "context_window"), ("famliy", PROVIDER_KEYS, "family"),
    ("header", PROVIDER_KEYS, "headers"), ("allowed_region", STEP_KEYS, "allowed_regions"),
    ("maxattempts", STEP_KEYS, "max_attempts"), ("timeout", STEP_KEYS, "timeouts"), ("verfy", STEP_KEYS, "verify"),
    ("hedging", STEP_KEYS, "hedge"), ("ttft", TIMEOUT_KEYS, "ttft_s"), ("total", TIMEOUT_KEYS, "total_s"),
    ("idle_ms", TIMEOUT_KEYS, "idle_s"), ("sematic", COMPARE, "semantic"), ("normalised", COMPARE, "normalized"),
    ("numerical", COMPARE, "numeric"), ("litelm", KINDS, "litellm"), ("OpenAI", KINDS, "openai"), ("simulate", KINDS, "simulated"),
    ("alpha_large", PROVIDERS, "alpha-large"), ("betapro", PROVIDERS, "beta-pro"), ("gama-fast", PROVIDERS, "gamma-fast"),
    ("EU", REGIONS, "eu"), ("su", REGIONS, "us"), ("delta-pro", PROVIDERS, "beta-pro"),
    # Traps: nothing is close, and a suggestion would mislead.
    ("anthropic", ["openai", "litellm", "simulated"], None), ("bedrock", KINDS, None), ("mars", REGIONS, None),
    ("eu-west-1", REGIONS, None), ("ap", REGIONS, None), ("gpt5", PROVIDERS, None), ("claude", PROVIDERS, None),
    ("foo", STEP_KEYS, None), ("cache", PROVIDER_KEYS, None), ("temperature", PROVIDER_KEYS, None), ("fallbacks", STEP_KEYS, None),
    ("weights", STEP_KEYS, None), ("cosine", COMPARE, None),
]


def _score(cases: list[tuple[str, list[str], str | None]]) -> tuple[int, list[str]]:
    """(right answers, the wrong suggestions made)."""
    got = [(word, closest(word, names), expected) for word, names, expected in cases]
    return sum(g == e for _, g, e in got), [f"{w} -> {g} (expected {e})" for w, g, e in got if g is not None and g != e]


def test_the_tuned_cases_all_hold():
    right, wrong = _score(TUNED)
    assert right == len(TUNED) and not wrong, wrong


def test_held_out_accuracy_and_no_wrong_suggestion():
    right, wrong = _score(HELD_OUT)
    assert not wrong, wrong  # a wrong "did you mean" misleads: none allowed
    assert right / len(HELD_OUT) >= 0.95, f"{right}/{len(HELD_OUT)}"


def test_litellm_names_are_translated_only_in_a_provider():
    assert instead_of_key("api_base", PROVIDER_KEYS, in_provider=True) == "; that is LiteLLM's name: write 'base_url'"
    assert "no litellm_params level" in instead_of_key("litellm_params", PROVIDER_KEYS, in_provider=True)
    assert instead_of_key("timeout", STEP_KEYS) == "; did you mean 'timeouts'?"  # in a step it is a misspelling

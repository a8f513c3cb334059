""""Did you mean": the closest known name to a misspelt one (a key, kind, provider, step or
region), and what to write instead of the names users bring from LiteLLM's config."""

from __future__ import annotations

import difflib
from typing import Iterable

# LiteLLM's names for what Crosswalk calls otherwise, at the place they are usually
# written (a provider's keys): what to write instead. A provider here is LiteLLM's
# `model_list` entry with its `litellm_params` lifted up one level.
LITELLM_KEYS = {
    "api_base": "base_url",
    "litellm_params": "model, base_url and api_key directly under the provider (no litellm_params level)",
    "model_name": "the provider's name (its key under providers:)",
    "extra_headers": "headers",
    "region_name": "region",
    "custom_llm_provider": "kind: litellm with model: '<vendor>/<model>'",
    "timeout": "steps.<step>.timeouts.per_try_s (timeouts belong to a step)",
    "stream_timeout": "steps.<step>.timeouts.ttft_s (timeouts belong to a step)",
    "max_retries": "steps.<step>.retry.same_provider (retries belong to a step)",
    "num_retries": "steps.<step>.retry.same_provider (retries belong to a step)",
    "fallbacks": "steps.<step>.providers (a ranked list: the next one is the fallback)",
    "rpm": "nothing: Crosswalk reads rate limits from the vendor's 429s",
    "tpm": "nothing: Crosswalk reads rate limits from the vendor's 429s",
}


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The known name `word` most likely misspells (case aside), or None."""
    known = {c.lower(): c for c in choices if isinstance(c, str)}
    if not isinstance(word, str) or not known:
        return None
    if word.lower() in known:
        return known[word.lower()]
    match = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=0.6)
    if match:
        return known[match[0]]
    # Short names (regions such as 'ue' for 'eu') are too short for a ratio: the same letters swapped.
    swapped = [c for low, c in known.items() if sorted(low) == sorted(word.lower())]
    return swapped[0] if len(swapped) == 1 else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the closest known name, else ""."""
    match = closest(word, choices)
    return f"; did you mean '{match}'?" if match is not None and match != word else ""


def instead_of_key(key: str, allowed: Iterable[str], *, in_provider: bool = False) -> str:
    """What to write for an unknown key: in a provider, the Crosswalk name for one of
    LiteLLM's names; else (or for any other key) the closest allowed key."""
    allowed = list(allowed)
    if in_provider and key in LITELLM_KEYS:
        target = LITELLM_KEYS[key]
        return f"; that is LiteLLM's name: write {target}" if " " in target else f"; that is LiteLLM's name: write '{target}'"
    return did_you_mean(key, allowed)

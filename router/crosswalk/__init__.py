"""Crosswalk: a multi-model failover router for LLM calls.

    from crosswalk import Router
    r = Router()                      # the embedded default config (simulated vendors)
    resp = r.chat.completions.create(model="draft", messages=[...])

The installed package is one import name: `crosswalk.router` (execution, the SDK, the
proxy), `crosswalk.policies` (pure decisions) and `crosswalk.providers` (vendors). Names
load on first use, so `import crosswalk` stays cheap (no litellm, no openai, no aiohttp).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Router",
    "CrosswalkError",
    "ConfigError",
    "UnknownStep",
    "InvalidRequest",
    "NoEligibleProvider",
    "AllProvidersFailed",
    "RateLimited",
    "DeadlineExceeded",
    "UpstreamRejected",
    "StreamInterrupted",
    "VerificationFailed",
    "InvalidOutput",
    "SeamBroken",
    "DecisionRecord",
    "Attempt",
    "AgreementRecord",
    "Metrics",
]

if TYPE_CHECKING:
    from crosswalk.router.errors import (
        AllProvidersFailed,
        ConfigError,
        CrosswalkError,
        DeadlineExceeded,
        InvalidOutput,
        InvalidRequest,
        NoEligibleProvider,
        RateLimited,
        SeamBroken,
        StreamInterrupted,
        UnknownStep,
        UpstreamRejected,
        VerificationFailed,
    )
    from crosswalk.router.metrics import Metrics
    from crosswalk.router.records import AgreementRecord, Attempt, DecisionRecord
    from crosswalk.router.sdk import Router

_HOMES = {"Router": "sdk", "Metrics": "metrics", "DecisionRecord": "records", "Attempt": "records", "AgreementRecord": "records"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'crosswalk' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"crosswalk.router.{_HOMES.get(name, 'errors')}"), name)

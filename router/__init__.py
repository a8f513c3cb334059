"""Crosswalk: a multi-model failover router for LLM calls.

    from router import Router
    r = Router(config="config/default.yaml")
    resp = r.chat.completions.create(model="draft", messages=[...])

Names load on first use, so `import router` stays cheap (no litellm, no openai, no aiohttp).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Router",
    "CrosswalkError",
    "UnknownStep",
    "InvalidRequest",
    "NoEligibleProvider",
    "AllProvidersFailed",
    "RateLimited",
    "DeadlineExceeded",
    "UpstreamRejected",
    "StreamInterrupted",
]

if TYPE_CHECKING:
    from router.errors import (
        AllProvidersFailed,
        CrosswalkError,
        DeadlineExceeded,
        InvalidRequest,
        NoEligibleProvider,
        RateLimited,
        StreamInterrupted,
        UnknownStep,
        UpstreamRejected,
    )
    from router.sdk import Router


def __getattr__(name: str) -> Any:
    if name == "Router":
        from router.sdk import Router

        return Router
    if name in __all__:
        from router import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'router' has no attribute {name!r}")

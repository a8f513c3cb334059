"""Observed latency per provider, and the hedge delay it implies.

A small fixed-size ring of recent attempt latencies per (provider, kind) with a quantile
function. `kind` is "complete" (a whole non-streamed answer) or "ttft" (a stream's first
token): the two differ by an order of magnitude, so a stream is never hedged on the
latency of whole answers. Pure: the caller passes the seconds it measured.
"""

from __future__ import annotations

import math
from typing import Iterable

from crosswalk.policies.schema import HedgeSpec

WINDOW = 256  # samples kept per ring; HedgeSpec.min_samples is capped at this
KINDS = ("complete", "ttft")


class LatencyRing:
    """The last `size` latency samples (seconds) of one provider, oldest overwritten first."""

    __slots__ = ("_samples", "_next", "_count", "_sorted")

    def __init__(self, size: int = WINDOW) -> None:
        if size < 1:
            raise ValueError("a latency ring needs room for at least one sample")
        self._samples = [0.0] * size
        self._next = 0
        self._count = 0
        self._sorted: list[float] | None = None

    def __len__(self) -> int:
        return self._count

    def add(self, seconds: float) -> None:
        """Record one sample."""
        self._samples[self._next] = seconds
        self._next = (self._next + 1) % len(self._samples)
        self._count = min(self._count + 1, len(self._samples))
        self._sorted = None

    def extend(self, samples: Iterable[float]) -> None:
        """Record several samples, oldest first."""
        for seconds in samples:
            self.add(seconds)

    def quantile(self, q: float) -> float | None:
        """The nearest-rank `q` quantile (0 < q <= 1) of the samples, or None when empty."""
        if not 0.0 < q <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {q}")
        if not self._count:
            return None
        if self._sorted is None:  # several hedge decisions may read one window between samples
            self._sorted = sorted(self._samples[: self._count])
        return self._sorted[max(0, math.ceil(q * self._count) - 1)]


class LatencyBook:
    """A ring per (provider, kind), made on first use."""

    def __init__(self, size: int = WINDOW) -> None:
        self._size = size
        self._rings: dict[tuple[str, str], LatencyRing] = {}

    def ring(self, provider: str, kind: str) -> LatencyRing:
        """The ring of `provider` for `kind` ("complete" or "ttft")."""
        key = (provider, kind)
        ring = self._rings.get(key)
        if ring is None:
            if kind not in KINDS:
                raise ValueError(f"latency kind must be one of {', '.join(KINDS)}, got {kind!r}")
            ring = self._rings[key] = LatencyRing(self._size)
        return ring

    def observe(self, provider: str, kind: str, seconds: float) -> None:
        """Record one attempt's latency."""
        self.ring(provider, kind).add(seconds)

    def adopt(self, old: "LatencyBook", providers: Iterable[str]) -> None:
        """Carry the rings of providers that still exist over from a previous config."""
        keep = set(providers)
        for key, ring in old._rings.items():
            if key[0] in keep:
                self._rings[key] = ring


def hedge_delay_s(spec: HedgeSpec, ring: LatencyRing) -> float:
    """Seconds to wait for an attempt before hedging it: the fixed `after_ms`, or the
    provider's observed quantile (never below `min_ms`), or `default_ms` while fewer than
    `min_samples` latencies have been seen."""
    if spec.after_ms is not None:
        return spec.after_ms / 1000.0
    if len(ring) < spec.min_samples:
        return spec.default_ms / 1000.0
    observed = ring.quantile(spec.quantile)
    assert observed is not None
    return max(observed, spec.min_ms / 1000.0)

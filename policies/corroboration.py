"""Corroboration of hard evidence that rests on an error's free text alone.

A vendor's message may quote the request, so one request's error text is not enough to
hard-exclude a provider for hours: the sighting is remembered (provider, failure class,
the request's fingerprint) and a second sighting on a different request within the window
corroborates it. Pure: `now` comes from the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sighting:
    """One uncorroborated piece of hard evidence."""

    provider: str
    failure_class: str
    fingerprint: str
    evidence: str
    at: float  # monotonic


class SightingBook:
    """The pending sighting per provider and failure class (one is enough: the next on a
    different request corroborates it, the next on the same request is the same sighting);
    expired ones fall away when read."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._by_key: dict[tuple[str, str], Sighting] = {}

    def sight(self, sighting: Sighting) -> Sighting | None:
        """Record `sighting`; returns the earlier sighting, on a different request, that
        it corroborates (then it is used up), or None."""
        key = (sighting.provider, sighting.failure_class)
        earlier = self._fresh(key, sighting.at)
        if earlier is None:
            self._by_key[key] = sighting
            return None
        if earlier.fingerprint == sighting.fingerprint:
            return None  # a client retrying one request is still one request (the first stands)
        del self._by_key[key]
        return earlier

    def pending(self, provider: str, now: float) -> list[Sighting]:
        """The provider's sightings still waiting for corroboration."""
        keys = [k for k in self._by_key if k[0] == provider]
        return [s for k in keys if (s := self._fresh(k, now)) is not None]

    def adopt(self, old: "SightingBook", providers: "set[str] | frozenset[str]") -> None:
        """Carry over the sightings of a previous config's book for providers still known."""
        self._by_key.update({k: v for k, v in old._by_key.items() if k[0] in providers})

    def clear(self, provider: str) -> None:
        """Forget the provider's sightings (an operator lifted its exclusion)."""
        for key in [k for k in self._by_key if k[0] == provider]:
            del self._by_key[key]

    def _fresh(self, key: tuple[str, str], now: float) -> Sighting | None:
        sighting = self._by_key.get(key)
        if sighting is not None and now - sighting.at > self.window_s:
            del self._by_key[key]
            return None
        return sighting

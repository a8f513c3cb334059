"""Outage detection: a health state machine per provider, and vendor-wide outages.

Soft unavailability only (ejection, rate-limit cooldown): hard exclusions live in
`exclusions.py`. Every method takes `now` (monotonic seconds) from the caller's clock, and
jitter comes from an injected `random.Random`, so tests drive it with a fake clock.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from crosswalk.policies.schema import HealthSpec


class State(str, enum.Enum):
    """Where a provider stands in the ejection cycle."""

    HEALTHY = "healthy"
    EJECTED = "ejected"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class ProviderHealth:
    """Ejection state of one provider (Envoy outlier detection + resilience4j half-open)."""

    spec: HealthSpec
    state: State = State.HEALTHY
    consecutive: int = 0
    failed_at: float = 0.0  # when the latest counted failure happened
    window: deque[bool] = field(default_factory=deque)  # True = failure
    ejections: int = 0
    ejected_at: float = 0.0
    ejected_until: float = 0.0
    closed_at: float = 0.0
    reason: str = ""
    probes_in_flight: int = 0
    probe_successes: int = 0
    cooldown_since: float = 0.0
    cooldown_until: float = 0.0
    cooldown_reason: str = ""

    def _tick(self, now: float) -> None:
        if self.state is State.EJECTED and now >= self.ejected_until:
            self.state = State.HALF_OPEN
            self.probes_in_flight = self.probe_successes = 0

    def available(self, now: float) -> bool:
        """May a request be sent here now (before taking a probe slot)?"""
        self._tick(now)
        if now < self.cooldown_until:
            return False
        if self.state is State.HEALTHY:
            return True
        if self.state is State.HALF_OPEN:
            return self.probes_in_flight + self.probe_successes < self.spec.half_open_probes
        return False

    def admit(self, now: float) -> bool:
        """Take the right to send one attempt; in half-open this takes a probe slot."""
        if not self.available(now):
            return False
        if self.state is State.HALF_OPEN:
            self.probes_in_flight += 1
        return True

    def release(self) -> None:
        """An admitted attempt ended with no verdict on health (cancelled, or beaten by a
        hedge): it did not finish, so the failure-rate window does not count it."""
        if self.state is State.HALF_OPEN and self.probes_in_flight:
            self.probes_in_flight -= 1

    def record_answered(self) -> None:
        """An attempt finished with an answer that says nothing against the provider being
        up (a 4xx about the request, a rate limit, a hard exclusion's refusal): a finished
        call, so it counts in the failure-rate window as a non-failure. It is no probe
        success and leaves the consecutive-failure count alone."""
        self.release()
        if self.state is not State.EJECTED:
            self._push(False)

    def record_success(self, now: float) -> None:
        """An attempt succeeded."""
        self.consecutive = 0
        self._push(False)
        if self.state is State.HALF_OPEN:
            self.probes_in_flight = max(0, self.probes_in_flight - 1)
            self.probe_successes += 1
            if self.probe_successes >= self.spec.half_open_probes:
                self._close(now)

    def _close(self, now: float) -> None:
        self.state = State.HEALTHY
        self.closed_at = now
        self.reason = ""
        self.consecutive = 0  # late failures counted while ejected belong to the outage
        self.window.clear()
        self.probe_successes = 0

    def record_failure(self, now: float, rng: random.Random, cause: str) -> bool:
        """A TRANSIENT/TIMEOUT-like failure. Returns True when it ejected the provider."""
        if self.state is State.EJECTED:
            # An attempt admitted before the ejection, finishing late: the outage it saw is
            # the one already acted on, and it must not count against the next period.
            return False
        self.consecutive += 1
        self.failed_at = now
        self._push(True)
        if self.state is State.HALF_OPEN:
            self.eject(now, rng, f"probe failed: {cause}")
            return True
        spec = self.spec
        if self.consecutive >= spec.consecutive_failures:
            self.eject(now, rng, f"{self.consecutive} consecutive failures, last: {cause}")
            return True
        if len(self.window) >= spec.min_calls:
            rate = sum(self.window) / len(self.window)
            if rate >= spec.failure_rate:
                self.eject(now, rng, f"{rate:.0%} of the last {len(self.window)} calls failed, last: {cause}")
                return True
        return False

    def eject(self, now: float, rng: random.Random, reason: str) -> None:
        """Eject for base x (consecutive ejections), capped, with +/- jitter; healthy
        time since the last close forgives one ejection per `ejection_base_s`."""
        spec = self.spec
        if self.state is State.HEALTHY and self.ejections:
            forgiven = int((now - self.closed_at) // spec.ejection_base_s)
            self.ejections = max(0, self.ejections - forgiven)
        self.ejections += 1
        duration = min(spec.ejection_base_s * self.ejections, spec.ejection_max_s)
        duration *= 1.0 + spec.jitter * (2.0 * rng.random() - 1.0)
        self.state = State.EJECTED
        self.ejected_at = now
        self.ejected_until = now + duration
        self.reason = reason
        self.consecutive = 0
        self.window.clear()
        self.probes_in_flight = self.probe_successes = 0

    def probe_succeeded(self, now: float) -> None:
        """A background probe answered. While ejected, that ends the ejection at once: the
        provider turns half-open with the probe as its first trial success, so live
        requests take the other trial slots and close it (waiting for the rest of the
        trials to come from probes, one `probe_interval_s` apart, kept callers on the
        fallback for several intervals after the provider had recovered)."""
        self._tick(now)
        if self.state is State.EJECTED:
            self.state = State.HALF_OPEN
            self.ejected_until = now
            self.probes_in_flight = self.probe_successes = 0
        if self.state is State.HALF_OPEN:
            # A trial success that took no slot (live requests may hold theirs).
            self.probe_successes += 1
            if self.probe_successes >= self.spec.half_open_probes:
                self._close(now)

    def eject_until(self, now: float, until: float, reason: str) -> bool:
        """Eject until `until` because another replica did (shared state). Never shortens
        a longer ejection here, and is not counted as one of this replica's own ejections
        (the escalation of the ejection time stays local). Returns whether it applied."""
        self._tick(now)
        if until <= now or (self.state is State.EJECTED and until <= self.ejected_until):
            return False
        if self.state is not State.EJECTED:
            self.ejected_at = now
        self.state = State.EJECTED
        self.ejected_until = until
        self.reason = reason
        self.consecutive = 0
        self.window.clear()
        self.probes_in_flight = self.probe_successes = 0
        return True

    def reopen(self, now: float, since: float) -> bool:
        """Another replica's probe got an answer at `since`: end an ejection that began no
        later (half-open; its trials are this replica's own). Returns whether it applied."""
        self._tick(now)
        if self.state is not State.EJECTED or self.ejected_at > since:
            return False  # nothing to end, or an ejection on newer evidence
        self.state = State.HALF_OPEN
        self.ejected_until = now
        self.probes_in_flight = self.probe_successes = 0
        return True

    def cool_down(self, now: float, seconds: float, reason: str) -> None:
        """Rate limited: keep away for `seconds`; never shortens a longer cooldown."""
        until = now + seconds
        if until > self.cooldown_until:
            if now >= self.cooldown_until:
                self.cooldown_since = now
            self.cooldown_until = until
            self.cooldown_reason = reason

    def unavailable_since(self) -> float:
        """When this provider last became soft-unavailable (for the panic rule)."""
        return self.ejected_at if self.state is not State.HEALTHY else self.cooldown_since

    def available_at(self, now: float) -> float:
        """Earliest time this provider may be tried again (now if it may be now)."""
        self._tick(now)
        at = self.ejected_until if self.state is State.EJECTED else now
        return max(at, self.cooldown_until, now)

    def _push(self, failed: bool) -> None:
        self.window.append(failed)
        while len(self.window) > self.spec.window:  # `while`: a reload may have shortened the window
            self.window.popleft()


class HealthBook:
    """Health of every provider, plus vendor outages: when `vendor_outage_min` providers
    of one vendor are ejected together, the vendor's other providers are ejected too."""

    def __init__(self, spec: HealthSpec, vendors: Mapping[str, str], *, rng: random.Random) -> None:
        self.spec = spec
        self._vendors = dict(vendors)
        self._rng = rng
        self._health: dict[str, ProviderHealth] = {name: ProviderHealth(spec) for name in vendors}

    def __getitem__(self, provider: str) -> ProviderHealth:
        return self._health[provider]

    def items(self) -> Iterable[tuple[str, ProviderHealth]]:
        """(provider, health) pairs."""
        return self._health.items()

    def record_failure(self, provider: str, now: float, cause: str) -> list[str]:
        """Record a health-relevant failure; returns every provider ejected by it."""
        health = self._health[provider]
        if not health.record_failure(now, self._rng, cause):
            return []
        ejected = [provider]
        vendor = self._vendors[provider]
        siblings = [n for n, v in self._vendors.items() if v == vendor]
        for name in siblings:
            # An ejection that ran out while nobody asked is over: it is no part of an outage now.
            self._health[name]._tick(now)
        down = [n for n in siblings if self._health[n].state is State.EJECTED]
        if len(down) >= self.spec.vendor_outage_min:
            for name in siblings:
                sibling = self._health[name]
                if sibling.state is not State.EJECTED:
                    sibling.eject(now, self._rng, f"vendor '{vendor}' outage: {', '.join(sorted(down))} ejected")
                    ejected.append(name)
        return ejected

    def adopt(self, old: "HealthBook") -> None:
        """Carry state over from a previous book for providers that still exist."""
        for name, health in old.items():
            if name in self._health:
                health.spec = self.spec
                while len(health.window) > self.spec.window:  # the rate is over the new window at once
                    health.window.popleft()
                self._health[name] = health

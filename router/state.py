"""Shared routing state held in memory: compliance verdicts, health, hard exclusions,
retry budget. One `RouterState` per config; it survives a reload for providers that still
exist (`adopt`). Listeners hear of ejections and exclusions as they happen."""

from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Callable

from crosswalk.policies.actions import Action
from crosswalk.policies.budget import RetryBudget
from crosswalk.policies.compliance import ComplianceTable, Verdict
from crosswalk.policies.config import RouterConfig, StepConf
from crosswalk.policies.corroboration import Sighting, SightingBook
from crosswalk.policies.exclusions import Exclusion, ExclusionBook
from crosswalk.policies.health import HealthBook
from crosswalk.policies.latency import LatencyBook
from crosswalk.policies.selection import Choice, Row, choose, explain
from crosswalk.providers.classify import Classification, FailureClass
from crosswalk.providers.errors import ProviderError
from crosswalk.router.clock import Clock

log = logging.getLogger("crosswalk")


@dataclass(frozen=True, slots=True)
class Event:
    """Something that changed a provider's standing: kind is ejected | excluded | cooled |
    lifted (an operator lifted its exclusion). `until` is when it ends (monotonic; None:
    until the config changes); an exclusion carries its `Exclusion`, evidence included
    (what a shared-state sync publishes); a lift carries when it happened in `since`."""

    kind: str
    provider: str
    reason: str
    until: float | None = None
    exclusion: Exclusion | None = None
    since: float | None = None


@dataclass(frozen=True, slots=True)
class Lift:
    """What an operator's lift took away: the exclusion in force (if any) and how many
    sightings were still waiting for corroboration."""

    exclusion: Exclusion | None
    sightings: int


class RouterState:
    """Health, exclusions, budget and compliance for one config, in this process."""

    def __init__(self, config: RouterConfig, clock: Clock, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()  # ejection and backoff jitter: seeded in tests
        self.health = HealthBook(config.health, {n: p.vendor for n, p in config.providers.items()}, rng=self.rng)
        self.exclusions = ExclusionBook()
        self.sightings = SightingBook(config.health.corroboration_window_s)
        self.lifted: dict[str, float] = {}  # provider -> when an operator last lifted it (monotonic)
        self.budget = RetryBudget(config.retry_budget)
        self.latency = LatencyBook()  # recent attempt latencies: the hedge delay's `after: pNN`
        self.compliance = ComplianceTable(config)
        self._today = clock.wall().date()
        self._date_checked_at = clock.now()
        self.listeners: list[Callable[[Event], None]] = []
        self.recent: dict[str, deque[tuple[str, str]]] = {name: deque(maxlen=10) for name in config.providers}

    def verdicts(self, step: StepConf) -> dict[str, Verdict]:
        """Compliance verdicts for the step's providers, today."""
        now = self.clock.now()
        if now >= self._date_checked_at + 1.0:  # the date can only change between seconds
            self._today = self.clock.wall().date()
            self._date_checked_at = now
        return self.compliance.for_step(step, self._today)

    def choose(self, step: StepConf, *, skip: set[str], allow_panic: bool) -> Choice | None:
        """The provider for the step's next attempt, or None."""
        return choose(step, self.verdicts(step), self.health, self.exclusions, self.clock.now(), skip=skip, allow_panic=allow_panic)

    def explain(self, step: StepConf) -> list[Row]:
        """Every provider of the step with its standing and why."""
        return explain(step, self.verdicts(step), self.health, self.exclusions, self.clock.now())

    def standing(self, provider: str, now: float) -> str:
        """excluded | cooling_down | healthy | half_open | ejected, as the proxy and the
        metrics report it (an ejection that ran out turns half-open here)."""
        health = self.health[provider]
        health.available(now)
        if self.exclusions.active(provider, now) is not None:
            return "excluded"
        return "cooling_down" if now < health.cooldown_until else health.state.value

    def record_success(self, provider: str) -> None:
        """An attempt succeeded."""
        self.health[provider].record_success(self.clock.now())

    def release(self, provider: str) -> None:
        """An admitted attempt ended without saying anything about the provider's health."""
        self.health[provider].release()

    def record_failure(self, provider: str, action: Action, outcome: Classification, error: ProviderError,
                       *, fingerprint: str | None = None) -> None:
        """Apply a failed attempt to health, exclusions and cooldowns, per its action.
        `fingerprint` names the request (None: our own, such as a probe): hard evidence
        from free text alone excludes only once a different request corroborates it."""
        now = self.clock.now()
        self.recent[provider].append((self.clock.wall().isoformat(timespec="seconds"), outcome.failure_class.value))
        if action.health:
            for name in self.health.record_failure(provider, now, error.evidence()):
                self._emit(Event("ejected", name, self.health[name].reason, self.health[name].ejected_until))
            return
        # The provider answered, and what it said is no sign of it being down: a finished
        # call in the failure-rate window, not a failure.
        self.health[provider].record_answered()
        if action.exclude:
            if outcome.structured or fingerprint is None:
                self._exclude(provider, outcome, error, now)
            else:
                self._sighted(provider, outcome, error, fingerprint, now)
        elif action.cooldown:
            seconds = outcome.retry_after_s if outcome.retry_after_s is not None else self.config.health.rate_limit_default_s
            self.health[provider].cool_down(now, seconds, error.evidence())
            self._emit(Event("cooled", provider, f"{seconds:g}s: {error.evidence()}", self.health[provider].cooldown_until))

    def _sighted(self, provider: str, outcome: Classification, error: ProviderError, fingerprint: str, now: float) -> None:
        cls = outcome.failure_class.value
        earlier = self.sightings.sight(Sighting(provider, cls, fingerprint, error.evidence(), now))
        if earlier is None:
            log.warning("crosswalk: provider %s: %s evidence in an error's text only, not excluding until a different "
                        "request shows it within %gs: %s", provider, cls, self.config.health.corroboration_window_s, error.evidence())
            return
        self._exclude(provider, outcome, error, now, basis="corroborated")

    def _exclude(self, provider: str, outcome: Classification, error: ProviderError, now: float, *, basis: str = "structured") -> None:
        spec = self.config.health
        cls = outcome.failure_class
        if cls is FailureClass.REGULATORY:
            until: float | None = now + spec.regulatory_reprobe_s if spec.reprobe_excluded else None
        elif cls is FailureClass.QUOTA:
            until = now + (outcome.retry_after_s or spec.quota_reset_s)
        else:
            until = None  # AUTH: until the config (the key) changes
        exclusion = Exclusion(provider, cls.value, error.evidence(), self.clock.wall().isoformat(timespec="seconds"), now, until, basis)
        self.exclusions.add(exclusion)
        log.warning("crosswalk: provider %s hard-excluded: %s", provider, exclusion.describe())
        self._emit(Event("excluded", provider, f"{cls.value}: {exclusion.evidence}", until, exclusion))

    def lift(self, provider: str, *, by: str) -> Lift:
        """An operator lifts the provider's hard exclusion and forgets its pending
        sightings; other replicas are told (a "lifted" event), even when this one had
        nothing to lift, since theirs may."""
        now = self.clock.now()
        exclusion = self.exclusions.active(provider, now)
        sightings = len(self.sightings.pending(provider, now))
        self.exclusions.clear(provider)
        self.sightings.clear(provider)
        self.lifted[provider] = now
        was = exclusion.describe() if exclusion is not None else "no exclusion in force here"
        log.warning("crosswalk: provider %s: exclusion lifted by %s (was: %s; %d pending sightings dropped)", provider, by, was, sightings)
        self._emit(Event("lifted", provider, f"lifted by {by}", None, since=now))
        return Lift(exclusion, sightings)

    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def apply_remote(self, event: Event) -> bool:
        """Apply another replica's ejection, cooldown or exclusion (shared state), its
        `until` already on this clock. Listeners are not told, so nothing learned from
        elsewhere is published again. Returns whether it changed anything here."""
        now = self.clock.now()
        if event.kind == "lifted":
            return event.provider in self.config.providers and self._lifted_remotely(event.provider, event.since, now)
        if event.provider not in self.config.providers or (event.until is not None and event.until <= now):
            return False
        if event.kind == "excluded" and event.exclusion is not None:
            current = self.exclusions.active(event.provider, now)
            if current is not None and current.describe() == event.exclusion.describe():
                return False  # already known here (the same vendor answer, at the same time)
            self.exclusions.add(event.exclusion)
            return self.exclusions.active(event.provider, now) is event.exclusion
        if event.until is None:
            return False
        health = self.health[event.provider]
        if event.kind == "ejected":
            return health.eject_until(now, event.until, event.reason)
        if event.kind == "cooled" and event.until > health.cooldown_until:
            health.cool_down(now, event.until - now, event.reason)
            return True
        return False

    def _lifted_remotely(self, provider: str, at: float | None, now: float) -> bool:
        """Another replica's operator lifted `provider` at `at` (this clock): an exclusion
        that began before then goes; one that began after rests on newer evidence."""
        at = now if at is None else at
        self.sightings.clear(provider)
        current = self.exclusions.active(provider, now)
        if current is None or current.since > at:
            return False
        self.exclusions.clear(provider)
        self.lifted[provider] = max(at, self.lifted.get(provider, at))
        return True

    def adopt(self, old: "RouterState") -> None:
        """Carry health and exclusions over from the state of a previous config; an
        exclusion is dropped when its provider's entry changed."""
        self.health.adopt(old.health)
        for exclusion in old.exclusions.all(self.clock.now()):
            # A changed provider entry (new key, model or endpoint) earns a fresh chance.
            if old.config.providers.get(exclusion.provider) == self.config.providers.get(exclusion.provider):
                self.exclusions.add(exclusion)
        self.budget = old.budget
        self.sightings.adopt(old.sightings, set(self.config.providers))
        self.lifted = {n: at for n, at in old.lifted.items() if n in self.config.providers}
        self.latency.adopt(old.latency, [n for n, p in self.config.providers.items() if old.config.providers.get(n) == p])
        for name, recent in old.recent.items():
            if name in self.recent:
                self.recent[name] = recent
        self.listeners = old.listeners

"""The routing state of one config, held in memory: compliance verdicts, health, hard
exclusions, pending sightings, retry budget, latency rings and recent history. One
`RouterState` per config; it survives a reload for providers that still exist (`adopt`).
Listeners hear of ejections and exclusions as they happen.

It is the only writer of that state and the only reader of its books (the pure
`policies/` ones): everyone else asks it a question (`standing`, `choose`, `candidates`,
`admit`...) or tells it what happened (`record_failure`, `probe_result`, `apply_remote`,
`set_fleet_budget`...), on its own clock."""

from __future__ import annotations

import logging
import random
from collections import deque
from typing import Callable

from crosswalk.policies.actions import Action, action_for
from crosswalk.policies.budget import RetryBudget
from crosswalk.policies.compliance import ComplianceTable, Verdict
from crosswalk.policies.config import RouterConfig, StepConf
from crosswalk.policies.corroboration import Sighting, SightingBook
from crosswalk.policies.exclusions import Exclusion, ExclusionBook
from crosswalk.policies.health import HealthBook, State
from crosswalk.policies.latency import LatencyBook, LatencyRing
from crosswalk.policies.outage import step_down
from crosswalk.policies.selection import Choice, Row, choose, explain
from crosswalk.providers.classify import Classification, FailureClass, classify
from crosswalk.providers.errors import ProviderError
from crosswalk.router import logs
from crosswalk.router.clock import Clock
from crosswalk.router.state.standing import Event, Lift, Standing

log = logging.getLogger("crosswalk")

RECENT_FAILURES = 10  # per provider, for the provider-state endpoint
RECENT_PROBES = 5


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
        self.recent: dict[str, deque[tuple[str, str]]] = {n: deque(maxlen=RECENT_FAILURES) for n in config.providers}
        self.probes: dict[str, deque[tuple[str, str]]] = {n: deque(maxlen=RECENT_PROBES) for n in config.providers}

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Have `listener` hear of this process's own ejections, reopenings, exclusions,
        cooldowns and lifts."""
        self.listeners.append(listener)

    def unlisten(self, listener: Callable[[Event], None]) -> None:
        """Stop telling `listener` (nothing happens if it was not listening)."""
        if listener in self.listeners:
            self.listeners.remove(listener)

    # -- reading ---------------------------------------------------------------------------

    def standing(self, provider: str) -> Standing:
        """Where `provider` stands now (an ejection that ran out turns half-open here)."""
        return self._standing(provider, self.clock.now())

    def standings(self) -> list[Standing]:
        """Every configured provider's standing now, in config order, at one instant."""
        now = self.clock.now()
        return [self._standing(name, now) for name in self.config.providers]

    def _standing(self, provider: str, now: float) -> Standing:
        health = self.health[provider]
        health.available(now)  # lets an expired ejection turn half-open
        exclusion = self.exclusions.active(provider, now)
        cooling = now < health.cooldown_until
        if exclusion is not None:
            state = "excluded"
        else:
            state = "cooling_down" if cooling else health.state.value
        ejected = health.state is State.EJECTED
        return Standing(
            provider, now, state, health.state.value,  # type: ignore[arg-type]  # State's values are the Literal's
            health.reason or None, health.ejected_until if ejected else None,
            (health.cooldown_reason or None) if cooling else None, health.cooldown_until if cooling else None,
            exclusion, tuple(self.sightings.pending(provider, now)),
            tuple(self.recent.get(provider, ())), tuple(self.probes.get(provider, ())), self.lifted.get(provider),
        )

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

    def candidates(self, step: StepConf) -> list[str]:
        """The step's providers that compliance allows and no hard exclusion bars, those
        that may be called right now first (rank kept within each group): a verified
        step's panel."""
        verdicts = self.verdicts(step)
        now = self.clock.now()
        names = [n for n in step.providers if verdicts[n].eligible and self.exclusions.active(n, now) is None]
        names.sort(key=lambda n: not self.health[n].available(now))  # stable: healthy first, rank kept
        return names

    def step_down(self, step: StepConf, *, failed: str) -> bool:
        """Is every provider of the step down now, right after `failed` failed (a total
        outage: no same-provider retry)?"""
        return step_down(step, self.verdicts(step), self.health, self.exclusions, self.clock.now(), failed=failed)

    def available(self, provider: str) -> bool:
        """May an attempt be sent to `provider` now (without taking a half-open probe slot)?"""
        return self.health[provider].available(self.clock.now())

    def cooldown_until(self, provider: str) -> float:
        """When the provider's rate-limit cooldown ends (monotonic; in the past if none)."""
        return self.health[provider].cooldown_until

    def latency_ring(self, provider: str, kind: str) -> LatencyRing:
        """The provider's recent latencies of `kind` ("complete" or "ttft")."""
        return self.latency.ring(provider, kind)

    def budget_window(self) -> tuple[int, int, int]:
        """(first attempts, retries, retries allowed) in the retry budget's window now, the
        rest of the fleet's included."""
        return self.budget.snapshot(self.clock.now())

    def due_for_probe(self) -> list[str]:
        """Providers a background probe should try now: ejected and half-open ones (a
        half-open provider closes on probe answers even with no live traffic, so a fallback
        is not left with few trial slots), and regulatory exclusions about to lapse (only
        when `health.reprobe_excluded` allows it)."""
        spec = self.config.health
        now = self.clock.now()
        names = []
        for name, health in self.health.items():
            exclusion = self.exclusions.active(name, now)
            if exclusion is not None:
                lapsing = exclusion.until is not None and exclusion.until - now <= spec.probe_interval_s
                if exclusion.failure_class == FailureClass.REGULATORY.value and spec.reprobe_excluded and lapsing:
                    names.append(name)
            elif health.state is not State.HEALTHY:  # as recorded: an ejection that ran out unobserved is probed too
                names.append(name)
        return names

    # -- what happened ---------------------------------------------------------------------

    def admit(self, provider: str) -> bool:
        """Take the right to send one attempt to `provider` now (a probe slot in half-open)."""
        return self.health[provider].admit(self.clock.now())

    def first_attempt(self) -> None:
        """A request made its first attempt (the retry budget grows with these)."""
        self.budget.record_first(self.clock.now())

    def spend_retry(self) -> bool:
        """Take one retry (or hedge) from the retry budget; False when it is spent."""
        return self.budget.try_spend(self.clock.now())

    def set_fleet_budget(self, firsts: int, retries: int) -> None:
        """The rest of the fleet's first attempts and retries in the budget's window (from
        shared state; (0, 0) when there is none, or it is down)."""
        self.budget.set_fleet(firsts, retries)

    def observe_latency(self, provider: str, kind: str, seconds: float) -> None:
        """An attempt's latency of `kind` ("complete" or "ttft"), for hedge delays."""
        self.latency.observe(provider, kind, seconds)

    def record_success(self, provider: str) -> None:
        """An attempt succeeded."""
        health = self.health[provider]
        was = health.state
        health.record_success(self.clock.now())
        if was is not State.HEALTHY and health.state is State.HEALTHY:
            self._recovered(provider, "half-open calls answered")

    def _recovered(self, provider: str, how: str) -> None:
        logs.event(log, logging.WARNING, "recovered", provider, "crosswalk: provider %s recovered (%s); back in rotation", provider, how, how=how)

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
                health = self.health[name]
                logs.event(log, logging.WARNING, "ejected", name, "crosswalk: provider %s ejected for %.1fs: %s", name,
                           health.ejected_until - now, health.reason, for_s=round(health.ejected_until - now, 3), reason=health.reason)
                self._emit(Event("ejected", name, health.reason, health.ejected_until))
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

    def probe_result(self, provider: str, error: ProviderError | None = None) -> str:
        """Apply a background probe's outcome (`error` None: it answered) and remember it;
        returns the result as the probe history and the metrics name it: "ok" or the
        failure class. An answer ends an ejection at once (half-open; `half_open_probes`
        trial answers, live or probed, close it) and lifts a lapsing exclusion; a hard
        failure renews the exclusion from now with the new evidence; a failed trial of a
        half-open provider ejects it again; any other failure leaves the ejection as long
        as it was."""
        if error is None:
            now = self.clock.now()
            if self.exclusions.active(provider, now) is not None:
                self.exclusions.clear(provider)
                log.warning("crosswalk: provider %s answered a re-probe; its exclusion is lifted", provider)
            health = self.health[provider]
            health.available(now)  # an ejection that ran out is half-open now: nothing to reopen
            until = health.ejected_until if health.state is State.EJECTED else None
            was = health.state
            health.probe_succeeded(now)
            if until is not None:  # the other replicas end their ejection of it too
                self._emit(Event("reopened", provider, "a probe got an answer", until, since=now))
            if was is not State.HEALTHY and health.state is State.HEALTHY:
                self._recovered(provider, "background probes answered")
            result = "ok"
        else:
            outcome = classify(error, model=self.config.providers[provider].model)
            action = action_for(outcome.failure_class)
            result = outcome.failure_class.value
            health = self.health[provider]
            health.available(self.clock.now())  # an ejection that ran out is half-open now
            if action.exclude:
                self.exclusions.clear(provider)  # renewed below, from now
                self.record_failure(provider, action, outcome, error)
            elif action.health and health.state is State.HALF_OPEN:
                self.record_failure(provider, action, outcome, error)  # a failed trial: ejected again
            # Any other failure: an ejection stands, no longer than it was (probing never
            # lengthens an outage).
        self.probes[provider].append((self.clock.wall().isoformat(timespec="seconds"), result))
        return result

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
        logs.event(log, logging.WARNING, "excluded", provider, "crosswalk: provider %s hard-excluded: %s", provider, exclusion.describe(),
                   failure_class=cls.value, evidence=exclusion.evidence, basis=basis, until_s=None if until is None else round(until - now, 1))
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
        logs.event(log, logging.WARNING, "lifted", provider, "crosswalk: provider %s: exclusion lifted by %s (was: %s; %d pending sightings dropped)",
                   provider, by, was, sightings, by=by)
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
        if event.kind == "reopened":
            return health.reopen(now, now if event.since is None else event.since)
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
        for books, old_books in ((self.recent, old.recent), (self.probes, old.probes)):
            for name, recent in old_books.items():
                if name in books:
                    books[name] = recent
        self.listeners = old.listeners

"""Prometheus metrics (`crosswalk_` prefix, base units), fed from decision records.

The engine reports each finished request once (`request_done`), so the hot path pays a
handful of counter increments; provider state and the retry budget are read from
`RouterState` at scrape time by a collector, costing nothing per request. The registry is
injected (no global state), so several routers in one process never collide.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from policies.health import State
from router.errors import CrosswalkError
from router.records import DecisionRecord
from router.state import Event, RouterState

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The Crosswalk metric families on one `CollectorRegistry`."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("crosswalk_requests", "Requests by step and outcome (ok or the error type).", ["step", "outcome"], registry=r)
        self.attempts = Counter("crosswalk_attempts", "Attempts by step, provider and result (ok or failure class).", ["step", "provider", "result"], registry=r)
        self.failovers = Counter("crosswalk_failovers", "Moves of a request from one provider to another.", ["step"], registry=r)
        self.ejections = Counter("crosswalk_ejections", "Provider ejections (outage detection).", ["provider"], registry=r)
        self.exclusions = Counter("crosswalk_exclusions", "Hard exclusions (regulatory, auth, quota).", ["provider"], registry=r)
        self.cooldowns = Counter("crosswalk_cooldowns", "Rate-limit cooldowns started.", ["provider"], registry=r)
        self.latency = Histogram("crosswalk_request_duration_seconds", "Whole-request latency, retries included.", ["step"], buckets=_LATENCY_BUCKETS, registry=r)
        self.attempt_latency = Histogram("crosswalk_attempt_duration_seconds", "Latency of single attempts.", ["provider"], buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("crosswalk_time_to_first_token_seconds", "Time to the first streamed token the caller received.", ["step"], buckets=_LATENCY_BUCKETS, registry=r)
        self._state: Callable[[], RouterState] | None = None

    def watch(self, state: Callable[[], RouterState]) -> None:
        """Export provider state and retry budget from whatever `state()` returns at scrape
        time (a callable, so a config reload is followed)."""
        if self._state is None:
            self.registry.register(_StateCollector(state))
        self._state = state

    def on_event(self, event: Event) -> None:
        """Listener for `RouterState` events."""
        family = {"ejected": self.ejections, "excluded": self.exclusions, "cooled": self.cooldowns}.get(event.kind)
        if family is not None:
            family.labels(event.provider).inc()

    def request_done(self, record: DecisionRecord, error: CrosswalkError | None) -> None:
        """Count a finished request and its attempts."""
        step = record.step
        self.requests.labels(step, "ok" if error is None else error.error_type).inc()
        self.latency.labels(step).observe(record.latency_s)
        for attempt in record.attempts:
            self.attempts.labels(step, attempt.provider, attempt.failure_class or "ok").inc()
            self.attempt_latency.labels(attempt.provider).observe(attempt.latency_s)
        moves = record.failovers
        if moves:
            self.failovers.labels(step).inc(moves)

    def first_token(self, step: str, seconds: float) -> None:
        """A stream's first token reached the caller."""
        self.ttft.labels(step).observe(seconds)


class _StateCollector:
    def __init__(self, state: Callable[[], RouterState]) -> None:
        self._state = state

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        state = self._state()
        now = state.clock.now()
        gauge = GaugeMetricFamily("crosswalk_provider_state", "1 for the provider's current state.", labels=["provider", "state"])
        for name, health in state.health.items():
            health.available(now)  # lets an expired ejection turn half-open
            current = "excluded" if state.exclusions.active(name, now) else ("cooling_down" if now < health.cooldown_until else health.state.value)
            for value in ("excluded", "cooling_down", *(s.value for s in State)):
                gauge.add_metric([name, value], 1.0 if value == current else 0.0)
        yield gauge
        firsts, retries, allowed = state.budget.snapshot(now)
        budget = GaugeMetricFamily("crosswalk_retry_budget", "Retry budget over its window.", labels=["kind"])
        budget.add_metric(["first_attempts"], firsts)
        budget.add_metric(["retries"], retries)
        budget.add_metric(["allowed"], allowed)
        yield budget

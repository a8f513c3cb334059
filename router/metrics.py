"""Prometheus metrics (`crosswalk_` prefix, base units), fed from decision records.

The hot path only bumps plain counters in dicts (one finished request = a few dict
updates); a collector turns them into metric families at scrape time, together with
provider standings and the retry budget asked of `RouterState`. prometheus_client's own
Counter/Histogram cost several microseconds per update (locks, label validation), which
showed up as a quarter of the router's own time under load. The registry is injected (no
global state), so several routers in one process never collide.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import Any, Callable, Iterator

from crosswalk.router.errors import CrosswalkError
from crosswalk.router.recent import RecentDecisions
from crosswalk.router.records import AgreementRecord, Attempt, DecisionRecord, SeamFlag
from crosswalk.router.state import STATES, Event, RouterState

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Histogram:
    """Bucket counts (non-cumulative) and a sum, per label tuple."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        row = self.series.get(labels)
        if row is None:
            row = self.series[labels] = [0.0] * (len(BUCKETS) + 2)  # buckets, +Inf, sum
        row[bisect_left(BUCKETS, value)] += 1
        row[-1] += value


class Metrics:
    """The Crosswalk metric families, exported on one `CollectorRegistry`.

    Counts are exact when one event loop drives the router (the proxy, or one SDK face);
    mixing the blocking and async SDK faces on one router from two threads may rarely
    lose an increment, never corrupt one."""

    def __init__(self, registry: Any = None, *, process: bool = False) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        if process:  # the proxy's own process: CPU, memory, file descriptors, GC, Python version
            from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

            for collector in (ProcessCollector, PlatformCollector, GCCollector):
                collector(registry=self.registry)
        self.requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.attempts: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.failovers: defaultdict[str, int] = defaultdict(int)
        self.events: defaultdict[tuple[str, str], int] = defaultdict(int)  # (kind, provider)
        self.agreements: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
        self.first_try: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.hedges: defaultdict[tuple[str, str], int] = defaultdict(int)  # (step, sent | won)
        self.probes: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.invalid: defaultdict[tuple[str, str, str], int] = defaultdict(int)  # (step, provider, rule)
        self.tokens: defaultdict[tuple[str, str, str], int] = defaultdict(int)  # (step, provider, prompt | completion)
        self.recoveries: defaultdict[tuple[str, str, str], int] = defaultdict(int)  # (step, mode, outcome)
        self.recent = RecentDecisions()  # the operator's page (/ui): the last notable decisions
        self.seams: defaultdict[tuple[str, str], int] = defaultdict(int)  # (from_step, to_step)
        self.verify_tokens: defaultdict[tuple[str, str, str], int] = defaultdict(int)  # (step, member | judge, prompt | completion)
        self.panel_asked: defaultdict[str, int] = defaultdict(int)  # panel members asked, by step
        self.dialects: defaultdict[tuple[str, str, str], int] = defaultdict(int)  # (step, dialect, native | translated)
        self.latency = _Histogram()
        self.attempt_latency = _Histogram()
        self.ttft = _Histogram()
        self._state: Callable[[], RouterState] | None = None
        self.state_backend: Any = None  # a shared-state sync (router.state.redis_sync.RedisSync), when configured
        self.workers: Any = None  # router.worker_metrics.WorkerMetrics under `serve --workers N`
        self.registry.register(_Collector(self))

    def watch(self, state: Callable[[], RouterState]) -> None:
        """Export provider state and retry budget from whatever `state()` returns at scrape
        time (a callable, so a config reload is followed)."""
        self._state = state

    async def exposition(self) -> bytes:
        """The text exposition: this registry's, or under `serve --workers N` every worker's, merged."""
        if self.workers is not None:
            return await self.workers.exposition()
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def on_event(self, event: Event) -> None:
        """Listener for `RouterState` events (ejected, excluded, cooled)."""
        self.events[(event.kind, event.provider)] += 1

    def request_done(self, record: DecisionRecord, error: CrosswalkError | None) -> None:
        """Count a finished request and its attempts."""
        self.recent.add(record, error)
        step = record.step
        self.requests[(step, "cancelled" if record.cancelled else "ok" if error is None else error.error_type)] += 1
        self.latency.observe((step,), record.latency_s)
        if record.members:  # a verified panel: "first try" means every member answered at once
            first_ok = error is None and all(m.attempts and m.attempts[0].failure_class is None for m in record.members)
        else:
            first_ok = bool(record.attempts) and record.attempts[0].failure_class is None
        if not record.cancelled:  # a caller who went away says nothing about the first provider
            self.first_try[(step, "ok" if first_ok else "failed")] += 1
        if record.dialect != "chat":  # Chat requests are the baseline: counted above, not here
            self.dialects[(step, record.dialect, record.served or "unanswered")] += 1
        recovery = record.recovery
        if recovery is not None:
            self.recoveries[(step, recovery.mode or "none", recovery.outcome)] += 1
        self.attempts_done(step, record.attempts)
        failovers = record.failovers  # each panel member's own moves; hedges are races, not moves
        if failovers:
            self.failovers[step] += failovers
        for answered in record.members or (record,):  # a panel's tokens are each member's
            usage = answered.usage
            if usage and answered.provider:
                self._count_tokens(step, answered.provider, usage)

    def attempts_done(self, step: str, attempts: list[Attempt]) -> None:
        """Count upstream calls: every attempt of a request (request_done), and a shadow
        verification's, which belong to no request of their own."""
        for attempt in attempts:
            self.attempts[(step, attempt.provider, attempt.result)] += 1
            self.attempt_latency.observe((attempt.provider,), attempt.latency_s)
            if attempt.hedge:
                self.hedges[(step, "sent")] += 1
                if attempt.result == "ok":
                    self.hedges[(step, "won")] += 1

    def _count_tokens(self, step: str, provider: str, usage: dict[str, Any]) -> None:
        for kind in ("prompt", "completion"):
            count = usage.get(f"{kind}_tokens")
            if type(count) is int and count > 0:  # a vendor's usage is not trusted to be well-formed
                self.tokens[(step, provider, kind)] += count

    def agreement(self, step: str, comparator: str, decision: str, mode: str) -> None:
        """A verified request's outcome (agreed, disagreed, inconclusive)."""
        self.agreements[(step, comparator, decision, mode)] += 1

    def verification_spend(self, step: str, agreement: AgreementRecord) -> None:
        """What a verified request's panel cost: members asked, tokens of members and judge."""
        self.panel_asked[step] += agreement.asked
        for role, usage in (("member", agreement.member_usage), ("judge", agreement.judge_usage)):
            for kind in ("prompt", "completion"):
                count = usage.get(f"{kind}_tokens", 0)
                if count > 0:
                    self.verify_tokens[(step, role, kind)] += count

    def seam(self, flag: SeamFlag) -> None:
        """A request carried a near miss of an amount an earlier step of its run answered."""
        self.seams[(flag.from_step, flag.to_step)] += 1

    def invalid_output(self, step: str, provider: str, rule: str) -> None:
        """An answer broke one of the step's validators (each rule broken counts once)."""
        self.invalid[(step, provider, rule)] += 1

    def probe(self, provider: str, result: str) -> None:
        """An active probe's outcome (ok or the failure class)."""
        self.probes[(provider, result)] += 1

    def first_token(self, step: str, seconds: float) -> None:
        """A stream's first token reached the caller."""
        self.ttft.observe((step,), seconds)


class _Collector:
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        m = self._m
        yield _counter(CounterMetricFamily, "crosswalk_requests", "Requests by step and outcome (ok, cancelled: the caller went away, or the error type).", ["step", "outcome"], m.requests)
        yield _counter(CounterMetricFamily, "crosswalk_attempts", "Upstream calls by step, provider and result (ok, cancelled or the failure class), each counted once.", ["step", "provider", "result"], m.attempts)
        yield _counter(CounterMetricFamily, "crosswalk_failovers", "Moves of a request from one provider to another.", ["step"], {(k,): v for k, v in m.failovers.items()})
        yield _counter(CounterMetricFamily, "crosswalk_agreement", "Verified requests by step, comparator, decision and mode (inline or shadow). "
                       "Disagreement is strong evidence of an error; agreement is weak evidence of truth.",
                       ["step", "comparator", "decision", "mode"], m.agreements)
        yield _counter(CounterMetricFamily, "crosswalk_probes", "Active probes of ejected or excluded providers, by result.",
                       ["provider", "result"], m.probes)
        yield _counter(CounterMetricFamily, "crosswalk_hedges", "Hedged requests sent (result=sent) and those that answered first (result=won).",
                       ["step", "result"], m.hedges)
        yield _counter(CounterMetricFamily, "crosswalk_invalid_outputs", "Answers that broke a step's output validators, by step, provider and rule.",
                       ["step", "provider", "rule"], m.invalid)
        yield _counter(CounterMetricFamily, "crosswalk_tokens", "Tokens by step, answering provider and kind (prompt or completion), "
                       "as the vendors' usage reported them (streams: when the caller asked for stream_options.include_usage).",
                       ["step", "provider", "kind"], m.tokens)
        yield _counter(CounterMetricFamily, "crosswalk_stream_recoveries", "Streams that broke after their first token, by step, "
                       "resume mode (restart, continue-prefill, continue-user, none) and outcome (resumed, restarted, trimmed, failed, not_resumable).",
                       ["step", "mode", "outcome"], m.recoveries)
        yield _counter(CounterMetricFamily, "crosswalk_verification_tokens", "Tokens verification spent, by step, role (member: the "
                       "panel members' answers, the answering one's included; judge: the judge's calls) and kind (prompt or completion).",
                       ["step", "role", "kind"], m.verify_tokens)
        yield _counter(CounterMetricFamily, "crosswalk_panel_members_asked", "Verification panel members asked, by step "
                       "(a lazy panel asks the fewest that could reach the quorum, and more only on disagreement or failure).",
                       ["step"], {(k,): v for k, v in m.panel_asked.items()})
        yield _counter(CounterMetricFamily, "crosswalk_seam_flags", "Requests carrying a near miss of an amount an earlier step of "
                       "their run answered (decimal dropped or moved, digits dropped or transposed, sign lost, currency changed), "
                       "by the step that answered it and the step that received the near miss.", ["from_step", "to_step"], m.seams)
        yield _counter(CounterMetricFamily, "crosswalk_dialect_requests", "Requests in another dialect than Chat (messages), by step, "
                       "dialect and how they were served (native, translated, unanswered).", ["step", "dialect", "served"], m.dialects)
        yield _counter(CounterMetricFamily, "crosswalk_first_attempts", "First attempts by step and result: the reliability without failover.",
                       ["step", "result"], m.first_try)
        for kind, name, doc in (("ejected", "crosswalk_ejections", "Provider ejections (outage detection)."),
                                ("excluded", "crosswalk_exclusions", "Hard exclusions (regulatory, auth, quota)."),
                                ("cooled", "crosswalk_cooldowns", "Rate-limit cooldowns started.")):
            rows = {(p,): v for (k, p), v in m.events.items() if k == kind}
            yield _counter(CounterMetricFamily, name, doc, ["provider"], rows)
        for name, doc, label, hist in (
            ("crosswalk_request_duration_seconds", "Whole-request latency, retries included.", "step", m.latency),
            ("crosswalk_attempt_duration_seconds", "Latency of single attempts.", "provider", m.attempt_latency),
            ("crosswalk_time_to_first_token_seconds", "Time to the first streamed token the caller received.", "step", m.ttft),
        ):
            family = HistogramMetricFamily(name, doc, labels=[label])
            for labels, row in list(hist.series.items()):
                cumulative, buckets = 0.0, []
                for bound, count in zip((*map(str, BUCKETS), "+Inf"), row[:-1]):
                    cumulative += count
                    buckets.append((bound, cumulative))
                family.add_metric(list(labels), buckets, row[-1])
            yield family
        if m._state is not None:
            yield from _state_families(m._state(), GaugeMetricFamily)
        if m.state_backend is not None:
            yield from _backend_families(m.state_backend, GaugeMetricFamily, CounterMetricFamily)


def _counter(cls: Any, name: str, doc: str, labels: list[str], rows: dict[Any, int]) -> Any:
    family = cls(name, doc, labels=labels)
    for key, value in list(rows.items()):
        family.add_metric(list(key), value)
    return family


def _state_families(state: RouterState, gauge_cls: Any) -> Iterator[Any]:
    gauge = gauge_cls("crosswalk_provider_state", "1 for the provider's current state.", labels=["provider", "state"])
    for standing in state.standings():
        for value in STATES:
            gauge.add_metric([standing.provider, value], 1.0 if value == standing.state else 0.0)
    yield gauge
    firsts, retries, allowed = state.budget_window()
    budget = gauge_cls("crosswalk_retry_budget", "Retry budget over its sliding window.", labels=["kind"])
    budget.add_metric(["first_attempts"], firsts)
    budget.add_metric(["retries"], retries)
    budget.add_metric(["allowed"], allowed)
    yield budget


def _backend_families(sync: Any, gauge_cls: Any, counter_cls: Any) -> Iterator[Any]:
    up = gauge_cls("crosswalk_state_backend_up", "1 while the shared state backend (Redis) is reachable and in sync; "
                   "0 means this replica routes on its own state alone.", labels=["backend"])
    up.add_metric(["redis"], 1.0 if sync.up else 0.0)
    yield up
    yield _counter(counter_cls, "crosswalk_state_publish_failures", "Local ejections, exclusions and cooldowns that could not be "
                   "published to the shared state (re-pushed when it is back).", ["backend"], {("redis",): sync.publish_failures})
    yield _counter(counter_cls, "crosswalk_state_slow_round_trips", "Round trips to the shared state that took over its timeout_ms "
                   "(a few in a row count as the backend being down).", ["backend"], {("redis",): sync.slow})
    yield _counter(counter_cls, "crosswalk_state_remote_updates", "Other replicas' ejections, exclusions and cooldowns applied here.",
                   ["kind"], {(k,): v for k, v in sync.applied.items()})

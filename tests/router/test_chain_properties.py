"""Properties of the real Engine over sequences of requests, with Hypothesis drawing every
provider call's outcome as the call happens.

The providers are real `SimulatedProvider`s (latency 0, jitter 0): before each call the
test draws a `Fault` and sets it, so the errors, payloads and classification are the real
ones. Time is virtual: the event loop's clock jumps to the next timer instead of waiting,
and the router's clock reads that loop clock, so per-try, TTFT and idle timeouts, backoff
and Retry-After waits all run in virtual seconds and a hang costs no real time.

Requests go to three steps (one hedged), streamed or not; callers also give up midway
(cancellation) or stop reading a stream early. Checked after every request:
- exactly one outcome: a response, or one `CrosswalkError` (never a foreign exception,
  never both); a successful stream ends with its finish chunk, never truncated, and an
  interrupted one ends with exactly one error after a strict prefix of the answer;
- every provider call appears in the attempts (in order unless attempts raced), and
  attempts <= max_attempts;
- each attempt's failure class is the one its drawn fault must produce;
- no call starts at or after the step deadline, and the outcome arrives by it;
- no call to a provider hard-excluded at that moment, nor to a compliance-blocked one;
- a provider is tried again in a request only after TRANSIENT (same-provider retry, at
  most `retry.same_provider` times) or after RATE_LIMITED (waiting out its Retry-After);
  those repeats plus hedges fit the retry budget; at most one hedge and one panic;
- a soft-unavailable provider is called only as the panic attempt, never as a hedge;
- the answering provider is the record's provider (`resp.model` its vendor's model) and the only attempt
  that answered (the last one, unless a beaten racer is recorded after it);
- no half-open probe slot leaks, even when the caller cancels or stops reading;
  REGULATORY/AUTH/QUOTA leave the provider excluded.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from crosswalk.policies.parse import parse_config
from crosswalk.policies.health import State
from crosswalk.providers.base import ChatRequest
from crosswalk.providers.classify import classify
from crosswalk.providers.errors import ProviderError
from crosswalk.providers.simulated import Fault, SimulatedProvider
from crosswalk.router.errors import (
    CrosswalkError,
    DeadlineExceeded,
    NoEligibleProvider,
    RateLimited,
    StreamInterrupted,
    UpstreamRejected,
)
from crosswalk.router.sdk import Router
from tests.virtual_time import LoopClock, VirtualTimeLoop

# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Outcome:
    """A scripted call outcome and the failure classes it may produce per mode
    (None in a set means the call may succeed)."""

    label: str
    fault: Fault | None
    complete: frozenset[str | None]
    stream: frozenset[str | None]


def _o(label: str, fault: Fault | None, complete: set[str | None], stream: set[str | None] | None = None) -> Outcome:
    return Outcome(label, fault, frozenset(complete), frozenset(stream if stream is not None else complete))


def _http(label: str, cls: str, status: int, message: str, code: str | None = None, retry_after_s: float | None = None) -> Outcome:
    return _o(label, Fault.http(status, message, code, retry_after_s), {cls})


OK = _o("ok", None, {None})
OUTCOMES: list[Outcome] = [
    OK,
    _http("503", "transient", 503, "The server is temporarily unable to service your request (overloaded).", "service_unavailable"),
    _http("500", "transient", 500, "Internal server error"),
    _http("529", "transient", 529, "Overloaded", "overloaded_error"),
    _http("429", "rate_limited", 429, "Rate limit reached for requests", "rate_limit_exceeded"),
    _http("429-ra0.5", "rate_limited", 429, "Rate limit reached for requests", "rate_limit_exceeded", 0.5),
    _http("429-ra30", "rate_limited", 429, "Rate limit reached for requests", "rate_limit_exceeded", 30.0),
    _http("429-quota", "quota", 429, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota"),
    _http("402", "quota", 402, "Payment required"),
    _http("401", "auth", 401, "Incorrect API key provided: sk-****", "invalid_api_key"),
    _http("403-region", "regulatory", 403, "Country, region, or territory not supported", "unsupported_country_region_territory"),
    _http("451", "regulatory", 451, "Unavailable For Legal Reasons"),
    _http("400-location", "regulatory", 400, "User location is not supported for the API use.", "FAILED_PRECONDITION"),
    _http("404-withdrawn", "regulatory", 404, "The model `m` has been deprecated", "model_not_found"),
    _http("400-context", "context_length", 400, "This model's maximum context length is 8192 tokens.", "context_length_exceeded"),
    _http("400-content", "content_filter", 400, "Your request was rejected as a result of our safety system.", "content_policy_violation"),
    _http("400-client", "client", 400, "Invalid value for 'temperature': expected a number.", "invalid_request_error"),
    _http("422", "client", 422, "Unprocessable Entity"),
    _o("malformed", Fault("malformed", after_chunks=0), {"transient"}, {"stream_broken"}),
    _o("malformed-late", Fault("malformed", after_chunks=1), {"transient"}, {"stream_broken"}),
    _o("hang", Fault("hang"), {"timeout"}),
    _o("slow-0.3", Fault("slow", delay_s=0.3), {None, "timeout"}),
    _o("slow-2", Fault("slow", delay_s=2.0), {None, "timeout"}),
    # Stream-only faults: a non-streamed answer is not affected by them.
    _o("cut-0", Fault("cut", after_chunks=0), {None}, {"stream_broken"}),
    _o("cut-2", Fault("cut", after_chunks=2), {None}, {"stream_broken"}),
    _o("stall-0", Fault("stall", after_chunks=0), {None}, {"timeout"}),
    _o("stall-1", Fault("stall", after_chunks=1), {None}, {"timeout"}),
]
BY_LABEL = {o.label: o for o in OUTCOMES}
STICKY = [BY_LABEL[k] for k in ("hang", "503", "slow-2", "stall-1", "429-ra0.5")]
# Successes first (Hypothesis shrinks towards the start) and weighted so requests end.
OUTCOME_STRATEGY = st.sampled_from([OK] * 6 + OUTCOMES[1:])
# Mostly faults that spend time, so deadlines and timeouts are reached often.
TIMING_STRATEGY = st.sampled_from(
    [OK, OK]
    + [BY_LABEL[k] for k in ("hang", "hang", "slow-0.3", "slow-2", "stall-0", "stall-1", "503", "429-ra0.5", "cut-2", "400-client", "400-content")]
)


@pytest.mark.parametrize("outcome", [o for o in OUTCOMES if o.fault is not None and o.fault.kind == "http"], ids=lambda o: o.label)
async def test_each_scripted_http_fault_classifies_as_labelled(outcome):
    """The label table above is grounded in the real provider and the real classifier."""
    sim = SimulatedProvider(name="p", model="m", latency_ms=0, jitter_ms=0)
    sim.set_fault(outcome.fault)
    with pytest.raises(ProviderError) as info:
        await sim.complete(ChatRequest({"messages": MSG}))
    assert {classify(info.value).failure_class.value} == outcome.complete


# --------------------------------------------------------------------------- the world

MSG = [{"role": "user", "content": "hello"}]
PROVIDERS = {  # name: (vendor, model, context window)
    "a1": ("va", "m-a", 8000),
    "x": ("vx", "m-x", 8000),  # embargoed: compliance-blocked for every request
    "a2": ("va", "m-a", 8000),
    "b": ("vb", "m-b", 128000),
    "a3": ("va", "m-a3", 32000),
    "c": ("vc", "m-c", 64000),
}
STEPS = {"main": ["a1", "x", "a2", "b", "a3", "c"], "pair": ["c", "x", "b"], "hedged": ["b", "a1", "x", "c", "a3"]}
HEDGE = {"hedged": "hedge: {after_ms: 200}, "}  # a fixed hedge delay: a second provider after 0.2 s


def answer(name: str) -> str:
    return f"from {name} one two three four five"


def build_config(
    *, max_attempts: int, same_provider: int, ratio: float, floor: int, per_try_s: float, total_s: float, probes: int, content_failover: bool
) -> str:
    stream_s = min(per_try_s, 0.5)
    providers = "\n".join(
        f"  {n}: {{kind: simulated, model: {m}, vendor: {v}, region: us, context_window: {w}}}"
        for n, (v, m, w) in PROVIDERS.items()
    )
    steps = "\n".join(
        f"  {s}: {{providers: [{', '.join(ps)}], max_attempts: {max(max_attempts, 2) if s in HEDGE else max_attempts}, {HEDGE.get(s, '')}"
        f"failover_on_content_filter: {str(content_failover).lower()}, "
        f"timeouts: {{per_try_s: {per_try_s}, ttft_s: {stream_s}, idle_s: {stream_s}, total_s: {total_s}}}, "
        f"retry: {{same_provider: {same_provider}, backoff_base_s: 0.1, backoff_max_s: 0.5}}}}"
        for s, ps in STEPS.items()
    )
    return f"""
providers:
{providers}
steps:
{steps}
compliance:
  embargo:
    - {{vendor: vx, reason: "test embargo"}}
health:
  consecutive_failures: 2
  window: 6
  min_calls: 4
  ejection_base_s: 5
  ejection_max_s: 20
  half_open_probes: {probes}
  rate_limit_default_s: 1
  quota_reset_s: 20
  regulatory_reprobe_s: 60
  probe_interval_s: 0  # no background probes: every provider call here belongs to a request
retry_budget: {{ratio: {ratio}, min: {floor}, window_s: 1000000000}}
stream: {{resume: "off"}}  # the chain's own rules; mid-stream recovery: tests/router/test_stream_recovery.py
"""


@dataclass
class Call:
    """One provider call as the provider saw it."""

    provider: str
    outcome: Outcome
    at: float
    excluded: str | None  # the exclusion in force at call time, if any
    soft_unavailable: bool  # ejected or cooling down at call time


class ScriptedProvider(SimulatedProvider):
    """A real SimulatedProvider whose fault for each call is drawn when the call happens."""

    def __init__(self, *, machine: "RouterMachine", **kwargs) -> None:
        super().__init__(**kwargs)
        self.machine = machine

    def _script(self, mode: str) -> None:
        self.set_fault(self.machine.on_call(self.name, mode))

    async def complete(self, request):
        self._script("complete")
        return await super().complete(request)

    def stream(self, request):
        self._script("stream")
        return super().stream(request)


class RouterMachine(RuleBasedStateMachine):
    """A Router under a drawn config, sent requests whose every provider call's outcome
    is drawn by Hypothesis; time passes between requests."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = VirtualTimeLoop()
        self.clock = LoopClock(self.loop)
        self.router: Router | None = None

    @initialize(
        max_attempts=st.integers(1, 5),
        same_provider=st.integers(0, 2),
        ratio=st.sampled_from([0.0, 0.1, 0.5]),
        floor=st.integers(0, 3),
        per_try_s=st.sampled_from([0.5, 1.0]),
        total_s=st.sampled_from([1.0, 1.2, 1.5, 3.0]),
        probes=st.integers(1, 2),
        content_failover=st.booleans(),
        timing_heavy=st.booleans(),
    )
    def setup(self, max_attempts, same_provider, ratio, floor, per_try_s, total_s, probes, content_failover, timing_heavy):
        self.config = parse_config(
            build_config(
                max_attempts=max_attempts, same_provider=same_provider, ratio=ratio, floor=floor,
                per_try_s=per_try_s, total_s=total_s, probes=probes, content_failover=content_failover,
            ),
            env={},
        )
        self.ratio, self.floor = ratio, floor
        self.outcomes = TIMING_STRATEGY if timing_heavy else OUTCOME_STRATEGY
        providers = {
            name: ScriptedProvider(
                machine=self, name=name, model=model, latency_ms=0, jitter_ms=0,
                answer=answer(name), chunk_words=2, sleep=self.clock.sleep,
            )
            for name, (_, model, _) in PROVIDERS.items()
        }
        self.router = Router(self.config, clock=self.clock, providers=providers, rng=random.Random(0))
        self.events: list = []
        self.router.state.listeners.append(self.events.append)
        self.requests = 0
        self.repeats = 0
        self.calls: list[Call] = []
        self.data = None

    def teardown(self) -> None:
        try:
            if self.router is not None:
                self.loop.run(self.router.aclose())  # stops the background prober
            self.loop.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    # ------------------------------------------------------------------ the provider hook

    def on_call(self, name: str, mode: str) -> Fault | None:
        state = self.router.state
        now = self.clock.now()
        health = state.health[name]
        exclusion = state.exclusions.active(name, now)
        soft = (health.state is State.EJECTED and now < health.ejected_until) or now < health.cooldown_until
        if self.sticky is not None and self.data.draw(st.sampled_from([True, True, False]), label=f"{name} shares it"):
            outcome = self.sticky
        else:
            outcome = self.data.draw(self.outcomes, label=f"{mode} call to {name}")
        self.calls.append(Call(name, outcome, now, exclusion.describe() if exclusion else None, soft))
        return outcome.fault

    # ------------------------------------------------------------------ rules

    @rule(data=st.data(), step=st.sampled_from(sorted(STEPS)))
    def complete(self, data, step):
        self._begin(data)
        start = self.clock.now()
        resp = error = None
        try:
            resp = self.loop.run(self.router.acompletion(step=step, messages=MSG))
        except CrosswalkError as exc:
            error = exc
        end = self.clock.now()
        record = resp.crosswalk if resp is not None else None
        attempts = list(record.attempts) if record is not None else list(error.attempts)
        self._check_request(step, "complete", start, end, attempts, error)
        if resp is not None:
            provider = record.provider
            assert provider == self.answered_by
            assert resp.model == PROVIDERS[provider][1]  # the vendor's model name, not the alias
            assert resp.choices[0].message.content == answer(provider)
            assert resp.choices[0].finish_reason == "stop"

    @rule(data=st.data(), step=st.sampled_from(sorted(STEPS)), stop_after=st.sampled_from([None, None, 1, 2]))
    def stream(self, data, step, stop_after):
        self._begin(data)
        start = self.clock.now()
        stream, chunks, error = self.loop.run(self._consume(step, stop_after))
        end = self.clock.now()
        if stream is not None and stop_after is not None and error is None and len(chunks) == stop_after:
            # The caller stopped reading: no outcome to judge beyond the calls made so far,
            # whose last one is abandoned (its probe slot must come back).
            event("stream: the caller stopped reading")
            self._check_calls(self.config.steps[step], start, self.calls)
            self._count_repeats(self.calls)
            return
        if stream is None:
            attempts = list(error.attempts)
        else:
            attempts = list(stream.crosswalk.attempts)
            if error is not None:
                assert list(error.attempts) == attempts
        self._check_request(step, "stream", start, end, attempts, error)
        if stream is None:
            assert not chunks
            return
        # Committed: every chunk came from the provider of the last attempt recorded (the
        # one that streamed: it is recorded when its stream ends).
        provider = attempts[-1].provider
        assert chunks and {c.model for c in chunks} == {PROVIDERS[provider][1]}
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        if error is None:
            assert stream.crosswalk.provider == provider
            assert text == answer(provider), "a clean end must be the whole answer"
            assert chunks[-1].choices[0].finish_reason == "stop"
        else:
            assert isinstance(error, (StreamInterrupted, DeadlineExceeded))
            assert "incomplete" in error.message
            assert answer(provider).startswith(text) and text != answer(provider)
            assert all(c.choices[0].finish_reason is None for c in chunks)

    @rule(data=st.data(), step=st.sampled_from(sorted(STEPS)), patience=st.sampled_from([0.25, 0.75, 1.25]))
    def caller_gives_up(self, data, step, patience):
        """The caller cancels the request after `patience` seconds: the attempt in flight
        is abandoned, with no verdict on the provider and its probe slot given back."""
        self._begin(data)
        start = self.clock.now()

        async def impatient():
            async with asyncio.timeout(patience):
                return await self.router.acompletion(step=step, messages=MSG)

        resp = error = None
        try:
            resp = self.loop.run(impatient())
        except CrosswalkError as exc:
            error = exc
        except TimeoutError:
            event("complete: the caller gave up")
            assert self.clock.now() == pytest.approx(start + patience)
            self._check_calls(self.config.steps[step], start, self.calls)
            self._count_repeats(self.calls)
            return
        attempts = list(resp.crosswalk.attempts if resp is not None else error.attempts)
        self._check_request(step, "complete", start, self.clock.now(), attempts, error)

    @rule(seconds=st.sampled_from([0.5, 3.0, 10.0, 30.0, 100.0]))
    def time_passes(self, seconds):
        self.loop.advance(seconds)

    @rule(name=st.sampled_from(sorted(PROVIDERS)))
    def earlier_traffic_ejects(self, name):
        """A shortcut to a state traffic reaches anyway: the provider is ejected (and,
        once time passes, half-open with few probe slots)."""
        health = self.router.state.health[name]
        if health.state is State.HEALTHY:
            health.eject(self.clock.now(), random.Random(0), "ejected by earlier traffic")

    @invariant()
    def no_probe_slot_leaks(self):
        if self.router is None:
            return
        for name, health in self.router.state.health.items():
            assert health.probes_in_flight == 0, f"{name} holds a half-open probe slot with no request in flight"

    # ------------------------------------------------------------------ helpers

    def _begin(self, data) -> None:
        self.data = data
        # Outages are correlated: most calls of a request may share one drawn fault.
        self.sticky = data.draw(st.sampled_from([None, *STICKY]), label="the request's common fault")
        self.calls = []
        self.events.clear()
        self.requests += 1

    async def _consume(self, step: str, stop_after: int | None):
        chunks: list = []
        try:
            stream = await self.router.acompletion(step=step, messages=MSG, stream=True)
        except CrosswalkError as exc:
            return None, chunks, exc
        error = None
        try:
            async for chunk in stream:
                chunks.append(chunk)
                if len(chunks) == stop_after:
                    await stream.aclose()
                    return stream, chunks, None
        except CrosswalkError as exc:
            error = exc
        with pytest.raises(StopAsyncIteration):  # one outcome: nothing after the end or the error
            await stream.__anext__()
        return stream, chunks, error

    def _check_request(self, step_name: str, mode: str, start: float, end: float, attempts: list, error: CrosswalkError | None) -> None:
        step = self.config.steps[step_name]
        hedged = step.hedge is not None
        calls = self.calls
        event(f"{mode}{' hedged' if hedged else ''}: {type(error).__name__ if error else 'answered'}")
        event(f"attempts per request: {len(attempts)}")
        # Every call is an attempt and every attempt a call (in order; racing attempts of a
        # hedged step are recorded as they end, and a provider is never in flight twice).
        if hedged:
            assert sorted(c.provider for c in calls) == sorted(a.provider for a in attempts)
            event(f"hedges per request: {sum(_hedge(a) for a in attempts)}")
        else:
            assert [c.provider for c in calls] == [a.provider for a in attempts]
        assert len(attempts) <= step.max_attempts
        self._check_calls(step, start, calls)
        for call, attempt in _pair(calls, attempts):
            if not _cancelled(attempt):
                assert attempt.failure_class in getattr(call.outcome, mode), (call.outcome.label, attempt)
            assert call.soft_unavailable <= attempt.panic, f"{call.provider} called while soft-unavailable, not in panic"
            assert not (attempt.panic and _hedge(attempt)), "a hedge never panics"
        assert end <= start + step.timeouts.total_s + 1e-6, "the outcome came after the deadline"
        assert sum(a.panic for a in attempts) <= 1
        assert sum(_hedge(a) for a in attempts) <= 1

        # Exactly one outcome: an answer from exactly one attempt (the last, unless a
        # beaten racer is recorded after it), or an error and no answering attempt.
        answered = [a for a in attempts if a.failure_class is None and not _cancelled(a)]
        if error is None:
            assert len(answered) == 1
            assert hedged or attempts[-1] is answered[0]
            self.answered_by = answered[0].provider
        else:
            assert not answered
            self._check_error(step, attempts, error)

        self._check_repeats(step, attempts)
        for attempt in attempts:
            if attempt.failure_class in ("regulatory", "auth", "quota"):
                assert self.router.state.exclusions.active(attempt.provider, self.clock.now()) is not None
                assert any(e.kind == "excluded" and e.provider == attempt.provider for e in self.events)

    def _check_calls(self, step, start: float, calls: list[Call]) -> None:
        """What holds for every call, whether or not the request reached an outcome."""
        assert len(calls) <= step.max_attempts
        for call in calls:
            assert call.excluded is None, f"{call.provider} called while hard-excluded: {call.excluded}"
            assert self.config.providers[call.provider].vendor != "vx", "a compliance-blocked provider was called"
            assert call.at < start + step.timeouts.total_s, "an attempt started after the step deadline"

    def _count_repeats(self, calls: list[Call], *, hedges: int = 0) -> None:
        """Every call to a provider already called in the request is a retry, and every
        hedge one more call: both are paid from the retry budget."""
        seen: set[str] = set()
        for call in calls:
            self.repeats += call.provider in seen
            seen.add(call.provider)
        self.repeats += hedges
        allowed = max(self.floor, int(self.ratio * self.requests))
        assert self.repeats <= allowed, f"{self.repeats} retries after {self.requests} requests; budget allows {allowed}"

    def _check_error(self, step, attempts: list, error: CrosswalkError) -> None:
        if not attempts:
            assert type(error) is NoEligibleProvider
            return
        last = attempts[-1].failure_class
        stops = last == "client" or (last == "content_filter" and not step.failover_on_content_filter)
        if step.hedge is not None and isinstance(error, UpstreamRejected):
            # The refusal that stopped the request may be followed by its racer's end.
            refusals = [a.failure_class for a in attempts if a.failure_class in ("client", "content_filter", "context_length")]
            assert error.failure_class in refusals
            last = error.failure_class
            stops = last == "client" or (last == "content_filter" and not step.failover_on_content_filter)
        request_caused = all(a.failure_class in ("context_length", "content_filter") for a in attempts)
        if isinstance(error, UpstreamRejected):
            assert (stops or request_caused) and error.failure_class == last and 400 <= error.status_code < 500
        elif stops or (request_caused and not isinstance(error, DeadlineExceeded)):
            pytest.fail(f"a {last} failure must end the request with UpstreamRejected, got {error!r}")
        if isinstance(error, RateLimited):
            assert all(a.failure_class == "rate_limited" for a in attempts)
        assert 400 <= error.status_code < 600

    def _check_repeats(self, step, attempts: list) -> None:
        """A provider is tried again only after TRANSIENT (a same-provider retry, at most
        `retry.same_provider` times; at once unless a racing attempt ended in between) or
        after RATE_LIMITED (its Retry-After waited out)."""
        same_retries: dict[str, int] = {}
        for i, attempt in enumerate(attempts):
            earlier = [a for a in attempts[:i] if a.provider == attempt.provider]
            if not earlier:
                continue
            assert not _hedge(attempt), "a hedge goes to a provider not tried yet"
            previous = earlier[-1].failure_class
            if previous == "transient":
                if step.hedge is None:
                    assert attempts[i - 1].provider == attempt.provider, "a TRANSIENT retry must follow at once"
                same_retries[attempt.provider] = same_retries.get(attempt.provider, 0) + 1
                assert same_retries[attempt.provider] <= step.retry.same_provider
            else:
                assert previous == "rate_limited", f"{attempt.provider} tried again after {previous}"
        self._count_repeats(self.calls, hedges=sum(_hedge(a) for a in attempts))


def _cancelled(attempt) -> bool:
    return getattr(attempt, "cancelled", False)


def _hedge(attempt) -> bool:
    return getattr(attempt, "hedge", False)


def _pair(calls: list[Call], attempts: list) -> list[tuple[Call, object]]:
    """Each call with its attempt: the k-th call to a provider is its k-th attempt."""
    by_provider: dict[str, list] = {}
    for attempt in attempts:
        by_provider.setdefault(attempt.provider, []).append(attempt)
    return [(call, by_provider[call.provider].pop(0)) for call in calls]


RouterMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=20,
    deadline=None,
    # No explain phase: it replays a failure hundreds of times and adds little to a state
    # machine's printed steps.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
# A green run takes seconds; a red one may shrink for up to Hypothesis' 300 s cap, and
# should end with its minimal example rather than be cut off by the suite's 60 s timeout.
TestRouterProperties = pytest.mark.timeout(420)(RouterMachine.TestCase)

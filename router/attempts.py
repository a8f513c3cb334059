"""One request's walk down a step's ranked providers: which provider next, what a
failure means, when to stop, and the error the caller gets when nothing answered.

Shared by the non-streaming and streaming paths so both obey the same rules: at most
`max_attempts`, one overall deadline, same-provider retries only for classes that
warrant them (only from the retry budget, and none once every provider of the step is
down), a short Retry-After waited out on the provider asked first, at most one panic
attempt (paid from the retry budget), never a hard-excluded provider. A hedge
(router/hedge.py) is one more attempt under the same rules: counted in `max_attempts`,
paid from the retry budget, never to a provider already in flight.
"""

from __future__ import annotations

from crosswalk.policies.actions import action_for, backoff_s
from crosswalk.policies.config import StepConf
from crosswalk.policies.latency import hedge_delay_s
from crosswalk.policies.outage import waits_out
from crosswalk.policies.selection import Choice, retry_after_s
from crosswalk.providers.base import ChatRequest
from crosswalk.providers.caller_text import CallerText
from crosswalk.providers.classify import FailureClass, classify
from crosswalk.providers.errors import MalformedResponse, OutputRejected, ProviderConnectionError, ProviderError, ProviderTimeout, StreamBroken
from crosswalk.router.errors import (
    AllProvidersFailed,
    CrosswalkError,
    DeadlineExceeded,
    InvalidOutput,
    NoEligibleProvider,
    RateLimited,
    UpstreamRejected,
    attempts_text,
)
from crosswalk.router.records import Attempt, DecisionRecord
from crosswalk.router import tracing
from crosswalk.router.state import RouterState


_REQUEST_CAUSED = frozenset({FailureClass.CONTEXT_LENGTH, FailureClass.CONTENT_FILTER})
_NO_TEXT = (ProviderTimeout, StreamBroken, ProviderConnectionError, MalformedResponse, OutputRejected)  # classified by type alone


class StepRun:
    """The attempt loop's bookkeeping for one request. `kind` names the latency that
    matters for it: "complete" (a whole answer) or "ttft" (a stream's first token).
    `request` is what the caller sent: the classifier must know the caller's own words,
    which vendors echo in their errors."""

    def __init__(self, state: RouterState, step: StepConf, *, kind: str = "complete", request: ChatRequest | None = None) -> None:
        self.state = state
        self.step = step
        self.kind = kind
        self.request = request
        self._caller: CallerText | None = None
        self.clock = state.clock
        self.started = self.clock.now()
        self.deadline = self.started + step.timeouts.total_s
        self.record = DecisionRecord(step=step.name)
        self._skip: set[str] = set()
        self._retry_on: str | None = None
        self._resume_at = 0.0  # the next attempt waits until then (a backoff, a Retry-After); 0: no wait
        self._same_retries: dict[str, int] = {}
        self._waited = False  # a Retry-After was waited out (once per request)
        self._first: str | None = None  # the provider the request was sent to first
        self._panicked = False
        self._cooled: list[str] = []
        self._stop: CrosswalkError | None = None
        self._last_error: ProviderError | None = None

    def remaining(self) -> float:
        """Seconds left before the step's deadline."""
        return self.deadline - self.clock.now()

    async def next(self) -> Choice:
        """The provider for the next attempt (after any backoff), or raise the final error."""
        if self._stop is not None:
            # A racing attempt may have ended since the stop was decided: report them all.
            self._stop.attempts = tuple(self.record.attempts)
            raise self._stop
        if len(self.record.attempts) >= self.step.max_attempts:
            raise self._final_error()
        if self._resume_at:
            at, self._resume_at = self._resume_at, 0.0
            if at >= self.deadline:
                raise self._deadline_error()
            await self._sleep_until(at)
        if self.remaining() <= 0:
            raise self._deadline_error()
        if not self.record.attempts:
            self.state.first_attempt()
        choice = None
        if self._retry_on is not None:
            name, self._retry_on = self._retry_on, None
            if self.state.admit(name):
                choice = Choice(name)
            else:
                self._skip.add(name)
        if choice is None:
            choice = self.state.choose(self.step, skip=self._skip, allow_panic=not self._panicked)
        if choice is not None and choice.panic and not self.state.spend_retry():
            # A panic call goes to a provider known to be down: extra load, paid like a retry.
            choice = None
        if choice is None:
            choice = await self._wait_for_cooldown()
        if choice is None:
            raise self._final_error()
        self._panicked = self._panicked or choice.panic
        if self._first is None:
            self._first = choice.provider
        return choice

    async def _wait_for_cooldown(self) -> Choice | None:
        """Nothing else left: wait out a rate-limited provider's Retry-After if it ends
        before the deadline (and the retry budget allows), then try it again."""
        now = self.clock.now()
        best = min(self._cooled, key=self.state.cooldown_until, default=None)
        if best is None:
            return None
        wait = self.state.cooldown_until(best) - now
        if wait >= self.remaining() or not self.state.spend_retry():
            return None
        self._cooled.remove(best)
        await self._sleep_until(self.state.cooldown_until(best))
        return Choice(best) if self.state.admit(best) else None

    async def _sleep_until(self, at: float) -> None:
        # A loop may wake a timer a hair early: never call a provider inside its Retry-After.
        while (left := at - self.clock.now()) > 0:
            await self.clock.sleep(left)

    def succeeded(self, choice: Choice, started: float, *, hedge: bool = False, request_id: str | None = None) -> DecisionRecord:
        """Record the answering attempt (with the vendor's `request_id`, if it sent one);
        returns the finished decision record. A non-streamed answer's latency feeds the
        provider's latency ring (a stream's: `committed`)."""
        now = self.clock.now()
        self.state.record_success(choice.provider)
        if self.kind == "complete":
            self.state.observe_latency(choice.provider, "complete", now - started)
        elif request_id is None:  # a stream's came with its first chunk
            request_id = self.record.committed_request_id
        self._add(Attempt(choice.provider, None, now - started, panic=choice.panic, hedge=hedge, request_id=request_id))
        self.record.provider = choice.provider
        self.record.latency_s = now - self.started
        return self.record

    def _add(self, attempt: Attempt) -> None:
        """Record a finished attempt (and, when tracing, its span under the request's)."""
        attempts = self.record.attempts
        if tracing.ON:
            retry = bool(attempts) and attempts[-1].provider == attempt.provider
            tracing.attempt_span(self.step.name, attempt, self.state.config.providers[attempt.provider],
                                 index=len(attempts), retry=retry)
        attempts.append(attempt)

    def committed(self, choice: Choice, started: float, *, request_id: str | None = None) -> None:
        """A stream reached its commit point: this provider is answering (under the vendor's
        `request_id`, if it sent one), and its time to first token is a latency sample."""
        self.record.provider = choice.provider
        self.record.committed_request_id = request_id
        self.state.observe_latency(choice.provider, "ttft", self.clock.now() - started)

    def set_aside(self, provider: str) -> None:
        """Choose `provider` no more for this request (a mid-stream recovery found it cannot
        resume the answer: router/resume.py)."""
        self._skip.add(provider)

    def abandoned(self, choice: Choice, started: float) -> None:
        """The attempt was cancelled from above (the caller went away, or a verification
        panel was decided without it): no verdict on the provider, but the call was made,
        so it is recorded (and counted) as cancelled."""
        now = self.clock.now()
        self.state.release(choice.provider)
        self._add(Attempt(choice.provider, None, now - started, detail="cancelled before it ended", panic=choice.panic,
                          cancelled=True))

    def cancelled(self) -> DecisionRecord:
        """The whole request was cancelled (its caller went away): the record, marked so."""
        self.record.cancelled = True
        self.record.latency_s = self.clock.now() - self.started
        return self.record

    def lost(self, choice: Choice, started: float, *, winner: str, hedge: bool) -> None:
        """The attempt was cancelled because a racing attempt answered first: no verdict on
        the provider's health, and no latency sample. (Its time so far is only a lower bound;
        fed back in, it would pull the quantile up toward the delay it was cut at, and with a
        tail near 1 - q that ratchets the delay up until hedging stops. Left out, the ring
        holds the answers that won, the quantile stays near that of the fast calls, and the
        retry budget caps what extra hedging that causes.)"""
        now = self.clock.now()
        self.state.release(choice.provider)
        self._add(Attempt(
            choice.provider, None, now - started, detail=f"cancelled (hedge lost to {winner})",
            panic=choice.panic, hedge=hedge, cancelled=True,
        ))

    def hedge_delay(self, provider: str) -> float:
        """Seconds to let an attempt on `provider` run before hedging it (step must hedge)."""
        assert self.step.hedge is not None
        return hedge_delay_s(self.step.hedge, self.state.latency_ring(provider, self.kind))

    def hedge_choice(self, busy: set[str]) -> Choice | None:
        """The provider for a hedge of the attempts in flight on `busy`, or None: none left
        under `max_attempts`, no time, no eligible provider that is not busy, skipped or
        soft-unavailable (a hedge never panics), or the retry budget is spent."""
        if len(self.record.attempts) + len(busy) >= self.step.max_attempts or self.remaining() <= 0:
            return None
        choice = self.state.choose(self.step, skip=self._skip | busy, allow_panic=False)
        if choice is None:
            return None
        if not self.state.spend_retry():
            self.state.release(choice.provider)  # give back a half-open probe slot it took
            return None
        return choice

    def failed(self, choice: Choice, error: ProviderError, started: float, *, may_fail_over: bool = True, hedge: bool = False, racing: bool = False) -> FailureClass:
        """Record a failed attempt, update shared state, and decide what comes next.
        `racing`: another attempt of this request is still in flight; it stands in for a
        same-provider retry, so none is taken (nor paid for) here."""
        now = self.clock.now()
        caller = self._caller_text(error)
        outcome = classify(error, caller=caller, model=self.state.config.providers[choice.provider].model)
        cls = outcome.failure_class
        action = action_for(cls, failover_on_content_filter=self.step.failover_on_content_filter)
        self.state.record_failure(choice.provider, action, outcome, error, fingerprint=caller.fingerprint if caller else None)
        self._add(Attempt(choice.provider, cls, now - started, error.status, error.evidence()[:200], choice.panic, hedge))
        self.record.latency_s = now - self.started
        self._last_error = error
        if not may_fail_over:
            return cls
        if not action.failover and not action.retry_same:
            self._stop = UpstreamRejected(
                error.message, step=self.step.name, attempts=self.record.attempts,
                status=error.status, failure_class=cls.value, code=error.code,
            )
            return cls
        if action.retry_same and not racing and self._same_retry(choice.provider):
            return cls
        if action.cooldown and not racing and self._wait_out(choice.provider, outcome.retry_after_s):
            return cls
        self._skip.add(choice.provider)
        if action.skip_same_model:
            self._skip_same_model(choice.provider)
        if action.cooldown:
            self._cooled.append(choice.provider)
        return cls

    def _caller_text(self, error: ProviderError) -> CallerText | None:
        """The caller's strings, built once per request and only when an error with a
        message to read happened (never on the success path)."""
        if self.request is None or isinstance(error, _NO_TEXT):
            return None
        if self._caller is None:
            self._caller = CallerText.of(self.request.body)
        return self._caller

    def stop(self, error: CrosswalkError) -> None:
        """End the request with `error` at the next `next()` (which fills in the attempts),
        whatever the failure class of the last attempt would have allowed."""
        self._stop = error

    def _same_retry(self, provider: str) -> bool:
        used = self._same_retries.get(provider, 0)
        if used >= self.step.retry.same_provider or not self.state.available(provider):
            return False
        if len(self.record.attempts) >= self.step.max_attempts:
            return False  # no attempt left to retry with: keep the budget's token
        if self.state.step_down(self.step, failed=provider):
            return False  # total outage: one call per provider per request, no more
        if not self.state.spend_retry():
            return False
        self._same_retries[provider] = used + 1
        self._retry_on = provider
        retry = self.step.retry
        self._resume_at = self.clock.now() + backoff_s(used + 1, base_s=retry.backoff_base_s, max_s=retry.backoff_max_s, rng=self.state.rng)
        return True

    def _wait_out(self, provider: str, retry_after_s: float | None) -> bool:
        """Rate limited by the provider this request was sent to first: wait until its
        cooldown ends and ask it again, if the Retry-After is short enough
        (`rate_limited.wait_max_s`), ends before the deadline, an attempt is left and the
        retry budget pays. Otherwise the provider stays cooled down and the run fails over."""
        if self._waited or provider != self._first or len(self.record.attempts) >= self.step.max_attempts:
            return False
        until = self.state.cooldown_until(provider)  # from now: never shorter than this Retry-After
        wait = until - self.clock.now()
        if not waits_out(retry_after_s, wait_s=wait, wait_max_s=self.step.rate_limited.wait_max_s, remaining_s=self.remaining()):
            return False
        if not self.state.spend_retry():
            return False
        self._waited = True
        self._retry_on = provider
        self._resume_at = until
        return True

    def _skip_same_model(self, provider: str) -> None:
        providers = self.state.config.providers
        failed = providers[provider]
        for name in self.step.providers:
            other = providers[name]
            too_small = (
                failed.context_window is not None
                and other.context_window is not None
                and other.context_window <= failed.context_window
            )
            if other.model == failed.model or too_small:
                self._skip.add(name)

    def _deadline_error(self) -> DeadlineExceeded:
        attempts = self.record.attempts
        detail = f"; attempts: {attempts_text(attempts)}" if attempts else ""
        return DeadlineExceeded(
            f"step '{self.step.name}': deadline of {self.step.timeouts.total_s:g}s exceeded{detail}",
            step=self.step.name, attempts=attempts,
        )

    def _final_error(self) -> CrosswalkError:
        attempts = self.record.attempts
        name = self.step.name
        if not attempts:
            rows = self.state.explain(self.step)
            why = "; ".join(f"{r.provider}: {r.status} ({r.reason})" for r in rows)
            # Blocked, or excluded with no end (until the config changes): waiting changes nothing.
            stuck = all(r.status == "blocked" or (r.status == "excluded" and r.retry_at is None) for r in rows)
            return NoEligibleProvider(
                f"step '{name}': no eligible provider: {why}", step=name,
                retry_after_s=retry_after_s(rows, self.clock.now()), retryable=not stuck,
            )
        if attempts[-1].failure_class == FailureClass.TIMEOUT and self.remaining() <= 0:
            return self._deadline_error()
        if self._last_error is not None and all(a.failure_class in _REQUEST_CAUSED for a in attempts):
            # Every provider refused this request for what it is (too long, filtered): a
            # 4xx, so clients do not retry it as if it were an outage.
            error, last = self._last_error, attempts[-1]
            return UpstreamRejected(
                f"step '{name}': {error.message} (tried: {attempts_text(attempts)})", step=name, attempts=attempts,
                status=error.status, failure_class=last.failure_class or "", code=error.code,
            )
        if all(a.failure_class == FailureClass.INVALID_OUTPUT for a in attempts):
            return InvalidOutput(f"step '{name}': no answer passed the step's validators: {attempts_text(attempts)}",
                                 step=name, attempts=attempts, record=self.record)
        if all(a.failure_class == FailureClass.RATE_LIMITED for a in attempts):
            rows = self.state.explain(self.step)
            return RateLimited(
                f"step '{name}': every provider is rate limited: {attempts_text(attempts)}", step=name,
                attempts=attempts, retry_after_s=retry_after_s(rows, self.clock.now()),
            )
        return AllProvidersFailed(
            f"step '{name}': all {len(attempts)} attempts failed: {attempts_text(attempts)}", step=name, attempts=attempts
        )

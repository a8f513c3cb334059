"""Failover over real HTTP: the router drives `kind: openai` providers against fake OpenAI
vendors on loopback ports (tests/fakevendor.py), and every fault a vendor can produce is
injected for real: error statuses with OpenAI's bodies, resets, silence, slow first
tokens, cut/stalled/malformed streams.

Each test checks what the caller gets (answer or error class), the failure classes in the
decision record, how many calls each vendor received, and that the call finishes (a hang
guard of total_s + 2 seconds, never a speed assertion).
"""

from __future__ import annotations

import asyncio
import random
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any

import pytest

from crosswalk.policies.parse import parse_config
from crosswalk import (
    AllProvidersFailed,
    CrosswalkError,
    DeadlineExceeded,
    NoEligibleProvider,
    RateLimited,
    Router,
    StreamInterrupted,
    UpstreamRejected,
)
from tests import fakevendor as fv
from tests.fakevendor import Vendors
from tests.virtual_time import SkippingClock

TOTAL_S = 3.0
GUARD_S = TOTAL_S + 2.0
MSG = [{"role": "user", "content": "How much is the refund for order 1234?"}]
PRIMARY_KEY = "sk-proj-primary-secret-0123456789"

CONFIG = """
providers:
  primary:   {{kind: openai, model: gpt-4o-mini, base_url: "{primary}", api_key: "{key}", vendor: alpha, region: us, context_window: 128000}}
  twin:      {{kind: openai, model: gpt-4o-mini, base_url: "{twin}", vendor: gamma, region: us}}
  small:     {{kind: openai, model: gpt-3.5-turbo, base_url: "{twin}", vendor: gamma, region: us, context_window: 16385}}
  secondary: {{kind: openai, model: mistral-large-latest, base_url: "{secondary}", api_key: sk-secondary-0001, vendor: beta, region: eu, context_window: 200000}}
steps:
  draft:   {{providers: [primary, secondary], timeouts: {timeouts}}}
  three:   {{providers: [primary, twin, secondary], timeouts: {timeouts}}}
  long:    {{providers: [primary, small, secondary], timeouts: {timeouts}}}
  lenient: {{providers: [primary, twin, secondary], failover_on_content_filter: true, timeouts: {timeouts}}}
  solo:    {{providers: [primary], timeouts: {timeouts}}}
  tight:   {{providers: [primary, secondary], timeouts: {{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: 0.8}}}}
  hasty:   {{providers: [primary, secondary], rate_limited: {{wait_max_s: 0}}, timeouts: {timeouts}}}
health:
  rate_limit_default_s: 20
"""
TIMEOUTS = f"{{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: {TOTAL_S}}}"

STATUS_FAULTS = {
    # name: (behaviour, failure class it must get)
    "region_403": (fv.error(403, fv.REGION_403), "regulatory"),
    "legal_451": (fv.error(451, fv.LEGAL_451), "regulatory"),
    "model_withdrawn_404": (fv.error(404, fv.MODEL_WITHDRAWN_404), "regulatory"),
    "invalid_api_key_401": (fv.error(401, fv.invalid_api_key_401(PRIMARY_KEY)), "auth"),
    "insufficient_quota_429": (fv.error(429, fv.INSUFFICIENT_QUOTA_429), "quota"),
}
BOTH = pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])


def make_config(v: Vendors, extra: str = "") -> Any:
    text = CONFIG.format(primary=v.primary.base_url, twin=v.twin.base_url, secondary=v.secondary.base_url, key=PRIMARY_KEY, timeouts=TIMEOUTS)
    return parse_config(text + extra, env={})


@pytest.fixture
async def router(vendors: Vendors) -> Any:
    r = Router(make_config(vendors), rng=random.Random(0))
    yield r
    await r.aclose()


@dataclass
class Outcome:
    """What the caller got from one request."""

    text: str = ""
    models: set[str] = field(default_factory=set)  # `model` of the response or chunks: the vendor's
    provider: str | None = None  # the record's answering provider
    provider_model: str | None = None  # the model that provider asks its vendor for (the fake vendor echoes it)
    request_id: str | None = None  # the answering vendor's x-request-id, from the record
    finish_reason: str | None = None
    attempts: list[tuple[str, str | None]] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    error: CrosswalkError | None = None
    chunks: int = 0


async def _ask(router: Router, step: str, stream: bool, extra: dict[str, Any]) -> Outcome:
    out = Outcome()
    record = None
    try:
        if not stream:
            resp = await router.acompletion(step=step, messages=MSG, **extra)
            record = resp.crosswalk
            out.text = resp.choices[0].message.content or ""
            out.models = {resp.model}
            out.finish_reason = resp.choices[0].finish_reason
        else:
            s = await router.acompletion(step=step, messages=MSG, stream=True, **extra)
            record = s.crosswalk
            async for chunk in s:
                out.chunks += 1
                out.models.add(chunk.model)
                for choice in chunk.choices:
                    out.text += choice.delta.content or ""
                    out.finish_reason = choice.finish_reason or out.finish_reason
    except CrosswalkError as exc:
        out.error = exc
        attempts = list(exc.attempts)
    else:
        attempts = list(record.attempts)
    if record is not None and record.provider:
        out.provider = record.provider
        # What the vendor was asked for: a litellm model without its `openai/` route prefix.
        out.provider_model = router.config.providers[record.provider].model.rsplit("/", 1)[-1]
        out.request_id = record.request_id
    out.attempts = [(a.provider, a.failure_class) for a in attempts]
    out.details = [a.detail for a in attempts]
    return out


async def ask(router: Router, step: str = "draft", *, stream: bool = False, guard_s: float = GUARD_S, **extra: Any) -> Outcome:
    """One request, run to its end under the hang guard."""
    return await asyncio.wait_for(_ask(router, step, stream, extra), guard_s)


def answered_by(out: Outcome, vendor: fv.FakeVendor, name: str) -> None:
    assert out.error is None, f"expected an answer, got {out.error!r}"
    assert out.text == vendor.answer
    assert out.provider == name
    assert out.models == {out.provider_model}  # the model as the vendor named it, not the alias
    assert out.finish_reason == "stop"


# --- transient faults: retry the same provider once, then fail over ---------------------


@BOTH
async def test_500_once_then_ok_is_retried_on_the_same_provider(router, vendors, stream):
    vendors.primary.script(fv.error(500, fv.SERVER_ERROR_500))
    out = await ask(router, stream=stream)
    answered_by(out, vendors.primary, "primary")
    assert out.attempts == [("primary", "transient"), ("primary", None)]
    assert "status 500" in out.details[0] and "server had an error" in out.details[0]
    assert (vendors.primary.count, vendors.secondary.count) == (2, 0)


@BOTH
async def test_persistent_503_retries_once_then_fails_over(router, vendors, stream):
    vendors.primary.always(fv.error(503, fv.OVERLOADED_503))
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "transient"), ("primary", "transient"), ("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (2, 1)


@BOTH
async def test_connection_reset_before_headers_is_transient(router, vendors, stream):
    vendors.primary.always(fv.reset())
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "transient"), ("primary", "transient"), ("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (2, 1)


async def test_connection_reset_once_then_ok_stays_on_primary(router, vendors):
    vendors.primary.script(fv.reset())
    out = await ask(router)
    answered_by(out, vendors.primary, "primary")
    assert out.attempts == [("primary", "transient"), ("primary", None)]


@BOTH
async def test_connection_refused_is_transient(router, vendors, stream):
    await vendors.primary.stop()  # nothing listens on its port any more
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "transient"), ("primary", "transient"), ("secondary", None)]
    assert "primary: cannot connect to http://127.0.0.1:" in out.details[0]
    assert "ConnectionRefusedError" in out.details[0]
    assert (vendors.primary.count, vendors.secondary.count) == (0, 1)


async def test_sustained_outage_ejects_the_provider_and_later_requests_skip_it(router, vendors):
    vendors.primary.always(fv.error(503, fv.OVERLOADED_503))
    trails = [(await ask(router)).attempts for _ in range(4)]
    assert trails[0] == trails[1] == [("primary", "transient"), ("primary", "transient"), ("secondary", None)]
    # The fifth consecutive failure ejects it: no same-provider retry after that.
    assert trails[2] == [("primary", "transient"), ("secondary", None)]
    assert trails[3] == [("secondary", None)]
    assert vendors.primary.count == 5 and vendors.secondary.count == 4
    row = {r.provider: r for r in router.status("draft")}["primary"]
    assert row.status == "ejected" and "5 consecutive failures" in row.reason


async def test_every_provider_down_is_all_providers_failed(router, vendors):
    vendors.primary.always(fv.error(503, fv.OVERLOADED_503))
    vendors.secondary.always(fv.error(500, fv.SERVER_ERROR_500))
    out = await ask(router)
    assert isinstance(out.error, AllProvidersFailed) and out.error.status_code == 502
    assert out.attempts == [("primary", "transient"), ("primary", "transient"), ("secondary", "transient")]
    assert (vendors.primary.count, vendors.secondary.count) == (2, 1)


# --- silence: one timeout, never a retry on the same route ------------------------------


@BOTH
async def test_silent_provider_costs_one_timeout_then_fails_over(router, vendors, stream):
    vendors.primary.always(fv.hang())
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "timeout"), ("secondary", None)]
    assert "within 0.5s" in out.details[0]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)


@BOTH
async def test_slow_first_token_past_the_timeout_fails_over(router, vendors, stream):
    vendors.primary.always(fv.ok(delay_s=2.0))
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "timeout"), ("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)


@BOTH
async def test_slow_first_token_within_the_timeout_is_kept(router, vendors, stream):
    vendors.primary.always(fv.ok(delay_s=0.05))
    out = await ask(router, stream=stream)
    answered_by(out, vendors.primary, "primary")
    assert out.attempts == [("primary", None)] and vendors.secondary.count == 0


async def test_everything_silent_ends_at_the_deadline(router, vendors):
    vendors.primary.always(fv.hang())
    vendors.secondary.always(fv.hang())
    out = await ask(router, "tight")
    assert isinstance(out.error, DeadlineExceeded) and out.error.status_code == 504
    assert out.attempts == [("primary", "timeout"), ("secondary", "timeout")]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)


async def test_everything_silent_within_the_deadline_is_all_failed(router, vendors):
    vendors.primary.always(fv.hang())
    vendors.secondary.always(fv.hang())
    out = await ask(router, stream=True)
    assert isinstance(out.error, AllProvidersFailed)
    assert out.attempts == [("primary", "timeout"), ("secondary", "timeout")]


# --- streams broken before the first token: transparent failover -----------------------


@pytest.mark.parametrize("after", [0, 1], ids=["headers-only", "role-chunk"])
async def test_stream_cut_before_first_token_fails_over(router, vendors, after):
    vendors.primary.always(fv.cut(after=after))
    out = await ask(router, stream=True)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "stream_broken"), ("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)


@pytest.mark.parametrize("after", [0, 1], ids=["headers-only", "role-chunk"])
async def test_stream_stall_before_first_token_fails_over(router, vendors, after):
    vendors.primary.always(fv.stall(after=after))
    out = await ask(router, stream=True)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "timeout"), ("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)


async def test_malformed_chunk_before_first_token_fails_over(router, vendors):
    vendors.primary.always(fv.malformed(after=1))
    out = await ask(router, stream=True)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "stream_broken"), ("secondary", None)]
    assert "malformed" in out.details[0]


# --- streams broken after the first token, no provider left to resume them (step solo;
# resumed streams: tests/router/test_stream_recovery.py): chunks, then StreamInterrupted


def _interrupted(out: Outcome, vendors: Vendors, text: str) -> None:
    assert isinstance(out.error, StreamInterrupted), f"expected StreamInterrupted, got {out.error!r}"
    assert "incomplete" in out.error.message
    assert out.text == text  # what was delivered before the break, nothing more
    assert out.finish_reason is None  # never a normal end
    assert out.provider == "primary" and out.models == {"gpt-4o-mini"}
    assert vendors.secondary.count == 0  # not in the step: nobody to resume it
    assert vendors.primary.count == 1


async def test_stream_cut_after_first_token_is_interrupted(router, vendors):
    vendors.primary.always(fv.cut(after=3))  # role chunk + two content chunks
    out = await ask(router, "solo", stream=True)
    _interrupted(out, vendors, "Answer from")
    assert out.attempts == [("primary", "stream_broken")]


async def test_stream_stall_after_first_token_is_interrupted(router, vendors):
    vendors.primary.always(fv.stall(after=3))
    out = await ask(router, "solo", stream=True)
    _interrupted(out, vendors, "Answer from")
    assert out.attempts == [("primary", "timeout")]


async def test_malformed_chunk_after_first_token_is_interrupted(router, vendors):
    vendors.primary.always(fv.malformed(after=2))
    out = await ask(router, "solo", stream=True)
    _interrupted(out, vendors, "Answer")
    assert out.attempts == [("primary", "stream_broken")]


async def test_stream_without_done_or_finish_reason_is_interrupted(router, vendors):
    vendors.primary.always(fv.no_done(finish=False))
    out = await ask(router, "solo", stream=True)
    _interrupted(out, vendors, vendors.primary.answer)  # every word came, but no end
    assert out.attempts == [("primary", "stream_broken")]


async def test_stream_without_done_but_with_finish_reason_is_complete(router, vendors):
    vendors.primary.always(fv.no_done(finish=True))
    out = await ask(router, stream=True)
    answered_by(out, vendors.primary, "primary")
    assert out.attempts == [("primary", None)]


# --- the same socket faults on a non-streamed answer -----------------------------------


@pytest.mark.parametrize(
    ("behaviour", "trail"),
    [
        (fv.cut(after=0), [("primary", "transient"), ("primary", "transient"), ("secondary", None)]),
        (fv.malformed(after=0), [("primary", "transient"), ("primary", "transient"), ("secondary", None)]),
        (fv.stall(after=0), [("primary", "timeout"), ("secondary", None)]),
    ],
    ids=["body-cut", "body-not-json", "body-stalled"],
)
async def test_broken_body_of_a_completion_fails_over(router, vendors, behaviour, trail):
    vendors.primary.always(behaviour)
    out = await ask(router)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == trail
    assert vendors.primary.count == sum(p == "primary" for p, _ in trail)


# --- rate limits ------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("retry_after", [30, None], ids=["retry-after", "no-retry-after"])
async def test_429_cools_the_provider_down(router, vendors, stream, retry_after):
    vendors.primary.always(fv.rate_limited(retry_after))
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "rate_limited"), ("secondary", None)]
    # The second request skips the cooled-down provider without calling it.
    again = await ask(router, stream=stream)
    answered_by(again, vendors.secondary, "secondary")
    assert again.attempts == [("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 2)
    row = {r.provider: r for r in router.status("draft")}["primary"]
    assert row.status == "cooling_down" and "rate_limit_exceeded" in row.reason


async def test_429_with_short_retry_after_is_waited_out_when_nothing_else_is_left(router, vendors):
    vendors.primary.script(fv.rate_limited(0.2))
    out = await ask(router, "solo")
    answered_by(out, vendors.primary, "primary")
    assert out.attempts == [("primary", "rate_limited"), ("primary", None)]
    assert vendors.primary.count == 2


async def test_every_provider_rate_limited_is_rate_limited(router, vendors):
    vendors.primary.always(fv.rate_limited(30))
    vendors.secondary.always(fv.rate_limited(10))
    out = await ask(router)
    assert isinstance(out.error, RateLimited) and out.error.status_code == 429
    assert out.attempts == [("primary", "rate_limited"), ("secondary", "rate_limited")]
    assert out.error.retry_after_s is not None and 0 < out.error.retry_after_s <= 10
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)


@BOTH
async def test_short_retry_after_on_the_first_provider_is_waited_out(router, vendors, stream):
    vendors.primary.script(fv.rate_limited(0.3))
    out = await ask(router, stream=stream)
    answered_by(out, vendors.primary, "primary")
    assert out.attempts == [("primary", "rate_limited"), ("primary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (2, 0)
    first, second = vendors.primary.calls
    assert second.at - first.at >= 0.3  # never asked again within its Retry-After


@BOTH
async def test_retry_after_longer_than_wait_max_fails_over_at_once(router, vendors, stream):
    vendors.primary.script(fv.rate_limited(2.5))  # fits the 3 s deadline, not wait_max_s (2 s by default)
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "rate_limited"), ("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 1)
    row = {r.provider: r for r in router.status("draft")}["primary"]
    assert row.status == "cooling_down"


async def test_retry_after_past_the_deadline_fails_over_at_once(router, vendors):
    vendors.primary.script(fv.rate_limited(1))  # under wait_max_s, but step "tight" has 0.8 s in all
    out = await ask(router, "tight")
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "rate_limited"), ("secondary", None)]


async def test_wait_max_s_zero_never_waits_while_another_provider_is_left(router, vendors):
    vendors.primary.script(fv.rate_limited(0.2))
    out = await ask(router, "hasty")
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "rate_limited"), ("secondary", None)]


async def test_retry_after_wait_is_paid_from_the_retry_budget(vendors):
    async with Router(make_config(vendors, "retry_budget: {ratio: 0, min: 0}\n"), rng=random.Random(0)) as r:
        vendors.primary.script(fv.rate_limited(0.2))
        out = await ask(r)
        answered_by(out, vendors.secondary, "secondary")
        assert out.attempts == [("primary", "rate_limited"), ("secondary", None)]
        assert r.state.budget.denied == 1


async def test_only_the_provider_asked_first_is_waited_for(router, vendors):
    vendors.primary.always(fv.error(403, fv.REGION_403))
    vendors.twin.script(fv.rate_limited(0.2))
    out = await ask(router, "three")
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "regulatory"), ("twin", "rate_limited"), ("secondary", None)]
    assert vendors.twin.count == 1


async def test_a_retry_after_is_waited_out_once_per_request(router, vendors):
    vendors.primary.script(fv.rate_limited(0.2), fv.rate_limited(0.2))
    out = await ask(router)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "rate_limited"), ("primary", "rate_limited"), ("secondary", None)]
    first, second = vendors.primary.calls
    assert second.at - first.at >= 0.2


# --- total outage: at most one call per provider per request ----------------------------


async def test_total_outage_costs_each_provider_one_call_per_request(router, vendors):
    vendors.primary.always(fv.error(503, fv.OVERLOADED_503))
    vendors.secondary.always(fv.error(500, fv.SERVER_ERROR_500))
    counts = []
    outcomes = []
    for _ in range(10):
        before = (vendors.primary.count, vendors.secondary.count)
        outcomes.append(await ask(router))
        counts.append((vendors.primary.count - before[0], vendors.secondary.count - before[1]))
    # The first request cannot know the outage is total yet: one same-provider retry.
    assert outcomes[0].attempts == [("primary", "transient"), ("primary", "transient"), ("secondary", "transient")]
    assert all(p <= 1 and s <= 1 for p, s in counts[1:]), counts
    panics = sum(1 for out in outcomes for a in (out.error.attempts if out.error else ()) if a.panic)
    assert panics <= router.config.retry_budget.min  # panic calls come out of the retry budget
    assert (vendors.primary.count, vendors.secondary.count) == tuple(map(sum, zip(*counts)))
    # Once the budget is spent and both are ejected, a request costs no call: a retryable 503.
    last = outcomes[-1].error
    assert isinstance(last, NoEligibleProvider) and last.status_code == 503 and last.retry_after_s is not None
    assert sum(p + s for p, s in counts) <= 10 + 3  # firsts + what the retry budget allows


# --- hard exclusions: regulatory, auth, quota -------------------------------------------


@BOTH
@pytest.mark.parametrize("fault", list(STATUS_FAULTS))
async def test_hard_exclusion_fails_over_and_never_calls_again(router, vendors, stream, fault):
    behaviour, cls = STATUS_FAULTS[fault]
    vendors.primary.always(behaviour)
    out = await ask(router, stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", cls), ("secondary", None)]
    again = await ask(router, stream=stream)
    answered_by(again, vendors.secondary, "secondary")
    assert again.attempts == [("secondary", None)]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 2)  # called once, then excluded
    row = {r.provider: r for r in router.status("draft")}["primary"]
    assert row.status == "excluded" and row.reason.startswith(cls)
    assert f"status {behaviour.status}" in row.reason  # the evidence is kept
    assert PRIMARY_KEY not in row.reason and PRIMARY_KEY not in out.details[0]


async def test_region_block_evidence_names_the_vendor_code(router, vendors):
    vendors.primary.always(fv.error(403, fv.REGION_403))
    await ask(router)
    row = {r.provider: r for r in router.status("draft")}["primary"]
    assert "unsupported_country_region_territory" in row.reason
    assert "Country, region, or territory not supported" in row.reason


async def test_withdrawn_model_evidence_quotes_the_vendor(router, vendors):
    vendors.primary.always(fv.error(404, fv.MODEL_WITHDRAWN_404))
    await ask(router)
    row = {r.provider: r for r in router.status("draft")}["primary"]
    assert "model_not_found" in row.reason and "has been deprecated" in row.reason


async def test_invalid_key_is_redacted_everywhere(router, vendors):
    vendors.primary.always(fv.error(401, fv.invalid_api_key_401(PRIMARY_KEY)))
    vendors.secondary.always(fv.error(401, fv.invalid_api_key_401("sk-secondary-0001")))
    out = await ask(router)
    assert isinstance(out.error, AllProvidersFailed)
    assert out.attempts == [("primary", "auth"), ("secondary", "auth")]
    assert vendors.primary.calls[0].headers["Authorization"] == f"Bearer {PRIMARY_KEY}"
    text = str(out.error) + " ".join(out.details) + " ".join(r.reason for r in router.status("draft"))
    assert PRIMARY_KEY not in text and "sk-secondary-0001" not in text and "***" in text


# --- context length, content filter, client errors --------------------------------------


@BOTH
async def test_context_length_skips_the_same_model_and_fails_over(router, vendors, stream):
    vendors.primary.always(fv.error(400, fv.CONTEXT_LENGTH_400))
    out = await ask(router, "three", stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "context_length"), ("secondary", None)]
    # Not retried on primary, and `twin` (same upstream model elsewhere) is never called.
    assert (vendors.primary.count, vendors.twin.count, vendors.secondary.count) == (1, 0, 1)


async def test_context_length_skips_smaller_context_windows(router, vendors):
    vendors.primary.always(fv.error(400, fv.CONTEXT_LENGTH_400))
    out = await ask(router, "long")
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "context_length"), ("secondary", None)]
    assert vendors.twin.count == 0  # `small` (16k) cannot hold what overflowed 128k


async def test_context_length_with_no_larger_provider_left_fails_without_retry(router, vendors):
    vendors.primary.always(fv.error(400, fv.CONTEXT_LENGTH_400))
    out = await ask(router, "solo")
    # The request itself is too long for every provider left: a 400, not a 5xx that clients retry.
    assert isinstance(out.error, UpstreamRejected) and out.error.status_code == 400
    assert out.error.failure_class == "context_length" and "maximum context length" in out.error.message
    assert out.attempts == [("primary", "context_length")]
    assert "context_length_exceeded" in out.details[0]
    assert vendors.primary.count == 1


async def test_context_length_is_not_a_health_failure(router, vendors):
    vendors.primary.always(fv.error(400, fv.CONTEXT_LENGTH_400))
    for _ in range(6):
        await ask(router, "three")
    vendors.primary.always(fv.ok())
    out = await ask(router, "three")
    answered_by(out, vendors.primary, "primary")  # still eligible: the request was too long, not the vendor down


@BOTH
async def test_content_filter_is_returned_without_failover(router, vendors, stream):
    vendors.primary.always(fv.error(400, fv.CONTENT_POLICY_400))
    out = await ask(router, stream=stream)
    assert isinstance(out.error, UpstreamRejected)
    assert out.error.status_code == 400 and out.error.failure_class == "content_filter"
    assert out.error.code == "content_policy_violation" and "safety system" in out.error.message
    assert out.attempts == [("primary", "content_filter")]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 0)


@BOTH
async def test_content_filter_fails_over_when_the_step_allows_it(router, vendors, stream):
    vendors.primary.always(fv.error(400, fv.CONTENT_POLICY_400))
    out = await ask(router, "lenient", stream=stream)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "content_filter"), ("secondary", None)]
    assert (vendors.primary.count, vendors.twin.count, vendors.secondary.count) == (1, 0, 1)


@BOTH
async def test_client_400_is_returned_without_retry_or_failover(router, vendors, stream):
    vendors.primary.always(fv.error(400, fv.CLIENT_400))
    out = await ask(router, stream=stream)
    assert isinstance(out.error, UpstreamRejected)
    assert out.error.status_code == 400 and out.error.failure_class == "client"
    assert out.error.code == "invalid_value" and "'robot'" in out.error.message
    assert out.attempts == [("primary", "client")]
    assert (vendors.primary.count, vendors.secondary.count) == (1, 0)
    # The vendor is fine: the next good request goes to it.
    vendors.primary.always(fv.ok())
    assert (await ask(router, stream=stream)).attempts == [("primary", None)]


# --- the wire itself --------------------------------------------------------------------


async def test_request_body_passes_through_except_model(router, vendors):
    tools = [{"type": "function", "function": {"name": "refund", "parameters": {"type": "object", "properties": {}}}}]
    out = await ask(router, tools=tools, response_format={"type": "json_object"}, temperature=0.1, x_vendor_flag={"a": 1})
    answered_by(out, vendors.primary, "primary")
    call = vendors.primary.calls[0]
    assert call.path == "/v1/chat/completions"
    assert call.body["model"] == "gpt-4o-mini"  # the provider's model, not the step name
    assert call.body["messages"] == MSG and call.body["tools"] == tools
    assert call.body["response_format"] == {"type": "json_object"}
    assert call.body["temperature"] == 0.1 and call.body["x_vendor_flag"] == {"a": 1}
    assert "stream" not in call.body
    assert call.headers["Authorization"] == f"Bearer {PRIMARY_KEY}"
    # The hot path is our own aiohttp client, not the openai SDK (which sends x-stainless-*).
    assert not any(h.lower().startswith("x-stainless") for h in call.headers)


async def test_stream_request_and_usage_chunk(router, vendors):
    out = await ask(router, stream=True, stream_options={"include_usage": True})
    answered_by(out, vendors.primary, "primary")
    call = vendors.primary.calls[0]
    assert call.body["stream"] is True and call.body["stream_options"] == {"include_usage": True}
    words = len(vendors.primary.answer.split(" "))
    assert out.chunks == 1 + words + 1 + 1  # role, content, finish, usage


async def test_openai_kind_round_trip_never_imports_litellm(vendors):
    script = textwrap.dedent(f"""
        import asyncio, sys
        from crosswalk.policies.parse import parse_config
        from crosswalk import Router
        cfg = parse_config('''
        providers:
          p: {{kind: openai, model: gpt-4o-mini, base_url: "{vendors.primary.base_url}"}}
        steps:
          s: {{providers: [p]}}
        ''', env={{}})
        async def main():
            async with Router(cfg) as r:
                resp = await r.acompletion(step="s", messages=[{{"role": "user", "content": "hi"}}])
                stream = await r.acompletion(step="s", messages=[{{"role": "user", "content": "hi"}}], stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                print(resp.crosswalk.provider, resp.model, resp.choices[0].message.content == text, "litellm" in sys.modules)
        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().split() == ["p", "gpt-4o-mini", "True", "False"]
    assert vendors.primary.count == 2


# --- in-band error events, early close --------------------------------------------------


async def test_error_event_before_first_token_fails_over(router, vendors):
    vendors.primary.always(fv.error_event(1, fv.SERVER_ERROR_500))
    out = await ask(router, stream=True)
    answered_by(out, vendors.secondary, "secondary")
    assert out.attempts == [("primary", "stream_broken"), ("secondary", None)]
    assert "server had an error" in out.details[0]


async def test_error_event_after_first_token_is_interrupted(router, vendors):
    vendors.primary.always(fv.error_event(3, fv.SERVER_ERROR_500))
    out = await ask(router, "solo", stream=True)
    _interrupted(out, vendors, "Answer from")
    assert out.attempts == [("primary", "stream_broken")]
    assert "server had an error" in out.error.message


async def test_429_retry_after_beyond_the_deadline_is_not_waited_for(router, vendors):
    vendors.primary.always(fv.rate_limited(30))
    out = await ask(router, "solo")
    assert isinstance(out.error, RateLimited)
    assert out.attempts == [("primary", "rate_limited")]
    assert out.error.retry_after_s is not None and 25 < out.error.retry_after_s <= 30
    assert vendors.primary.count == 1


async def test_caller_closing_a_stream_early_is_no_verdict_on_the_provider(router, vendors):
    vendors.primary.always(fv.stall(after=2))  # role chunk + first word, then silence

    async def read_one_then_close() -> str:
        stream = await router.acompletion(step="draft", messages=MSG, stream=True)
        text = ""
        async for chunk in stream:
            text += chunk.choices[0].delta.content or ""
            if text:
                break
        await stream.aclose()
        return text

    assert await asyncio.wait_for(read_one_then_close(), GUARD_S) == "Answer"
    assert vendors.secondary.count == 0
    health = router.state.health["primary"]
    assert health.consecutive == 0 and not any(health.window)


# --- the litellm adapter against the same fake vendor -----------------------------------

LITELLM_CONFIG = """
providers:
  lp: {{kind: litellm, model: openai/gpt-4o-mini, base_url: "{primary}", api_key: sk-litellm-primary, vendor: alpha}}
  ls: {{kind: litellm, model: openai/gpt-4o, base_url: "{secondary}", api_key: sk-litellm-secondary, vendor: beta}}
steps:
  draft: {{providers: [lp, ls], timeouts: {{per_try_s: 10, ttft_s: 10, idle_s: 10, total_s: {total}}}}}
"""
LITELLM_TOTAL_S = 20.0  # litellm's first call builds its clients and schemas: slow, not broken


@pytest.mark.timeout(120)  # the first litellm import takes seconds
@BOTH
async def test_litellm_adapter_answers_and_fails_over(vendors, monkeypatch, stream):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: F401  (imported before the hang guard starts counting)

    cfg = parse_config(LITELLM_CONFIG.format(primary=vendors.primary.base_url, secondary=vendors.secondary.base_url, total=LITELLM_TOTAL_S), env={})
    async with Router(cfg, rng=random.Random(0)) as r:
        out = await ask(r, stream=stream, guard_s=LITELLM_TOTAL_S + 2)
        answered_by(out, vendors.primary, "lp")
        assert out.attempts == [("lp", None)]
        call = vendors.primary.calls[0]
        assert call.path == "/v1/chat/completions" and call.body["model"] == "gpt-4o-mini"
        assert call.body["messages"] == MSG and bool(call.body.get("stream")) is stream
        assert call.headers["Authorization"] == "Bearer sk-litellm-primary"
        if not stream:  # the vendor's request id, through litellm's response headers
            assert out.request_id == vendors.primary.last_request_id is not None

        vendors.primary.always(fv.error(503, fv.OVERLOADED_503))
        out = await ask(r, stream=stream, guard_s=LITELLM_TOTAL_S + 2)
        answered_by(out, vendors.secondary, "ls")
        assert out.attempts == [("lp", "transient"), ("lp", "transient"), ("ls", None)]
        # litellm's and openai's own retries are off: one HTTP call per router attempt.
        assert (vendors.primary.count, vendors.secondary.count) == (3, 1)
        assert vendors.secondary.calls[0].body["model"] == "gpt-4o"


# --- recovery: time passes (a clock that can skip ahead; waits stay real) ----------------


@pytest.fixture
async def clocked(vendors: Vendors) -> Any:
    clock = SkippingClock()
    r = Router(make_config(vendors), clock=clock, rng=random.Random(0))
    yield r, clock
    await r.aclose()


async def test_ejected_provider_is_probed_and_taken_back_after_recovery(clocked, vendors):
    router, clock = clocked
    vendors.primary.always(fv.error(503, fv.OVERLOADED_503))
    for _ in range(3):
        await ask(router)
    assert (await ask(router)).attempts == [("secondary", None)]  # ejected
    calls = vendors.primary.count
    vendors.primary.always(fv.ok())
    clock.skip(40)  # past the first ejection (30 s +/- 10 % jitter)
    rows = {r.provider: r for r in router.status("draft")}
    assert rows["primary"].status == "half_open"
    for _ in range(3):  # half_open_probes
        out = await ask(router)
        answered_by(out, vendors.primary, "primary")
    assert vendors.primary.count == calls + 3
    assert {r.provider: r for r in router.status("draft")}["primary"].status == "eligible"


async def test_failed_probe_ejects_again(clocked, vendors):
    router, clock = clocked
    vendors.primary.always(fv.error(503, fv.OVERLOADED_503))
    for _ in range(3):
        await ask(router)
    clock.skip(40)
    out = await ask(router)
    # One probe, no same-provider retry on a provider that just got re-ejected.
    assert out.attempts == [("primary", "transient"), ("secondary", None)]
    row = {r.provider: r for r in router.status("draft")}["primary"]
    assert row.status == "ejected" and "probe failed" in row.reason
    assert (await ask(router)).attempts == [("secondary", None)]


async def test_rate_limit_cooldown_ends_after_retry_after(clocked, vendors):
    router, clock = clocked
    vendors.primary.script(fv.rate_limited(30))
    assert (await ask(router)).attempts == [("primary", "rate_limited"), ("secondary", None)]
    clock.skip(10)
    assert (await ask(router)).attempts == [("secondary", None)]
    clock.skip(21)
    out = await ask(router)
    answered_by(out, vendors.primary, "primary")
    assert vendors.primary.count == 2


async def test_region_block_is_reprobed_only_after_the_long_interval(clocked, vendors):
    router, clock = clocked
    vendors.primary.script(fv.error(403, fv.REGION_403))
    await ask(router)
    clock.skip(3600)
    assert (await ask(router)).attempts == [("secondary", None)]
    clock.skip(6 * 3600)  # past health.regulatory_reprobe_s (6 h)
    out = await ask(router)
    answered_by(out, vendors.primary, "primary")
    assert vendors.primary.count == 2

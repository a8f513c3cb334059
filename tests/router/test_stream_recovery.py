"""Mid-stream recovery through the SDK, over real HTTP: fake OpenAI vendors on loopback
ports (tests/fakevendor.py) cut, stall and corrupt streams at chosen events; the router
finishes the answer on the next provider (continuation with or without prefill, or a
restart that skips the delivered text) or ends with StreamInterrupted naming the real
failure. Never a truncated answer that looks whole."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from crosswalk import Router, StreamInterrupted
from crosswalk.policies.parse import parse_config
from crosswalk.router.metrics import Metrics
from tests import fakevendor as fv

ANSWER = "The refund for order 1234 is $42.99, paid back to the original card within five working days."
MSG = [{"role": "user", "content": "How much is the refund for order 1234?"}]
GUARD_S = 20.0
TIMEOUTS = "{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: 10}"  # total: a loaded machine's first request imports the openai types

# Every fault after the commit point: role chunk + two content chunks went out first.
MID_STREAM_FAULTS = {
    "cut": (fv.cut(after=3), "cut"),
    "stall": (fv.stall(after=3), "stall"),
    "malformed": (fv.malformed(after=3), "malformed"),
    "missing_terminator": (fv.no_done(finish=False, after=3), "missing_terminator"),
    "error_event": (fv.error_event(after=3, payload={"error": {"message": "upstream overloaded", "type": "server_error"}}), "error_event"),
}


@dataclass
class Stack:
    router: Router
    metrics: Metrics
    vendors: dict[str, fv.FakeVendor] = field(default_factory=dict)


@pytest.fixture
async def stack(fake_vendor):
    v = {
        "primary": await fake_vendor("primary", answer=ANSWER),
        "twin": await fake_vendor("twin", answer=ANSWER),  # same model elsewhere: reproduces the answer
        "other": await fake_vendor("other", answer="The refund for order 5678 was declined."),  # same model, diverges
        "plain": await fake_vendor("plain", answer=ANSWER),  # no prefill: continued by a user message
        "filler": await fake_vendor("filler", answer=ANSWER),  # takes a prefill
        "liar": await fake_vendor("liar", answer=ANSWER, rejects_prefill=True),  # configured prefill: true, rejects it
        "tools": await fake_vendor("tools", tool_call={"name": "refund", "arguments": '{"order": 1234, "amount": 42.99}'}),
    }
    text = f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{v['primary'].base_url}", vendor: alpha}}
  twin:    {{kind: openai, model: gpt-4o-mini, base_url: "{v['twin'].base_url}", vendor: gamma}}
  other:   {{kind: openai, model: gpt-4o-mini, base_url: "{v['other'].base_url}", vendor: delta}}
  plain:   {{kind: openai, model: mistral-large, base_url: "{v['plain'].base_url}", vendor: beta}}
  filler:  {{kind: openai, model: claude-like, base_url: "{v['filler'].base_url}", vendor: epsilon, prefill: true}}
  liar:    {{kind: openai, model: says-prefill, base_url: "{v['liar'].base_url}", vendor: zeta, prefill: true}}
  tools:   {{kind: openai, model: gpt-4o-mini, base_url: "{v['tools'].base_url}", vendor: eta}}
stream: {{continue_prompt: "Weiter, genau ab der Stelle, an der du aufgehört hast."}}
steps:
  cont:    {{providers: [primary, plain], timeouts: {TIMEOUTS}}}
  prefill: {{providers: [primary, filler], timeouts: {TIMEOUTS}}}
  liar:    {{providers: [primary, liar], timeouts: {TIMEOUTS}}}
  restart: {{providers: [primary, twin], timeouts: {TIMEOUTS}}}
  diverge: {{providers: [primary, other], timeouts: {TIMEOUTS}}}
  forced:  {{providers: [primary, plain], timeouts: {TIMEOUTS}, stream: {{resume: restart}}}}
  never:   {{providers: [primary, plain], timeouts: {TIMEOUTS}, stream: {{resume: off}}}}
  held:    {{providers: [primary, plain], timeouts: {TIMEOUTS}, stream: {{hold: full}}}}
  window:  {{providers: [primary, plain], timeouts: {TIMEOUTS}, stream: {{hold: 4}}}}
  tooling: {{providers: [tools, plain], timeouts: {TIMEOUTS}}}
  twice:   {{providers: [primary, plain, filler], timeouts: {TIMEOUTS}}}
health: {{probe_interval_s: 0}}
"""
    metrics = Metrics()
    router = Router(parse_config(text, env={}), rng=random.Random(0), metrics=metrics)
    yield Stack(router, metrics, v)
    await router.aclose()


@dataclass
class Streamed:
    text: str = ""
    finish_reason: str | None = None
    models: list[str] = field(default_factory=list)
    error: StreamInterrupted | None = None
    record: Any = None


async def _stream(router: Router, step: str, **extra: Any) -> Streamed:
    out = Streamed()
    s = await router.acompletion(step=step, messages=MSG, stream=True, **extra)
    out.record = s.crosswalk
    try:
        async for chunk in s:
            for choice in chunk.choices:
                out.text += choice.delta.content or ""
                out.finish_reason = choice.finish_reason or out.finish_reason
            if not out.models or out.models[-1] != chunk.model:
                out.models.append(chunk.model)
    except StreamInterrupted as exc:
        out.error = exc
    return out


async def stream(router: Router, step: str, **extra: Any) -> Streamed:
    return await asyncio.wait_for(_stream(router, step, **extra), GUARD_S)


def whole(out: Streamed) -> None:
    assert out.error is None, f"expected a whole answer, got {out.error!r}"
    assert out.text == ANSWER
    assert out.finish_reason == "stop"


@pytest.mark.parametrize("fault", MID_STREAM_FAULTS, ids=list(MID_STREAM_FAULTS))
async def test_each_mid_stream_fault_is_continued_on_the_next_provider(stack, fault):
    behaviour, how = MID_STREAM_FAULTS[fault]
    stack.vendors["primary"].always(behaviour)
    out = await stream(stack.router, "cont")
    whole(out)
    assert out.models == ["gpt-4o-mini", "mistral-large"]  # the vendors name the models: primary, then plain
    rec = out.record.recovery
    assert (rec.broken, rec.how, rec.mode, rec.finished_by, rec.outcome) == ("primary", how, "continue-user", "plain", "resumed")
    assert rec.delivered_chars == len("The refund")
    # No prefill for a provider without it: the partial answer, then the configured wording.
    messages = stack.vendors["plain"].calls[-1].body["messages"]
    assert messages[-2:] == [{"role": "assistant", "content": "The refund"},
                             {"role": "user", "content": "Weiter, genau ab der Stelle, an der du aufgehört hast."}]
    assert out.record.provider == "plain"
    assert stack.metrics.recoveries[("cont", "continue-user", "resumed")] == 1


async def test_a_provider_that_takes_prefill_gets_the_partial_answer_as_the_last_message(stack):
    stack.vendors["primary"].always(fv.cut(after=4))
    out = await stream(stack.router, "prefill")
    whole(out)
    assert out.record.recovery.mode == "continue-prefill"
    assert stack.vendors["filler"].calls[-1].body["messages"][-1] == {"role": "assistant", "content": "The refund for"}


async def test_a_rejected_prefill_is_retried_without_it_and_never_becomes_the_error(stack):
    stack.vendors["primary"].always(fv.cut(after=3))
    out = await stream(stack.router, "liar")
    whole(out)
    rec = out.record.recovery
    assert rec.mode == "continue-user" and rec.finished_by == "liar"
    assert any("rejected the prefill" in t for t in rec.tried)
    assert [(a.provider, a.failure_class) for a in out.record.attempts] == [
        ("primary", "stream_broken"), ("liar", "client"), ("liar", None)]
    assert stack.router.runtime.state.standing("liar").state == "healthy"  # our request, not its fault


async def test_when_no_one_can_resume_the_caller_learns_the_real_failure_not_the_prefill_400(stack):
    stack.vendors["primary"].always(fv.cut(after=3))
    stack.vendors["liar"].always(fv.error(503, fv.OVERLOADED_503))  # the 400 to the prefill comes first anyway
    stack.vendors["liar"].rejects_prefill = True
    out = await stream(stack.router, "liar")
    assert isinstance(out.error, StreamInterrupted)
    assert out.error.message.startswith("step 'liar': stream from primary broke after 10 characters (cut, stream_broken")
    assert "incomplete" in out.error.message
    assert out.text == "The refund" and out.finish_reason is None
    assert out.record.recovery.outcome == "failed"


async def test_restart_on_the_same_model_skips_the_text_already_delivered(stack):
    stack.vendors["primary"].always(fv.cut(after=5))
    out = await stream(stack.router, "restart", temperature=0)
    whole(out)
    rec = out.record.recovery
    assert (rec.mode, rec.finished_by, rec.delivered_chars) == ("restart", "twin", len("The refund for order"))
    assert stack.vendors["twin"].calls[-1].body["messages"] == MSG  # the caller's own request, regenerated


async def test_a_restart_that_diverges_ends_with_a_clear_error(stack):
    stack.vendors["primary"].always(fv.cut(after=6))
    out = await stream(stack.router, "diverge", temperature=0)
    assert isinstance(out.error, StreamInterrupted)
    assert "could not be resumed" in out.error.message and "differs from the delivered text" in out.error.message
    assert out.text == "The refund for order 1234" and out.finish_reason is None  # nothing of the other answer leaked
    assert "character 21" in out.error.message
    assert out.record.recovery.outcome == "failed"


async def test_a_restart_that_ends_before_reproducing_the_prefix_is_an_error(stack):
    stack.vendors["primary"].always(fv.cut(after=3))
    stack.vendors["plain"].answer = "The"
    out = await stream(stack.router, "forced")
    assert isinstance(out.error, StreamInterrupted) and "could not be resumed" in out.error.message
    assert "ended after reproducing 3 of the 10 characters" in out.error.message
    assert out.text == "The refund"
    assert [(a.provider, a.failure_class) for a in out.record.attempts] == [("primary", "stream_broken"), ("plain", "stream_broken")]
    assert out.record.recovery.outcome == "failed"


async def test_resume_off_ends_with_an_in_band_error(stack):
    stack.vendors["primary"].always(fv.stall(after=3))
    out = await stream(stack.router, "never")
    assert isinstance(out.error, StreamInterrupted) and "resume is off" in out.error.message
    assert out.text == "The refund" and stack.vendors["plain"].count == 0
    assert out.record.recovery.outcome == "not_resumable"


async def test_hold_full_fails_over_before_anything_is_delivered(stack):
    stack.vendors["primary"].always(fv.cut(after=8))
    out = await stream(stack.router, "held")
    whole(out)
    assert out.models == ["mistral-large"] and out.record.recovery is None
    assert stack.vendors["plain"].calls[-1].body["messages"] == MSG


async def test_a_hold_window_fails_over_a_break_inside_it_and_resumes_one_after_it(stack):
    stack.vendors["primary"].script(fv.cut(after=4), fv.cut(after=7))  # 3 content chunks: inside the window of 4
    out = await stream(stack.router, "window")
    whole(out)
    assert out.models == ["mistral-large"] and out.record.recovery is None
    out = await stream(stack.router, "window")  # 6 content chunks: the 4 held, then 2 more, were delivered
    whole(out)
    assert out.models == ["gpt-4o-mini", "mistral-large"]  # the vendors name the models: primary, then plain and out.record.recovery.delivered_chars == len("The refund for order 1234 is")


@pytest.mark.parametrize("after", [2, 4])  # inside the tool call's name chunk / its arguments
async def test_a_stream_broken_inside_a_tool_call_is_never_continued_as_prose(stack, after):
    stack.vendors["tools"].always(fv.cut(after=after))
    out = await stream(stack.router, "tooling")
    assert isinstance(out.error, StreamInterrupted) and "tool call" in out.error.message
    assert stack.vendors["plain"].count == 0
    assert out.record.recovery.outcome == "not_resumable"


async def test_structured_output_is_never_continued_as_prose(stack):
    stack.vendors["primary"].always(fv.cut(after=3))
    out = await stream(stack.router, "cont", response_format={"type": "json_object"})
    assert isinstance(out.error, StreamInterrupted) and "structured" in out.error.message
    assert stack.vendors["plain"].count == 0


async def test_a_continuation_that_breaks_too_is_resumed_again(stack):
    stack.vendors["primary"].always(fv.cut(after=3))
    stack.vendors["plain"].always(fv.cut(after=3))  # the continuation breaks as well...
    out = await stream(stack.router, "twice")  # ...and the next provider continues
    whole(out)
    rec = out.record.recovery
    assert (rec.broken, rec.finished_by, rec.mode) == ("primary", "filler", "continue-prefill")
    assert len(rec.tried) == 1 and rec.tried[0].startswith("plain: continue-user failed")
    # plain's two words were still held (its seam not yet judged): never delivered, so the
    # next provider continues from what the caller has.
    assert stack.vendors["filler"].calls[-1].body["messages"][-1] == {"role": "assistant", "content": "The refund"}

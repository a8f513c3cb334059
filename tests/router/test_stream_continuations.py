"""A rescued stream is one whole answer, never the delivered text twice (issue 17), through
the SDK over loopback fake vendors whose fallbacks (a) continue, (b) restart verbatim, (c)
restart in other words, (d) repeat the last sentence then go on, (e) reject the prefill,
(f) break again; for every way a stream breaks. Each test asserts the exact text the
caller received: the whole answer exactly once, or the delivered prefix and a clean error."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from crosswalk import Router, StreamInterrupted
from crosswalk.policies.parse import parse_config
from crosswalk.router.metrics import Metrics
from tests import continuation_fallbacks as cf
from tests import fakevendor as fv
from tests.continuation_fallbacks import ANSWER, DELIVERED, MSG

TIMEOUTS = "{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.3, total_s: 10}"
AFTER = 10  # events before the break: the role chunk and DELIVERED
BREAKS = {
    "cut": fv.cut(after=AFTER),
    "stall": fv.stall(after=AFTER),
    "malformed": fv.malformed(after=AFTER),
    "error_event": fv.error_event(after=AFTER, payload={"error": {"message": "upstream overloaded", "type": "server_error"}}),
    "missing_terminator": fv.no_done(finish=False, after=AFTER),
}
# fallback step -> (outcome, mode, the text the caller must end with)
FALLBACKS = {
    "continues": ("resumed", "continue-user", ANSWER),
    "verbatim": ("restarted", "continue-user", ANSWER),
    "paraphrase": ("failed", "continue-user", DELIVERED),
    "repeats": ("trimmed", "continue-user", ANSWER),
    "rejects_prefill": ("resumed", "continue-user", ANSWER),
    "breaks_again": ("resumed", "continue-user", ANSWER),
}


@pytest.fixture
async def stack(fake_vendor):
    v = await cf.start_vendors(fake_vendor, p42={"answer": "The answer is 42."},
                               f42={"answer": "The answer is 42.", "continuation": "restart"})
    text = cf.config(v, timeouts=TIMEOUTS, tail="health: {probe_interval_s: 0}", steps=f"""
  restart:         {{providers: [primary, verbatim], timeouts: {TIMEOUTS}, stream: {{resume: restart}}}}
  fortytwo:        {{providers: [p42, f42], timeouts: {TIMEOUTS}}}""")
    metrics = Metrics()
    router = Router(parse_config(text, env={}), rng=random.Random(0), metrics=metrics)
    yield router, metrics, v
    await router.aclose()


async def read(router: Router, step: str, **extra: Any) -> tuple[str, str | None, StreamInterrupted | None, Any]:
    """The text received, the finish reason, the in-band error, the record."""
    return await asyncio.wait_for(cf.read(router, step, **extra), 20)


@pytest.mark.parametrize("fallback", FALLBACKS)
@pytest.mark.parametrize("how", BREAKS)
async def test_every_break_and_every_fallback_gives_the_whole_answer_once_or_a_clean_error(stack, how, fallback):
    router, metrics, v = stack
    v["primary"].always(BREAKS[how])
    text, finish, error, record = await read(router, fallback)
    outcome, mode, expected = FALLBACKS[fallback]
    assert text == expected
    rec = record.recovery
    assert (rec.how, rec.outcome, rec.mode, rec.delivered_chars) == (how, outcome, mode, len(DELIVERED))
    if outcome == "failed":
        assert finish is None and isinstance(error, StreamInterrupted)
        assert error.message.startswith(f"step '{fallback}': stream from primary broke after {len(DELIVERED)} characters ({how},")
        assert "could not be resumed" in error.message and "paraphrase could not be trusted (it repeated delivered words" in error.message
    else:
        assert error is None and finish == "stop"
    assert metrics.recoveries[(fallback, mode, outcome)] == 1


async def test_the_issue_case_a_fallback_that_answers_the_answer_is_42_whatever_it_is_asked(stack):
    router, metrics, v = stack
    v["p42"].always(fv.cut(after=2))  # the role chunk and "The"
    text, finish, error, record = await read(router, "fortytwo")
    assert (text, finish, error) == ("The answer is 42.", "stop", None)  # not "TheThe answer is 42."
    assert record.recovery.outcome == "restarted"


async def test_a_restart_request_reproducing_the_answer_is_restarted(stack):
    router, metrics, v = stack
    v["primary"].always(fv.cut(after=AFTER))
    text, finish, error, record = await read(router, "restart", temperature=0)
    assert (text, finish, error) == (ANSWER, "stop", None)
    assert (record.recovery.mode, record.recovery.outcome) == ("restart", "restarted")
    assert v["verbatim"].calls[-1].body["messages"] == MSG


async def test_a_prefill_refused_a_moment_ago_is_not_sent_again(stack):
    router, metrics, v = stack
    v["primary"].always(fv.cut(after=AFTER))
    await read(router, "rejects_prefill")
    assert [c.body["messages"][-1]["role"] for c in v["liar"].calls] == ["assistant", "user"]  # refused, then without
    text, finish, error, record = await read(router, "rejects_prefill")
    assert (text, error) == (ANSWER, None)
    assert v["liar"].calls[-1].body["messages"][-1]["role"] == "user" and v["liar"].count == 3  # no second refusal
    assert record.recovery.tried[0].startswith("liar: no prefill (it rejected one ")


async def test_a_fallback_that_breaks_while_held_delivered_nothing_and_the_next_one_finishes(stack):
    router, metrics, v = stack
    v["primary"].always(fv.cut(after=AFTER))
    text, finish, error, record = await read(router, "breaks_again")
    assert (text, error) == (ANSWER, None)
    assert record.recovery.finished_by == "plain" and record.recovery.tried[0].startswith("breaker: continue-user failed")
    assert v["plain"].calls[-1].body["messages"][-2] == {"role": "assistant", "content": DELIVERED}


async def test_tool_calls_and_json_output_are_still_never_stitched(stack):
    router, metrics, v = stack
    v["primary"].always(fv.cut(after=AFTER))
    text, finish, error, record = await read(router, "verbatim", response_format={"type": "json_object"})
    assert text == DELIVERED and isinstance(error, StreamInterrupted) and "structured" in error.message
    assert record.recovery.outcome == "not_resumable" and v["verbatim"].count == 0


async def test_a_continuation_that_breaks_after_its_verdict_is_continued_from_the_longer_text(stack):
    router, metrics, v = stack
    v["primary"].always(fv.cut(after=AFTER))
    v["breaker"].always(fv.cut(after=9))  # its role chunk and 8 words: judged (6 words) and delivered, then cut
    text, finish, error, record = await read(router, "breaks_again")
    assert (text, finish, error) == (ANSWER, "stop", None)
    sent = v["plain"].calls[-1].body["messages"][-2]["content"]
    assert sent == DELIVERED + " paid back to the original card within five"
    assert (record.recovery.finished_by, record.recovery.outcome) == ("plain", "resumed")

"""Lazy verification panels over loopback fake vendors, through the SDK and through a real
`crosswalk serve` answered by the official openai client: a 2-of-3 lazy panel asks two
members, and the third only when they disagree or one fails; `crosswalk report` shows
what verification spent per step."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import openai
import pytest

import tests.fakevendor as fv
from crosswalk import Router
from crosswalk.policies.agreement import Tally
from crosswalk.policies.parse import parse_config
from crosswalk.router.metrics import Metrics
from tests.router.proxy_harness import ProxyProcess

KEY = "lazy-key-0123456789"
MSG = [{"role": "user", "content": "What is the refund for order 88123?"}]
TIMEOUTS = "{per_try_s: 5, ttft_s: 5, idle_s: 5, total_s: 8}"


def _spend_row(report: str, step: str) -> list[str]:
    """The step's row of the report's verification spend section."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("verification spend "))
    return next(line.split() for line in lines[start + 1:] if line.split()[0] == step)


def _yaml(a: str, b: str, c: str, *, lazy: bool = True) -> str:
    return f"""
providers:
  a: {{kind: openai, model: m-a, base_url: "{a}", vendor: va, family: fa}}
  b: {{kind: openai, model: m-b, base_url: "{b}", vendor: vb, family: fb}}
  c: {{kind: openai, model: m-c, base_url: "{c}", vendor: vc, family: fc}}
steps:
  refund:
    providers: [a, b, c]
    timeouts: {TIMEOUTS}
    verify: {{agree: {{min: 2, of: 3}}, compare: numeric, lazy: {str(lazy).lower()}}}
proxy: {{api_keys: [{KEY}]}}
"""


@pytest.mark.parametrize(("groups", "pending", "left", "more"), [
    ((), 0, 3, 2),  # a 2-of-3 panel starts with two
    ((1, 1), 0, 1, 1),  # they disagreed: one more
    ((1,), 0, 1, 1),  # one failed: one more
    ((2,), 0, 1, 0),  # agreed: nobody else
    ((1,), 1, 1, 0),  # one answered, one pending: wait for it
    ((), 0, 1, 1),  # both failed: the last one (it alone cannot agree, but it answers)
])
def test_a_lazy_panel_asks_the_fewest_that_could_reach_the_quorum(groups, pending, left, more):
    assert Tally(groups, pending, 2).more_to_ask(left) == more


async def test_sdk_lazy_panel_asks_the_third_member_only_on_disagreement_or_failure(fake_vendor):
    a = await fake_vendor("a", answer="Refund: $42.99")
    b = await fake_vendor("b", answer="Refund: $42.99")
    c = await fake_vendor("c", answer="Refund: $42.99")
    router = Router(parse_config(_yaml(a.base_url, b.base_url, c.base_url), env={}), metrics=Metrics())
    try:
        agreed = await router.acompletion(step="refund", messages=MSG)
        assert agreed.crosswalk.agreement.decision == "agreed" and agreed.crosswalk.agreement.asked == 2
        assert (a.count, b.count, c.count) == (1, 1, 0)
        assert agreed.usage.total_tokens == 2 * 29  # two members' answers, not three
        b.answer = "Refund: $4,299.00"  # b dissents: c breaks the tie
        split = await router.acompletion(step="refund", messages=MSG)
        assert split.crosswalk.agreement.decision == "agreed" and split.crosswalk.agreement.asked == 3
        assert [v.provider for v in split.crosswalk.agreement.dissenting] == ["b"]
        assert c.count == 1
        b.answer = "Refund: $42.99"
        b.always(fv.error(503, {"error": {"message": "overloaded", "type": "server_error"}}))
        failed = await router.acompletion(step="refund", messages=MSG)
        assert failed.crosswalk.agreement.decision == "agreed" and failed.crosswalk.agreement.failed == ["b"]
        assert c.count == 2
        report = router.report()
        assert _spend_row(report, "refund")[1:3] == ["3", "8"]  # verified 3; asked 2 + 3 + 3 (b's failed call counts)
    finally:
        await router.aclose()


async def test_proxy_lazy_panel_and_the_report_of_verification_spend(fake_vendor, tmp_path):
    a = await fake_vendor("a", answer="Refund: $42.99")
    b = await fake_vendor("b", answer="Refund: $42.99")
    c = await fake_vendor("c", answer="Refund: $42.99")
    cfg = tmp_path / "lazy.yaml"
    cfg.write_text(_yaml(a.base_url, b.base_url, c.base_url))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        raw = await client.chat.completions.with_raw_response.create(model="refund", messages=MSG)
        assert raw.headers["x-crosswalk-agreement"].startswith("agreed;")
        assert raw.parse().model_extra["crosswalk"]["agreement"]["asked"] == 2
        assert c.count == 0
        out = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "crosswalk.router.cli", "report", "--metrics",
                                                       proxy.url + "/metrics"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        # verified, asked, member tokens, judge tokens, tokens per verified request
        assert _spend_row(out.stdout, "refund")[1:] == ["1", "2", "58", "0", "58.0"]
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def test_a_lazy_shadow_check_asks_one_more_member_and_bills_only_its_answer(fake_vendor):
    """In the shadow the primary has answered the request already: a lazy 2-of-3 check asks
    one more member, and verification's spend is that member's answer alone."""
    import random

    a = await fake_vendor("a", answer="Refund: $42.99")
    b = await fake_vendor("b", answer="Refund: $42.99")
    c = await fake_vendor("c", answer="Refund: $42.99")
    text = _yaml(a.base_url, b.base_url, c.base_url).replace("lazy: true}", "lazy: true, sample: 0.999}")
    router = Router(parse_config(text, env={}), metrics=Metrics(), rng=random.Random(1))
    try:
        resp = await router.acompletion(step="refund", messages=MSG)
        await router.runtime.verifier.aclose()  # the shadow check finishes
        assert resp.crosswalk.agreement.mode == "shadow" and resp.crosswalk.agreement.decision == "agreed"
        assert resp.crosswalk.agreement.asked == 1 and (a.count, b.count, c.count) == (1, 1, 0)
        assert _spend_row(router.report(), "refund")[2:4] == ["1", "29"]  # asked, member tokens
    finally:
        await router.aclose()

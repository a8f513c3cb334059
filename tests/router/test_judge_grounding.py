"""The judge sees what the answers should rest on (system prompt, earlier turns, tool results,
retrieved documents), can be asked the grounding question, must be independent of the panel,
and its reason reaches the record, the proxy's x-crosswalk-agreement header and its JSON.
Panel and judge are loopback fake vendors; the caller is the official openai client."""

from __future__ import annotations

import json
import random

import openai
import pytest

from crosswalk import Router
from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.router.proxy import ProxyState
from crosswalk.router.proxy_app import build_app
from tests.fakevendor import FakeVendor
from tests.loopback import serve_loopback

SYSTEM = "Answer only from the refund policy: refunds are allowed within 30 days of delivery."
TOOL_RESULT = '{"order": 1182, "delivered": "2024-03-02", "amount": 42.99}'
DOCUMENT = "Refund policy v7, line 3: items bought on sale are refunded as store credit."
MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Hi, I have a question about an order."},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order": 1182}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": TOOL_RESULT},
    {"role": "user", "content": "Can I still get a refund for order 1182?"},
]
REASON = "Answer B's claim of a 60-day window traces to no line of the context."


def _config(a: str, b: str, judge: str, *, mode: str = "grounded", judge_vendor: str = "vj", judge_family: str = "fj") -> str:
    return f"""
providers:
  a: {{kind: openai, base_url: "{a}", model: a-m, vendor: va, family: fa}}
  b: {{kind: openai, base_url: "{b}", model: b-m, vendor: vb, family: fb}}
  judge: {{kind: openai, base_url: "{judge}", model: j-m, vendor: {judge_vendor}, family: {judge_family}}}
steps:
  refund:
    providers: [a, b]
    retry: {{same_provider: 0}}
    verify: {{agree: {{min: 2, of: 2}}, compare: judge, judge: judge, judge_mode: {mode}}}
"""


@pytest.fixture
async def vendors():
    a = await FakeVendor("a", answer="Yes: order 1182 was delivered on 2024-03-02, within the 30-day window.").start()
    b = await FakeVendor("b", answer="Yes, refunds are allowed within 60 days.").start()
    judge = await FakeVendor("judge", answer=json.dumps({"verdict": "different", "reason": REASON})).start()
    yield a, b, judge
    for v in (a, b, judge):
        await v.stop()


def _judge_prompt(judge: FakeVendor) -> str:
    assert judge.count == 1
    return "\n".join(m["content"] for m in judge.calls[0].body["messages"])


async def test_the_judge_sees_the_context_and_its_reason_reaches_header_and_json(vendors):
    a, b, judge = vendors
    router = Router(parse_config(_config(a.base_url, b.base_url, judge.base_url), env={}), rng=random.Random(1))
    runner, port = await serve_loopback(build_app(ProxyState(runtime=router.runtime, keys=())))
    try:
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=15)
        raw = await client.chat.completions.with_raw_response.create(
            model="refund", messages=MESSAGES, extra_body={"documents": [{"title": "policy-v7", "text": DOCUMENT}]})
        body = json.loads(raw.content)
    finally:
        await runner.cleanup()
        await router.aclose()
    prompt = _judge_prompt(judge)
    for expected in (SYSTEM, TOOL_RESULT, DOCUMENT, "Hi, I have a question about an order.",
                     "Can I still get a refund for order 1182?", "trace to a specific line of the context"):
        assert expected in prompt, expected
    assert "[tool result (call_1)]" in prompt and "[retrieved document policy-v7]" in prompt
    header = raw.headers["x-crosswalk-agreement"]
    assert header.startswith("disagreed") and "reason=b vs a: Answer B's claim of a 60-day window" in header
    agreement = body["crosswalk"]["agreement"]
    assert agreement["reason"] == f"b vs a: {REASON}"
    assert [v["reason"] for v in agreement["dissenting"]] == [REASON]
    assert agreement["dissenting"][0]["against"] == "a"
    assert agreement["differences"] == [REASON]


async def test_same_mode_asks_whether_the_answers_agree_with_the_context_shown(vendors):
    a, b, judge = vendors
    judge.answer = json.dumps({"verdict": "same", "reason": "Both allow the refund."})
    router = Router(parse_config(_config(a.base_url, b.base_url, judge.base_url, mode="same"), env={}), rng=random.Random(1))
    resp = await router.acompletion(step="refund", messages=MESSAGES)
    await router.aclose()
    prompt = _judge_prompt(judge)
    assert SYSTEM in prompt and TOOL_RESULT in prompt
    assert "trace to a specific line" not in prompt and "agree on every factual claim" in prompt
    assert resp.crosswalk.agreement.decision == "agreed"
    # votes are in the order the members answered: either may be the one compared
    assert resp.crosswalk.agreement.reason in ("b vs a: Both allow the refund.", "a vs b: Both allow the refund.")


@pytest.mark.parametrize(("vendor", "family", "shared"), [("va", "fj", "vendor 'va'"), ("vj", "fb", "family 'fb'")])
def test_a_judge_sharing_vendor_or_family_with_the_panel_is_refused(vendor, family, shared):
    text = _config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", "http://127.0.0.1:3/v1", judge_vendor=vendor, judge_family=family)
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    message = str(info.value)
    assert "steps.refund.verify.judge: judge 'judge' shares" in message and shared in message
    assert "pick a judge of another vendor and model family" in message


def test_a_judge_that_is_a_panel_member_is_refused():
    text = _config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", "http://127.0.0.1:3/v1").replace(
        "providers: [a, b]", "providers: [a, b, judge]")
    with pytest.raises(ConfigError, match=r"steps\.refund\.verify\.judge: judge 'judge' is itself a panel member"):
        parse_config(text, env={})

"""Mid-stream recovery through `crosswalk serve`, driven by the official openai client:
loopback fake vendors cut, stall and corrupt streams at chosen events, and the caller gets
one whole answer (with the recovery named in the last event before [DONE]) or a clean
in-band error naming the real failure, never a truncated success."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import openai
import pytest

import tests.fakevendor as fv
from tests.router.proxy_harness import ProxyProcess

KEY = "recovery-key-0123456789"
ANSWER = "The refund for order 1234 is $42.99, paid back to the original card within five working days."
MSG = [{"role": "user", "content": "How much is the refund for order 1234?"}]
TIMEOUTS = "{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: 10}"


@pytest.fixture
async def stack(fake_vendor, tmp_path):
    v = {
        "primary": await fake_vendor("primary", answer=ANSWER),
        "twin": await fake_vendor("twin", answer=ANSWER),
        "other": await fake_vendor("other", answer="The refund for order 5678 was declined."),
        "plain": await fake_vendor("plain", answer=ANSWER),
        "liar": await fake_vendor("liar", answer=ANSWER, rejects_prefill=True),
        "tools": await fake_vendor("tools", tool_call={"name": "refund", "arguments": '{"order": 1234, "amount": 42.99}'}),
    }
    cfg = tmp_path / "recovery.yaml"
    cfg.write_text(f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{v['primary'].base_url}", vendor: alpha}}
  twin:    {{kind: openai, model: gpt-4o-mini, base_url: "{v['twin'].base_url}", vendor: gamma}}
  other:   {{kind: openai, model: gpt-4o-mini, base_url: "{v['other'].base_url}", vendor: delta}}
  plain:   {{kind: openai, model: mistral-large, base_url: "{v['plain'].base_url}", vendor: beta}}
  liar:    {{kind: openai, model: says-prefill, base_url: "{v['liar'].base_url}", vendor: zeta, prefill: true}}
  tools:   {{kind: openai, model: gpt-4o-mini, base_url: "{v['tools'].base_url}", vendor: eta}}
steps:
  cont:    {{providers: [primary, plain], timeouts: {TIMEOUTS}}}
  liar:    {{providers: [primary, liar], timeouts: {TIMEOUTS}}}
  restart: {{providers: [primary, twin], timeouts: {TIMEOUTS}}}
  diverge: {{providers: [primary, other], timeouts: {TIMEOUTS}}}
  tooling: {{providers: [tools, plain], timeouts: {TIMEOUTS}}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0}}
""")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    yield proxy, client, v
    await client.close()
    await asyncio.to_thread(proxy.stop)


def _crosswalk(chunk: Any) -> dict[str, Any] | None:
    return (chunk.model_extra or {}).get("crosswalk")


async def _read(client: openai.AsyncOpenAI, step: str, **extra: Any) -> tuple[str, str | None, list[str], dict[str, Any] | None]:
    """Text, finish reason, models seen, and the final crosswalk event of one streamed answer."""
    stream = await client.chat.completions.create(model=step, messages=MSG, stream=True, **extra)
    text, finish, models, event = "", None, [], None
    async for chunk in stream:
        if not chunk.choices:
            event = _crosswalk(chunk) or event
            continue
        assert event is None, "the recovery event must be the last one"
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
        if not models or models[-1] != chunk.model:
            models.append(chunk.model)
    return text, finish, models, event


@pytest.mark.parametrize("fault, how", [
    (fv.cut(after=3), "cut"),
    (fv.stall(after=4), "stall"),
    (fv.malformed(after=3), "malformed"),
    (fv.no_done(finish=False, after=5), "missing_terminator"),
], ids=["cut", "stall", "malformed", "missing_terminator"])
async def test_a_broken_stream_is_one_whole_answer_and_its_last_event_says_how(stack, fault, how):
    proxy, client, v = stack
    v["primary"].always(fault)
    text, finish, models, event = await asyncio.wait_for(_read(client, "cont"), 20)
    assert (text, finish) == (ANSWER, "stop")
    assert models == ["gpt-4o-mini", "mistral-large"]  # the vendors name the models: primary, then plain
    rec = event["recovery"]
    assert (rec["broken"], rec["how"], rec["mode"], rec["finished_by"], rec["outcome"]) == ("primary", how, "continue-user", "plain", "resumed")
    assert v["plain"].calls[-1].body["messages"][-1]["role"] == "user"  # no prefill to a provider without it


async def test_a_fallback_that_rejects_prefill_still_finishes_the_answer(stack):
    proxy, client, v = stack
    v["primary"].always(fv.cut(after=3))
    text, finish, models, event = await asyncio.wait_for(_read(client, "liar"), 20)
    assert (text, finish) == (ANSWER, "stop")
    assert event["recovery"]["mode"] == "continue-user" and "rejected the prefill" in event["recovery"]["tried"][0]


async def test_a_restart_that_reproduces_the_answer_streams_only_the_rest(stack):
    proxy, client, v = stack
    v["primary"].always(fv.cut(after=6))
    text, finish, models, event = await asyncio.wait_for(_read(client, "restart", temperature=0), 20)
    assert (text, finish) == (ANSWER, "stop")  # the delivered prefix was not sent twice
    assert event["recovery"]["mode"] == "restart" and event["recovery"]["finished_by"] == "twin"


async def _broken(client: openai.AsyncOpenAI, step: str, **extra: Any) -> tuple[str, openai.APIError]:
    stream = await client.chat.completions.create(model=step, messages=MSG, stream=True, **extra)
    text = ""
    with pytest.raises(openai.APIError) as info:
        async for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                assert choice.finish_reason is None
    return text, info.value


async def test_a_restart_that_diverges_is_a_clean_in_band_error(stack):
    proxy, client, v = stack
    v["primary"].always(fv.cut(after=6))
    text, error = await asyncio.wait_for(_broken(client, "diverge", temperature=0), 20)
    assert text == "The refund for order 1234"
    assert "could not be resumed" in error.message and "stream from primary broke" in error.message
    # The in-band error event, read off the wire: OpenAI's error JSON and the recovery beside it.
    raw = await asyncio.to_thread(_raw_stream, proxy.url, {"model": "diverge", "messages": MSG, "stream": True, "temperature": 0})
    last = json.loads(raw.strip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "stream_interrupted" and b"[DONE]" not in raw
    assert last["crosswalk"]["recovery"]["outcome"] == "failed" and last["crosswalk"]["recovery"]["broken"] == "primary"


def _raw_stream(url: str, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
                                     headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=8) as resp:
        return resp.read()


async def test_a_stream_broken_inside_a_tool_call_is_an_error_not_stitched_prose(stack):
    proxy, client, v = stack
    v["tools"].always(fv.cut(after=3))
    text, error = await asyncio.wait_for(_broken(client, "tooling"), 20)
    assert "tool call" in error.message and v["plain"].count == 0


async def test_metrics_count_recoveries_by_step_mode_and_outcome(stack):
    proxy, client, v = stack
    v["primary"].always(fv.cut(after=3))
    await asyncio.wait_for(_read(client, "cont"), 20)
    metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(proxy.url + "/metrics", timeout=5).read().decode())
    assert 'crosswalk_stream_recoveries_total{mode="continue-user",outcome="resumed",step="cont"} 1.0' in metrics

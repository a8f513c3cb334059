"""A rescued stream is one whole answer, through `crosswalk serve` and the official openai
client (issue 17): loopback fake vendors whose fallbacks (a) continue, (b) restart
verbatim, (c) restart in other words, (d) repeat the last sentence then go on, (e) reject
the prefill, (f) break again. Each asserts the exact text received, the last event's
`crosswalk.recovery.outcome`, and the metric saying the same."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import openai
import pytest

import tests.fakevendor as fv
from tests import continuation_fallbacks as cf
from tests.continuation_fallbacks import ANSWER, DELIVERED, MSG
from tests.router.proxy_harness import ProxyProcess

KEY = "seam-key-0123456789"
TIMEOUTS = "{per_try_s: 0.5, ttft_s: 0.5, idle_s: 0.5, total_s: 10}"
CASES = {  # step -> (outcome, text the caller must end with)
    "continues": ("resumed", ANSWER),
    "verbatim": ("restarted", ANSWER),
    "paraphrase": ("failed", DELIVERED),
    "repeats": ("trimmed", ANSWER),
    "rejects_prefill": ("resumed", ANSWER),
    "breaks_again": ("resumed", ANSWER),
}


@pytest.fixture
async def stack(fake_vendor, tmp_path):
    v = await cf.start_vendors(fake_vendor, p42={"answer": "The answer is 42."},
                               f42={"answer": "The answer is 42.", "continuation": "restart"})
    cfg = tmp_path / "continuations.yaml"
    cfg.write_text(cf.config(v, timeouts=TIMEOUTS, steps=f"  fortytwo: {{providers: [p42, f42], timeouts: {TIMEOUTS}}}", tail=f"""
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0, consecutive_failures: 1000, failure_rate: 1.0, window: 1000, min_calls: 1000}}"""))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    yield proxy, client, v
    await client.close()
    await asyncio.to_thread(proxy.stop)


async def _read(client: openai.AsyncOpenAI, step: str) -> tuple[str, str | None, dict[str, Any] | None, openai.APIError | None]:
    """Text, finish reason, the last event's crosswalk object, and the in-band error."""
    stream = await client.chat.completions.create(model=step, messages=MSG, stream=True)
    text, finish, event, error = "", None, None, None
    try:
        async for chunk in stream:
            if not chunk.choices:
                event = (chunk.model_extra or {}).get("crosswalk") or event
                continue
            assert event is None, "the recovery event must be the last one"
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    except openai.APIError as exc:
        error = exc
    return text, finish, event, error


async def test_each_fallback_gives_the_whole_answer_once_or_a_clean_in_band_error_never_TheThe(stack):
    proxy, client, v = stack
    v["primary"].always(fv.cut(after=10))  # the role chunk and DELIVERED went out
    for step, (outcome, expected) in CASES.items():
        text, finish, event, error = await asyncio.wait_for(_read(client, step), 20)
        assert text == expected, step
        if outcome == "failed":
            assert finish is None and error is not None and "could not be resumed" in error.message, step
        else:
            assert error is None and finish == "stop", step
            assert event["recovery"]["outcome"] == outcome and event["recovery"]["delivered_chars"] == len(DELIVERED), step
    # The in-band error event of the paraphrase, off the wire: OpenAI's error JSON, the recovery beside it.
    raw = await asyncio.to_thread(_raw_stream, proxy.url, {"model": "paraphrase", "messages": MSG, "stream": True})
    last = json.loads(raw.strip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "stream_interrupted" and b"[DONE]" not in raw
    assert last["crosswalk"]["recovery"]["outcome"] == "failed" and "could not be trusted" in last["error"]["message"]
    assert b"Order 1234 will be refunded" not in raw  # nothing of the other answer leaked
    metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(proxy.url + "/metrics", timeout=5).read().decode())
    for step, (outcome, _) in CASES.items():
        assert f'crosswalk_stream_recoveries_total{{mode="continue-user",outcome="{outcome}",step="{step}"}}' in metrics, step
    # The case: a fallback answering "The answer is 42." whatever it is asked, cut after "The".
    v["p42"].always(fv.cut(after=2))
    text, finish, event, error = await asyncio.wait_for(_read(client, "fortytwo"), 20)
    assert (text, finish, error) == ("The answer is 42.", "stop", None)  # not "TheThe answer is 42."
    assert event["recovery"]["outcome"] == "restarted"


def _raw_stream(url: str, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
                                     headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=8) as resp:
        return resp.read()

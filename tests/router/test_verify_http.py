"""Verification over real HTTP: loopback fake vendors that answer differently, the SDK with
openai-kind providers, and the sidecar answered through the official openai client."""

from __future__ import annotations

import asyncio
import json
import time

import openai

import tests.fakevendor as fv
from crosswalk.policies.parse import parse_config
from crosswalk import Router
from crosswalk.router.errors import VerificationFailed
from tests.eventually import eventually
from tests.loopback import serve_loopback
from tests.router.proxy_harness import ProxyProcess

KEY = "verify-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe for order 1182?"}]


def _yaml(urls: dict[str, str], verify: str) -> str:
    lines = [f'  {n}: {{kind: openai, model: m-{n}, base_url: "{u}", vendor: v{i}, family: f{i}}}' for i, (n, u) in enumerate(urls.items())]
    names = ", ".join(urls)
    return ("providers:\n" + "\n".join(lines) +
            f"\nsteps:\n  refund: {{providers: [{names}], timeouts: {{per_try_s: 5, total_s: 8}}, verify: {verify}}}\n"
            f"proxy: {{api_keys: [{KEY}]}}\n")


async def test_sdk_numeric_quorum_over_http_cancels_the_slow_member(fake_vendor):
    a = await fake_vendor("a", answer="The refund is $42.99.")
    b = await fake_vendor("b", answer="Refund: 42.990 USD")
    c = await fake_vendor("c", answer="4299")
    c.always(fv.ok(delay_s=3.0))
    r = Router(parse_config(_yaml({"a": a.base_url, "b": b.base_url, "c": c.base_url},
                                  "{agree: {min: 2, of: 3}, compare: numeric}"), env={}))
    resp = await asyncio.wait_for(r.acompletion(step="refund", messages=MSG), 10)
    ag = resp.crosswalk.agreement
    assert ag.decision == "agreed" and sorted(v.provider for v in ag.agreeing) == ["a", "b"]
    await r.aclose()
    # The cancellation reaches the vendor's side of the connection a moment later.
    await eventually(lambda: c.calls and c.calls[0].cancelled, what="the slow member's call is cancelled at the vendor")
    assert c.count == 1 and c.calls[0].cancelled


async def test_sdk_disagreement_fails_with_the_panel(fake_vendor):
    a = await fake_vendor("a", answer='{"amount": 42.99, "currency": "USD"}')
    b = await fake_vendor("b", answer='{"amount": 4299, "currency": "USD"}')
    r = Router(parse_config(_yaml({"a": a.base_url, "b": b.base_url},
                                  "{agree: {min: 2, of: 2}, compare: json, on_disagree: fail}"), env={}))
    try:
        await r.acompletion(step="refund", messages=MSG)
    except VerificationFailed as err:
        assert err.record.agreement.differences == ["amount"]
    else:
        raise AssertionError("a disagreeing panel must fail this step")
    await r.aclose()


async def test_proxy_returns_the_agreement_header_and_field(fake_vendor, tmp_path):
    a = await fake_vendor("a", answer="The refund is $42.99.")
    b = await fake_vendor("b", answer="Refund: 42.99")
    c = await fake_vendor("c", answer="Refund: 4299")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_yaml({"a": a.base_url, "b": b.base_url, "c": c.base_url},
                         "{agree: {min: 3, of: 3}, compare: numeric, on_disagree: flag}"))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        raw = await client.chat.completions.with_raw_response.create(model="refund", messages=MSG)
        header = raw.headers["x-crosswalk-agreement"]
        assert header.startswith("disagreed;") and "dissent=c" in header and "compare=numeric" in header
        body = json.loads(raw.http_response.text)
        ag = body["crosswalk"]["agreement"]
        assert ag["decision"] == "disagreed" and [v["answer"] for v in ag["dissenting"]] == ["Refund: 4299"]
        assert "weak evidence of truth" in ag["evidence"]
        assert raw.parse().choices[0].message.content == "The refund is $42.99."  # the majority, best-ranked
        stream = await client.chat.completions.create(model="refund", messages=MSG, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert text == "The refund is $42.99."  # a verified stream answers after verification
        metrics = await asyncio.to_thread(lambda: __import__("urllib.request").request.urlopen(proxy.url + "/metrics", timeout=5).read().decode())
        assert 'crosswalk_agreement_total{comparator="numeric",decision="disagreed",mode="inline",step="refund"} 2.0' in metrics
        report = await asyncio.to_thread(
            lambda: __import__("subprocess").run(
                [__import__("sys").executable, "-m", "crosswalk.router.cli", "report", "--metrics", proxy.url + "/metrics"],
                capture_output=True, text=True, timeout=60))
        assert report.returncode == 0, report.stderr
        line = next(l for l in report.stdout.splitlines() if l.startswith("refund"))
        assert "100.0%" in line  # verified share and disagreement rate of the two requests
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def test_proxy_failed_verification_is_409_with_the_record(fake_vendor, tmp_path):
    a = await fake_vendor("a", answer="yes")
    b = await fake_vendor("b", answer="no")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_yaml({"a": a.base_url, "b": b.base_url}, "{agree: {min: 2, of: 2}, compare: normalized, on_disagree: fail}"))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        started = time.monotonic()
        try:
            await client.chat.completions.create(model="refund", messages=MSG)
        except openai.APIStatusError as err:
            assert err.status_code == 409
            body = err.response.json()
            assert body["error"]["type"] == "verification_failed"
            assert {v["answer"] for v in body["crosswalk"]["agreement"]["agreeing"] + body["crosswalk"]["agreement"]["dissenting"]} == {"yes", "no"}
        else:
            raise AssertionError("expected 409")
        assert time.monotonic() - started < 10  # liveness bound, not a speed claim
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)


async def test_semantic_comparator_over_an_openai_compatible_embeddings_endpoint(fake_vendor):
    from aiohttp import web

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        # Two fixed directions: answers mentioning 42.99 point one way, anything else the other.
        vectors = [[1.0, 0.1] if "42.99" in text else [0.1, 1.0] for text in body["input"]]
        seen.append(body["model"])
        return web.json_response({"object": "list", "data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)]})

    seen: list[str] = []
    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    runner, port = await serve_loopback(app)
    emb_url = f"http://127.0.0.1:{port}/v1"
    a = await fake_vendor("a", answer="The refund is 42.99 dollars.")
    b = await fake_vendor("b", answer="We owe 42.99.")
    text = _yaml({"a": a.base_url, "b": b.base_url}, "{agree: {min: 2, of: 2}, compare: semantic, embeddings: emb, threshold: 0.9}")
    text = text.replace("steps:", f'  emb: {{kind: openai, model: text-embedding-3-small, base_url: "{emb_url}", vendor: ve}}\nsteps:')
    r = Router(parse_config(text, env={}))
    try:
        assert (await r.acompletion(step="refund", messages=MSG)).crosswalk.agreement.decision == "agreed"
        b.answer = "No refund is owed."
        assert (await r.acompletion(step="refund", messages=MSG)).crosswalk.agreement.decision == "disagreed"
        assert seen and set(seen) == {"text-embedding-3-small"}
    finally:
        await r.aclose()
        await runner.cleanup()

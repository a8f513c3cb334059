"""The sidecar's OpenAI surface and honest accounting, through real processes: a
`crosswalk serve` in front of loopback fake vendors, driven by the official openai client
(with its default retries where that is the point) and raw HTTP.

Covers: `x-should-retry` on final errors (the client makes no retries of its own after
Crosswalk failed over), `model` as the vendor names it with the alias in
`x-crosswalk-provider`, the vendor's request id passed on, a verified step's usage
summed over its panel, `/readyz` per step and while any step can serve, HEAD on the
health endpoints, the SIGTERM drain window, `POST /v1/embeddings` and `GET /v1/models/{id}`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import subprocess

import openai
import pytest

import tests.fakevendor as fv
from tests.eventually import eventually
from tests.router.proxy_harness import ProxyProcess

KEY = "surface-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe?"}]
ANSWER = "The refund is $42.99."


def _config(primary: fv.FakeVendor, secondary: fv.FakeVendor, third: fv.FakeVendor, *, drain_s: float = 2) -> str:
    timeouts = "timeouts: {per_try_s: 5, ttft_s: 5, idle_s: 5, total_s: 8}"
    return f"""
providers:
  primary:   {{kind: openai, model: gpt-4o-mini, base_url: "{primary.base_url}", vendor: alpha, family: fa, region: us}}
  secondary: {{kind: openai, model: mistral-large, base_url: "{secondary.base_url}", vendor: beta, family: fb, region: eu}}
  third:     {{kind: openai, model: m-third, base_url: "{third.base_url}", vendor: gamma, family: fc, region: eu}}
steps:
  draft: {{providers: [primary, secondary], {timeouts}, description: "Draft a reply."}}
  embed: {{providers: [primary, secondary], {timeouts}}}
  embed-eu: {{providers: [primary, secondary], allowed_regions: [eu], {timeouts}}}
  nowhere: {{providers: [primary], allowed_regions: [mars]}}
  refund: {{providers: [primary, secondary, third], {timeouts}, verify: {{agree: {{min: 3, of: 3}}, compare: numeric}}}}
proxy: {{api_keys: [{KEY}], drain_s: {drain_s}}}
health: {{probe_interval_s: 0}}
"""


@pytest.fixture
async def stack(fake_vendor, tmp_path):
    # One answer for all: the verified step's panel agrees (which vendor answered shows in headers).
    primary, secondary, third = [await fake_vendor(n, answer=ANSWER) for n in ("primary", "secondary", "third")]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(_config(primary, secondary, third))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=15)
    yield proxy, client, primary, secondary, third
    await client.close()
    await asyncio.to_thread(proxy.stop)


def _raw(proxy: ProxyProcess, method: str, path: str, body: dict | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# --- x-should-retry ---------------------------------------------------------------------


async def test_a_failed_over_502_tells_the_official_client_not_to_retry(stack):
    proxy, _, primary, secondary, _ = stack
    primary.always(fv.error(503, fv.OVERLOADED_503))
    secondary.always(fv.error(503, fv.OVERLOADED_503))
    # The client's defaults: max_retries=2, which would triple every failover.
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, timeout=15)
    try:
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="draft", messages=MSG)
    finally:
        await client.close()
    err = info.value
    assert err.status_code == 502 and err.response.headers["x-should-retry"] == "false"
    attempts = err.response.json()["crosswalk"]["attempts"]
    assert attempts[0]["provider"] == "primary" and attempts[-1]["provider"] == "secondary"
    assert primary.count + secondary.count == len(attempts)  # one proxy request: no client retries


async def test_chat_openai_makes_no_retries_of_its_own_after_a_failover_either(stack):
    langchain_openai = pytest.importorskip("langchain_openai")
    proxy, _, primary, secondary, _ = stack
    llm = langchain_openai.ChatOpenAI(model="draft", base_url=proxy.url + "/v1", api_key=KEY, timeout=15)  # default retries
    assert (await llm.ainvoke("What refund do we owe?")).response_metadata["model_name"] == "gpt-4o-mini"
    primary.always(fv.error(503, fv.OVERLOADED_503))
    secondary.always(fv.error(503, fv.OVERLOADED_503))
    before = primary.count + secondary.count
    with pytest.raises(openai.APIStatusError) as info:
        await llm.ainvoke("What refund do we owe?")
    attempts = info.value.response.json()["crosswalk"]["attempts"]
    assert primary.count + secondary.count - before == len(attempts)  # one proxy request


async def test_every_provider_rate_limited_is_a_429_the_client_may_retry_after(stack):
    proxy, client, primary, secondary, _ = stack
    primary.always(fv.rate_limited(retry_after=30))
    secondary.always(fv.rate_limited(retry_after=30))
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="draft", messages=MSG)
    headers = info.value.response.headers
    assert headers["x-should-retry"] == "true"
    assert 29 <= int(headers["retry-after"]) <= 30


async def test_a_step_nothing_may_serve_says_do_not_retry(stack):
    _, client, primary, _, _ = stack
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(model="nowhere", messages=MSG)
    assert info.value.status_code == 503
    assert info.value.response.headers["x-should-retry"] == "false" and "retry-after" not in info.value.response.headers
    assert primary.count == 0


# --- model, alias, request id, usage ----------------------------------------------------


async def test_model_is_the_vendors_and_the_alias_and_request_id_are_headers(stack):
    _, client, primary, secondary, _ = stack
    primary.always(fv.error(503, fv.OVERLOADED_503))
    raw = await client.chat.completions.with_raw_response.create(model="draft", messages=MSG)
    resp = raw.parse()
    assert resp.model == "mistral-large"  # as the vendor named it (cost lookups, AutoGen's model check)
    assert raw.headers["x-crosswalk-provider"] == "secondary"
    assert raw.headers["x-crosswalk-upstream-request-id"] == secondary.last_request_id
    raw = await client.chat.completions.with_raw_response.create(model="draft", messages=MSG, stream=True)
    chunks = [chunk async for chunk in raw.parse()]
    assert {chunk.model for chunk in chunks} == {"mistral-large"} and raw.headers["x-crosswalk-provider"] == "secondary"
    # a stream's id comes with its first chunk, and is taken out of it before the caller sees it
    assert raw.headers["x-crosswalk-upstream-request-id"] == secondary.last_request_id
    assert not any("_crosswalk_request_id" in (chunk.model_extra or {}) for chunk in chunks)


async def test_a_verified_step_reports_what_the_whole_panel_spent(stack):
    _, client, primary, secondary, third = stack
    raw = await client.chat.completions.with_raw_response.create(model="refund", messages=MSG)
    resp = raw.parse()
    body = json.loads(raw.content)
    agreement = body["crosswalk"]["agreement"]
    assert agreement["decision"] == "agreed" and primary.count == secondary.count == third.count == 1
    each = {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}  # what every fake vendor reports
    assert resp.usage.total_tokens == 3 * 29 and resp.usage.prompt_tokens == 3 * 19
    assert agreement["usage"] == {k: 3 * v for k, v in each.items()}
    assert agreement["answer_usage"] == each  # the answering member's own share
    assert raw.headers["x-crosswalk-upstream-request-id"].startswith("req_")


# --- readiness and drain ----------------------------------------------------------------


async def test_readyz_is_ready_while_any_step_can_serve_and_answers_per_step(stack):
    proxy, *_ = stack
    status, _, body = await asyncio.to_thread(_raw, proxy, "GET", "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["status"] == "ok"
    assert "nowhere" in ready["steps_without_provider"] and "draft" in ready["steps_ready"]
    status, _, body = await asyncio.to_thread(_raw, proxy, "GET", "/readyz?step=nowhere")
    assert status == 503 and json.loads(body)["status"] == "unready"
    status, _, _ = await asyncio.to_thread(_raw, proxy, "GET", "/readyz?step=draft")
    assert status == 200
    status, _, body = await asyncio.to_thread(_raw, proxy, "GET", "/readyz?step=nope")
    assert status == 404 and json.loads(body)["error"]["param"] == "step"


async def test_health_endpoints_answer_head(stack):
    proxy, *_ = stack
    for path in ("/healthz", "/readyz"):
        status, headers, body = await asyncio.to_thread(_raw, proxy, "HEAD", path)
        assert (status, body) == (200, b""), path
        assert headers["content-type"].startswith("application/json")


async def test_sigterm_drains_then_closes_and_in_flight_requests_finish(stack):
    proxy, client, primary, _, _ = stack
    primary.script(fv.ok(delay_s=3.0))  # in flight across the whole 2 s drain window
    slow = asyncio.create_task(client.chat.completions.create(model="draft", messages=MSG))
    await eventually(lambda: primary.count == 1, what="the slow request reached the vendor")
    proxy.proc.send_signal(signal.SIGTERM)

    async def draining() -> bool:
        status, _, body = await asyncio.to_thread(_raw, proxy, "GET", "/readyz")
        return status == 503 and json.loads(body)["status"] == "draining"

    await eventually(draining, what="/readyz says draining")
    late = await client.chat.completions.with_raw_response.create(model="draft", messages=MSG)  # still served
    assert late.headers["x-crosswalk-provider"] == "primary" and late.headers["connection"].lower() == "close"
    assert (await slow).choices[0].message.content == primary.answer  # finished after the listener closed
    assert await asyncio.to_thread(proxy.proc.wait, 15) == 0
    assert "draining for 2s" in proxy.log()


async def test_workers_drain_on_sigterm_too(fake_vendor, tmp_path):
    vendors = [await fake_vendor(n, answer=ANSWER) for n in ("primary", "secondary", "third")]
    cfg = tmp_path / "w.yaml"
    cfg.write_text(_config(*vendors, drain_s=1))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg, extra=["--workers", "2"]).wait_ready())
    try:
        proxy.proc.send_signal(signal.SIGTERM)
        statuses = set()

        async def drained() -> bool:
            try:
                status, _, body = await asyncio.to_thread(_raw, proxy, "GET", "/readyz")
                statuses.add(json.loads(body)["status"])
            except OSError:  # both workers closed their listeners
                return proxy.proc.poll() is not None or "draining" in statuses
            return False

        await eventually(drained, what="the workers drain, then close")
        assert "draining" in statuses
        assert await asyncio.to_thread(proxy.proc.wait, 15) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError(f"workers did not exit after draining: {proxy.log()}") from None
    finally:
        await asyncio.to_thread(proxy.stop)


# --- embeddings and models --------------------------------------------------------------


async def test_embeddings_fail_over_with_the_official_client(stack):
    _, client, primary, secondary, _ = stack
    primary.always(fv.error(503, fv.OVERLOADED_503))
    texts = ["the refund is due", "order 1182"]
    raw = await client.embeddings.with_raw_response.create(model="embed", input=texts)  # base64 on the wire
    resp = raw.parse()
    assert [d.embedding for d in resp.data] == [secondary.vector(t) for t in texts]
    assert resp.model == "mistral-large" and resp.usage.prompt_tokens == 6
    assert raw.headers["x-crosswalk-attempts"] == "primary:transient,primary:transient,secondary:ok"
    assert raw.headers["x-crosswalk-upstream-request-id"] == secondary.last_request_id
    floats = await client.embeddings.create(model="embed", input="one text", encoding_format="float")
    assert [d.embedding for d in floats.data] == [secondary.vector("one text")]
    assert all(c.path == "/v1/embeddings" and c.body["encoding_format"] == "float" for c in secondary.calls)


async def test_embeddings_respect_compliance_and_refuse_bad_input(stack):
    _, client, primary, secondary, _ = stack
    resp = await client.embeddings.create(model="embed-eu", input=["hello"])
    assert resp.data[0].embedding == secondary.vector("hello") and primary.count == 0  # us is not allowed
    with pytest.raises(openai.BadRequestError) as info:
        await client.embeddings.create(model="embed", input=[[1, 2, 3]])
    assert info.value.body["param"] == "input" and "token arrays" in info.value.message
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="embed", input=[])
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="nope", input=["x"])
    assert primary.count == secondary.count - 1 == 0  # refused before any upstream call


async def test_models_retrieve_one_step_and_404_for_an_unknown_id(stack):
    _, client, *_ = stack
    model = await client.models.retrieve("draft")
    assert model.id == "draft" and model.object == "model" and model.owned_by == "crosswalk"
    with pytest.raises(openai.NotFoundError) as info:
        await client.models.retrieve("nope")
    assert info.value.body["code"] == "model_not_found" and "draft" in info.value.message

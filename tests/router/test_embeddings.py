"""Embeddings in-process (router/embed_chain.py): the SDK's OpenAI-shaped faces on
simulated vendors, failover and compliance like chat, the checks on `input`, base64 as
OpenAI encodes it, and an answer of the wrong shape counted as the provider's failure.
(Through the proxy and the official client: tests/router/test_proxy_surface.py.)"""

from __future__ import annotations

import base64
import struct

import pytest
from openai.types import CreateEmbeddingResponse

from crosswalk import InvalidRequest, Router, UnknownStep
from crosswalk.policies.parse import parse_config
from crosswalk.providers.simulated import Fault

CONFIG = """
providers:
  a: {kind: simulated, model: a-embed, vendor: va, region: us, simulate: {latency_ms: 0, jitter_ms: 0}}
  b: {kind: simulated, model: b-embed, vendor: vb, region: eu, simulate: {latency_ms: 0, jitter_ms: 0}}
steps:
  embed: {providers: [a, b], retry: {same_provider: 0}}
  embed-eu: {providers: [a, b], allowed_regions: [eu]}
"""
TEXTS = ["the refund is due", "order 1182 shipped"]


@pytest.fixture
def router():
    r = Router(parse_config(CONFIG, env={}))
    yield r
    r.close()


async def _vectors(router: Router, provider: str, texts: list[str]) -> list[list[float]]:
    return await router.providers[provider].embed(texts)


async def test_aio_face_embeds_in_order_with_the_record(router):
    resp = await router.aio.embeddings.create(model="embed", input=TEXTS)
    assert isinstance(resp, CreateEmbeddingResponse)
    assert [d.embedding for d in resp.data] == await _vectors(router, "a", TEXTS)
    assert [d.index for d in resp.data] == [0, 1]
    assert resp.model == "a-embed" and resp.crosswalk.provider == "a"  # the adapter names no model: the configured one


async def test_a_failing_provider_fails_over_and_counts_against_its_health(router):
    router.providers["a"].set_fault(Fault.http(503))
    resp = await router.aembedding(step="embed", input="one text")
    assert resp.crosswalk.provider == "b" and [a.short() for a in resp.crosswalk.attempts] == ["a:transient", "b:ok"]
    assert router.state.health["a"].consecutive == 1


async def test_compliance_rules_out_providers_before_any_call(router):
    resp = await router.aembedding(step="embed-eu", input=TEXTS)
    assert resp.crosswalk.provider == "b" and router.providers["a"].calls == 0


async def test_base64_is_little_endian_float32_as_openai_sends_it(router):
    resp = await router.aembedding(step="embed", input=TEXTS, encoding_format="base64")
    for item, vector in zip(resp.data, await _vectors(router, "a", TEXTS)):
        raw = base64.b64decode(item.embedding)
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(vector)


@pytest.mark.parametrize(("body", "param"), [
    ({"input": []}, "input"),
    ({"input": [[101, 202]]}, "input"),
    ({"input": [1, 2, 3]}, "input"),
    ({"input": ["ok", ""]}, "input[1]"),
    ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"input": "x", "dimensions": 0}, "dimensions"),
])
async def test_bad_input_is_refused_naming_the_field_before_any_call(router, body, param):
    with pytest.raises(InvalidRequest) as info:
        await router.runtime.embed("embed", body)
    assert info.value.param == param and info.value.status_code == 400
    assert router.providers["a"].calls == router.providers["b"].calls == 0


async def test_an_unknown_step_is_unknown(router):
    with pytest.raises(UnknownStep):
        await router.aembedding(step="nope", input="x")


class _Short:
    """An adapter answering one vector too few: a malformed answer, not a success."""

    name = "a"

    async def embeddings(self, body):
        return {"data": [{"embedding": [1.0], "index": 0}]}

    async def aclose(self) -> None:
        pass


async def test_an_answer_of_the_wrong_shape_is_the_providers_failure():
    r = Router(parse_config(CONFIG, env={}), providers={"a": _Short()})
    try:
        resp = await r.aembedding(step="embed", input=TEXTS)
        first, answered = resp.crosswalk.attempts
        assert first.provider == "a" and first.failure_class is not None and "1 vectors for 2 inputs" in first.detail
        assert answered.provider == resp.crosswalk.provider == "b"
    finally:
        await r.aclose()


def test_the_blocking_face_matches_the_openai_client_shape(router):
    resp = router.embeddings.create(model="embed", input="hello world")
    assert isinstance(resp, CreateEmbeddingResponse) and len(resp.data) == 1

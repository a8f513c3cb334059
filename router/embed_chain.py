"""Embeddings (`POST /v1/embeddings`, the SDK's `embeddings.create`): a step's ranked
providers that embed, under the same failover, health, compliance and deadlines as chat.

The walk is chat's (router/attempts.py `StepRun`, as router/chain.py's `_complete` uses
it) on the step narrowed to the providers that can embed. The answer is OpenAI's
embeddings list: `data[i].embedding` in input order, `model` as the vendor names it,
the vendor's `usage` when it reports one. Upstreams are always asked for floats, so
every answer is checked (one vector of numbers per input) before it counts as a
success; `encoding_format: base64` is encoded here (little-endian float32, as OpenAI
sends it, and what the official client asks for by default).

Verification does not apply: a panel compares answers, not vectors; a verified step
embeds on its providers in rank order.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import struct
from typing import Any, Protocol

from crosswalk.policies.config import StepConf
from crosswalk.providers.base import REQUEST_ID, ChatRequest, Provider
from crosswalk.providers.errors import MalformedResponse
from crosswalk.router.attempts import StepRun
from crosswalk.router.chain import first_success
from crosswalk.router.errors import CrosswalkError, InvalidRequest
from crosswalk.router.records import DecisionRecord
from crosswalk.router.state import RouterState

ENCODINGS = ("float", "base64")
MAX_INPUTS = 2048  # OpenAI's own limit per request


class Chain(Protocol):
    """What embedding runs on: the failover chain's state, providers and observer."""

    state: RouterState
    providers: Any
    observer: Any


def embedding_texts(body: dict[str, Any], step: str) -> list[str]:
    """The texts to embed (`input`: a string or a list of strings), or `InvalidRequest`
    naming the field, before any upstream call."""
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise _invalid("'input' must be a string or a non-empty array of strings", "input", step)
    if len(texts) > MAX_INPUTS:
        raise _invalid(f"'input' holds {len(texts)} items; at most {MAX_INPUTS} per request", "input", step)
    for i, text in enumerate(texts):
        if isinstance(text, (int, list)):
            raise _invalid("token arrays are not supported in 'input': send the text (providers tokenize it themselves)",
                           "input", step)
        if not isinstance(text, str) or not text:
            raise _invalid(f"'input[{i}]' must be a non-empty string", f"input[{i}]", step)
    encoding = body.get("encoding_format", "float")
    if encoding not in ENCODINGS:
        raise _invalid(f"'encoding_format' must be one of {', '.join(ENCODINGS)}", "encoding_format", step)
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        raise _invalid("'dimensions' must be a positive integer", "dimensions", step)
    return texts


def _invalid(message: str, param: str, step: str) -> InvalidRequest:
    err = InvalidRequest(message, step=step)
    err.code = "invalid_value"
    err.param = param  # type: ignore[attr-defined]  # the proxy names it in the error JSON
    return err


def embedding_step(step: StepConf, providers: Any) -> StepConf:
    """`step` narrowed to its providers that embed (no hedging, no panel), or
    `InvalidRequest` when none does."""
    able = tuple(name for name in step.providers if _embeds(providers.get(name)))
    if not able:
        raise _invalid(f"step '{step.name}' has no provider that embeds (its providers: {', '.join(step.providers)})",
                       "model", step.name)
    return dataclasses.replace(step, providers=able, hedge=None, verify=None)


def _embeds(provider: Provider | None) -> bool:
    return provider is not None and (callable(getattr(provider, "embeddings", None)) or callable(getattr(provider, "embed", None)))


async def embed(chain: Chain, step: StepConf, body: dict[str, Any]) -> tuple[dict[str, Any], DecisionRecord]:
    """Embed `body["input"]` on `step`'s providers that embed, failing over like chat;
    returns OpenAI's embeddings list and the decision record."""
    texts = embedding_texts(body, step.name)
    narrowed = embedding_step(step, chain.providers)
    run = StepRun(chain.state, narrowed, request=ChatRequest(body))
    observer = chain.observer
    try:
        result = await _walk(chain, run, body, texts)
    except CrosswalkError as error:
        if observer is not None:
            observer.request_done(run.record, error)
        raise
    except asyncio.CancelledError:  # the caller went away: its calls were made all the same
        if observer is not None:
            observer.request_done(run.cancelled(), None)
        raise
    if observer is not None:
        observer.request_done(run.record, None)
    if body.get("encoding_format") == "base64":
        for item in result["data"]:
            vector = item["embedding"]
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return result, run.record


async def _walk(chain: Chain, run: StepRun, body: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    upstream = {k: v for k, v in body.items() if k not in ("model", "input", "encoding_format")}
    upstream.update(input=texts, encoding_format="float")
    choice, result = await first_success(run, lambda choice: _ask(chain.providers[choice.provider], upstream, texts),
                                         what="no embeddings")
    if not isinstance(result.get("model"), str) or not result["model"]:
        result["model"] = chain.state.config.providers[choice.provider].model
    return result


async def _ask(provider: Any, upstream: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """One provider's embeddings in OpenAI's shape, checked: one vector of numbers per text."""
    name = provider.name
    if callable(getattr(provider, "embeddings", None)):
        result = await provider.embeddings(upstream)
    else:  # an adapter with only `embed(texts)` reports no model or usage
        result = {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": v}
                                             for i, v in enumerate(await provider.embed(texts))]}
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list) or len(data) != len(texts):
        raise MalformedResponse(f"{name}: embeddings answer has {len(data) if isinstance(data, list) else 'no'} vectors for {len(texts)} inputs",
                                provider=name)
    try:
        data = sorted(data, key=lambda d: d.get("index", 0))
        items = [{"object": "embedding", "index": i, "embedding": [float(x) for x in d["embedding"]]} for i, d in enumerate(data)]
    except (TypeError, ValueError, KeyError, AttributeError):
        raise MalformedResponse(f"{name}: embeddings answer has a vector that is not a list of numbers", provider=name) from None
    out: dict[str, Any] = {"object": "list", "data": items, "model": result.get("model")}
    if REQUEST_ID in result:
        out[REQUEST_ID] = result[REQUEST_ID]
    usage = result.get("usage")
    if isinstance(usage, dict):
        out["usage"] = usage
    return out

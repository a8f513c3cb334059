"""The one small contract every provider keeps, and the request it receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, Mapping, Protocol


@dataclass(frozen=True, slots=True)
class Native:
    """The caller's own request, when it came in another dialect than Chat: `dialect`
    names it ("messages", "responses"), `body` is what the caller sent (`model` and all; for
    Responses, the whole conversation in `input` and no `previous_response_id`), `headers`
    the caller's dialect headers worth carrying on (`anthropic-beta`). A provider that
    speaks that dialect sends `body` with only `model` changed. `needs`: what in it only
    such a provider can carry (the others are not eligible); `dropped`: what a
    translation for the others leaves out (listed in the decision record)."""

    dialect: str
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """An OpenAI-shaped chat request. `body` passes through to the vendor unchanged except
    for `model`, which each provider sets to its own upstream model (tools,
    response_format and unknown fields survive). `native`: the caller's original request
    in its own dialect, for providers that speak it (None: the caller spoke Chat)."""

    body: dict[str, Any]
    native: Native | None = None


# Where an adapter leaves the vendor's own request id (OpenAI's `x-request-id`, Anthropic's
# `request-id`) in the answer dict it returns, or in a stream's first chunk; the chain takes
# it out into the record before anything reaches the caller.
REQUEST_ID = "_crosswalk_request_id"
# Where a provider that served a `native` request leaves the vendor's own answer (or, on a
# stream chunk, the one event the chunk was made from), so the ingress can return it
# unchanged; the chunk or dict itself is the canonical chat form every other part reads.
NATIVE = "_crosswalk_native"


class Provider(Protocol):
    """A vendor endpoint: `complete` returns a chat.completion dict, `stream` yields
    chat.completion.chunk dicts; both raise only `providers.errors.ProviderError`."""

    name: str

    async def complete(self, request: ChatRequest) -> dict[str, Any]: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


def chunk_commits(chunk: dict[str, Any]) -> bool:
    """True when a stream chunk carries something the caller must see (content, reasoning
    such as a Messages thinking delta, a tool call, a refusal, a finish reason, usage): the
    point after which failover is over. Reasoning counts: a long thinking phase is the
    model answering, not a first token that never comes."""
    if chunk.get("usage"):
        return True
    for choice in chunk.get("choices") or ():
        if choice.get("finish_reason"):
            return True
        delta = choice.get("delta") or {}
        if (delta.get("content") or delta.get("tool_calls") or delta.get("refusal") or delta.get("function_call")
                or delta.get("reasoning_content")):
            return True
    return False


def stream_text(chunks: Iterable[dict[str, Any]]) -> str:
    """The answer text a sequence of stream chunks spells out: choice 0's content deltas,
    joined (what a held stream says, or what a caller of a broken stream has received)."""
    parts = []
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) == 0:
                content = (choice.get("delta") or {}).get("content")
                if isinstance(content, str):
                    parts.append(content)
    return "".join(parts)


def chunk_finishes(chunk: dict[str, Any]) -> bool:
    """True when a chunk carries a finish reason: the model said it was done. (A loop, not
    any() over a generator: this runs for every chunk of every stream.)"""
    for choice in chunk.get("choices") or ():
        if choice.get("finish_reason"):
            return True
    return False


class Embedder(Protocol):
    """A provider that can also embed texts (for the semantic comparator)."""

    name: str

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

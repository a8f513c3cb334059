"""Legacy text completions (POST /v1/completions) as a way into a step, knowing nothing of
the HTTP server: the request becomes the step's chat request (providers/completions_chat.py),
the answer a `text_completion`, the stream `text_completion` chunks ending in [DONE]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crosswalk.providers.completions_chat import Untranslatable, to_chat, to_chunk, to_completion
from crosswalk.providers.jsonwire import dumps
from crosswalk.router.dialects.chat import ChatStream
from crosswalk.router.proxy_requests import BadRequest
from crosswalk.router.records import DecisionRecord
from crosswalk.router.resume import recovery_event


@dataclass(frozen=True)
class Turn:
    """One completions request, translated: `step` and the chat `body` to run."""

    step: str
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        """Whether the caller asked for a stream."""
        return bool(self.body.get("stream"))

    async def render(self, completion: dict[str, Any], record: DecisionRecord) -> dict[str, Any]:
        """The text_completion for the step's chat completion."""
        return to_completion(completion)


def open_turn(body: dict[str, Any]) -> Turn:
    """The turn for a parsed body (`model` already checked); `BadRequest` names the field."""
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("'stream' must be true or false", "stream")
    step = body["model"]
    try:
        chat = to_chat({k: v for k, v in body.items() if k != "model"})
    except Untranslatable as exc:
        raise BadRequest(exc.message, exc.param, code="unsupported_parameter") from None
    return Turn(step=step, body=chat)


class StreamEncoder(ChatStream):
    """A step's chat stream as text_completion SSE chunks; errors end it as on chat."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn

    def head(self, first: dict[str, Any] | None) -> bytes:
        """The first chunk's text, if it has any."""
        return b"" if first is None else self.chunk(first)

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """One chat chunk as a text_completion chunk (nothing for a role-only chunk)."""
        out = to_chunk(chunk)
        return b"" if out is None else b"data: " + dumps(out) + b"\n\n"

    async def tail(self, record: DecisionRecord) -> bytes:
        """[DONE], after the recovery event of a stream that broke and was resumed."""
        if record.recovery is None:
            return b"data: [DONE]\n\n"
        return b"data: " + dumps({**recovery_event(record), "object": "text_completion"}) + b"\n\ndata: [DONE]\n\n"

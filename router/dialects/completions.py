"""Legacy text completions (POST /v1/completions) as a way into a step, knowing nothing of
the HTTP server: the request becomes the step's chat request (providers/completions_chat.py),
the answer a `text_completion`, the stream `text_completion` chunks ending in [DONE]."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from crosswalk.providers.completions_chat import Untranslatable, to_chat, to_chunk, to_completion
from crosswalk.providers.jsonwire import dumps
from crosswalk.router.errors import CrosswalkError
from crosswalk.router.proxy_requests import BadRequest, error_body
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

    def render(self, completion: dict[str, Any], record: DecisionRecord) -> dict[str, Any]:
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


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + dumps(payload) + b"\n\n"


class StreamEncoder:
    """A step's chat stream as text_completion SSE chunks."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn

    def head(self, first: dict[str, Any] | None) -> bytes:
        """The first chunk's text, if it has any."""
        return b"" if first is None else self.chunk(first)

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """One chat chunk as a text_completion chunk (nothing for a role-only chunk)."""
        out = to_chunk(chunk)
        return b"" if out is None else _data(out)

    async def tail(self, record: DecisionRecord) -> bytes:
        """[DONE], after the recovery event of a stream that broke and was resumed."""
        recovered = b"" if record.recovery is None else _data({**recovery_event(record), "object": "text_completion"})
        return recovered + b"data: [DONE]\n\n"

    def failure(self, err: CrosswalkError, record: DecisionRecord) -> bytes:
        """An in-band error and no [DONE]: the partial text is not a whole answer."""
        extra = None if record.recovery is None else {"step": record.step, "recovery": dataclasses.asdict(record.recovery)}
        return b"data: " + error_body(err.message, type_=err.error_type, code=err.error_type, extra=extra) + b"\n\n"

    def internal_failure(self) -> bytes:
        """Crosswalk's own failure mid-stream."""
        return b"data: " + error_body("internal error in Crosswalk mid-stream (details are in the server log); the answer is incomplete",
                                      type_="server_error", code="server_error") + b"\n\n"

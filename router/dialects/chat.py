"""Chat Completions, the step's own dialect: how an answer and a stream go back to a chat
caller, and the stream-writing contract every dialect keeps (`StreamEncoder`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from crosswalk.providers.jsonwire import dumps
from crosswalk.router import validation
from crosswalk.router.errors import CrosswalkError
from crosswalk.router.proxy_requests import error_body
from crosswalk.router.records import DecisionRecord
from crosswalk.router.resume import recovery_event


class StreamEncoder(Protocol):
    """How a dialect puts a step's chunk stream on the wire; the proxy's stream writer
    calls it once the first chunk (or the end) has come, so failover before the first
    token never shows."""

    def head(self, first: dict[str, Any] | None) -> bytes:
        """What goes out first: the opening events and the first chunk's."""
        ...

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The bytes for one chunk (may be empty)."""
        ...

    async def tail(self, record: DecisionRecord) -> bytes:
        """The closing bytes once the stream ended whole."""
        ...

    def failure(self, err: CrosswalkError, record: DecisionRecord) -> bytes:
        """The in-band error that ends a stream broken past its first token."""
        ...

    def internal_failure(self) -> bytes:
        """The in-band error for Crosswalk's own failure mid-stream."""
        ...


async def render(result: dict[str, Any], record: DecisionRecord) -> dict[str, Any]:
    """The chat completion as returned: a verified step's agreement, broken validators and
    flagged seams under `crosswalk`."""
    if record.agreement is not None:
        result["crosswalk"] = {"step": record.step, "provider": record.provider,
                               "agreement": dataclasses.asdict(record.agreement)}
    if record.validation:
        result.setdefault("crosswalk", {"step": record.step, "provider": record.provider})["validation"] = validation.as_json(record)
    if record.seams:
        result.setdefault("crosswalk", {"step": record.step, "provider": record.provider})["seams"] = [
            dataclasses.asdict(flag) for flag in record.seams]
    return result


def _data(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


class ChatStream:
    """A chat stream on the wire as Chat Completions SSE (`data: {chunk}` ... `data: [DONE]`)."""

    def head(self, first: dict[str, Any] | None) -> bytes:
        return b"" if first is None else _data(dumps(first))

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        return _data(dumps(chunk))

    async def tail(self, record: DecisionRecord) -> bytes:
        recovered = b""
        if record.recovery is not None:  # the stream broke and was resumed: say how, last
            recovered = _data(dumps(recovery_event(record)))
        return recovered + b"data: [DONE]\n\n"

    def failure(self, err: CrosswalkError, record: DecisionRecord) -> bytes:
        # No [DONE] follows, so no client can take the partial answer for a whole one.
        extra = None if record.recovery is None else {"step": record.step, "recovery": dataclasses.asdict(record.recovery)}
        return _data(error_body(err.message, type_=err.error_type, code=err.error_type, extra=extra))

    def internal_failure(self) -> bytes:
        return _data(error_body("internal error in Crosswalk mid-stream (details are in the server log); the answer is incomplete",
                                type_="server_error", code="server_error"))

"""The OpenAI Chat Completions dialect's stream on the wire: `data: <chunk>` events, a
resumed stream's recovery note, `data: [DONE]`, and the in-band error that ends a stream
broken past its commit point (then no [DONE], so no client takes it for whole)."""

from __future__ import annotations

import dataclasses
from typing import Any

from crosswalk.providers.jsonwire import dumps
from crosswalk.router.errors import CrosswalkError
from crosswalk.router.proxy_requests import error_body
from crosswalk.router.records import DecisionRecord
from crosswalk.router.resume import recovery_event

DIALECT = "chat"


class ChatWire:
    """Encodes one chat stream for the caller (the proxy's stream loop calls it)."""

    __slots__ = ()

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """One chunk as an SSE event."""
        return b"data: " + dumps(chunk) + b"\n\n"

    def end(self, record: DecisionRecord) -> bytes:
        """What closes a whole answer: the recovery note (when resumed) and [DONE]."""
        if record.recovery is not None:
            return b"data: " + dumps(recovery_event(record)) + b"\n\ndata: [DONE]\n\n"
        return b"data: [DONE]\n\n"

    def broken(self, err: CrosswalkError, record: DecisionRecord) -> bytes:
        """The in-band error event for a stream that failed past its commit point."""
        extra = None if record.recovery is None else {"step": record.step, "recovery": dataclasses.asdict(record.recovery)}
        return b"data: " + error_body(err.message, type_=err.error_type, code=err.error_type, extra=extra) + b"\n\n"

    def internal(self) -> bytes:
        """The in-band event for Crosswalk's own failure mid-stream."""
        return b"data: " + error_body("internal error in Crosswalk mid-stream (details are in the server log); the answer is incomplete",
                                      type_="server_error", code="server_error") + b"\n\n"

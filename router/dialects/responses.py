"""The OpenAI Responses API as a way into a step (POST /v1/responses and its stored
responses), knowing nothing of the HTTP server that runs it.

`open_turn` parses a request, resolves `previous_response_id` from what Crosswalk stored
(router/state/conversations.py), and translates the conversation into the step's chat
request (providers/responses_chat.py); the turn then renders the step's answer as a
Response object, or its stream as Responses events (`StreamEncoder`), and stores the
result unless the caller sent `store: false`. Errors are OpenAI's error JSON.

Native when it can, translated when it must: the turn also carries the caller's request
as `Native` ("responses"), its `input` holding the whole conversation and no
`previous_response_id` (a provider that never saw the earlier turns can serve this one),
for providers that speak the Responses API (`responses: true`); what only they can carry
(providers/responses_needs.py) makes the others ineligible. A native answer (or stream
event) reaches the caller as the vendor sent it, and is stored like any other.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from crosswalk.providers.base import NATIVE, Native
from crosswalk.providers.responses_chat import Untranslatable, input_items, new_id, sse, to_chat, to_response
from crosswalk.providers.responses_needs import replayable, split
from crosswalk.providers.responses_wire import DIALECT
from crosswalk.providers.responses_stream import EventRenderer
from crosswalk.router import validation
from crosswalk.router.errors import CrosswalkError
from crosswalk.router.proxy_requests import BadRequest
from crosswalk.router.records import DecisionRecord
from crosswalk.router.state.conversations import Conversations, StoreUnavailable

log = logging.getLogger("crosswalk.responses")


@dataclass
class Turn:
    """One Responses request, translated: `step`, the chat `body` to run, and what is
    needed to render and store the answer."""

    step: str
    request: dict[str, Any]
    body: dict[str, Any]
    items: list[dict[str, Any]]  # the whole conversation so far, this request's input last
    created_at: float  # unix seconds
    native: Native | None = None  # the request as a Responses provider is sent it
    needs: tuple[tuple[str, str], ...] = ()  # (param, what) only a Responses provider can carry
    response_id: str = field(default_factory=lambda: new_id("resp"))

    @property
    def stream(self) -> bool:
        """Whether the caller asked for a stream."""
        return bool(self.request.get("stream"))

    @property
    def stored(self) -> bool:
        """Whether the answer is kept for a later `previous_response_id` (`store`, default true)."""
        return self.request.get("store", True) is not False

    def unservable(self, step: str, *, verified: bool = False) -> BadRequest:
        """The 400 for a step none of whose providers can carry what this request needs
        (`verified`: a verified step, whose panel is asked in Chat, which cannot either)."""
        param = self.needs[0][0]
        everything = ", ".join(dict.fromkeys(w for _, w in self.needs))
        if verified:
            return BadRequest(f"'{param}': step '{step}' verifies its answers, and its panel is asked in Chat Completions, "
                              f"which cannot carry {everything}: send it to a step without verify", param,
                              code="unsupported_parameter")
        return BadRequest(f"'{param}': step '{step}' has no provider that speaks the Responses API natively, and {everything} "
                          "cannot be translated to Chat Completions (declare `responses: true` on a kind: openai provider of "
                          "the step that serves the Responses API, or leave it out of the request)", param,
                          code="unsupported_parameter")

    def render(self, completion: dict[str, Any], record: DecisionRecord) -> dict[str, Any]:
        """The Response object for the step's chat completion: the vendor's own, unchanged,
        when a Responses provider served the request natively (its id is this turn's)."""
        native = completion.pop(NATIVE, None)
        if isinstance(native, dict):
            self.response_id = str(native.get("id") or self.response_id)
            return native
        response = to_response(completion, self.request, response_id=self.response_id, created_at=self.created_at)
        response["crosswalk"] = crosswalk_block(record)
        return response

    async def save(self, response: dict[str, Any], conversations: Conversations) -> None:
        """Keep the response and the conversation through it (unless `store: false`). A
        store that cannot be reached does not cost the caller the answer: the response says
        `crosswalk.stored: false`, and the log says why."""
        if not self.stored or response.get("status") not in ("completed", "incomplete"):
            return
        try:
            await conversations.put(self.response_id, {"response": response, "items": [*self.items, *response["output"]]})
        except StoreUnavailable as exc:
            log.warning("crosswalk: response %s answered but not stored: %s", self.response_id, exc)
            response.setdefault("crosswalk", {})["stored"] = False


def crosswalk_block(record: DecisionRecord) -> dict[str, Any]:
    """Crosswalk's own block on a Response: which step and provider answered, after which
    attempts, a verified step's agreement, broken validators, and how a broken stream was
    recovered (extra fields the SDKs keep, as `crosswalk` on a chat completion)."""
    block: dict[str, Any] = {"step": record.step, "provider": record.provider,
                             "attempts": [a.short() for a in record.attempts]}
    if record.agreement is not None:
        block["agreement"] = dataclasses.asdict(record.agreement)
    if record.validation:
        block["validation"] = validation.as_json(record)
    if record.recovery is not None:
        block["recovery"] = dataclasses.asdict(record.recovery)
    return block


async def open_turn(body: dict[str, Any], conversations: Conversations, *, created_at: float) -> Turn:
    """The turn for a parsed request body (`model` already checked by the proxy), created
    at `created_at` (unix seconds, from the router's clock); raises `BadRequest` naming
    the field that cannot be served."""
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("'stream' must be true or false", "stream")
    if "store" in body and not isinstance(body["store"], bool):
        raise BadRequest("'store' must be true or false", "store")
    history: list[dict[str, Any]] = []
    previous = body.get("previous_response_id")
    if previous is not None:
        entry = await _stored(conversations, previous) if isinstance(previous, str) else None
        if entry is None:
            raise BadRequest(f"Previous response with id '{str(previous)[:100]}' not found (never stored, stored with "
                             "store: false, deleted, or expired): send the whole conversation in 'input' instead",
                             "previous_response_id", code="previous_response_not_found")
        history = entry["items"]
    try:
        current = input_items(body.get("input"))
        parts = split(body, history, current)
        chat = _chat(parts.body, parts.items, needed=bool(parts.needs))
    except Untranslatable as exc:
        raise BadRequest(exc.message, exc.param, code="unsupported_parameter") from None
    items = [*history, *current]
    if previous is not None:  # the whole conversation, so a provider that never saw it can answer
        body_sent = {k: v for k, v in body.items() if k != "previous_response_id"}
        sent = {**body_sent, "input": [*replayable(history), *current]}
    else:
        sent = body
    native = Native(DIALECT, sent, {}, tuple(dict.fromkeys(w for _, w in parts.needs)), parts.dropped)
    return Turn(step=body["model"], request=body, body=chat, items=items, created_at=created_at, native=native, needs=parts.needs)


def _chat(body: dict[str, Any], items: list[dict[str, Any]], *, needed: bool) -> dict[str, Any]:
    """The chat body; for a request only a Responses provider can serve, one whose whole
    input was native-only translates to no messages (no chat provider will be sent it)."""
    try:
        return to_chat(body, items)
    except Untranslatable as exc:
        if not needed or exc.param != "input":
            raise
        return {"messages": [], **({"stream": True} if body.get("stream") else {})}


async def _stored(conversations: Conversations, response_id: str) -> dict[str, Any] | None:
    try:
        return await conversations.get(response_id)
    except StoreUnavailable as exc:
        raise _unavailable(exc, "previous_response_id") from None


class StreamEncoder:
    """A step's chat stream as Responses SSE events, for the proxy's stream writer."""

    def __init__(self, turn: Turn, conversations: Conversations) -> None:
        self.turn = turn
        self._conversations = conversations
        self._events = EventRenderer(turn.request, response_id=turn.response_id, created_at=turn.created_at, model="")

    def head(self, first: dict[str, Any] | None) -> bytes:
        """response.created and response.in_progress (with the answering model, when the
        first chunk names it), then the first chunk's events; a native stream's own."""
        if first is not None and isinstance(first.get(NATIVE), dict):
            return self.chunk(first)
        if first is not None and first.get("model"):
            self._events.response["model"] = first["model"]
        events = self._events.start()
        if first is not None:
            events += self._events.feed(first)
        return b"".join(map(sse, events))

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The events for one chat chunk: a native chunk's own event as it came (the
        response's id becomes the turn's), else the translation."""
        native = chunk.pop(NATIVE, None)
        if isinstance(native, dict):
            self._events.observe(native)
            if native.get("type") == "response.created" and isinstance(native.get("response"), dict):
                self.turn.response_id = str(native["response"].get("id") or self.turn.response_id)
            return sse(native)
        events = [] if self._events.started else self._events.start()
        return b"".join(map(sse, events + self._events.feed(chunk)))

    async def tail(self, record: DecisionRecord) -> bytes:
        """The closing events, once the answer is whole (none after a native stream's own
        response.completed); the response is stored first, so a next turn sent the moment
        this one completes finds it."""
        if self._events.finished:
            await self.turn.save(self._events.response, self._conversations)
            return b""
        events = self._events.end({"crosswalk": crosswalk_block(record)})
        await self.turn.save(self._events.response, self._conversations)
        return b"".join(map(sse, events))

    def failure(self, err: CrosswalkError, record: DecisionRecord) -> bytes:
        """The in-band `error` event that ends a stream broken past its first token."""
        return sse(self._events.error(err.message, code=err.error_type))

    def internal_failure(self) -> bytes:
        """The `error` event for Crosswalk's own failure mid-stream."""
        return sse(self._events.error("internal error in Crosswalk mid-stream (details are in the server log); "
                                      "the answer is incomplete", code="server_error"))


def _unavailable(exc: StoreUnavailable, param: str) -> BadRequest:
    return BadRequest(f"{exc}; retry later", param, status=503, code="store_unavailable")


async def stored_response(conversations: Conversations, response_id: str) -> dict[str, Any]:
    """GET /v1/responses/{id}: the stored response, or a 404 naming the id (503 while the
    shared store cannot be reached)."""
    try:
        entry = await conversations.get(response_id)
    except StoreUnavailable as exc:
        raise _unavailable(exc, "response_id") from None
    if entry is None:
        raise _not_found(response_id)
    return entry["response"]  # type: ignore[no-any-return]


async def deleted(conversations: Conversations, response_id: str) -> dict[str, Any]:
    """DELETE /v1/responses/{id}: OpenAI's deletion object, or a 404 naming the id."""
    try:
        found = await conversations.delete(response_id)
    except StoreUnavailable as exc:
        raise _unavailable(exc, "response_id") from None
    if not found:
        raise _not_found(response_id)
    return {"id": response_id, "object": "response.deleted", "deleted": True}


def _not_found(response_id: str) -> BadRequest:
    return BadRequest(f"No response found with id '{response_id[:100]}' (never stored, stored with store: false, "
                      "deleted, or expired)", "response_id", status=404, code="response_not_found")

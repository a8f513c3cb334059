"""The Anthropic Messages dialect at the sidecar (`POST /v1/messages`): parse a request,
render the answer, the stream events and the errors, in Anthropic's shapes. Knows
nothing of the HTTP server: the proxy's thin handler calls it.

A request becomes the canonical Chat body (`providers.messages_chat`) plus the caller's
own body as `Native`, so a `kind: anthropic` provider sends it unchanged except `model`
and everyone else gets the translation. What only a Messages provider can carry
(`needs`) makes the others ineligible; what may be left behind (`dropped`) is listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from crosswalk.providers.base import NATIVE, Native
from crosswalk.providers.jsonwire import dumps
from crosswalk.providers.messages_chat import chat_to_message, messages_to_chat
from crosswalk.providers.messages_stream import ChatToEvents
from crosswalk.router.proxy_requests import BadRequest, parse_routable_body

DIALECT = "messages"
CARRIED_HEADERS = ("anthropic-beta",)

# Anthropic's error type for each status (its API reference's "HTTP errors" table).
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


def error_type(status: int) -> str:
    """Anthropic's error type for `status` (5xx other than 529: api_error)."""
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, *, extra: Mapping[str, Any] | None = None) -> bytes:
    """Anthropic's error JSON; Crosswalk's attempts ride along under `crosswalk`."""
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type(status), "message": message}}
    if extra:
        body["crosswalk"] = dict(extra)
    return dumps(body)


@dataclass(frozen=True, slots=True)
class MessagesCall:
    """A parsed Messages request: the step name it asks for, the Chat body every provider
    can be sent, and the caller's own request (with what only a Messages provider can
    carry, and what the others leave out) for providers that speak Messages."""

    model: str
    chat: dict[str, Any]
    native: Native

    @property
    def stream(self) -> bool:
        """Whether the caller asked for the event stream."""
        return bool(self.native.body.get("stream"))


def parse(raw: bytes, headers: Mapping[str, str], *, counting: bool = False) -> MessagesCall:
    """Parse and check a Messages body (`counting`: a count_tokens body, which has no
    max_tokens); `BadRequest` names the field at fault."""
    body = parse_routable_body(raw)
    tokens = body.get("max_tokens")
    if not counting and (not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1):
        raise BadRequest("max_tokens: Field required (a positive integer)", "max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: Field required (a non-empty array of {role, content})", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'", f"messages.{i}.role")
        content = message.get("content")
        if not isinstance(content, (str, list)) or (isinstance(content, list) and not all(isinstance(b, dict) for b in content)):
            raise BadRequest(f"messages.{i}.content: a string or an array of content blocks", f"messages.{i}.content")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("stream: Input should be a valid boolean", "stream")
    if not isinstance(body.get("system", ""), (str, list)):
        raise BadRequest("system: a string or an array of text blocks", "system")
    carried = {name: headers[name] for name in CARRIED_HEADERS if headers.get(name)}
    try:
        chat, dropped = messages_to_chat(body)
    except (KeyError, TypeError, AttributeError) as exc:  # a block without the fields its type requires
        raise BadRequest(f"messages: a content block, tool or system block is malformed (missing or wrong {exc})", "messages") from None
    native = Native(DIALECT, body, carried, *needs_and_degraded(body, carried, dropped))
    return MessagesCall(body["model"], chat, native)


# Blocks whose meaning a translation would lose (the answer would be wrong without them).
_NATIVE_BLOCKS = {"document": "documents", "search_result": "search results", "server_tool_use": "server tool calls",
                  "web_search_tool_result": "server tool results", "web_fetch_tool_result": "server tool results",
                  "code_execution_tool_result": "server tool results", "container_upload": "container uploads"}
# Blocks a translation may leave out: only Anthropic can read a thinking block's signature,
# and another model answers as well without it (listed in the record as dropped).
_DEGRADABLE_BLOCKS = {"thinking": "thinking blocks", "redacted_thinking": "redacted thinking blocks"}


def needs_and_degraded(body: Mapping[str, Any], headers: Mapping[str, str],
                       dropped: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What in the request only a provider speaking Messages can carry (documents and
    citations, server tools and their results, MCP servers), and what a translation
    leaves out: the mapping's own list, thinking blocks, the caller's betas (Claude Code
    sends some on every request: they must not pin it to one vendor). One pass over the
    blocks: this runs on every request."""
    needs: dict[str, None] = {}
    degraded = dict.fromkeys(d for d in dropped if d not in ("thinking block", "redacted_thinking block"))
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            continue
        for block in content:
            kind = block.get("type")
            if kind == "text" and not block.get("citations"):
                continue
            if kind in _NATIVE_BLOCKS:
                needs[_NATIVE_BLOCKS[kind]] = None
            elif kind in _DEGRADABLE_BLOCKS:
                degraded[_DEGRADABLE_BLOCKS[kind]] = None
            if block.get("citations"):
                needs["citations"] = None
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") not in (None, "custom"):
            needs[f"server tool {tool.get('type')}"] = None
    if body.get("mcp_servers"):
        needs["MCP servers"] = None
    if headers.get("anthropic-beta"):
        degraded[f"anthropic-beta {headers['anthropic-beta']}"] = None
    return tuple(needs), tuple(degraded)


def render(result: dict[str, Any]) -> dict[str, Any]:
    """The message object for an answer: the vendor's own when a Messages provider
    served the caller's request natively, else the Chat answer translated."""
    native = result.pop(NATIVE, None)
    if isinstance(native, dict):
        return native
    return chat_to_message(result)


class EventStream:
    """A Chat chunk stream as Anthropic's events: a natively served chunk's own event
    goes out as it came; the rest (a failover, a resumed stream) is translated and
    numbered on from what was sent."""

    def __init__(self) -> None:
        self._out = ChatToEvents()

    def events(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The events for one chunk."""
        native = chunk.pop(NATIVE, None)
        if isinstance(native, dict):
            self._out.observe(native)
            return [native]
        return self._out.feed(chunk)

    def finish(self) -> list[dict[str, Any]]:
        """The closing events, unless a native stream already sent them."""
        return self._out.finish()


def sse(event: Mapping[str, Any]) -> bytes:
    """One event on the wire, as Anthropic sends it (`event:` line, then `data:`)."""
    return b"event: " + str(event.get("type", "message")).encode() + b"\ndata: " + dumps(event) + b"\n\n"


def error_event(status: int, message: str) -> dict[str, Any]:
    """The in-band `error` event that ends a stream which broke past its commit point."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


class MessagesStream:
    """Encodes one answer's chunks as Anthropic's event stream (a `StreamEncoder`,
    router/dialects/chat.py): native events as they came, the rest translated, an `error`
    event when it breaks past its commit point."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events = EventStream()

    def head(self, first: dict[str, Any] | None) -> bytes:
        """The first chunk's events (message_start comes with them)."""
        return b"" if first is None else self.chunk(first)

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The events one chunk makes, on the wire."""
        return b"".join(sse(e) for e in self._events.events(chunk))

    async def tail(self, record: Any) -> bytes:
        """The closing events (message_delta, message_stop) unless already sent."""
        return b"".join(sse(e) for e in self._events.finish())

    def failure(self, err: Any, record: Any) -> bytes:
        """Anthropic's `error` event, for a stream that failed past its commit point."""
        return sse(error_event(err.status_code, err.message))

    def internal_failure(self) -> bytes:
        """The `error` event for Crosswalk's own failure mid-stream."""
        return sse(error_event(500, "internal error in Crosswalk mid-stream (details are in the server log); the answer is incomplete"))


def model_list(steps: list[str]) -> dict[str, Any]:
    """`GET /v1/models` as Anthropic's SDK reads it: the steps as models, one page."""
    data = [{"type": "model", "id": name, "display_name": name, "created_at": "1970-01-01T00:00:00Z"} for name in steps]
    return {"data": data, "has_more": False, "first_id": steps[0] if steps else None, "last_id": steps[-1] if steps else None}

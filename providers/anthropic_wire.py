"""Native Anthropic Messages adapter (`kind: anthropic`), on the lean HTTP/1.1 client.

`POST {base_url}/v1/messages` with `x-api-key` and `anthropic-version`. A request that
came in as Messages (`ChatRequest.native`, dialect "messages") is sent as the caller
wrote it, only `model` changed, so cache_control, thinking blocks with their signatures,
documents and betas (the caller's `anthropic-beta` header) reach the vendor; the answer
comes back as the canonical chat dict with the vendor's own message on `NATIVE`, and a
stream's chunks each carry the event they were made from. Any other request (a Chat
caller, a failover, a mid-stream continuation) is translated with `messages_chat`.

Errors are Anthropic's JSON (`{"type": "error", "error": {"type", "message"}}`) read into
`ProviderHTTPError` (status, `error_type`, Retry-After) for the one classifier; an
`error` event mid-stream (an overload, say) is a `StreamBroken` with its type as code.
"""

from __future__ import annotations

from functools import partial
from typing import Any, AsyncIterator, Callable, Mapping

from crosswalk.providers.base import NATIVE, REQUEST_ID, ChatRequest
from crosswalk.providers.errors import MalformedResponse, ProviderConnectionError, StreamBroken, redact
from crosswalk.providers.http1 import Origin, Pool, TransportError
from crosswalk.providers.jsonwire import dumps, loads
from crosswalk.providers.loop_pools import LoopPools
from crosswalk.providers.messages_chat import chat_dropped, chat_to_messages, message_to_chat
from crosswalk.providers.messages_stream import EventsToChat
from crosswalk.providers.openai_wire import http_error
from crosswalk.providers.redaction import redact_url, url_secrets
from crosswalk.providers.sse import DONE, relay
from crosswalk.providers.trace_headers import encoded as with_trace
from crosswalk.providers.upstream import Upstream
from crosswalk.providers.wire_checks import check_headers

DIALECT = "messages"
API_VERSION = "2023-06-01"
PASSED_HEADERS = ("anthropic-beta",)  # the caller's headers a native request carries on


class AnthropicProvider:
    """A provider speaking Anthropic's Messages API."""

    dialect = DIALECT

    def __init__(self, *, name: str, model: str, base_url: str = "https://api.anthropic.com", api_key: str | None = None,
                 headers: dict[str, str] | None = None, upstream: Upstream | None = None) -> None:
        self.name = name
        self.model = model
        root = base_url.rstrip("/").removesuffix("/v1")  # the SDK's base_url, with or without /v1
        self._url = root + "/v1/messages"
        upstream = upstream or Upstream()
        origin = Origin(root, proxy=upstream.proxy)
        head_headers = {"user-agent": "crosswalk", "accept": "application/json", "accept-encoding": "gzip, deflate",
                        "content-type": "application/json", "anthropic-version": API_VERSION,
                        **{k.lower(): v for k, v in (headers or {}).items()}}
        if api_key:
            head_headers["x-api-key"] = api_key
        self._secrets = tuple(v for v in (api_key, *(headers or {}).values(), *url_secrets(base_url),
                                          upstream.proxy and upstream.proxy.authorization) if v)
        self._messages_head = origin.head("POST", "/v1/messages", head_headers)
        self._count_head = origin.head("POST", "/v1/messages/count_tokens", head_headers)
        self._pools = LoopPools(lambda: Pool(origin, ssl_context=upstream.ssl_context, trust=upstream.trust))
        self._pool: Callable[[], Pool] = self._pools.get

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r}, model={self.model!r}, url={redact_url(self._url)!r})"

    def _native(self, request: ChatRequest) -> bool:
        return request.native is not None and request.native.dialect == DIALECT

    def _request(self, request: ChatRequest, *, stream: bool) -> tuple[bytes, bytes]:
        """The request head (with the caller's betas on a native request) and body."""
        head = with_trace(self._messages_head)
        if request.native is not None and self._native(request):
            body = {**request.native.body, "model": self.model}
            head += _passed(request.native.headers)
        else:
            body = {**chat_to_messages(request.body), "model": self.model}
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        return head, dumps(body)

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        """POST the request; the answer as a chat.completion (the vendor's message on
        `NATIVE` when the caller spoke Messages)."""
        raw, request_id = await self._post(*self._request(request, stream=False))
        try:
            message = loads(raw)
        except ValueError:
            raise MalformedResponse(f"{self.name}: response body is not JSON", provider=self.name) from None
        if not isinstance(message, dict) or message.get("type") != "message":
            raise MalformedResponse(f"{self.name}: response is not a message object", provider=self.name)
        chat = message_to_chat(message)
        if self._native(request):
            chat[NATIVE] = message
        if request_id is not None:
            chat[REQUEST_ID] = request_id
        return chat

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """POST with stream=true and yield one chat chunk an event (pings skipped). An
        `error` event, or an end without message_stop, breaks the stream."""
        head, payload = self._request(request, stream=True)
        native = self._native(request)
        try:
            resp = await self._pool().request(head, payload)
        except TransportError as exc:
            raise self._connection_error(exc) from None
        chunks = EventsToChat()

        def convert(data: Any) -> dict[str, Any] | None:
            if data is DONE:  # not Anthropic's, but an end all the same
                return None
            event = self._event(data)
            chunk = chunks.feed(event)
            if chunk is not None and native:
                chunk[NATIVE] = event
            return chunk

        async for chunk in relay(resp, convert, provider=self.name, secrets=self._secrets, request_id=resp.headers.get("request-id"),
                                 http_error=partial(http_error, provider=self.name, secrets=self._secrets)):
            yield chunk
        if not chunks.done:
            raise StreamBroken(f"{self.name}: stream ended without message_stop", provider=self.name, reason="missing_terminator")

    def _event(self, data: Any) -> dict[str, Any]:
        try:
            event = loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise StreamBroken(f"{self.name}: malformed stream event", provider=self.name, reason="malformed")
        if event.get("type") == "error":
            err = event.get("error") if isinstance(event.get("error"), dict) else {}
            raise StreamBroken(redact(f"{self.name}: error event in stream: {err.get('message', '')}", self._secrets)[:500],
                               provider=self.name, reason="error_event", code=str(err.get("type") or "") or None)
        return event

    async def count_tokens(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
        """POST a Messages body to /v1/messages/count_tokens (`model` set to this
        provider's); the vendor's `{"input_tokens": N}`."""
        payload = dumps({k: v for k, v in body.items() if k not in ("max_tokens", "stream")} | {"model": self.model})
        raw, _ = await self._post(with_trace(self._count_head) + _passed(headers), payload)
        try:
            answer = loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("input_tokens"), int):
            raise MalformedResponse(f"{self.name}: count_tokens answer has no input_tokens", provider=self.name)
        return answer

    def untranslated(self, body: dict[str, Any]) -> tuple[str, ...]:
        """What a Chat request loses on its way to this provider (the decision record's
        `dropped`): Chat-only fields such as response_format, n, logprobs."""
        return chat_dropped(body)

    async def _post(self, head: bytes, payload: bytes) -> tuple[bytes, str | None]:
        """POST and return the body of a success and the vendor's request id; an error
        status or a transport failure raised in the project's tree."""
        try:
            resp = await self._pool().request(head, payload)
            if resp.status >= 400:
                raise await http_error(resp, provider=self.name, secrets=self._secrets)
            return await resp.read(), resp.headers.get("request-id")
        except TransportError as exc:
            raise self._connection_error(exc) from None

    def _connection_error(self, exc: TransportError) -> ProviderConnectionError:
        return ProviderConnectionError(redact(f"{self.name}: {exc}", self._secrets)[:500], provider=self.name)

    async def aclose(self) -> None:
        """Close the connections this provider opened on the running loop."""
        await self._pools.aclose()


def _passed(headers: Mapping[str, str]) -> bytes:
    """The caller's headers a native request carries on (its betas), as header lines."""
    picked = {name: headers[name] for name in PASSED_HEADERS if headers.get(name)}
    if not picked:
        return b""
    check_headers(picked)
    return "".join(f"{name}: {value}\r\n" for name, value in picked.items()).encode("latin-1")


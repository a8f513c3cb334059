"""Native OpenAI-wire adapter: every OpenAI-compatible endpoint, over the lean HTTP/1.1
client in `providers/http1.py`.

This is the hot path, so no litellm, no openai client and no aiohttp client here: the
request body goes to `{base_url}/chat/completions` unchanged except `model`, and the
answer comes back as the vendor's own JSON. A provider declared with `responses: true`
also serves /v1/responses callers natively: their request (`ChatRequest.native`, dialect
"responses") goes to `{base_url}/responses` unchanged but for `model`, and the vendor's
Response (or each stream event) comes back under `NATIVE` beside its chat view
(`providers/responses_wire.py`). Connection pools are made lazily, one per
event loop and closed with it (`loop_pools.py`), so the sync and async faces of the SDK,
and `asyncio.run()` per call, share one provider.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

from crosswalk.providers import responses_wire
from crosswalk.providers.base import NATIVE, REQUEST_ID, ChatRequest, chunk_finishes
from crosswalk.providers.classify import parse_retry_after
from crosswalk.providers.errors import (
    MalformedResponse,
    ProviderConnectionError,
    ProviderHTTPError,
    StreamBroken,
    error_info_reason,
    redact,
)
from crosswalk.providers.http1 import Origin, Pool, Response, TransportError
from crosswalk.providers.jsonwire import dumps, loads
from crosswalk.providers.loop_pools import LoopPools
from crosswalk.providers.redaction import redact_url, url_secrets
from crosswalk.providers.sse import DONE, relay
from crosswalk.providers.trace_headers import encoded as with_trace
from crosswalk.providers.upstream import Upstream

_MAX_ERROR_BODY = 64 * 1024


class OpenAIWireProvider:
    """A provider speaking the OpenAI chat-completions wire protocol."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        upstream: Upstream | None = None,
        responses: bool = False,
    ) -> None:
        """`responses`: the vendor also serves OpenAI's Responses API at {base_url}/responses."""
        self.name = name
        # The dialects besides Chat this provider serves natively (the chain's eligibility reads it).
        self.native_dialects: tuple[str, ...] = (responses_wire.DIALECT,) if responses else ()
        self.model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        upstream = upstream or Upstream()  # `upstream_for` reads the proxy and CA settings
        self._origin = Origin(base_url, proxy=upstream.proxy)
        # Names in lower case, so a configured header replaces a default whatever its case.
        head_headers = {"user-agent": "crosswalk", "accept": "application/json", "accept-encoding": "gzip, deflate",
                        "content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
        if api_key:
            head_headers["authorization"] = f"Bearer {api_key}"
        # The base URL's credentials too: a vendor may quote the URL it was called on.
        self._secrets = tuple(v for v in (api_key, *(headers or {}).values(), *url_secrets(base_url),
                                          upstream.proxy and upstream.proxy.authorization) if v)
        self._chat_head = self._origin.head("POST", "/chat/completions", head_headers)
        self._embed_head = self._origin.head("POST", "/embeddings", head_headers)
        self._responses_head = self._origin.head("POST", "/responses", head_headers)
        origin = self._origin
        self._pools = LoopPools(lambda: Pool(origin, ssl_context=upstream.ssl_context, trust=upstream.trust))
        self._pool: Callable[[], Pool] = self._pools.get  # the running loop's pool; bound once, it is per call

    def __repr__(self) -> str:
        return f"OpenAIWireProvider(name={self.name!r}, model={self.model!r}, url={redact_url(self._url)!r})"

    def _payload(self, request: ChatRequest) -> bytes:
        body = dict(request.body)
        body["model"] = self.model
        return dumps(body)

    def _native(self, request: ChatRequest) -> bool:
        return request.native is not None and request.native.dialect in self.native_dialects

    def _native_payload(self, request: ChatRequest, *, stream: bool) -> bytes:
        assert request.native is not None
        return dumps(responses_wire.native_body(request.native.body, model=self.model, stream=stream))

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        """POST the request and return the vendor's chat.completion JSON (or, for a
        Responses caller served natively, the Response's chat view with it on `NATIVE`)."""
        if self._native(request):
            return await self._respond(request)
        raw, request_id = await self._post(with_trace(self._chat_head), self._payload(request))
        try:
            body = loads(raw)
        except ValueError:
            raise MalformedResponse(f"{self.name}: response body is not JSON", provider=self.name) from None
        if not isinstance(body, dict) or "choices" not in body:
            raise MalformedResponse(f"{self.name}: response has no 'choices'", provider=self.name)
        if request_id is not None:
            body[REQUEST_ID] = request_id
        return body

    async def _respond(self, request: ChatRequest) -> dict[str, Any]:
        """POST {base_url}/responses: the vendor's Response as its chat view, the Response on `NATIVE`."""
        raw, request_id = await self._post(with_trace(self._responses_head), self._native_payload(request, stream=False))
        try:
            response = loads(raw)
        except ValueError:
            raise MalformedResponse(f"{self.name}: response body is not JSON", provider=self.name) from None
        if not isinstance(response, dict) or response.get("object") != "response" or not isinstance(response.get("output"), list):
            raise MalformedResponse(f"{self.name}: answer is not a Response object", provider=self.name)
        if response.get("status") == "failed":
            err = response.get("error") or {}
            raise StreamBroken(redact(f"{self.name}: response failed: {err.get('message', '')}", self._secrets)[:500],
                               provider=self.name, reason="error_event", code=str(err.get("code") or "") or None)
        chat = responses_wire.response_to_chat(response)
        chat[NATIVE] = response
        if request_id is not None:
            chat[REQUEST_ID] = request_id
        return chat

    async def _respond_stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """POST {base_url}/responses streamed: one chat chunk per event, the event on `NATIVE`;
        a stream that ends before response.completed (or .incomplete) is a cut."""
        try:
            resp = await self._pool().request(with_trace(self._responses_head), self._native_payload(request, stream=True))
        except TransportError as exc:
            raise self._connection_error(exc) from None
        chunks = responses_wire.EventsToChat(self.name)

        def convert(data: Any) -> dict[str, Any] | None:
            if data is DONE:
                return None
            event = self._parse_chunk(data)
            chunk = chunks.feed(event)
            chunk[NATIVE] = event
            return chunk

        request_id = resp.headers.get("x-request-id") or resp.headers.get("request-id")
        async for chunk in relay(resp, convert, provider=self.name, secrets=self._secrets, request_id=request_id,
                               http_error=self._http_error):
            yield chunk
        if not chunks.done:
            raise StreamBroken(f"{self.name}: stream ended without response.completed", provider=self.name, reason="missing_terminator")

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """POST with stream=true and yield each chunk; a stream that ends without
        [DONE] and without a finish reason is a cut, never a short success."""
        if self._native(request):
            async for chunk in self._respond_stream(request):
                yield chunk
            return
        try:
            resp = await self._pool().request(with_trace(self._chat_head), self._payload(request))
        except TransportError as exc:
            raise self._connection_error(exc) from None
        ended = False  # [DONE], or a finish reason: the vendor said the answer is whole

        def convert(data: Any) -> dict[str, Any] | None:
            nonlocal ended
            if data is DONE:
                ended = True
                return None
            chunk = self._parse_chunk(data)
            ended = ended or chunk_finishes(chunk)
            return chunk

        request_id = resp.headers.get("x-request-id") or resp.headers.get("request-id")
        async for chunk in relay(resp, convert, provider=self.name, secrets=self._secrets, request_id=request_id,
                               http_error=self._http_error):
            yield chunk
        if not ended:
            raise StreamBroken(f"{self.name}: stream ended without [DONE]", provider=self.name, reason="missing_terminator")

    async def _post(self, head: bytes, payload: bytes) -> tuple[bytes, str | None]:
        """POST and return the body of a success and the vendor's request id (the client
        parsed every header already: one lookup); errors mapped to the project's tree."""
        try:
            resp = await self._pool().request(head, payload)
            if resp.status >= 400:
                raise await self._http_error(resp)
            headers = resp.headers
            return await resp.read(), headers.get("x-request-id") or headers.get("request-id")
        except TransportError as exc:
            raise self._connection_error(exc) from None

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST an OpenAI embeddings body ({base_url}/embeddings, `model` set to this
        provider's) and return the vendor's JSON (data, model, usage)."""
        raw, request_id = await self._post(with_trace(self._embed_head), dumps({**body, "model": self.model}))
        try:
            answer = loads(raw)
        except ValueError:
            raise MalformedResponse(f"{self.name}: embeddings response body is not JSON", provider=self.name) from None
        if not isinstance(answer, dict):
            raise MalformedResponse(f"{self.name}: embeddings response is not an object", provider=self.name)
        if request_id is not None:
            answer[REQUEST_ID] = request_id
        return answer

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """POST {base_url}/embeddings; one vector per text, in order."""
        raw, _ = await self._post(with_trace(self._embed_head), dumps({"model": self.model, "input": texts}))
        try:
            data = sorted(loads(raw)["data"], key=lambda d: d.get("index", 0))
            return [list(map(float, d["embedding"])) for d in data]
        except (ValueError, KeyError, TypeError):
            raise MalformedResponse(f"{self.name}: embeddings response has no data[].embedding", provider=self.name) from None

    def _parse_chunk(self, data: Any) -> dict[str, Any]:
        try:
            chunk = loads(data)
        except ValueError:
            raise StreamBroken(f"{self.name}: malformed stream chunk", provider=self.name, reason="malformed") from None
        if not isinstance(chunk, dict):
            raise StreamBroken(f"{self.name}: malformed stream chunk", provider=self.name, reason="malformed")
        if "error" in chunk:
            err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
            raise StreamBroken(
                redact(f"{self.name}: error event in stream: {err.get('message', '')}", self._secrets),
                provider=self.name,
                reason="error_event",
                code=str(err.get("code") or err.get("type") or "") or None,
            )
        return chunk

    async def _http_error(self, resp: Response) -> ProviderHTTPError:
        return await http_error(resp, provider=self.name, secrets=self._secrets)

    def _connection_error(self, exc: TransportError) -> ProviderConnectionError:
        return ProviderConnectionError(redact(f"{self.name}: {exc}", self._secrets)[:500], provider=self.name)

    async def aclose(self) -> None:
        """Close the connections this provider opened on the running loop."""
        await self._pools.aclose()



async def http_error(resp: Response, *, provider: str, secrets: tuple[str, ...]) -> ProviderHTTPError:
    """A vendor's error answer as a `ProviderHTTPError`: its status, Retry-After and the
    structured fields of the usual error JSON (OpenAI's `{"error": {message, type, code,
    param}}`, Anthropic's `{"type": "error", "error": {type, message}}`, Gemini's list
    form), the message redacted of `secrets`."""
    raw = await resp.read(_MAX_ERROR_BODY)
    # Redact before anything is cut to length: a key straddling the cut would leak its head.
    text = redact(raw.decode("utf-8", errors="replace"), secrets)
    code = error_type = param = reason = None
    message = text.strip()[:1000] or resp.reason or ""
    try:
        payload = loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]  # Gemini sometimes wraps the error in a list
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = err.get("code")
            code = str(code) if code is not None else None
            error_type = err.get("type") or err.get("status")
            param = err.get("param") if isinstance(err.get("param"), str) else None
            reason = error_info_reason(err.get("details"))
        elif isinstance(err, str):
            message = err
    return ProviderHTTPError(
        redact(f"{message}", secrets),
        provider=provider,
        status=resp.status,
        code=code,
        error_type=str(error_type) if error_type else None,
        retry_after_s=parse_retry_after(resp.headers),
        param=param,
        reason=reason,
    )

"""Native OpenAI-wire adapter: every OpenAI-compatible endpoint, over aiohttp.

This is the hot path, so no litellm and no openai client here: the request body goes to
`{base_url}/chat/completions` unchanged except `model`, and the answer comes back as the
vendor's own JSON. The HTTP session is injected (`session_factory`) or made lazily, one
per event loop, so the sync and async faces of the SDK can share one provider.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, AsyncIterator, Callable

from providers.base import ChatRequest, chunk_finishes
from providers.classify import parse_retry_after
from providers.errors import (
    MalformedResponse,
    ProviderConnectionError,
    ProviderHTTPError,
    StreamBroken,
    redact,
)
from providers.jsonwire import dumps, loads
from providers.sse import DONE, iter_sse_data

_MAX_ERROR_BODY = 64 * 1024


def _default_session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        auto_decompress=True,
    )


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
        session_factory: Callable[[], Any] = _default_session,
    ) -> None:
        self.name = name
        self.model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._secrets = tuple(v for v in (api_key, *(headers or {}).values()) if v)
        self._session_factory = session_factory
        self._sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()
        self._last_loop: asyncio.AbstractEventLoop | None = None
        self._last_session: Any = None

    def __repr__(self) -> str:
        return f"OpenAIWireProvider(name={self.name!r}, model={self.model!r}, url={self._url!r})"

    def _session(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop is self._last_loop and not self._last_session.closed:
            return self._last_session  # the hot path: a weak-dict lookup per call showed in profiles
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._sessions[loop] = self._session_factory()
        self._last_loop, self._last_session = loop, session
        return session

    def _payload(self, request: ChatRequest) -> bytes:
        body = dict(request.body)
        body["model"] = self.model
        return dumps(body)

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        """POST the request and return the vendor's chat.completion JSON."""
        raw = await self._post(self._url, self._payload(request))
        try:
            body = loads(raw)
        except ValueError:
            raise MalformedResponse(f"{self.name}: response body is not JSON", provider=self.name) from None
        if not isinstance(body, dict) or "choices" not in body:
            raise MalformedResponse(f"{self.name}: response has no 'choices'", provider=self.name)
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """POST with stream=true and yield each chunk; a stream that ends without
        [DONE] and without a finish reason is a cut, never a short success."""
        import aiohttp

        finished = headers_seen = False
        try:
            async with self._session().post(self._url, data=self._payload(request), headers=self._headers) as resp:
                headers_seen = True
                if resp.status >= 400:
                    raise await self._http_error(resp)
                async for data in iter_sse_data(resp.content):
                    if data is DONE:
                        return
                    chunk = self._parse_chunk(data)
                    finished = finished or chunk_finishes(chunk)
                    yield chunk
        except aiohttp.ClientError as exc:
            if not headers_seen:
                raise self._connection_error(exc) from None
            raise StreamBroken(
                f"{self.name}: stream cut ({type(exc).__name__})", provider=self.name, reason="cut"
            ) from None
        if not finished:
            raise StreamBroken(f"{self.name}: stream ended without [DONE]", provider=self.name, reason="cut")

    async def _post(self, url: str, payload: bytes) -> bytes:
        """POST and return the body of a success; errors mapped to the project's tree."""
        import aiohttp

        try:
            async with self._session().post(url, data=payload, headers=self._headers) as resp:
                if resp.status >= 400:
                    raise await self._http_error(resp)
                return await resp.read()
        except aiohttp.ClientError as exc:
            raise self._connection_error(exc) from None

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """POST {base_url}/embeddings; one vector per text, in order."""
        url = self._url.rsplit("/chat/completions", 1)[0] + "/embeddings"
        raw = await self._post(url, dumps({"model": self.model, "input": texts}))
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

    async def _http_error(self, resp: Any) -> ProviderHTTPError:
        raw = await resp.content.read(_MAX_ERROR_BODY)
        # Redact before anything is cut to length: a key straddling the cut would leak its head.
        text = redact(raw.decode("utf-8", errors="replace"), self._secrets)
        code = error_type = None
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
            elif isinstance(err, str):
                message = err
        return ProviderHTTPError(
            redact(f"{message}", self._secrets),
            provider=self.name,
            status=resp.status,
            code=code,
            error_type=str(error_type) if error_type else None,
            retry_after_s=parse_retry_after(resp.headers),
        )

    def _connection_error(self, exc: BaseException) -> ProviderConnectionError:
        return ProviderConnectionError(
            redact(f"{self.name}: {type(exc).__name__}: {exc}", self._secrets)[:500], provider=self.name
        )

    async def aclose(self) -> None:
        """Close the sessions this provider opened on the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        session = self._sessions.pop(loop, None)
        if loop is self._last_loop:
            self._last_loop = self._last_session = None
        if session is not None and not session.closed:
            await session.close()

"""The long tail of vendors (Anthropic, Gemini/Vertex, Bedrock, Cohere, ...) through litellm.

litellm is imported on first call, never at `import crosswalk` (it takes seconds), and with
LITELLM_LOCAL_MODEL_COST_MAP set so it never reaches for the network. Its exceptions are
mapped onto the project's tree here; none leaves this module.

Upstream proxies and CAs: litellm's own HTTP clients read HTTPS_PROXY / NO_PROXY (aiohttp
and httpx with trust_env) and SSL_CERT_FILE from the environment themselves, so nothing
is passed here (and `ca_bundle` is for kind openai only).
"""

from __future__ import annotations

import os
import re
from typing import Any, AsyncIterator

from crosswalk.providers.base import REQUEST_ID, chunk_finishes
from crosswalk.providers.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    StreamBroken,
    error_info_reason,
    redact,
)
from crosswalk.providers.redaction import url_secrets
from crosswalk.providers import trace_headers

OPENAI_CHAT_PARAMS = frozenset({
    "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user",
    "response_format", "seed", "tools", "tool_choice", "parallel_tool_calls", "stream_options",
    "reasoning_effort", "modalities", "audio", "prediction", "service_tier", "functions",
    "function_call",
})


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True  # no "Give Feedback" banners on stdout per error
    return litellm


class LiteLLMProvider:
    """A provider served by `litellm.acompletion` (model names as litellm spells them)."""

    def __init__(self, *, name: str, model: str, api_key: str | None = None, base_url: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.name = name
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._headers = dict(headers or {})
        self._secrets = tuple(v for v in (api_key, *self._headers.values(), *url_secrets(base_url or "")) if v)

    def __repr__(self) -> str:
        return f"LiteLLMProvider(name={self.name!r}, model={self.model!r})"

    def _kwargs(self, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        # An allowlist, not a denylist: litellm reads provider settings (api_base, api_key,
        # custom_llm_provider, ...) from the same kwargs, and a request must never set them.
        kwargs = {k: v for k, v in body.items() if k in OPENAI_CHAT_PARAMS}
        kwargs.update(model=self.model, stream=stream, num_retries=0, max_retries=0)
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._base_url:
            kwargs["api_base"] = self._base_url
        traced = trace_headers.current()
        if self._headers or traced:
            kwargs["extra_headers"] = {**(self._headers or {}), **(traced or {})}
        return kwargs

    async def complete(self, request: Any) -> dict[str, Any]:
        """One litellm call; the answer as a chat.completion dict."""
        litellm = _litellm()
        try:
            response = await litellm.acompletion(**self._kwargs(request.body, False))
        except Exception as exc:  # litellm's tree is wide; everything maps below
            raise self._map(exc) from None
        answer = _without_block_index(response.model_dump(exclude_none=True))
        request_id = _request_id(response)
        if request_id is not None:
            answer[REQUEST_ID] = request_id
        return answer

    async def stream(self, request: Any) -> AsyncIterator[dict[str, Any]]:
        """Stream through litellm; a stream that stops without a finish reason is a cut."""
        litellm = _litellm()
        started = finished = False
        try:
            response = await litellm.acompletion(**self._kwargs(request.body, True))
            async for chunk in response:
                started = True
                data = chunk.model_dump(exclude_none=True)
                finished = finished or chunk_finishes(data)
                yield data
        except ProviderError:
            raise
        except Exception as exc:
            mapped = self._map(exc)
            if started and not isinstance(mapped, ProviderTimeout):
                raise StreamBroken(f"{self.name}: stream cut: {mapped.message}", provider=self.name) from None
            raise mapped from None
        if not finished:
            raise StreamBroken(f"{self.name}: stream ended without a finish reason", provider=self.name)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embeddings through `litellm.aembedding`."""
        litellm = _litellm()
        kwargs: dict[str, Any] = {"model": self.model, "input": texts}
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._base_url:
            kwargs["api_base"] = self._base_url
        try:
            response = await litellm.aembedding(**kwargs)
        except Exception as exc:
            raise self._map(exc) from None
        return [list(map(float, item["embedding"])) for item in response.data]

    def _map(self, exc: Exception) -> ProviderError:
        litellm = _litellm()
        wrapped = redact(str(getattr(exc, "message", None) or exc), self._secrets)
        vendor = _embedded_error(wrapped)  # the vendor's own structured fields, where litellm kept its body
        message = _vendor_message(wrapped, vendor)[:1000]
        if isinstance(exc, litellm.Timeout):
            return ProviderTimeout(f"{self.name}: {message}", provider=self.name)
        status = getattr(exc, "status_code", None)
        if isinstance(exc, litellm.APIConnectionError) or not isinstance(status, int):
            return ProviderConnectionError(f"{self.name}: {type(exc).__name__}: {message}", provider=self.name)
        # litellm keeps the upstream's headers in `litellm_response_headers`; the
        # `response` it attaches to its exceptions is often a stand-in with none.
        headers = getattr(exc, "litellm_response_headers", None)
        if headers is None:
            headers = getattr(getattr(exc, "response", None), "headers", None)
        retry_after = None
        if headers is not None:
            from crosswalk.providers.classify import parse_retry_after

            retry_after = parse_retry_after(headers)
        code = getattr(exc, "code", None)
        vendor_code = vendor.get("code")
        vendor_type = vendor.get("type") or vendor.get("status")
        return ProviderHTTPError(
            message, provider=self.name, status=status,
            code=str(code) if code else (str(vendor_code) if vendor_code is not None else None),
            error_type=str(vendor_type) if isinstance(vendor_type, str) else type(exc).__name__, retry_after_s=retry_after,
            param=vendor["param"] if isinstance(vendor.get("param"), str) else None,
            reason=error_info_reason(vendor.get("details")),
        )

    async def aclose(self) -> None:
        """litellm keeps its own clients; nothing of ours to close."""


def _request_id(response: Any) -> str | None:
    """The vendor's own request id, from the response headers litellm keeps
    (`request-id` when litellm recognised the vendor's, else the raw header)."""
    hidden = getattr(response, "_hidden_params", None)
    headers = hidden.get("additional_headers") if isinstance(hidden, dict) else None
    if not isinstance(headers, dict):
        return None
    for key in ("request-id", "llm_provider-x-request-id", "llm_provider-request-id"):
        value = headers.get(key)
        if isinstance(value, str) and value:
            return value
    return None


# litellm's wrapping of a vendor's error: "litellm.PermissionDeniedError: AnthropicException - "
# (some vendors add a class name: "VertexAIException BadRequestError - ").
_WRAPPING = re.compile(r"^(?:litellm\.\w+:\s*)?(?:\w+Exception(?:\s+\w+Error)?\s+-\s+)?")


def _vendor_message(wrapped: str, vendor: dict[str, Any]) -> str:
    """The vendor's own error message: the `message` of the error body litellm quotes,
    else litellm's text without its wrapping. Records, logs and caller errors show what the
    vendor said, not the adapter library's exception names."""
    own = vendor.get("message")
    if isinstance(own, str) and own.strip():
        return own
    return _WRAPPING.sub("", wrapped, count=1) or wrapped


def _without_block_index(answer: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed answer without the `index` litellm leaves on tool calls translated
    from an Anthropic answer (the content block's position): OpenAI's message tool call
    has no such field; only a stream's deltas carry one."""
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        for call in (message or {}).get("tool_calls") or ():
            if isinstance(call, dict):
                call.pop("index", None)
    return answer


def _embedded_error(message: str) -> dict[str, Any]:
    """The vendor's error object from the JSON body litellm quotes in its message
    ("GeminiException - {...}"), or {}. Decoded as JSON, so request text the vendor echoed
    stays inside the message string it came in and cannot pose as a field."""
    start = message.find("{")
    if start < 0:
        return {}
    import json

    try:
        payload, _ = json.JSONDecoder().raw_decode(message, start)
    except ValueError:
        return {}
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        payload = payload[0]
    err = payload.get("error", payload) if isinstance(payload, dict) else None
    return err if isinstance(err, dict) else {}

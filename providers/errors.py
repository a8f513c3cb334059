"""The project's error tree for everything a vendor call can do wrong.

No httpx/aiohttp/litellm/openai exception leaves `providers/`: adapters map theirs onto
these classes, which carry the evidence (status, code, message) the classifier reads.
Messages are redacted of the provider's own secrets before they are stored here.
"""

from __future__ import annotations


class ProviderError(Exception):
    """A vendor call failed. `status`, `code` and `message` are the upstream's evidence.

    `status`, `code`, `error_type` and `reason` (a machine-readable reason such as Gemini's
    `ErrorInfo.reason`) are the vendor's own structured fields; `param` names the request
    field the vendor complains about. `message` is free text that may echo the request."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        code: str | None = None,
        error_type: str | None = None,
        retry_after_s: float | None = None,
        param: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.error_type = error_type
        self.retry_after_s = retry_after_s
        self.param = param
        self.reason = reason

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status={self.status!r}, "
            f"code={self.code!r}, message={self.message[:200]!r})"
        )

    def evidence(self) -> str:
        """One line naming status, code and message, for exclusion records and logs."""
        parts = [f"status {self.status}" if self.status is not None else type(self).__name__]
        if self.code:
            parts.append(f"code {self.code}")
        parts.append(self.message[:300])
        return ": ".join(parts)


class ProviderHTTPError(ProviderError):
    """The upstream answered with a non-success HTTP status (or an equivalent API error)."""


class ProviderConnectionError(ProviderError):
    """No answer could be had: connection refused, reset before headers, DNS, TLS."""


class ProviderTimeout(ProviderError):
    """The provider stayed silent too long. `phase` is headers, first_token, idle or total."""

    def __init__(self, message: str, *, provider: str = "", phase: str = "total") -> None:
        super().__init__(message, provider=provider)
        self.phase = phase


class MalformedResponse(ProviderError):
    """A success status with a body that is not a chat completion."""


class OutputRejected(ProviderError):
    """The provider answered, but the answer broke the step's output validators. `rules`
    names them; `message` says how (it quotes the model's answer, never the request)."""

    def __init__(self, message: str, *, provider: str = "", rules: tuple[str, ...] = ()) -> None:
        super().__init__(message, provider=provider)
        self.rules = rules

    def evidence(self) -> str:
        """The rules broken and how (`premium-band: 'premium' is 84000, above max 5000`)."""
        return self.message[:300]


class StreamBroken(ProviderError):
    """A stream was cut, sent a malformed chunk or an error event after it had started."""

    def __init__(self, message: str, *, provider: str = "", reason: str = "cut", code: str | None = None) -> None:
        super().__init__(message, provider=provider, code=code)
        self.reason = reason


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every occurrence of each secret (of 4+ chars) in `text` with `***`."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


def error_info_reason(details: object) -> str | None:
    """Google's `google.rpc.ErrorInfo.reason` (API_KEY_INVALID, ...) from an error's
    `details`: a structured field, unlike the message beside it."""
    if not isinstance(details, list):
        return None
    for item in details:
        if isinstance(item, dict) and isinstance(item.get("reason"), str) and "ErrorInfo" in str(item.get("@type", "")):
            return item["reason"]
    return None

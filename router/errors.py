"""What a caller of the SDK (or the proxy) can get instead of an answer: the one
caller-facing error tree. Import every error from here (or from `crosswalk`).

    CrosswalkError                 500  base: status_code, error_type, step, attempts,
    |                                   code, retry_after_s, record (None unless set)
    +-- ConfigError                500  a config file cannot be used (also a ValueError)
    +-- UnknownStep                404  the step (OpenAI `model`) is not configured
    +-- InvalidRequest             400  the request cannot go to any provider (also a ValueError)
    +-- NoEligibleProvider         503  compliance, exclusions or ejections rule out every provider
    +-- RateLimited                429  every attempt was rate limited (retry_after_s)
    +-- AllProvidersFailed         502  every attempt failed
    +-- DeadlineExceeded           504  the step's total deadline ran out
    +-- UpstreamRejected           4xx  the vendor refused the request itself (its status)
    +-- StreamInterrupted          502  a stream failed after its first token and could not be resumed
    +-- VerificationFailed         409  the panel disagreed and the step fails on that (record)
    +-- InvalidOutput              422  answers broke the step's validators (on_invalid: fail, or
                                        every provider's answer under failover; record)
    +-- SeamBroken                 422  the request carries a near miss of an amount an earlier
                                        step of its run answered (on_seam: fail; record)

`CrosswalkError` and `ConfigError` are defined in `crosswalk.policies.errors`, because the
pure config parser raises `ConfigError` and `policies` may not import `router`; they are
the same classes here. Every error carries `status_code` (what the proxy answers with), the
step, and the attempts made, so the caller sees each provider's failure class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from crosswalk.policies.errors import ConfigError, CrosswalkError
from crosswalk.router.records import Attempt

if TYPE_CHECKING:
    from crosswalk.router.records import DecisionRecord

__all__ = [
    "CrosswalkError",
    "ConfigError",
    "UnknownStep",
    "InvalidRequest",
    "NoEligibleProvider",
    "RateLimited",
    "AllProvidersFailed",
    "DeadlineExceeded",
    "UpstreamRejected",
    "StreamInterrupted",
    "VerificationFailed",
    "InvalidOutput",
    "SeamBroken",
    "attempts_text",
    "client_should_retry",
]


class UnknownStep(CrosswalkError):
    """The step (the OpenAI `model` field) is not in the config."""

    status_code = 404
    error_type = "model_not_found"


class InvalidRequest(CrosswalkError, ValueError):
    """The request itself cannot be sent to any provider (a body JSON cannot carry, or one
    nested deeper than the wire allows): the caller's mistake, found before any upstream
    call, so no provider's health changes."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "invalid_request_body"


class NoEligibleProvider(CrosswalkError):
    """Nothing may be called: compliance, exclusions or ejections rule out every provider."""

    status_code = 503
    error_type = "no_eligible_provider"

    def __init__(self, message: str, *, step: str = "", attempts: Sequence[Attempt] = (), retry_after_s: float | None = None,
                 retryable: bool = True) -> None:
        super().__init__(message, step=step, attempts=attempts)
        self.retry_after_s = retry_after_s
        # False when nothing will change without an operator: every provider is blocked by
        # compliance or excluded until the config changes (a bad key), so no retry time exists.
        self.retryable = retryable


class AllProvidersFailed(CrosswalkError):
    """Every attempt failed; `attempts` says how."""

    status_code = 502
    error_type = "all_providers_failed"


class RateLimited(CrosswalkError):
    """Every attempt was rate limited; `retry_after_s` is the soonest a provider frees up.
    Not a kind of `NoEligibleProvider`: providers were eligible and were called."""

    status_code = 429
    error_type = "rate_limited"

    def __init__(self, message: str, *, step: str = "", attempts: Sequence[Attempt] = (), retry_after_s: float | None = None) -> None:
        super().__init__(message, step=step, attempts=attempts)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(CrosswalkError):
    """The step's total deadline ran out."""

    status_code = 504
    error_type = "deadline_exceeded"


class UpstreamRejected(CrosswalkError):
    """The vendor refused the request itself (bad request, content filter): retrying
    elsewhere would not help, so its error is returned as it was."""

    error_type = "upstream_rejected"

    def __init__(self, message: str, *, step: str, attempts: Sequence[Attempt], status: int | None, failure_class: str, code: str | None) -> None:
        super().__init__(message, step=step, attempts=attempts)
        self.status_code = status if status and 400 <= status < 500 else 400
        self.failure_class = failure_class
        self.code = code


class StreamInterrupted(CrosswalkError):
    """A stream failed after its first token reached the caller and could not be resumed
    on another provider (router/resume.py; `record.recovery` says why): what was received
    is incomplete and must not be taken for a whole answer."""

    status_code = 502
    error_type = "stream_interrupted"


class VerificationFailed(CrosswalkError):
    """The panel disagreed and the step says `on_disagree: fail`; `record` has the answers."""

    status_code = 409
    error_type = "verification_failed"

    def __init__(self, message: str, *, step: str, record: DecisionRecord) -> None:
        super().__init__(message, step=step, attempts=record.attempts)
        self.record = record


class InvalidOutput(CrosswalkError):
    """An answer broke the step's output validators and the step fails on that
    (`on_invalid: fail`), or every provider's answer did (`failover`). The message names
    each rule broken and by whom; `record.validation` lists them."""

    status_code = 422
    error_type = "invalid_output"
    code = "invalid_output"

    def __init__(self, message: str, *, step: str, attempts: Sequence[Attempt] = (), record: DecisionRecord | None = None) -> None:
        super().__init__(message, step=step, attempts=attempts)
        self.record = record


class SeamBroken(CrosswalkError):
    """The request carries a near miss of an amount an earlier step of its run answered
    and the step says `on_seam: fail`; nothing was sent to a provider. The message names
    both amounts and both steps; `record.seams` lists them."""

    status_code = 422
    error_type = "seam_near_miss"
    code = "seam_near_miss"

    def __init__(self, message: str, *, step: str, record: DecisionRecord) -> None:
        super().__init__(message, step=step)
        self.record = record


def attempts_text(attempts: Sequence[Attempt]) -> str:
    """`a: transient (status 503); b: timeout` for error messages."""
    return "; ".join(
        f"{a.provider}: {a.result}" + (f" ({a.detail})" if a.detail else "") for a in attempts
    )


def client_should_retry(err: CrosswalkError) -> bool:
    """Whether a client retry of the same request can help (the proxy's `x-should-retry`).

    Only when the failure has a time at which it lapses: every provider rate limited, or
    nothing eligible for a while (ejections, cooldowns). Everything else comes after
    Crosswalk already failed over across every provider it may use (502, 504), or is
    about the request (400, 404, 4xx from the vendor), a failed verification (409), or an
    exclusion no wait will end: a client retry would only multiply the load."""
    if isinstance(err, RateLimited):
        return True
    if isinstance(err, NoEligibleProvider):
        return err.retryable
    return False

"""One classifier: the only code that reads status codes and error bodies.

Every `ProviderError` gets exactly one `FailureClass`; the engine decides what to do from
the class alone. Rules are data (ordered, first match wins) so a new vendor's payload is a
new row, and the table-driven tests read the same shapes vendors really send.

Evidence rule: the status and the vendor's structured fields (code, type, status, reason)
are trusted; the message is not, because vendors echo the request in it. A phrase counts
only where the caller did not supply it (`CallerText`; a body not read whole supplied
everything), a 4xx that names a request field (`param`) or complains about one, in
anyone's words, is never hard evidence against the provider, and a hard class read from
free text alone is marked unstructured, so it needs corroboration before it excludes
anyone.

Withdrawn models (providers/withdrawn.py) are the one case read before the table: the
model is Crosswalk's choice, so the vendor saying it is gone is an outage, not the
caller's mistake.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from crosswalk.providers.caller_text import CallerText
from crosswalk.providers.withdrawn import withdrawn
from crosswalk.providers.errors import (
    MalformedResponse,
    OutputRejected,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    StreamBroken,
)


class FailureClass(enum.StrEnum):
    """Why an attempt failed, in the terms the failover engine acts on. A `str` enum that
    formats as its value (`timeout`), so records, headers, JSON and metric labels carrying
    it read exactly as the plain strings they replaced."""

    TRANSIENT = "transient"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    AUTH = "auth"
    REGULATORY = "regulatory"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTER = "content_filter"
    CLIENT = "client"
    STREAM_BROKEN = "stream_broken"
    INVALID_OUTPUT = "invalid_output"  # an answer that broke the step's validators


@dataclass(frozen=True, slots=True)
class Classification:
    """A failure class plus what the upstream said about when to come back.

    `structured`: the class rests on the vendor's structured signals (HTTP status, error
    `code`/`type`/`status`/reason fields). False when only the free text of the message
    says it: a hard exclusion then needs corroboration by a second, different request."""

    failure_class: FailureClass
    retry_after_s: float | None = None
    structured: bool = True


HARD = frozenset({FailureClass.REGULATORY, FailureClass.AUTH, FailureClass.QUOTA})
# Statuses that by themselves say "this account may not use this": text beside them only
# picks which hard class, so it is trusted as much as the status is.
_HARD_STATUSES = frozenset({401, 402, 403, 410, 451})


@dataclass(frozen=True, slots=True)
class _Rule:
    failure_class: FailureClass
    statuses: frozenset[int] | None  # None: any status (including none)
    pattern: re.Pattern[str] | None  # in the structured fields, else in the vendor's own text
    need: re.Pattern[str] | None  # must be in the structured fields (makes the rule structured)


def _rule(cls: FailureClass, statuses: tuple[int, ...] | None, pattern: str | None, *, need: str | None = None) -> _Rule:
    return _Rule(
        cls,
        frozenset(statuses) if statuses is not None else None,
        re.compile(pattern, re.IGNORECASE) if pattern else None,
        re.compile(need, re.IGNORECASE) if need else None,
    )


_REGION_BLOCK = (
    r"unsupported_country_region_territory|country, region, or territory not supported"
    r"|user location is not supported|unsupported countries, regions, or territories"
    r"|not available in your (country|region)|region is not supported"
)
_WITHDRAWN = (
    r"deprecated|decommissioned|withdrawn|discontinued|no longer (available|supported|served)"
    r"|has been retired|model_not_found|does not exist or you do not have access"
    r"|reached the end of its life|is not found for api version"
)
_CONTEXT = (
    r"context_length_exceeded|maximum context length|context window|prompt is too long"
    r"|input is too long|too many tokens|exceeds the maximum number of tokens|reduce the length"
)
_CONTENT = r"content_policy_violation|content_filter|responsibleaipolicyviolation|safety (system|filter)|blocked by (the )?safety"
_QUOTA = r"insufficient_quota|exceeded your current quota|quota exceeded|billing|spend limit|credit balance|out of credits"
# A 4xx that says it is about the request's own fields is the caller's mistake, whatever
# words it quotes (OpenAI, JSON Schema validators, pydantic, protobuf, vLLM).
_FIELD_COMPLAINT = re.compile(
    r"unrecognized request argument|additional properties are not allowed|extra inputs are not permitted"
    r"|unknown field|unknown parameter|unknown name|unrecognized (field|parameter|argument|key)"
    r"|unexpected (keyword )?(argument|field|parameter)|is not a valid (parameter|field|argument)"
    r"|invalid (request )?(field|parameter|argument)",
    re.IGNORECASE,
)

# Ordered: the first matching rule decides (after a withdrawn model, providers/withdrawn.py,
# which also reads a 400 saying the model is retired). Regulatory evidence wins over the
# status it arrives with (OpenAI sends it as 403, Gemini as 400, Bedrock as 400/403). A pattern is
# looked for in the structured fields first (trusted), then in the message outside what
# the caller supplied (free text: structured only beside a hard status).
_RULES: tuple[_Rule, ...] = (
    _rule(FailureClass.REGULATORY, (451,), None),
    # Gemini's FAILED_PRECONDITION / PERMISSION_DENIED status field vouches for its message.
    _rule(FailureClass.REGULATORY, None, _REGION_BLOCK, need=r"\b(failed_precondition|permission_denied)\b"),
    _rule(FailureClass.REGULATORY, None, _REGION_BLOCK),
    _rule(FailureClass.REGULATORY, (404, 410), _WITHDRAWN),
    _rule(FailureClass.REGULATORY, (410,), None),
    _rule(FailureClass.QUOTA, (402,), None),
    _rule(FailureClass.QUOTA, (429, 403), r"insufficient_quota"),
    # OpenAI's and Groq's rate-limit messages link the billing page, Vertex calls its
    # per-minute limits "quota": still rate limits, not an exhausted balance.
    _rule(FailureClass.RATE_LIMITED, (429,), r"rate_limit_exceeded|rate limit reached|per_minute|per minute"),
    _rule(FailureClass.QUOTA, (429, 403), _QUOTA),
    _rule(FailureClass.QUOTA, (400,), r"credit balance is too low|billing_hard_limit_reached"),  # Anthropic, OpenAI
    _rule(FailureClass.RATE_LIMITED, (429,), None),
    _rule(FailureClass.AUTH, (401, 403), None),
    _rule(FailureClass.AUTH, (400,), r"api key not valid|api_key_invalid"),  # Gemini sends a bad key as 400
    _rule(FailureClass.CONTEXT_LENGTH, (400, 413, 422), _CONTEXT),
    _rule(FailureClass.CONTENT_FILTER, (400, 422), _CONTENT),
    _rule(FailureClass.TRANSIENT, (408, 409, 425), None),
    _rule(FailureClass.CLIENT, tuple(range(400, 500)), None),
    _rule(FailureClass.TRANSIENT, tuple(range(500, 600)), None),
)


def _own_match(pattern: re.Pattern[str], message: str, caller: CallerText | None) -> bool:
    """Does `pattern` occur in `message` somewhere the caller did not supply? A match whose
    text the caller sent (an unknown field's name, a quoted prompt, even cut short) is an
    echo, not the vendor speaking."""
    for found in pattern.finditer(message):
        if caller is None or not caller.supplied(found.group(0)):
            return True
    return False


def classify(error: ProviderError, *, caller: CallerText | None = None, model: str | None = None) -> Classification:
    """Give `error` its failure class and any Retry-After it carried. `caller`: the
    strings of the request that failed (None: nothing in the message is the caller's).
    `model`: the upstream model the request was sent with (the provider's configured one)."""
    if isinstance(error, ProviderTimeout):
        return Classification(FailureClass.TIMEOUT)
    if isinstance(error, StreamBroken):
        return Classification(FailureClass.STREAM_BROKEN)
    if isinstance(error, OutputRejected):
        return Classification(FailureClass.INVALID_OUTPUT)
    if isinstance(error, (ProviderConnectionError, MalformedResponse)):
        return Classification(FailureClass.TRANSIENT)
    fields = " ".join(filter(None, (error.code, error.error_type, error.reason)))
    message = error.message or ""
    status = error.status
    # Whoever wrote the complaint, the error is about the request: a caller can only make
    # its own error its own by quoting one, and no vendor's hard evidence reads like one.
    about_request = status is not None and 400 <= status < 500 and (
        error.param is not None or _FIELD_COMPLAINT.search(message) is not None)
    gone = withdrawn(status=status, fields=fields, message=message, model=model, caller=caller, about_request=about_request)
    if gone is not None:
        structured = gone.structured or status in _HARD_STATUSES
        return Classification(FailureClass.REGULATORY, error.retry_after_s, structured)
    for rule in _RULES:
        if rule.statuses is not None and status not in rule.statuses:
            continue
        if rule.need is not None and not rule.need.search(fields):
            continue
        structured = True
        if rule.pattern is not None and not rule.pattern.search(fields):
            hard = rule.failure_class in HARD
            if (hard and about_request) or not _own_match(rule.pattern, message, caller):
                continue
            structured = rule.need is not None or not hard or status in _HARD_STATUSES
        return Classification(rule.failure_class, error.retry_after_s, structured)
    # No status and nothing recognisable: an API error we cannot place. Treat it as
    # transient so it fails over rather than being returned as the caller's fault.
    return Classification(FailureClass.TRANSIENT, error.retry_after_s)


def parse_retry_after(headers: "dict[str, str] | object") -> float | None:
    """Seconds to wait from Retry-After / retry-after-ms headers (seconds or HTTP date)."""
    get = getattr(headers, "get")
    ms = get("retry-after-ms")
    if ms:
        try:
            if math.isfinite(seconds := float(ms) / 1000.0):
                return max(0.0, seconds)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "nan" and "inf" parse as floats but say nothing usable
        return max(0.0, seconds) if math.isfinite(seconds) else None
    from email.utils import parsedate_to_datetime  # rare path: HTTP-date form
    import datetime as _dt

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = _dt.datetime.now(when.tzinfo or _dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())

"""OpenTelemetry spans, GenAI semantic conventions: one per request, one per attempt, one
per verification panel member, one per judge call and per validator check.

Only `opentelemetry-api` is imported here. Until `enable` is called (router/otel.py does it
when the OTEL_* environment asks for export and the `[otel]` extra is installed) every
hook checks the module flag `ON` and returns: tracing off costs the proxy one flag test and
one header lookup per request. A caller's `traceparent` is still passed on to vendors then
(the caller traces; we only carry it).

Span tree: `chat {step}` (SERVER, the request; continues the caller's `traceparent`) >
`chat {model}` (CLIENT, one per attempt, emitted when the attempt ends with its measured
latency) and `crosswalk.verify.member {provider}` > its own attempts; `crosswalk.judge` and
`crosswalk.validate {rule}` beside them. Vendor calls carry the traceparent of the span
they run under (the request's, or a panel member's).
"""

from __future__ import annotations

import asyncio
import re
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from crosswalk.providers import trace_headers

if TYPE_CHECKING:
    from crosswalk.policies.config import ProviderConf
    from crosswalk.router.errors import CrosswalkError
    from crosswalk.router.records import Attempt, DecisionRecord, SeamFlag

_NONE: Mapping[str, Any] = MappingProxyType({})
ON = False  # spans are recorded and exported (set by `enable`)
_tracer: trace.Tracer = trace.NoOpTracer()
# W3C trace context only: a caller's baggage is not ours to forward to third-party vendors.
_W3C = TraceContextTextMapPropagator()


def enable(provider: trace.TracerProvider) -> None:
    """Record spans through `provider` (an SDK TracerProvider) from now on. `crosswalk
    serve` calls it from the OTEL_* environment (router/otel.py); an application that runs
    its own OpenTelemetry SDK calls `enable(trace.get_tracer_provider())` once to trace its
    SDK calls (`Router`) under its own spans."""
    global ON, _tracer
    _tracer = provider.get_tracer("crosswalk")
    ON = True


def disable() -> None:
    """Stop recording (the provider is being shut down)."""
    global ON, _tracer
    ON, _tracer = False, trace.NoOpTracer()


def current_trace_id() -> str | None:
    """The current trace id (32 hex digits), or None outside any trace (off: the caller's,
    from the traceparent being passed on)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return format(context.trace_id, "032x")
    passed = trace_headers.current()
    return passed["traceparent"][3:35] if passed and "traceparent" in passed else None


class _Scope:
    """A span made current for a block (and the traceparent vendor calls carry under it)."""

    __slots__ = ("span", "_token", "_headers_token")

    def __init__(self, span: trace.Span, parent: otel_context.Context | None = None) -> None:
        self.span = span
        context = trace.set_span_in_context(span, parent)
        self._token = otel_context.attach(context)
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context)
        self._headers_token = trace_headers.use(carrier)

    def __enter__(self) -> "_Scope":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        trace_headers.restore(self._headers_token)
        otel_context.detach(self._token)
        if exc is not None and self.span.is_recording():
            if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
                # Cancelled (a panel member once the quorum was decided, a caller who hung up): no error of its own.
                self.span.set_attribute("crosswalk.cancelled", True)
            else:
                self.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                self.span.set_attribute("error.type", type(exc).__name__)
        self.span.end()


class _Off:
    """The scope when nothing is traced: every method does nothing."""

    __slots__ = ()
    span = trace.INVALID_SPAN

    def __enter__(self) -> "_Off":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def done(self, record: "DecisionRecord | None", error: "CrosswalkError | None" = None, *,
             result: Mapping[str, Any] | None = None, providers: "Mapping[str, ProviderConf]" = _NONE) -> None:
        return None


_OFF = _Off()

# A version-00 traceparent with non-zero ids (W3C trace context); others go through the propagator.
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
_TRACESTATE = re.compile(r"[\x20-\x7e]{1,512}")


class _PassOn(_Off):
    """Tracing off, a caller's trace to carry: vendor calls get its headers as they came
    (the propagator's parse and re-encode cost ~18 us a request here, for no span)."""

    __slots__ = ("_token",)

    def __init__(self, headers: dict[str, str]) -> None:
        self._token = trace_headers.use(headers)

    def __exit__(self, *exc: Any) -> None:
        trace_headers.restore(self._token)


class RequestScope(_Scope):
    """The span of one proxied request; `done` names what happened."""

    __slots__ = ()

    def done(self, record: "DecisionRecord | None", error: "CrosswalkError | None" = None, *,
             result: Mapping[str, Any] | None = None, providers: "Mapping[str, ProviderConf]" = _NONE) -> None:
        """Put the decision on the span: the answering provider (its vendor and model from
        `providers`), attempts, agreement, token usage from the completion (`result`), and
        the error the caller got (or, for a stream, that nothing answered)."""
        span = self.span
        if not span.is_recording():
            return
        if record is None and error is not None:
            from crosswalk.router.records import DecisionRecord

            record = DecisionRecord(step=error.step or "", attempts=list(error.attempts))
        attributes: dict[str, Any] = {}
        if record is not None:
            attributes = _record_attributes(record)
            conf = providers.get(record.provider) if record.provider else None
            if conf is not None:
                attributes["gen_ai.provider.name"], attributes["gen_ai.response.model"] = conf.vendor, conf.model
            if error is None and (conf is None or (record.attempts and record.attempts[-1].failure_class is not None)):
                span.set_status(Status(StatusCode.ERROR, "no whole answer (see crosswalk.attempts.trail)"))
        usage = (result or {}).get("usage")
        if isinstance(usage, Mapping):
            for key, name in (("prompt_tokens", "gen_ai.usage.input_tokens"), ("completion_tokens", "gen_ai.usage.output_tokens")):
                if isinstance(usage.get(key), int):
                    attributes[name] = usage[key]
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error.error_type))
            attributes["error.type"], attributes["http.response.status_code"] = error.error_type, error.status_code
        span.set_attributes(attributes)


def request_span(step: str, headers: Mapping[str, str] | None) -> RequestScope | _Off | _PassOn:
    """`with request_span(step, request.headers) as scope: ...; scope.done(record, ...)`:
    the request's span, continuing the caller's `traceparent`/`tracestate` (`headers`
    None: an SDK call, under the caller's current span). Off, and with no traceparent to
    pass on, a shared do-nothing scope."""
    if headers is None:
        if not ON:
            return _OFF
        return RequestScope(_tracer.start_span(f"chat {step}", kind=SpanKind.INTERNAL, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": step, "crosswalk.step": step}))
    if not ON:
        traceparent = headers.get("traceparent")
        if traceparent is None:
            return _OFF
        if _TRACEPARENT.fullmatch(traceparent):
            passed = {"traceparent": traceparent}
            tracestate = headers.get("tracestate")
            if tracestate is not None and _TRACESTATE.fullmatch(tracestate):
                passed["tracestate"] = tracestate
            return _PassOn(passed)
    parent = _W3C.extract(headers)
    if not ON:  # pass the caller's trace on to vendors unchanged, record nothing
        return RequestScope(trace.get_current_span(parent), None)
    span = _tracer.start_span(f"chat {step}", context=parent, kind=SpanKind.SERVER, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": step, "crosswalk.step": step})
    return RequestScope(span, parent)


def _record_attributes(record: "DecisionRecord") -> dict[str, Any]:
    """A decision record as span attributes (lists only where there is an agreement)."""
    attributes: dict[str, Any] = {
        "crosswalk.attempts": len(record.attempts),
        "crosswalk.failovers": record.failovers,
        "crosswalk.attempts.trail": ",".join(a.short() for a in record.attempts),
        "crosswalk.dialect": record.dialect,
    }
    if record.dropped:
        attributes["crosswalk.dropped"] = ",".join(record.dropped)
    if record.ineligible:
        attributes["crosswalk.ineligible"] = ",".join(record.ineligible)
    if record.provider:
        attributes["crosswalk.provider"] = record.provider
    recovery = record.recovery
    if recovery is not None:  # a stream that broke mid-answer: as its last event and the metric say
        attributes.update({"crosswalk.recovery.outcome": recovery.outcome, "crosswalk.recovery.how": recovery.how,
                           "crosswalk.recovery.broken": recovery.broken, "crosswalk.recovery.mode": recovery.mode or "none"})
    agreement = record.agreement
    if agreement is not None:
        attributes.update({
            "crosswalk.agreement.decision": str(agreement.decision),
            "crosswalk.agreement.score": agreement.score,
            "crosswalk.agreement.comparator": agreement.comparator,
            "crosswalk.agreement.quorum": agreement.quorum,
            "crosswalk.agreement.mode": agreement.mode,
            "crosswalk.agreement.agreeing": [v.provider for v in agreement.agreeing],
            "crosswalk.agreement.dissenting": [v.provider for v in agreement.dissenting],
        })
    return attributes


def attempt_span(step: str, attempt: "Attempt", conf: "ProviderConf", *, index: int, retry: bool) -> None:
    """One finished attempt as a CLIENT span under the current span, ending now and as long
    as the attempt took. `retry`: the same provider as the attempt before it. Call only
    when `ON` (the attempt loop checks, so tracing off costs nothing more). Under a request
    the sampler dropped, nothing is built (the SDK's default samplers follow the parent)."""
    if not trace.get_current_span().is_recording():
        return
    end = time.time_ns()
    # Few attributes, and the kind in one of them: the SDK checks every attribute value,
    # and that is most of a span's cost.
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": conf.vendor, "gen_ai.request.model": conf.model,
        "crosswalk.step": step, "crosswalk.provider": attempt.provider, "crosswalk.attempt.index": index,
        "crosswalk.attempt.kind": getattr(attempt, "kind", None) or _attempt_kind(attempt, index=index, retry=retry),
        "crosswalk.attempt.result": str(attempt.result),
    }
    if attempt.status is not None:
        attributes["http.response.status_code"] = attempt.status
    failure = attempt.failure_class
    if failure is not None:
        attributes["crosswalk.failure_class"] = attributes["error.type"] = str(failure)
    elif not attempt.cancelled:
        attributes["gen_ai.response.model"] = conf.model
    span = _tracer.start_span(f"chat {conf.model}", kind=SpanKind.CLIENT, attributes=attributes,
                              start_time=end - int(attempt.latency_s * 1e9))
    if failure is not None:
        span.set_status(Status(StatusCode.ERROR, attempt.detail[:200] or str(failure)))
    span.end(end_time=end)


def _attempt_kind(attempt: "Attempt", *, index: int, retry: bool) -> str:
    if attempt.hedge:
        return "hedge"
    if attempt.panic:
        return "panic"
    if index == 0:
        return "first"
    return "retry" if retry else "failover"


class MemberScope(_Scope):
    """A verification panel member's span; its attempts are its children."""

    __slots__ = ()

    def done(self, record: "DecisionRecord", answered: bool) -> None:
        """What the member did: who answered (if anyone), after which attempts."""
        if self.span.is_recording():
            self.span.set_attributes({**_record_attributes(record), "crosswalk.verify.answered": answered})
            if not answered:
                self.span.set_status(Status(StatusCode.ERROR, "no answer"))


class _OffMember(_Off):
    __slots__ = ()

    def done(self, record: Any = None, answered: bool = False, **_: Any) -> None:  # type: ignore[override]
        return None


_OFF_MEMBER = _OffMember()


def member_span(step: str, provider: str) -> MemberScope | _OffMember:
    """`with member_span(step, first_provider) as m: ...; m.done(record, answered=...)`:
    run it in the member's own task, so the span is current only there."""
    if not ON:
        return _OFF_MEMBER
    span = _tracer.start_span(f"crosswalk.verify.member {provider}", attributes={
        "crosswalk.step": step, "crosswalk.verify.provider": provider})
    return MemberScope(span)


def judge_span(judge: str) -> _Scope | _Off:
    """`with judge_span(provider) as j: ...`; then `judged(j, verdict)`. The judge's own
    vendor call carries this span's traceparent."""
    if not ON:
        return _OFF
    return _Scope(_tracer.start_span(f"crosswalk.judge {judge}", kind=SpanKind.CLIENT, attributes={
        "gen_ai.operation.name": "chat", "crosswalk.judge.provider": judge}))


def judged(scope: _Scope | _Off, verdict: bool | None, *, error: str | None = None) -> None:
    """The judge's verdict on its span: same (True), different (False), unparseable (None)."""
    span = scope.span
    if not span.is_recording():
        return
    span.set_attribute("crosswalk.judge.verdict", "unparseable" if verdict is None else ("same" if verdict else "different"))
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error[:200]))
        span.set_attribute("error.type", "judge_failed")


def validator_span(step: str, rule: str, ok: bool, *, provider: str | None = None, reason: str = "",
                   latency_s: float = 0.0) -> None:
    """One validator check (JSON Schema, number band, regex...) on an answer, as a span
    under the current one, ending now after `latency_s`. For the validators' code: call it
    where a rule has been checked; it returns at once when tracing is off."""
    if not ON:
        return
    end = time.time_ns()
    attributes: dict[str, Any] = {"crosswalk.step": step, "crosswalk.validator.rule": rule, "crosswalk.validator.ok": ok}
    if provider is not None:
        attributes["crosswalk.provider"] = provider
    span = _tracer.start_span(f"crosswalk.validate {rule}", attributes=attributes, start_time=end - int(latency_s * 1e9))
    if not ok:
        span.set_attributes({"crosswalk.failure_class": "invalid_output", "error.type": "invalid_output"})
        span.set_status(Status(StatusCode.ERROR, reason[:200] or "invalid output"))
    span.end(end_time=end)


def seam_event(flag: "SeamFlag") -> None:
    """A flagged seam (a `records.SeamFlag`) as the event `crosswalk.seam` on the current
    span (the request's); returns at once when tracing is off."""
    if not ON:
        return
    trace.get_current_span().add_event("crosswalk.seam", attributes={
        "crosswalk.seam.from_step": flag.from_step, "crosswalk.seam.to_step": flag.to_step,
        "crosswalk.seam.answered": flag.answered, "crosswalk.seam.received": flag.received,
        "crosswalk.seam.kind": flag.kind, "crosswalk.seam.action": flag.action,
    })

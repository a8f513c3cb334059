"""Logs: the set-up behind `crosswalk serve --log-level --log-format`, and the one
decision line each request ends with.

The decision line (logger `crosswalk.decision`, INFO) names the request id, the trace id,
the step, every attempt with its failure class, the answering provider, the latency and
the agreement. Provider events (ejected, excluded, recovered, lifted) and config reloads
are lines of their own (WARNING, reloads INFO). With `--log-format json` every line is one
JSON object; the fields of these lines are top-level keys (`event`, `step`, `attempts`...).
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any, Mapping

import orjson

from crosswalk.router.tracing import current_trace_id

if TYPE_CHECKING:
    from crosswalk.router.errors import CrosswalkError
    from crosswalk.router.records import DecisionRecord

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DECISIONS = logging.getLogger("crosswalk.decision")
FIELDS = "crosswalk"  # the LogRecord attribute (`extra={FIELDS: {...}}`) a JSON line takes its keys from
_REQUEST_ID: ContextVar[str | None] = ContextVar("crosswalk_request_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC), level, logger, message, the record's structured fields."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, Mapping):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def setup(*, level: str = "warning", fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send this process's logs to `stream` (stderr) at `level` for Crosswalk's own loggers
    (other libraries stay at WARNING), as text or JSON lines."""
    if level not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)} and format one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("crosswalk").setLevel(level.upper())


def bind_request(headers: Mapping[str, str]) -> None:
    """Name the request being handled in this task (its `x-request-id` when it sent a sane
    one, else a fresh id) for its decision line; nothing when decisions are not logged."""
    if not DECISIONS.isEnabledFor(logging.INFO):
        return
    given = headers.get("x-request-id")
    if given is not None and not (0 < len(given) <= 128 and given.isascii() and given.isprintable()):
        given = None
    _REQUEST_ID.set(given or uuid.uuid4().hex)


def decision(record: "DecisionRecord", error: "CrosswalkError | None") -> None:
    """The decision line of a finished request (plain or verified), if INFO is on."""
    if not DECISIONS.isEnabledFor(logging.INFO):
        return
    request_id, trace_id = _REQUEST_ID.get(), current_trace_id()
    fields: dict[str, Any] = {
        "event": "decision", "request_id": request_id, "trace_id": trace_id, "step": record.step,
        "provider": record.provider, "latency_ms": round(record.latency_s * 1000, 1), "failovers": record.failovers,
        "attempts": [{"provider": a.provider, "result": str(a.result), "status": a.status,
                      "latency_ms": round(a.latency_s * 1000, 1), "hedge": a.hedge, "panic": a.panic} for a in record.attempts],
        "error": error.error_type if error is not None else None, "cancelled": record.cancelled,
        "dialect": record.dialect,
    }
    if record.ineligible:
        fields["ineligible"] = record.ineligible
    if record.dropped:
        fields["dropped"] = list(record.dropped)
    agreement = record.agreement
    text_agreement = ""
    if agreement is not None:
        fields["agreement"] = {"decision": str(agreement.decision), "score": agreement.score, "comparator": agreement.comparator,
                               "quorum": agreement.quorum, "mode": agreement.mode,
                               "agreeing": [v.provider for v in agreement.agreeing],
                               "dissenting": [v.provider for v in agreement.dissenting]}
        text_agreement = f" agreement={agreement.decision}:{agreement.score:.2f}"
    DECISIONS.info("crosswalk decision %s%s%s request_id=%s trace_id=%s", record.summary(),
                   f" error={error.error_type}" if error else " cancelled=true" if record.cancelled else "", text_agreement, request_id or "-", trace_id or "-",
                   extra={FIELDS: fields})


def event(logger: logging.Logger, level: int, kind: str, provider: str | None, message: str, *args: Any, **fields: Any) -> None:
    """A provider event or reload line: `message % args` as text, and `event=kind`,
    `provider` and `fields` as JSON keys."""
    if logger.isEnabledFor(level):
        logger.log(level, message, *args, extra={FIELDS: {"event": kind, "provider": provider, **fields}})

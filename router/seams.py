"""Seam checks between the steps of one pipeline run, on the request path.

Before a step runs, the amounts in its request (its messages other than the assistant's,
latest first, up to `seams.scan_chars`) are checked against the amounts earlier steps of
the same run answered (`policies.seams`): a near miss is flagged on the record
(`record.seams`), the `crosswalk_seam_flags_total{from_step,to_step}` metric, a span event
`crosswalk.seam` and a log line, and the proxy's `x-crosswalk-seam` header; a step with
`on_seam: fail` answers `SeamBroken` (422) before any provider is asked. After the step
answers, the amounts of its answer join the run (router/state/runs.py).

A run is what the caller says it is: `x-crosswalk-run` on the proxy, `run=` in the SDK and
ChatCrosswalk, else the W3C trace id the caller's `traceparent` (or its current span) carries.
Without one, nothing is checked or kept.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Protocol

from crosswalk.policies.config import RouterConfig, StepConf
from crosswalk.policies.seams import amount_tokens, check
from crosswalk.router import logs, tracing
from crosswalk.router.errors import CrosswalkError, SeamBroken
from crosswalk.router.records import DecisionRecord, SeamFlag
from crosswalk.router.state.runs import RunBook

log = logging.getLogger("crosswalk")
MAX_RUN_ID = 128  # a longer run id is cut: it keys a bounded book, it is not data


class Observer(Protocol):
    """Told of every flagged seam and every request a seam failed (metrics); cheap, never raises."""

    def seam(self, flag: SeamFlag) -> None: ...

    def request_done(self, record: DecisionRecord, error: CrosswalkError | None) -> None: ...


def run_id(explicit: str | None) -> str | None:
    """The run a request belongs to: the caller's explicit id, else its trace id, else None."""
    if explicit:
        return explicit.strip()[:MAX_RUN_ID] or None
    return tracing.current_trace_id()


def received_text(body: Mapping[str, Any], limit: int) -> str:
    """What a step's request hands it, latest message first, at most `limit` characters:
    every message but the assistant's own (those are earlier answers, not inputs)."""
    parts: list[str] = []
    size = 0
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") == "assistant":
            continue
        content = message.get("content")
        if isinstance(content, list):  # content parts: the text ones
            content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str) and content:
            parts.append(content[: limit - size])
            size += len(parts[-1])
            if size >= limit:
                break
    return "\n".join(parts)


class Seams:
    """Checks a step's request against its run and keeps its answer's amounts."""

    def __init__(self, book: RunBook, *, observer: Observer | None = None) -> None:
        self.book = book
        self.observer = observer

    def check(self, config: RouterConfig, step: StepConf, run: str | None, body: Mapping[str, Any]) -> list[SeamFlag]:
        """The seams this request flags; raises `SeamBroken` when the step fails on them."""
        if run is None or step.on_seam == "off" or not config.seams.enabled:
            return []
        earlier = self.book.answered(run)
        if not earlier:
            return []
        misses = check(earlier, received_text(body, config.seams.scan_chars), limit=config.seams.max_amounts)
        flags = [SeamFlag(m.from_step, step.name, str(m.answered), str(m.received), m.kind, step.on_seam) for m in misses]
        for flag in flags:
            log.warning("crosswalk seam run=%s %s (%s)", run, flag.describe(), flag.action)
            tracing.seam_event(flag)
            if self.observer is not None:
                self.observer.seam(flag)
        if flags and step.on_seam == "fail":
            record = DecisionRecord(step=step.name, run=run, seams=flags)
            error = SeamBroken("the request carries a near miss of an amount its run answered: " +
                               "; ".join(f.describe() for f in flags) + " (on_seam: fail; nothing was sent to a provider)",
                               step=step.name, record=record)
            logs.decision(record, error)
            if self.observer is not None:
                self.observer.request_done(record, error)
            raise error
        return flags

    def answered(self, config: RouterConfig, step: StepConf, run: str | None, text: str) -> None:
        """Keep the amounts of `step`'s answer in `run`."""
        if run is None or not config.seams.enabled or not text:
            return
        self.book.add(run, step.name, amount_tokens(text, limit=config.seams.max_amounts))

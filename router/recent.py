"""The last notable decisions of this process, for the operator's page (router/ui.py).

Notable: a failover, a stream recovery, a panel that disagreed, an answer a validator
flagged, a request that ended in an error. Bounded (a ring of `size`), so a busy proxy
keeps the newest and memory stays flat; nothing of the request or the answer is kept, only
the step, the providers and what happened to them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from crosswalk.router.errors import CrosswalkError
    from crosswalk.router.records import DecisionRecord


@dataclass(frozen=True, slots=True)
class Notable:
    """One notable decision: when (wall-clock seconds), which step, who answered (None when
    nobody did), the attempts trail as in `x-crosswalk-attempts`, and what made it notable."""

    at: float
    step: str
    provider: str | None
    attempts: str
    what: tuple[str, ...]


class RecentDecisions:
    """A bounded ring of the newest notable decisions."""

    def __init__(self, *, size: int = 50, wall: Callable[[], float] = time.time) -> None:
        self._ring: deque[Notable] = deque(maxlen=size)
        self._wall = wall

    def add(self, record: DecisionRecord, error: CrosswalkError | None) -> None:
        """Keep `record` if something happened to it worth an operator's look."""
        if (error is None and len(record.attempts) < 2 and record.recovery is None and record.agreement is None
                and not record.validation):
            return  # the usual request (one attempt, answered, nothing flagged): nothing to show, at once
        what = _what(record, error)
        if what:
            trail = ",".join(a.short() for a in record.attempts)
            self._ring.append(Notable(self._wall(), record.step, record.provider if error is None else None, trail, what))

    def latest(self) -> list[Notable]:
        """Newest first."""
        return list(reversed(self._ring))


def _what(record: DecisionRecord, error: CrosswalkError | None) -> tuple[str, ...]:
    what = []
    if record.failovers:
        what.append(f"failover x{record.failovers}")
    if record.recovery is not None:
        what.append(f"stream broke ({record.recovery.how}) at {record.recovery.broken}: {record.recovery.outcome}")
    if record.agreement is not None and record.agreement.decision == "disagreed":
        what.append("panel disagreed")
    what.extend(f"flagged {v.provider}:{v.rule}" for v in record.flagged)
    if error is not None:
        what.append(f"error: {error.error_type}")
    return tuple(what)

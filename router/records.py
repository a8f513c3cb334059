"""What happened to a request: each attempt, and the decision record the caller reads."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one provider. `failure_class` is None when it succeeded."""

    provider: str
    failure_class: str | None
    latency_s: float
    status: int | None = None
    detail: str = ""
    panic: bool = False

    def short(self) -> str:
        """`provider:class` (or `provider:ok`), as in the x-crosswalk-attempts header."""
        return f"{self.provider}:{self.failure_class or 'ok'}"


@dataclass(slots=True)
class DecisionRecord:
    """Which provider answered a step, after which attempts. Read it as `resp.crosswalk`."""

    step: str
    provider: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    latency_s: float = 0.0

    @property
    def failovers(self) -> int:
        """How many times the request moved to another provider."""
        moves = 0
        for before, after in zip(self.attempts, self.attempts[1:]):
            moves += before.provider != after.provider
        return moves

    def summary(self) -> str:
        """One log line: step, answering provider, attempts."""
        trail = ",".join(a.short() for a in self.attempts)
        return f"step={self.step} provider={self.provider or '-'} attempts={trail} latency_ms={self.latency_s * 1000:.1f}"

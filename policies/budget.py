"""Retry budget: retries + hedges may be at most `ratio` of first attempts over a sliding
window (never fewer than `min`), so a total outage never multiplies load."""

from __future__ import annotations

from collections import deque

from policies.schema import RetryBudgetSpec


class RetryBudget:
    """Sliding-window token accounting; `now` comes from the caller's clock."""

    def __init__(self, spec: RetryBudgetSpec) -> None:
        self.spec = spec
        self._firsts: deque[float] = deque()
        self._retries: deque[float] = deque()
        self.denied = 0

    def _trim(self, now: float) -> None:
        horizon = now - self.spec.window_s
        for q in (self._firsts, self._retries):
            while q and q[0] < horizon:
                q.popleft()

    def record_first(self, now: float) -> None:
        """A request made its first attempt."""
        self._firsts.append(now)

    def try_spend(self, now: float) -> bool:
        """Take one retry (or hedge) from the budget; False when it is spent."""
        self._trim(now)
        allowed = max(self.spec.min, int(self.spec.ratio * len(self._firsts)))
        if len(self._retries) >= allowed:
            self.denied += 1
            return False
        self._retries.append(now)
        return True

    def snapshot(self, now: float) -> tuple[int, int, int]:
        """(first attempts, retries, retries allowed) in the current window."""
        self._trim(now)
        return len(self._firsts), len(self._retries), max(self.spec.min, int(self.spec.ratio * len(self._firsts)))

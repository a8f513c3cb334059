"""Retry budget: retries + hedges may be at most `ratio` of first attempts over a sliding
window (never fewer than `min`), so a total outage never multiplies load.

With shared state, the rest of the fleet's counts in the window are added (`set_fleet`,
called by the sync task from Redis), so the ratio holds across replicas, not per replica."""

from __future__ import annotations

from collections import deque

from crosswalk.policies.schema import RetryBudgetSpec


class RetryBudget:
    """Sliding-window token accounting; `now` comes from the caller's clock."""

    def __init__(self, spec: RetryBudgetSpec) -> None:
        self.spec = spec
        self._firsts: deque[float] = deque()
        self._retries: deque[float] = deque()
        self.denied = 0
        self._fleet: tuple[int, int] = (0, 0)  # (first attempts, retries) of other replicas
        self.firsts_total = 0  # ever recorded here: what a sync pushes to the fleet
        self.retries_total = 0

    @property
    def fleet(self) -> tuple[int, int]:
        """(first attempts, retries) of the other replicas in the window, as last set."""
        return self._fleet

    def set_fleet(self, firsts: int, retries: int) -> None:
        """Set the other replicas' counts in the window ((0, 0): alone, or shared state down)."""
        self._fleet = (firsts, retries)

    def _trim(self, now: float) -> None:
        horizon = now - self.spec.window_s
        for q in (self._firsts, self._retries):
            while q and q[0] < horizon:
                q.popleft()

    def record_first(self, now: float) -> None:
        """A request made its first attempt."""
        self._firsts.append(now)
        self.firsts_total += 1

    def try_spend(self, now: float) -> bool:
        """Take one retry (or hedge) from the budget; False when it is spent."""
        self._trim(now)
        firsts, retries = self._fleet
        allowed = max(self.spec.min, int(self.spec.ratio * (len(self._firsts) + firsts)))
        if len(self._retries) + retries >= allowed:
            self.denied += 1
            return False
        self._retries.append(now)
        self.retries_total += 1
        return True

    def snapshot(self, now: float) -> tuple[int, int, int]:
        """(first attempts, retries, retries allowed) in the current window, the rest of
        the fleet's included."""
        self._trim(now)
        firsts, retries = len(self._firsts) + self._fleet[0], len(self._retries) + self._fleet[1]
        return firsts, retries, max(self.spec.min, int(self.spec.ratio * firsts))

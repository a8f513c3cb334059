"""The retry budget across replicas. Each process adds its own first attempts and retries
to time buckets in Redis (`{prefix}:budget:{bucket}`, hashes that expire on their own) and
reads back the fleet's totals over the budget's window; what the others did is set on the
budget with `RetryBudget.set_fleet`, so "retries <= ratio x first attempts" holds for the
fleet."""

from __future__ import annotations

import math
from typing import Any

from crosswalk.policies.budget import RetryBudget

BUCKETS_PER_WINDOW = 20


class BudgetShare:
    """Pushes this process's budget counts and pulls the fleet's, one round trip a call."""

    def __init__(self, prefix: str, window_s: float) -> None:
        self.prefix = prefix
        self.width_s = max(1.0, window_s / BUCKETS_PER_WINDOW)
        self.buckets = math.ceil(window_s / self.width_s) + 1  # the window, plus the bucket it starts in
        self.ttl_s = math.ceil((self.buckets + 1) * self.width_s)
        self._budget: RetryBudget | None = None
        self._pushed = (0, 0)
        self._mine: dict[int, tuple[int, int]] = {}

    def key(self, bucket: int) -> str:
        """The Redis hash of one time bucket (fields f: first attempts, r: retries)."""
        return f"{self.prefix}:budget:{bucket}"

    async def exchange(self, client: Any, budget: RetryBudget, wall: float) -> None:
        """Add what `budget` counted since the last call to the current bucket, read the
        window's buckets, and set the rest of the fleet's counts on `budget`. Nothing is
        committed unless the round trip completes."""
        if budget is not self._budget:  # the first call, or another router state's budget
            self._budget, self._pushed, self._mine = budget, (budget.firsts_total, budget.retries_total), {}
        totals = (budget.firsts_total, budget.retries_total)
        firsts, retries = totals[0] - self._pushed[0], totals[1] - self._pushed[1]
        now = int(wall // self.width_s)
        window = range(now - self.buckets + 1, now + 1)
        pipe = client.pipeline(transaction=False)
        if firsts or retries:
            pipe.hincrby(self.key(now), "f", firsts)
            pipe.hincrby(self.key(now), "r", retries)
            pipe.expire(self.key(now), self.ttl_s)
        for bucket in window:
            pipe.hmget(self.key(bucket), "f", "r")
        rows = (await pipe.execute())[-len(window):]
        self._pushed = totals
        mine = self._mine.get(now, (0, 0))
        self._mine[now] = (mine[0] + firsts, mine[1] + retries)
        self._mine = {b: v for b, v in self._mine.items() if b >= window.start}
        fleet = [sum(int(row[i] or 0) for row in rows) for i in (0, 1)]
        own = [sum(v[i] for v in self._mine.values()) for i in (0, 1)]
        budget.set_fleet(max(0, fleet[0] - own[0]), max(0, fleet[1] - own[1]))

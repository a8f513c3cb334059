"""Cross-model agreement, the pure part: choosing an independent panel and deciding a
quorum from the answers so far.

Agreement is weak evidence of truth (models share mistakes: two wrong models give the same
wrong answer often); disagreement is strong evidence that at least one answer is wrong.
The decisions are named that way: `agreed` means "no evidence of an error was found".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from crosswalk.policies.config import ProviderConf


class Decision(enum.StrEnum):
    """The outcome of a verified request; a `str` enum that formats as its value, so the
    agreement record's JSON and header read `agreed`, not `Decision.AGREED`."""

    PENDING = "pending"  # a shadow check still running: the record is filled in when it ends
    AGREED = "agreed"  # a quorum matched: weak evidence the answer is right
    DISAGREED = "disagreed"  # no quorum can form: strong evidence something is wrong
    INCONCLUSIVE = "inconclusive"  # too few answers to tell (failures, too few providers)


def pick_diverse(candidates: Sequence[ProviderConf], k: int, dims: Sequence[str]) -> list[ProviderConf]:
    """Up to `k` providers in rank order, each differing from those already picked in every
    dimension of `dims` (vendor, family)."""
    picked: list[ProviderConf] = []
    for conf in candidates:
        if all(getattr(conf, d) != getattr(p, d) for p in picked for d in dims):
            picked.append(conf)
            if len(picked) == k:
                break
    return picked


@dataclass(frozen=True, slots=True)
class Tally:
    """Where a panel stands: group sizes (answers that match each other), answers still
    pending, and the quorum rule."""

    groups: tuple[int, ...]
    pending: int
    quorum: int

    def decided(self) -> Decision | None:
        """The decision once it cannot change any more, else None (wait for more)."""
        if self.groups and max(self.groups) >= self.quorum:
            return Decision.AGREED
        if any(size + self.pending >= self.quorum for size in self.groups) or self.pending >= self.quorum:
            return None  # a quorum may still form
        return self.final()

    def final(self) -> Decision:
        """The decision with nothing more to come."""
        if self.groups and max(self.groups) >= self.quorum:
            return Decision.AGREED
        if len(self.groups) >= 2:
            return Decision.DISAGREED
        return Decision.INCONCLUSIVE

    def more_to_ask(self, left: int) -> int:
        """A lazy panel's next step: how many of the `left` members not yet asked to ask now,
        the fewest that could still let a group reach the quorum with the answers in hand and
        those pending (2 at first in a 2-of-3 panel; 1 more after a disagreement or a failure;
        0 once agreed or while enough are pending)."""
        if self.groups and max(self.groups) >= self.quorum:
            return 0
        need = self.quorum - max(self.groups, default=0) - self.pending
        return max(0, min(left, need))

    def score(self) -> float:
        """Share of the answers received that sit in the largest group (0 with no answers)."""
        total = sum(self.groups)
        return max(self.groups) / total if total else 0.0

"""What a provider's standing is, in the two forms the rest of the router sees: a frozen
`Standing` (where it stands now, read by the proxy, the metrics, the Redis snapshot and the
probes) and an `Event` (a change of standing, heard by listeners as it happens).

Values only: the book that holds them is `book.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crosswalk.policies.corroboration import Sighting
from crosswalk.policies.exclusions import Exclusion

StandingState = Literal["excluded", "cooling_down", "healthy", "ejected", "half_open"]
HealthState = Literal["healthy", "ejected", "half_open"]
# Every value `Standing.state` takes, in the order the metrics gauge exports them.
STATES: tuple[StandingState, ...] = ("excluded", "cooling_down", "healthy", "ejected", "half_open")


@dataclass(frozen=True, slots=True)
class Standing:
    """One provider's standing at monotonic time `now`.

    `state` is what the proxy and the metrics report: excluded beats cooling_down, which
    beats the ejection cycle's own `health` (an ejection that ran out is half-open here).
    Times are on the book's monotonic clock; None means "not in force". `ejection_reason`
    stays through half-open until the provider closes again. `recent_failures` and `probes`
    are (wall-clock ISO time, failure class or probe result) pairs, oldest first."""

    provider: str
    now: float
    state: StandingState
    health: HealthState
    ejection_reason: str | None
    ejected_until: float | None
    cooldown_reason: str | None
    cooldown_until: float | None
    exclusion: Exclusion | None
    pending: tuple[Sighting, ...]
    recent_failures: tuple[tuple[str, str], ...]
    probes: tuple[tuple[str, str], ...]
    lifted_at: float | None  # when an operator last lifted its exclusion (monotonic)

    @property
    def excluded(self) -> bool:
        """Hard-excluded now (never tried, not even in panic)."""
        return self.exclusion is not None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that changed a provider's standing: kind is ejected | excluded | cooled |
    lifted (an operator lifted its exclusion) | reopened (a probe got an answer: the
    ejection ended early, half-open). `until` is when it ends (monotonic; None: until the
    config changes; a reopening: when the ejection would have ended); an exclusion carries
    its `Exclusion`, evidence included (what a shared-state sync publishes); a lift or a
    reopening carries when it happened in `since`."""

    kind: str
    provider: str
    reason: str
    until: float | None = None
    exclusion: Exclusion | None = None
    since: float | None = None


@dataclass(frozen=True, slots=True)
class Lift:
    """What an operator's lift took away: the exclusion in force (if any) and how many
    sightings were still waiting for corroboration."""

    exclusion: Exclusion | None
    sightings: int

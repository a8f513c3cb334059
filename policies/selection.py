"""Ranking: which provider a step's next attempt goes to, and why the others are not used.

Order of filters: compliance (static), hard exclusion, then health (ejection, cooldown,
half-open probe slots). Panic: when every remaining eligible provider is soft-unavailable,
the one that became unavailable longest ago is tried; hard-excluded ones never are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from crosswalk.policies.compliance import Verdict
from crosswalk.policies.config import StepConf
from crosswalk.policies.exclusions import ExclusionBook
from crosswalk.policies.health import HealthBook, State


@dataclass(frozen=True, slots=True)
class Choice:
    """The provider for the next attempt; `panic` when it is soft-unavailable."""

    provider: str
    panic: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """One provider's standing for a step, for `crosswalk check` and error messages."""

    provider: str
    status: str  # eligible | half_open | ejected | cooling_down | excluded | blocked
    reason: str
    retry_at: float | None = None


def choose(
    step: StepConf,
    verdicts: Mapping[str, Verdict],
    health: HealthBook,
    exclusions: ExclusionBook,
    now: float,
    *,
    skip: set[str],
    allow_panic: bool,
) -> Choice | None:
    """Take the first admissible provider in rank order (claiming a half-open probe slot
    if needed); failing that, panic to the longest-unavailable one if allowed."""
    fallback: tuple[float, str] | None = None
    for name in step.providers:
        if name in skip or not verdicts[name].eligible or exclusions.active(name, now) is not None:
            continue
        h = health[name]
        if h.admit(now):
            return Choice(name)
        since = h.unavailable_since()
        if fallback is None or since < fallback[0]:
            fallback = (since, name)
    if allow_panic and fallback is not None:
        return Choice(fallback[1], panic=True)
    return None


def explain(
    step: StepConf,
    verdicts: Mapping[str, Verdict],
    health: HealthBook,
    exclusions: ExclusionBook,
    now: float,
) -> list[Row]:
    """Each provider of the step with its status and reason, in rank order."""
    rows = []
    for name in step.providers:
        verdict = verdicts[name]
        if not verdict.eligible:
            rows.append(Row(name, "blocked", verdict.reason))
            continue
        exclusion = exclusions.active(name, now)
        if exclusion is not None:
            rows.append(Row(name, "excluded", exclusion.describe(), exclusion.until))
            continue
        h = health[name]
        available = h.available(now)
        if now < h.cooldown_until:
            rows.append(Row(name, "cooling_down", f"rate limited: {h.cooldown_reason}", h.available_at(now)))
        elif h.state is State.EJECTED:
            rows.append(Row(name, "ejected", h.reason, h.available_at(now)))
        elif h.state is State.HALF_OPEN:
            rows.append(Row(name, "half_open", "probing after ejection" + ("" if available else "; probe slots taken")))
        else:
            rows.append(Row(name, "eligible", verdict.reason))
    return rows


def retry_after_s(rows: list[Row], now: float) -> float | None:
    """Seconds until the first soft-unavailable or expiring provider may be tried again."""
    times = [r.retry_at for r in rows if r.retry_at is not None and r.status != "blocked"]
    return max(0.0, min(times) - now) if times else None

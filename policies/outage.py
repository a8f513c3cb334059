"""Outages and rate limits, as decisions about one request's next attempt.

- Total outage: when every provider a step may use is down, a request makes at most one
  call to each. A same-provider retry only helps against a blip on an otherwise working
  fleet; once nothing in the step is known to work, a retry only multiplies the load on
  vendors that are already failing (`step_down`). Panic calls are paid from the retry
  budget (router/attempts.py), for the same reason.
- Rate limits: a 429 whose Retry-After is short enough is waited out on the provider the
  request was sent to first, before failing over (`waits_out`).

Pure: `now` comes from the caller's clock; nothing here calls anything.
"""

from __future__ import annotations

from typing import Mapping

from crosswalk.policies.compliance import Verdict
from crosswalk.policies.config import StepConf
from crosswalk.policies.exclusions import ExclusionBook
from crosswalk.policies.health import HealthBook, State


def step_down(
    step: StepConf,
    verdicts: Mapping[str, Verdict],
    health: HealthBook,
    exclusions: ExclusionBook,
    now: float,
    *,
    failed: str,
) -> bool:
    """Is every provider of `step` that compliance and hard exclusions allow down, as far
    as the health book knows, right after `failed` failed (that failure recorded)?

    Down means ejected, or its latest call failed within the last `ejection_base_s` (an
    older failure on a provider nobody has asked since says nothing about it now, as an
    ejection of it would have lapsed). `failed` itself counts as down only when the call
    before this one failed too: one failure after answers is the blip a retry is for."""
    horizon = health.spec.ejection_base_s
    for name in step.providers:
        if not verdicts[name].eligible or exclusions.active(name, now) is not None:
            continue  # never called: neither up nor down for this step
        h = health[name]
        h.available(now)  # lets a lapsed ejection turn half-open before it is read
        if h.state is State.EJECTED:
            continue
        needed = 2 if name == failed else 1
        if h.consecutive >= needed and now - h.failed_at <= horizon:
            continue
        return False
    return True


def waits_out(retry_after_s: float | None, *, wait_s: float, wait_max_s: float, remaining_s: float) -> bool:
    """Should a rate-limited request wait `wait_s` (until the provider's cooldown ends)
    and ask the same provider again? Only for a vendor-sent Retry-After (no header: no
    idea how long, so fail over), a wait of at most `wait_max_s`, ending before the
    step's deadline (`remaining_s` left)."""
    if retry_after_s is None:
        return False
    return wait_s <= wait_max_s and wait_s < remaining_s

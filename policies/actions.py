"""What the engine does about each failure class: the DESIGN.md table as data."""

from __future__ import annotations

import random
from dataclasses import dataclass

from crosswalk.providers.classify import FailureClass


@dataclass(frozen=True, slots=True)
class Action:
    """The response to one failure class.

    retry_same: a same-provider retry (with backoff, out of the retry budget) may help.
    failover: another provider may be tried.
    health: counts toward ejection (the provider looks down).
    exclude: hard-exclude the provider with the evidence.
    cooldown: keep away for the Retry-After (rate limited).
    skip_same_model: skip other providers serving the same upstream model.
    """

    retry_same: bool = False
    failover: bool = True
    health: bool = False
    exclude: bool = False
    cooldown: bool = False
    skip_same_model: bool = False


ACTIONS: dict[FailureClass, Action] = {
    FailureClass.TRANSIENT: Action(retry_same=True, health=True),
    FailureClass.TIMEOUT: Action(health=True),  # never retry a silent route
    FailureClass.STREAM_BROKEN: Action(health=True),
    FailureClass.RATE_LIMITED: Action(cooldown=True),
    FailureClass.QUOTA: Action(exclude=True),
    FailureClass.AUTH: Action(exclude=True),
    FailureClass.REGULATORY: Action(exclude=True),
    FailureClass.CONTEXT_LENGTH: Action(skip_same_model=True),
    FailureClass.CONTENT_FILTER: Action(failover=False, skip_same_model=True),  # unless the step allows it
    FailureClass.CLIENT: Action(failover=False),
    # A wrong answer is the model's, not an outage: fail over, never eject or exclude (the
    # provider answered, so it counts as a finished call in its failure-rate window).
    FailureClass.INVALID_OUTPUT: Action(),
}


def action_for(failure_class: FailureClass, *, failover_on_content_filter: bool = False) -> Action:
    """The action for a class, with the step's content-filter choice applied."""
    if failure_class is FailureClass.CONTENT_FILTER and failover_on_content_filter:
        return Action(failover=True, skip_same_model=True)
    return ACTIONS[failure_class]


def backoff_s(retry_number: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff for the n-th same-provider retry (1-based): uniform
    in [0, min(max, base*2^(n-1))], drawn from the injected `rng`."""
    return rng.uniform(0.0, min(max_s, base_s * 2.0 ** (retry_number - 1)))

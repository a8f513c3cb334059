"""Output validators at run time: every answer of a step with `validate:` rules is checked
(policies/validators.py) before it can be returned, and the step's `on_invalid` decides:

- `failover` (default): the attempt fails with class `invalid_output` and the next provider
  is asked (attempts `a:invalid_output,b:ok`); when every answer broke a rule the caller
  gets `InvalidOutput` (422) naming each rule and provider.
- `flag`: the answer is returned, its violations in `record.validation` (and the proxy's
  `x-crosswalk-validation` header).
- `fail`: `InvalidOutput` (422) naming the rule, no further provider asked.

An invalid answer is the model's doing, not an outage: it never counts toward ejection or
exclusion (policies/actions.py). It is counted per step, provider and rule (metrics,
`crosswalk report`). A stream on such a step is read whole before any of it is delivered
(the chain's `hold`), since a rule can only judge a finished answer.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from crosswalk.providers.errors import OutputRejected
from crosswalk.router.attempts import StepRun
from crosswalk.router.errors import InvalidOutput
from crosswalk.router.records import DecisionRecord, InvalidAnswer

log = logging.getLogger("crosswalk")
T = TypeVar("T")


class Observer(Protocol):
    """Told of every answer that broke a rule (metrics); cheap, never raises."""

    def invalid_output(self, step: str, provider: str, rule: str) -> None: ...


def screen(run: StepRun, provider: str, text: str, observer: Any = None) -> list[InvalidAnswer]:
    """Check `provider`'s answer `text` against `run`'s step. Returns the violations to
    flag (empty when it passed, or the step has no validators); raises `OutputRejected`
    (a failed attempt) when the step fails over or fails on it. The caller adds returned
    flags to the record once this answer is the one returned (a hedge may lose)."""
    rules = run.step.validate
    if rules is None:
        return []
    broken = rules.check(text, context=_context(run) if rules.reads_context else ())
    if not broken:
        return []
    step, action = run.step.name, run.step.on_invalid
    found = [InvalidAnswer(provider, v.rule, v.message, action) for v in broken]
    count = getattr(observer, "invalid_output", None)
    for v in found:
        if count is not None:
            count(step, provider, v.rule)
    how = "; ".join(map(str, broken))
    log.info("crosswalk validation step=%s provider=%s on_invalid=%s %s", step, provider, action, how)
    if action == "flag":
        return found
    run.record.validation.extend(found)
    if action == "fail":
        run.stop(InvalidOutput(f"step '{step}': the answer from {provider} broke the step's validators: {how}",
                               step=step, record=run.record))
    raise OutputRejected(how, provider=provider, rules=tuple(v.rule for v in broken))


def _context(run: StepRun) -> list[str]:
    """The request's texts a `grounded` rule traces the answer's amounts to."""
    from crosswalk.policies.grounded_numbers import context_texts
    from crosswalk.policies.grounding import grounding_of

    return context_texts(grounding_of(run.request.body)) if run.request is not None else []


async def screened(run: StepRun, provider: str, attempt: Awaitable[T], text_of: Callable[[T], str],
                   observer: Any = None) -> tuple[T, list[InvalidAnswer]]:
    """`attempt`'s answer and its flags, once `screen` passed it: a racing attempt (a
    hedge) checks its own answer, so an invalid one fails as that racer's attempt."""
    answer = await attempt
    return answer, screen(run, provider, text_of(answer), observer)


def answer_text(result: dict[str, Any]) -> str:
    """The text validators read in a completion: as a comparator reads it (the content, or
    the tool calls as JSON). Imported on first use: comparators load only when needed."""
    from crosswalk.router.compare import answer_text as text_of

    return text_of(result)


def header(record: DecisionRecord) -> str | None:
    """The x-crosswalk-validation header: `provider:rule:action` per invalid answer
    (`alpha-mini:premium:failover,beta-pro:premium:flag`), or None when none was."""
    if not record.validation:
        return None
    return ",".join(v.short() for v in record.validation)


def as_json(record: DecisionRecord) -> list[dict[str, str]]:
    """`record.validation` for a response body's `crosswalk` field."""
    return [{"provider": v.provider, "rule": v.rule, "message": v.message, "action": v.action} for v in record.validation]

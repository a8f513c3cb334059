"""`crosswalk check [FILE | --config FILE]`: every problem of a config file in one run
(each naming its path and the fix), then the resolved routing table. A file with problems
is never called OK: besides what loading finds, a region no provider is in (an unknown
region, most often a misspelt one) and a step no provider may serve today are problems."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Callable

from crosswalk.policies.compliance import Verdict, verdict
from crosswalk.policies.config import ProviderConf, RouterConfig, StepConf
from crosswalk.policies.suggest import did_you_mean
from crosswalk.router.configfile import load_config
from crosswalk.router.errors import ConfigError


def run(path: str | None, *, today: dt.date | None = None) -> int:
    """Check the file; print its problems (stderr) and routing table (stdout). Exit status."""
    today = today or dt.date.today()
    try:
        config = load_config(path)
    except ConfigError as exc:
        _print_problems(exc.source, exc.problems)
        return 1
    problems = region_problems(config) + unservable_steps(config, today)
    if problems:
        _print_problems(config.source, problems)
        header = f"{config.source}: NOT OK, {len(problems)} problem(s) (on stderr); the routing table as it would be:"
    else:
        header = f"{config.source}: OK ({len(config.providers)} providers, {len(config.steps)} steps; compliance as of {today})"
    print(header + "\n" + routing_table(config, today, verdict))
    return 1 if problems else 0


def _print_problems(source: str, problems: list[str]) -> None:
    print(f"error: {source}: {len(problems)} problem(s)", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def region_problems(config: RouterConfig) -> list[str]:
    """Each allowed region that no provider is in: an unknown region (a step allowed only
    there can never be served), with the closest region the providers do have."""
    known = sorted({p.region for p in config.providers.values() if p.region})
    everywhere = config.compliance.allowed_regions
    places: list[tuple[str, list[str]]] = []
    if everywhere is not None:
        places.append(("compliance.allowed_regions", list(everywhere)))
    for step in config.steps.values():
        if step.allowed_regions is not None and (everywhere is None or step.allowed_regions != frozenset(everywhere)):
            places.append((f"steps.{step.name}.allowed_regions", sorted(step.allowed_regions)))
    return [
        f"{where}: unknown region '{region}': no provider has region '{region}' (providers' regions: "
        f"{', '.join(known) or 'none set'}){did_you_mean(region, known)}; fix the spelling, or set `region: {region}` "
        "on the providers that are in it"
        for where, regions in places for region in regions if region not in known
    ]


def unservable_steps(config: RouterConfig, today: dt.date) -> list[str]:
    """Steps that no provider may serve today (regions, embargoes, deny list)."""
    return [
        f"steps.{s.name}: no provider is eligible today; relax its allowed_regions or embargo entries"
        for s in config.steps.values()
        if not any(verdict(config, s, config.providers[p], today).eligible for p in s.providers)
    ]


def routing_table(config: RouterConfig, today: dt.date,
                  verdict: Callable[[RouterConfig, StepConf, ProviderConf, dt.date], Verdict]) -> str:
    """The resolved routing table per step, with why each provider is eligible or not."""
    lines = []
    for step in config.steps.values():
        t = step.timeouts
        regions = ", ".join(sorted(step.allowed_regions)) if step.allowed_regions is not None else "any"
        lines.append(
            f"\nstep {step.name}: up to {step.max_attempts} attempts; timeouts per-try {t.per_try_s:g}s, "
            f"first token {t.ttft_s:g}s, idle {t.idle_s:g}s, total {t.total_s:g}s; regions {regions}"
        )
        if step.verify is not None:
            v = step.verify
            lines.append(
                f"  verify: {v.agree.min} of {v.agree.of} must agree ({v.compare}); panel differs in "
                f"{' and '.join(v.diverse)}; on disagreement: {v.on_disagree}; sample {v.sample:g}"
                + ("; lazy (the fewest that can agree first)" if v.lazy else "")
            )
        if step.validate is not None:
            lines.append(f"  validate: {', '.join(step.validate.names)}; on invalid: {step.on_invalid}")
        if step.on_seam != "flag":
            lines.append(f"  seams: on a near miss of an amount an earlier step of the run answered: {step.on_seam}")
        for rank, name in enumerate(step.providers, 1):
            p = config.providers[name]
            v = verdict(config, step, p, today)
            lines.append(
                f"  {rank}. {name:<16} {p.kind:<9} {p.model:<24} vendor {p.vendor:<10} region {p.region or '-':<5} "
                f"{'eligible' if v.eligible else 'BLOCKED':<9} {v.reason}"
            )
    return "\n".join(lines)

"""Compliance filters applied before any call: allowed regions, embargoes, vendor denials.

Verdicts depend only on config and the date, so they are computed once per step and day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fnmatch import fnmatchcase

from crosswalk.policies.config import ProviderConf, RouterConfig, StepConf
from crosswalk.policies.schema import EmbargoSpec


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a provider may serve a step, and the rule that says so."""

    eligible: bool
    reason: str


def embargo_applies(entry: EmbargoSpec, provider: ProviderConf, today: dt.date) -> bool:
    """True when `entry` targets `provider` and is in force on `today` (both dates inclusive)."""
    if entry.since and today < entry.since:
        return False
    if entry.until and today > entry.until:
        return False
    if entry.provider:
        return fnmatchcase(provider.name, entry.provider)
    if entry.model:
        return fnmatchcase(provider.model, entry.model)
    return fnmatchcase(provider.vendor, entry.vendor or "")


def _describe(entry: EmbargoSpec) -> str:
    target = next(f"{k} '{getattr(entry, k)}'" for k in ("provider", "model", "vendor") if getattr(entry, k))
    dates = f" since {entry.since}" if entry.since else ""
    dates += f" until {entry.until}" if entry.until else ""
    return f"embargo on {target}{dates}: {entry.reason}"


def verdict(config: RouterConfig, step: StepConf, provider: ProviderConf, today: dt.date) -> Verdict:
    """Apply vendor denials, embargoes and region rules, in that order."""
    for pattern in config.compliance.deny_vendors:
        if fnmatchcase(provider.vendor, pattern):
            return Verdict(False, f"vendor '{provider.vendor}' is denied by compliance.deny_vendors ('{pattern}')")
    for entry in config.compliance.embargo:
        if embargo_applies(entry, provider, today):
            return Verdict(False, _describe(entry))
    regions = step.allowed_regions
    if regions is not None:
        if provider.region is None:
            return Verdict(False, f"region unknown and step '{step.name}' allows only {sorted(regions)}; set providers.{provider.name}.region")
        if provider.region not in regions:
            return Verdict(False, f"region '{provider.region}' not in allowed regions {sorted(regions)}")
        return Verdict(True, f"region '{provider.region}' allowed")
    return Verdict(True, "no compliance rule applies")


class ComplianceTable:
    """Per-step compliance verdicts, recomputed when the date changes."""

    def __init__(self, config: RouterConfig) -> None:
        self._config = config
        self._day: dt.date | None = None
        # Keyed by the step's name and providers: a request-narrowed copy of a step (only the
        # providers that can carry what it needs) must not stand for the whole step.
        self._table: dict[tuple[str, tuple[str, ...]], dict[str, Verdict]] = {}

    def for_step(self, step: StepConf, today: dt.date) -> dict[str, Verdict]:
        """Verdict for every provider the step lists, in rank order."""
        if today != self._day:
            self._table = {}
            self._day = today
        key = (step.name, step.providers)
        table = self._table.get(key)
        if table is None:
            table = self._table[key] = {
                name: verdict(self._config, step, self._config.providers[name], today) for name in step.providers
            }
        return table

"""Hard exclusions: REGULATORY, AUTH and QUOTA failures take a provider out of rotation
with the evidence, separately from ejection. They are never used in panic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Why a provider is hard-excluded: the failure class, what the vendor said, when."""

    provider: str
    failure_class: str
    evidence: str
    at: str  # wall-clock time, ISO 8601, for people
    since: float  # monotonic, for expiry
    until: float | None  # None: until the config changes
    # structured: the vendor's status or error code said it; corroborated: only the error's
    # free text did, on two different requests.
    basis: str = "structured"

    def describe(self) -> str:
        """One line for tables and error messages."""
        basis = "" if self.basis == "structured" else f" ({self.basis})"
        lasts = " (until the config changes)" if self.until is None else ""
        return f"{self.failure_class}{basis} since {self.at}{lasts}: {self.evidence}"


class ExclusionBook:
    """Active hard exclusions by provider; expired ones fall away when read."""

    def __init__(self) -> None:
        self._by_provider: dict[str, Exclusion] = {}

    def add(self, exclusion: Exclusion) -> None:
        """Record an exclusion; a longer one is not replaced by a shorter one."""
        current = self._by_provider.get(exclusion.provider)
        if current is not None and (current.until is None or (exclusion.until is not None and exclusion.until < current.until)):
            return
        self._by_provider[exclusion.provider] = exclusion

    def active(self, provider: str, now: float) -> Exclusion | None:
        """The provider's exclusion in force at `now`, if any."""
        exclusion = self._by_provider.get(provider)
        if exclusion is not None and exclusion.until is not None and now >= exclusion.until:
            del self._by_provider[provider]
            return None
        return exclusion

    def clear(self, provider: str) -> None:
        """Lift a provider's exclusion (a successful re-probe, a config change, an operator)."""
        self._by_provider.pop(provider, None)

    def all(self, now: float) -> Iterable[Exclusion]:
        """Every exclusion still in force."""
        return [e for name in list(self._by_provider) if (e := self.active(name, now)) is not None]

"""Provider-standing updates that replicas exchange through shared state: their wire form
(JSON), the identity check, and the conversion of "until" between this process's
monotonic clock and wall time, the only clock replicas have in common.

Pure functions and values: no Redis here (that is `redis_sync.py`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from crosswalk.policies.config import ProviderConf
from crosswalk.policies.exclusions import Exclusion
from crosswalk.router.state.book import RouterState
from crosswalk.router.state.standing import Event

VERSION = 1
# "lifted": an operator lifted the provider's exclusion; its key stands in for the deleted
# "excluded" key, so a replica that missed the message still drops the exclusion on resync
# (and does not push it back).
# "reopened": a probe got an answer and ended the ejection early; it displaces the
# "ejected" key, and stands until the ejection would have ended, so a replica that missed
# the message ends its own ejection on resync (and does not push it back).
KINDS = ("ejected", "excluded", "cooled", "lifted", "reopened")
LIFT_MEMORY_S = 86400.0  # how long a replica re-announces its own lifts after a reconnect


def to_wall(until: float | None, *, now: float, wall: float) -> float | None:
    """A monotonic deadline as wall-clock seconds since the epoch (None stays None)."""
    return None if until is None else wall + (until - now)


def to_local(until: float | None, *, now: float, wall: float) -> float | None:
    """A wall-clock deadline from another process on this process's monotonic clock.
    Replicas' wall clocks must agree (NTP): a skew of s seconds shifts the deadline by s."""
    return None if until is None else now + (until - wall)


def standing_key(prefix: str, kind: str, provider: str) -> str:
    """The Redis key of one provider's standing of one kind (each expires when it ends)."""
    return f"{prefix}:standing:{kind}:{provider}"


def identity(conf: ProviderConf) -> str:
    """A short fingerprint of what makes a provider the same provider in another process:
    kind, vendor, model, endpoint, region and API key (hashed, never stored as such). An
    update for a provider of the same name but another identity (a replica still on an
    older config) is ignored."""
    parts = (conf.kind, conf.vendor, conf.model, conf.base_url or "", conf.region or "", conf.api_key or "")
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Update:
    """One provider's standing as published: `until` in wall-clock seconds (None: until
    the config changes); `origin` names the publishing process, so it ignores its own."""

    kind: str
    provider: str
    ident: str
    until: float | None
    reason: str
    origin: str
    failure_class: str | None = None  # exclusions only, with the vendor's evidence
    evidence: str | None = None
    at: str | None = None
    basis: str | None = None  # exclusions: structured | corroborated
    since: float | None = None  # lifts: when, in wall-clock seconds

    def displaces(self) -> str | None:
        """The kind whose standing key this update deletes: a lift ends an exclusion, and
        a new exclusion ends what a lift said; a reopening ends an ejection, and a new
        ejection ends what a reopening said."""
        return {"lifted": "excluded", "excluded": "lifted", "reopened": "ejected", "ejected": "reopened"}.get(self.kind)

    def key(self, prefix: str) -> str:
        """The Redis key holding this standing."""
        return standing_key(prefix, self.kind, self.provider)

    def encode(self) -> bytes:
        """The JSON payload (key value and channel message alike)."""
        out: dict[str, Any] = {"v": VERSION, "kind": self.kind, "provider": self.provider, "ident": self.ident,
                               "until": self.until, "reason": self.reason, "origin": self.origin}
        if self.kind == "excluded":
            out.update(failure_class=self.failure_class, evidence=self.evidence, at=self.at, basis=self.basis or "structured")
        elif self.kind in ("lifted", "reopened"):
            out.update(since=self.since)
        return json.dumps(out, separators=(",", ":")).encode()

    @staticmethod
    def decode(raw: bytes | str | None) -> "Update | None":
        """The update in a payload, or None for anything malformed or of another version."""
        try:
            d = json.loads(raw) if raw is not None else None
            if not isinstance(d, dict) or d.get("v") != VERSION or d.get("kind") not in KINDS:
                return None
            until = d["until"]
            if until is not None and not isinstance(until, (int, float)):
                return None
            fields = (d["provider"], d["ident"], d["reason"], d["origin"])
            if not all(isinstance(f, str) for f in fields):
                return None
            if d["kind"] == "excluded" and not all(isinstance(d.get(k), str) for k in ("failure_class", "evidence", "at")):
                return None
            basis = d.get("basis") if isinstance(d.get("basis"), str) else None
            since = d.get("since")
            if d["kind"] in ("lifted", "reopened") and not isinstance(since, (int, float)):
                return None
        except (ValueError, KeyError, TypeError):
            return None
        return Update(d["kind"], d["provider"], d["ident"], None if until is None else float(until), d["reason"], d["origin"],
                      d.get("failure_class"), d.get("evidence"), d.get("at"), basis,
                      float(since) if isinstance(since, (int, float)) else None)

    def outlasts(self, other: "Update | None", *, margin: float = 0.0) -> bool:
        """Does this standing end more than `margin` seconds after `other` (None: there is
        none)? The margin absorbs the rounding of a standing that went round the clocks."""
        if other is None or other.until is None:
            return other is None
        return self.until is None or self.until > other.until + margin


def from_event(event: Event, conf: ProviderConf, *, origin: str, now: float, wall: float) -> Update:
    """A local event as an update for the other replicas."""
    ex = event.exclusion
    return Update(event.kind, event.provider, identity(conf), to_wall(event.until, now=now, wall=wall), event.reason, origin,
                  ex.failure_class if ex else None, ex.evidence if ex else None, ex.at if ex else None,
                  ex.basis if ex else None, to_wall(event.since, now=now, wall=wall))


def to_event(update: Update, conf: ProviderConf | None, *, now: float, wall: float) -> Event | None:
    """Another replica's update as an event on this clock, for `RouterState.apply_remote`;
    None when the provider is unknown here or is another provider under the same name."""
    if conf is None or identity(conf) != update.ident:
        return None
    until = to_local(update.until, now=now, wall=wall)
    exclusion = None
    if update.kind == "lifted":
        return Event("lifted", update.provider, update.reason, None, since=to_local(update.since, now=now, wall=wall))
    if update.kind == "excluded":
        assert update.failure_class is not None and update.evidence is not None and update.at is not None
        exclusion = Exclusion(update.provider, update.failure_class, update.evidence, update.at, now, until,
                              update.basis or "structured")
    elif until is None:
        return None  # ejections, reopenings and cooldowns always end
    since = to_local(update.since, now=now, wall=wall) if update.kind == "reopened" else None
    return Event(update.kind, update.provider, update.reason, until, exclusion, since)


def snapshot(state: RouterState, *, origin: str) -> list[Update]:
    """Every live ejection, cooldown and exclusion of this process, and its recent lifts, as
    updates (what a replica pushes after a reconnect, so a restarted Redis learns what it
    missed)."""
    standings = state.standings()
    now = standings[0].now if standings else state.clock.now()  # the instant they were taken at
    wall = state.clock.wall().timestamp()
    events: list[Event] = []
    for s in standings:
        if s.ejected_until is not None:
            events.append(Event("ejected", s.provider, s.ejection_reason or "", s.ejected_until))
        if s.cooldown_until is not None:
            events.append(Event("cooled", s.provider, s.cooldown_reason or "", s.cooldown_until))
    events += [Event("excluded", s.provider, f"{ex.failure_class}: {ex.evidence}", ex.until, ex)
               for s in standings if (ex := s.exclusion) is not None]
    for s in standings:
        # A lift made while Redis was away; not once a newer exclusion stands (it would delete it).
        if s.lifted_at is not None and now - s.lifted_at <= LIFT_MEMORY_S and s.exclusion is None:
            events.append(Event("lifted", s.provider, "lifted by an operator", None, since=s.lifted_at))
    providers = state.config.providers
    return [from_event(e, providers[e.provider], origin=origin, now=now, wall=wall) for e in events]

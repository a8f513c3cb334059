"""What happened to a request: each attempt, and the decision record the caller reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing the records stays free of pydantic
    from crosswalk.policies.agreement import Decision
    from crosswalk.providers.classify import FailureClass


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one provider. `failure_class` is None when it succeeded, or when it was
    `cancelled` because a racing attempt answered first (a hedge race; detail says so).
    `hedge` marks the attempt sent as a hedge while another was still in flight."""

    provider: str
    failure_class: FailureClass | None
    latency_s: float
    status: int | None = None
    detail: str = ""
    panic: bool = False
    hedge: bool = False
    cancelled: bool = False
    request_id: str | None = None  # the vendor's own id for the call (its x-request-id), when it sent one

    @property
    def result(self) -> str:
        """ok, cancelled, or the failure class."""
        return self.failure_class or ("cancelled" if self.cancelled else "ok")

    def short(self) -> str:
        """`provider:result` (`provider:ok`, `provider:timeout`, `provider:cancelled`), as
        in the x-crosswalk-attempts header."""
        return f"{self.provider}:{self.result}"


@dataclass(frozen=True, slots=True)
class Vote:
    """One panel member's answer."""

    provider: str
    answer: str


@dataclass(slots=True)
class AgreementRecord:
    """The verification signal of a verified step.

    `decision` is agreed, disagreed or inconclusive (pending while a shadow check runs). Read it as: disagreed is strong
    evidence that an answer is wrong; agreed is weak evidence that it is right (models
    share mistakes), i.e. "no error found", not "verified true"."""

    decision: Decision
    score: float
    comparator: str
    quorum: str
    agreeing: list[Vote] = field(default_factory=list)
    dissenting: list[Vote] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)  # the panel's spend: every answer and the judge's calls
    mode: str = "inline"  # inline | shadow
    evidence: str = "disagreement is strong evidence of an error; agreement is weak evidence of truth"
    answer_usage: dict[str, int] = field(default_factory=dict)  # the answering member's own usage

    def header(self) -> str:
        """Compact form for the x-crosswalk-agreement header."""
        agree = ",".join(v.provider for v in self.agreeing) or "-"
        dissent = ",".join(v.provider for v in self.dissenting) or "-"
        return (f"{self.decision}; score={self.score:.2f}; quorum={self.quorum}; compare={self.comparator}; "
                f"agree={agree}; dissent={dissent}")


@dataclass(slots=True)
class DecisionRecord:
    """Which provider answered a step, after which attempts. Read it as `resp.crosswalk`.
    A verified step also carries `agreement` and its panel members' own records."""

    step: str
    provider: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    latency_s: float = 0.0
    agreement: AgreementRecord | None = None
    members: list["DecisionRecord"] = field(default_factory=list)

    @property
    def failovers(self) -> int:
        """How many times the request (or each panel member) moved to another provider.
        A hedge is a race beside the chain, not a move along it: hedges are left out."""
        if self.members:
            return sum(m.failovers for m in self.members)
        chain = [a for a in self.attempts if not a.hedge]
        return sum(before.provider != after.provider for before, after in zip(chain, chain[1:]))

    @property
    def request_id(self) -> str | None:
        """The answering vendor's own id for the call that answered (its x-request-id),
        what its support desk asks for; None when it sent none."""
        for attempt in reversed(self.attempts):
            if attempt.provider == self.provider and attempt.failure_class is None and not attempt.cancelled:
                return attempt.request_id
        return None

    def summary(self) -> str:
        """One log line: step, answering provider, attempts."""
        trail = ",".join(a.short() for a in self.attempts)
        return f"step={self.step} provider={self.provider or '-'} attempts={trail} latency_ms={self.latency_s * 1000:.1f}"

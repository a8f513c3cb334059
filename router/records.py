"""What happened to a request: each attempt, and the decision record the caller reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing the records stays free of pydantic
    from crosswalk.policies.agreement import Decision
    from crosswalk.providers.classify import FailureClass


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one provider. `failure_class` is None when it succeeded, or when it was
    `cancelled`: a racing attempt answered first (a hedge race), the panel's quorum was
    decided without it, or the caller went away (detail says which).
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
    """One panel member's answer. For semantic and judge: `against` is the member it was
    compared with to place it, `similarity` their cosine (semantic), `reason` the deciding
    fact, threshold or judge's reason."""

    provider: str
    answer: str
    similarity: float | None = None
    reason: str = ""
    against: str | None = None


@dataclass(frozen=True, slots=True)
class InvalidAnswer:
    """An answer that broke one of the step's validators: whose, which rule, how, and what
    was done about it (`action`: failover, flag or fail, the step's on_invalid)."""

    provider: str
    rule: str
    message: str
    action: str

    def short(self) -> str:
        """`provider:rule:action`, as in the x-crosswalk-validation header."""
        return f"{self.provider}:{self.rule}:{self.action}"


@dataclass(frozen=True, slots=True)
class SeamFlag:
    """An amount this step received that is a near miss of one an earlier step of its run
    answered (policies/seams.py): which steps, both amounts, how (`kind`: decimal dropped,
    decimal moved, digits dropped, digits transposed, sign lost, currency changed) and what
    the step's `on_seam` did (flag or fail)."""

    from_step: str
    to_step: str
    answered: str
    received: str
    kind: str
    action: str

    def short(self) -> str:
        """`from->to:answered->received:kind:action`, as in the x-crosswalk-seam header."""
        return f"{self.from_step}->{self.to_step}:{self.answered}->{self.received}:{self.kind}:{self.action}"

    def describe(self) -> str:
        """One sentence for errors and logs."""
        return (f"step '{self.to_step}' received {self.received} where step '{self.from_step}' of the same run answered "
                f"{self.answered} ({self.kind})")


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
    reason: str = ""  # semantic / judge: why the panel split (the first dissenter's reason), else why it agreed
    evidence: str = "disagreement is strong evidence of an error; agreement is weak evidence of truth"
    answer_usage: dict[str, int] = field(default_factory=dict)  # the answering member's own usage
    judge_usage: dict[str, int] = field(default_factory=dict)  # the judge's calls alone (part of `usage`)
    # What verification added: the members' answers (in the shadow, not the primary's, which
    # the request paid for anyway) and how many members were asked (a lazy panel asks the
    # fewest that could reach the quorum first).
    member_usage: dict[str, int] = field(default_factory=dict)
    asked: int = 0

    def header(self) -> str:
        """Compact form for the x-crosswalk-agreement header."""
        agree = ",".join(v.provider for v in self.agreeing) or "-"
        dissent = ",".join(v.provider for v in self.dissenting) or "-"
        reason = _header_safe(self.reason)
        return (f"{self.decision}; score={self.score:.2f}; quorum={self.quorum}; compare={self.comparator}; "
                f"agree={agree}; dissent={dissent}" + (f"; reason={reason}" if reason else ""))


def _header_safe(text: str, limit: int = 200) -> str:
    # a model's reason goes into a response header: printable ASCII only, no ';' (the separator)
    plain = "".join(ch if " " <= ch <= "~" and ch != ";" else "?" if ord(ch) > 126 else " " for ch in text)
    plain = " ".join(plain.split())
    return plain if len(plain) <= limit else plain[: limit - 3] + "..."


@dataclass(slots=True)
class Recovery:
    """A stream that broke after its commit point, and how it was resumed (router/resume.py).

    `broken`: the provider whose stream broke; `how`: cut, stall, malformed, error_event,
    missing_terminator or adapter; `failure_class` and `detail`: the evidence;
    `delivered_chars`: the answer text the caller had then. `mode`: restart,
    continue-prefill or continue-user (None when none was tried); `finished_by`: the
    provider that finished the answer; `outcome`: resumed (the fallback continued),
    restarted (it answered from the start; the reproduced prefix was skipped), trimmed (it
    repeated the delivered tail first; the repeat was skipped), failed (no provider could,
    or the fallback's output could not be trusted: policies/continuation.py) or not_resumable (a
    tool call, structured output, or resume off). `tried`: what each resumption ran into."""

    broken: str
    how: str
    failure_class: str
    detail: str = ""
    delivered_chars: int = 0
    mode: str | None = None
    finished_by: str | None = None
    outcome: str = "failed"
    tried: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DecisionRecord:
    """Which provider answered a step, after which attempts. Read it as `resp.crosswalk`.
    A verified step also carries `agreement` and its panel members' own records; a step
    with validators lists each answer that broke one in `validation`; a stream that broke
    mid-answer carries `recovery`. `usage` is the answering vendor's `usage` object (a
    stream's: its last chunk's, when the caller asked for it with
    `stream_options.include_usage`)."""

    step: str
    provider: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    latency_s: float = 0.0
    agreement: AgreementRecord | None = None
    members: list["DecisionRecord"] = field(default_factory=list)
    validation: list[InvalidAnswer] = field(default_factory=list)
    usage: dict[str, Any] | None = None  # the answer's usage object, as the vendor reported it
    run: str | None = None  # the pipeline run the request belongs to (trace id or x-crosswalk-run), when known
    seams: list[SeamFlag] = field(default_factory=list)  # near misses of amounts earlier steps of the run answered

    @property
    def flagged(self) -> list[InvalidAnswer]:
        """The violations of the answer returned (on_invalid: flag); [] when it passed."""
        return [v for v in self.validation if v.action == "flag" and v.provider == self.provider]
    recovery: Recovery | None = None
    committed_request_id: str | None = None  # a stream's: the answering vendor's id, known at its commit point
    dialect: str = "chat"  # the caller's API dialect (chat, messages, responses)
    ineligible: dict[str, str] = field(default_factory=dict)  # provider -> why it cannot carry this request
    dropped: tuple[str, ...] = ()  # what a translation to the answering provider's dialect left out
    served: str | None = None  # for another dialect than Chat: "native" or "translated" (None: unanswered)
    cancelled: bool = False  # the caller went away (or stopped reading) before the request ended

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
                return attempt.request_id or self.committed_request_id
        return self.committed_request_id

    def summary(self) -> str:
        """One log line: step, answering provider, attempts."""
        trail = ",".join(a.short() for a in self.attempts)
        return f"step={self.step} provider={self.provider or '-'} attempts={trail} latency_ms={self.latency_s * 1000:.1f}"


def usage_of(answer: dict[str, Any]) -> dict[str, Any] | None:
    """An answer's (or chunk's) `usage` object as the vendor sent it, or None. Kept whole
    (cheap on the hot path); whoever reads it checks the types (`Metrics` counts only
    non-negative integer token counts)."""
    usage = answer.get("usage")
    return usage if isinstance(usage, dict) and usage else None

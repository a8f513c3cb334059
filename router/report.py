"""`crosswalk report`: the reliability of each step, and of the pipeline, from what was
observed: requests, served after failover, failover rate, verified share, disagreement
rate, and the compounded end-to-end figure before and after failover; then which
provider's answers broke which of a step's validators, how often."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True, slots=True)
class StepReliability:
    """One step's observed figures (rates are fractions of requests)."""

    step: str
    requests: int
    served: int
    first_try_ok: int
    verified: int
    disagreed: int

    @property
    def success(self) -> float:
        return self.served / self.requests if self.requests else 1.0

    @property
    def success_without_failover(self) -> float:
        return self.first_try_ok / self.requests if self.requests else 1.0

    @property
    def failover_rate(self) -> float:
        return 1.0 - self.success_without_failover if self.requests else 0.0

    @property
    def verified_share(self) -> float:
        return self.verified / self.requests if self.requests else 0.0

    @property
    def disagreement_rate(self) -> float:
        return self.disagreed / self.verified if self.verified else 0.0


def from_exposition(text: str) -> list[StepReliability]:
    """Read the figures out of Prometheus text exposition (a /metrics page)."""
    from prometheus_client.parser import text_string_to_metric_families

    requests: dict[str, float] = defaultdict(float)
    served: dict[str, float] = defaultdict(float)
    first_ok: dict[str, float] = defaultdict(float)
    verified: dict[str, float] = defaultdict(float)
    disagreed: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            step = sample.labels.get("step")
            if step is None or not sample.name.endswith("_total"):
                continue
            if family.name == "crosswalk_requests":
                requests[step] += sample.value
                served[step] += sample.value if sample.labels.get("outcome") == "ok" else 0
            elif family.name == "crosswalk_first_attempts":
                first_ok[step] += sample.value if sample.labels.get("result") == "ok" else 0
            elif family.name == "crosswalk_agreement" and sample.labels.get("decision") != "pending":
                verified[step] += sample.value
                disagreed[step] += sample.value if sample.labels.get("decision") == "disagreed" else 0
    return [
        StepReliability(step, int(requests[step]), int(served[step]), int(first_ok[step]), int(verified[step]), int(disagreed[step]))
        for step in sorted(requests)
    ]


def render(rows: Sequence[StepReliability], pipeline: Iterable[str] | None = None) -> str:
    """The per-step table and the compounded pipeline figure (product over steps)."""
    lines = [f"{'step':<18} {'requests':>8} {'served':>8} {'no failover':>11} {'failover':>8} {'verified':>8} {'disagree':>8}"]
    for r in rows:
        lines.append(f"{r.step:<18} {r.requests:>8} {r.success:>8.1%} {r.success_without_failover:>11.1%} "
                     f"{r.failover_rate:>8.1%} {r.verified_share:>8.1%} {r.disagreement_rate:>8.1%}")
    chosen = [r for r in rows if pipeline is None or r.step in set(pipeline)]
    if chosen:
        before = after = 1.0
        for r in chosen:
            before *= r.success_without_failover
            after *= r.success
        names = " -> ".join(r.step for r in chosen)
        lines.append(f"\npipeline {names}: end to end {after:.1%} with failover, {before:.1%} without "
                     "(product of the steps' observed success rates)")
    lines.append("served: answered after failover; no failover: answered by the first attempt; "
                 "disagree: share of verified requests whose panel disagreed (strong evidence of an error).")
    return "\n".join(lines)


def invalid_outputs(text: str) -> dict[tuple[str, str, str], int]:
    """(step, provider, rule) -> how many answers broke the rule, from exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for family in text_string_to_metric_families(text):
        if family.name != "crosswalk_invalid_outputs":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                counts[(labels.get("step", ""), labels.get("provider", ""), labels.get("rule", ""))] += int(sample.value)
    return dict(counts)


def render_invalid(counts: dict[tuple[str, str, str], int], rows: Sequence[StepReliability] = ()) -> str:
    """Which provider broke which rule of each step, how often ("" when none did); with
    `rows`, also as a share of the step's requests."""
    if not counts:
        return ""
    requests = {r.step: r.requests for r in rows}
    lines = [f"{'invalid outputs':<18} {'provider':<16} {'rule':<16} {'count':>6} {'of step':>8}"]
    for (step, provider, rule), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1], kv[0][2])):
        share = f"{n / requests[step]:>8.1%}" if requests.get(step) else f"{'-':>8}"
        lines.append(f"{step:<18} {provider:<16} {rule:<16} {n:>6} {share}")
    lines.append("invalid outputs: answers that broke a step's validators (each failed over, was flagged or failed the request, "
                 "as the step's on_invalid says); of step: per request of the step.")
    return "\n".join(lines)


def read_source(source: str) -> str:
    """The exposition text from a URL (http/https) or a file."""
    if source.startswith(("http://", "https://")):
        import urllib.request

        with urllib.request.urlopen(source, timeout=10) as resp:
            return resp.read().decode()
    with open(source, encoding="utf-8") as fh:
        return fh.read()

"""`crosswalk report`: the reliability of each step from what was observed: requests, the
share answered, answered by the first attempt, whose first attempt failed, answered after
failover and unanswered, the verified share and disagreement rate; for a pipeline named
with --pipeline, also the compounded end-to-end figure with and without failover (steps
observed together are not a pipeline unless the operator says they are); then which
provider's answers broke which of a step's validators, how often; what verification spent
per step (panel members and judge, in tokens); and the seams flagged between steps of one run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from crosswalk.policies.suggest import did_you_mean


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
    def rescued(self) -> int:
        """Requests whose first attempt failed and that a later attempt answered."""
        return max(0, self.served - self.first_try_ok)


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


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the step table: its header, what it measures (the legend), and how
    to read it from a row. A new figure is one more entry in `COLUMNS`."""

    header: str
    legend: str
    value: Callable[[StepReliability], str]


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


COLUMNS: tuple[Column, ...] = (
    Column("requests", "requests observed", lambda r: str(r.requests)),
    Column("answered", "share answered in the end (failover included)", lambda r: _share(r.served, r.requests)),
    Column("first attempt ok", "share answered by the first attempt (the reliability without failover)",
           lambda r: _share(r.first_try_ok, r.requests)),
    Column("first attempt failed", "share whose first attempt did not answer (what failover had to make up)",
           lambda r: _share(r.requests - r.first_try_ok, r.requests)),
    Column("answered after failover", "share whose first attempt failed and that a later attempt answered",
           lambda r: _share(r.rescued, r.requests)),
    Column("unanswered", "share that no attempt answered (the caller got an error)", lambda r: _share(r.requests - r.served, r.requests)),
    Column("verified", "share checked by a verification panel", lambda r: _share(r.verified, r.requests)),
    Column("disagreed", "share of verified requests whose panel disagreed (strong evidence of an error)",
           lambda r: _share(r.disagreed, r.verified)),
)


def render(rows: Sequence[StepReliability], pipeline: Iterable[str] | None = None) -> str:
    """The per-step table, the compounded figure of a named pipeline (product over its
    steps, in its own order; none without one) and a legend saying what each column
    measures. A pipeline step with no observed requests is a ValueError: its figure would
    be a guess."""
    sections = [step_table(rows), pipeline_line(rows, pipeline), legend(COLUMNS)]
    return "\n".join(s for s in sections if s)


def step_table(rows: Sequence[StepReliability], columns: Sequence[Column] = COLUMNS) -> str:
    """One line per step, one right-aligned column per `Column`, each as wide as its header."""
    width = max([4, *(len(r.step) for r in rows)])
    lines = ["  ".join([f"{'step':<{width}}", *(c.header for c in columns)])]
    for r in rows:
        lines.append("  ".join([f"{r.step:<{width}}", *(f"{c.value(r):>{len(c.header)}}" for c in columns)]))
    return "\n".join(lines)


def pipeline_line(rows: Sequence[StepReliability], pipeline: Iterable[str] | None) -> str:
    """A named pipeline's end-to-end figure with and without failover: the product of its
    steps' rates ("" without a pipeline)."""
    if pipeline is None:
        return ""
    by_step = {r.step: r for r in rows}
    names = list(pipeline)
    missing = [f"{n}{did_you_mean(n, by_step)}" for n in names if n not in by_step]
    if missing:
        raise ValueError(f"--pipeline: no requests observed for step(s) {', '.join(missing)} "
                         f"(observed: {', '.join(by_step) or 'none'})")
    if not names:
        return ""
    before = after = 1.0
    for name in names:
        before *= by_step[name].success_without_failover
        after *= by_step[name].success
    return (f"\npipeline {' -> '.join(names)}: end to end {after:.1%} answered with failover, "
            f"{before:.1%} by first attempts alone (product of the steps' observed rates)")


def legend(columns: Sequence[Column]) -> str:
    """What each column measures, one line each."""
    return "\n".join(["", *(f"{c.header}: {c.legend}" for c in columns)])


def _counts(text: str, family_name: str, labels: Sequence[str]) -> dict[tuple[str, ...], int]:
    """(label values...) -> count of one counter family, from exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for family in text_string_to_metric_families(text):
        if family.name != family_name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                counts[tuple(sample.labels.get(name, "") for name in labels)] += int(sample.value)
    return dict(counts)


def invalid_outputs(text: str) -> dict[tuple[str, str, str], int]:
    """(step, provider, rule) -> how many answers broke the rule, from exposition text."""
    return _counts(text, "crosswalk_invalid_outputs", ("step", "provider", "rule"))  # type: ignore[return-value]


def render_spend(text: str, rows: Sequence[StepReliability] = ()) -> str:
    """Verification spend per step: members asked and tokens of the panel members and the
    judge, in all and per verified request ("" when nothing was verified)."""
    tokens = _counts(text, "crosswalk_verification_tokens", ("step", "role", "kind"))
    asked = _counts(text, "crosswalk_panel_members_asked", ("step",))
    steps = sorted({k[0] for k in tokens} | {k[0] for k in asked})
    if not steps:
        return ""
    verified = {r.step: r.verified for r in rows}
    lines = [f"{'verification spend':<18} {'verified':>8} {'asked':>7} {'member tokens':>13} {'judge tokens':>12} {'tokens/verified':>15}"]
    for step in steps:
        member = sum(v for (s, role, _), v in tokens.items() if s == step and role == "member")
        judge = sum(v for (s, role, _), v in tokens.items() if s == step and role == "judge")
        n = verified.get(step, 0)
        per = f"{(member + judge) / n:>15.1f}" if n else f"{'-':>15}"
        lines.append(f"{step:<18} {n:>8} {asked.get((step,), 0):>7} {member:>13} {judge:>12} {per}")
    lines.append("verification spend: panel members asked and the tokens (prompt + completion, as the vendors' usage reported "
                 "them) of the members' answers and of the judge's calls; tokens/verified: per verified request.")
    return "\n".join(lines)


def render_seams(text: str) -> str:
    """Seams flagged between steps of one run, by the step that answered and the step that
    received a near miss ("" when none was)."""
    counts = _counts(text, "crosswalk_seam_flags", ("from_step", "to_step"))
    if not counts:
        return ""
    lines = [f"{'seams flagged':<18} {'to step':<18} {'count':>6}"]
    for (source, target), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"{source:<18} {target:<18} {n:>6}")
    lines.append("seams flagged: requests carrying a near miss (decimal dropped or moved, digits dropped or transposed, sign "
                 "lost, currency changed) of an amount an earlier step of the same run answered.")
    return "\n".join(lines)


def render_details(text: str, rows: Sequence[StepReliability]) -> str:
    """The sections after the step table: invalid outputs, verification spend, seams."""
    sections = [render_invalid(invalid_outputs(text), rows), render_spend(text, rows), render_seams(text)]
    return "".join(f"\n\n{s}" for s in sections if s)


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

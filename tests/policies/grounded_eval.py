"""Labelled cases of the `grounded: numbers` validator: load them, decide them as a step
would (the request built from the case, its context read by `policies.grounding`, the rule
built from a `validate:` item), and score them. A flag is a positive: precision is the
share of flagged answers that did state an amount the context lacks, recall the share of
such answers that were flagged. Printed per split (cal: written against; held: never tuned
on) by `.venv/bin/python tests/policies/agreement_eval.py`, or alone:

    .venv/bin/python tests/policies/grounded_eval.py [--wrong]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
GROUNDED_LABELLED = HERE / "grounded_labelled.yaml"


def labelled(path: Path = GROUNDED_LABELLED) -> list[dict[str, Any]]:
    """The labelled cases, in file order."""
    with path.open(encoding="utf-8") as fh:
        return list((yaml.safe_load(fh) or {}).get("grounded") or [])


def request_of(case: dict[str, Any]) -> dict[str, Any]:
    """The chat request a case stands for: system prompt, a tool result, the user's message."""
    messages: list[dict[str, Any]] = []
    if "system" in case:
        messages.append({"role": "system", "content": case["system"]})
    if "tool" in case:
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]})
        messages.append({"role": "tool", "tool_call_id": "call_1", "content": case["tool"]})
    messages.append({"role": "user", "content": case["user"]})
    return {"messages": messages}


def decide(case: dict[str, Any]) -> str:
    """'grounded' or 'ungrounded': the rule's verdict on the case's answer."""
    from crosswalk.policies.grounded_numbers import context_texts
    from crosswalk.policies.grounding import grounding_of
    from crosswalk.policies.schema import ValidatorSpec
    from crosswalk.policies.validators import validators_of

    item: dict[str, Any] = {"grounded": "numbers"}
    if case.get("derive"):
        item["derive"] = case["derive"]
    rules = validators_of([ValidatorSpec.model_validate(item)])
    assert rules is not None
    broken = rules.check(case["answer"], context=context_texts(grounding_of(request_of(case))))
    return "ungrounded" if broken else "grounded"


@dataclass
class Tally:
    """Flags (positives) against labels on one split."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / max(1, self.tp + self.fp + self.fn + self.tn)

    def line(self, name: str) -> str:
        n = self.tp + self.fp + self.fn + self.tn
        return (f"  {name:<16} {self.tp + self.tn:>4}/{n:<4} {100 * self.accuracy:5.1f} %   precision "
                f"{100 * self.precision:5.1f} % ({self.tp}/{self.tp + self.fp})  recall {100 * self.recall:5.1f} % "
                f"({self.tp}/{self.tp + self.fn})")


def score(cases: list[dict[str, Any]]) -> tuple[dict[str, Tally], list[str]]:
    """Per split a Tally, and a line for every wrong decision."""
    tallies: dict[str, Tally] = {}
    wrong: list[str] = []
    for case in cases:
        got, expect = decide(case), case["expect"]
        t = tallies.setdefault(case["split"], Tally())
        flagged, invented = got == "ungrounded", expect == "ungrounded"
        if flagged and invented:
            t.tp += 1
        elif flagged:
            t.fp += 1
        elif invented:
            t.fn += 1
        else:
            t.tn += 1
        if got != expect:
            wrong.append(f"  grounded_labelled.yaml:{case['id']}: expected {expect}, got {got}  ({case['why']})")
    return tallies, wrong


def report(*, show_wrong: bool = False) -> dict[str, Tally]:
    """Print the grounded-numbers figures per split; return them."""
    tallies, wrong = score(labelled())
    print(f"{GROUNDED_LABELLED}:")
    for split in ("cal", "held"):
        if split in tallies:
            print(tallies[split].line(f"grounded {split}"))
    if show_wrong and wrong:
        print("\n".join(wrong))
    return tallies


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    report(show_wrong="--wrong" in sys.argv[1:])

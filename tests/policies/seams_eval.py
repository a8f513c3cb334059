"""Labelled seams: decide each case as the router would, score each half.

A case is `{id, answered, received, expect: near_miss|fine, why}`: the amounts of
`answered` are what an earlier step of the run answered (step "earlier"), `received` is
a later step's request text. The rule (`policies.seams`) flags the case when any amount
received is a near miss of one answered. Precision and recall are of the flag.

    .venv/bin/python tests/policies/seams_eval.py [--wrong]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crosswalk.policies.seams import amount_tokens, check

LABELLED = Path(__file__).resolve().parent / "seams_labelled.yaml"
HALVES = ("tune", "held_out")


@dataclass(frozen=True)
class Score:
    """Counts of one half: true/false positives and negatives of the flag."""

    tp: int
    fp: int
    fn: int
    tn: int
    wrong: tuple[str, ...]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def cases(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def load(path: Path = LABELLED) -> dict[str, list[dict[str, Any]]]:
    """The labelled halves."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def decide(case: dict[str, Any]) -> list[str]:
    """The flags the rule raises on a case, described: what the router does, the answer's
    amount tokens kept, the later request checked against them."""
    earlier = [("earlier", token) for token in amount_tokens(case["answered"])]
    return [f.describe("later") for f in check(earlier, case["received"])]


def score(cases: list[dict[str, Any]]) -> Score:
    """Precision and recall counts over `cases`, with the ids of the wrong ones."""
    tp = fp = fn = tn = 0
    wrong = []
    for case in cases:
        flags = decide(case)
        corrupt = case["expect"] == "near_miss"
        if flags and corrupt:
            tp += 1
        elif flags:
            fp += 1
            wrong.append(f"{case['id']}: flagged a legitimate figure: {flags[0]}")
        elif corrupt:
            fn += 1
            wrong.append(f"{case['id']}: missed ({case['why']})")
        else:
            tn += 1
    return Score(tp, fp, fn, tn, tuple(wrong))


def main(argv: list[str]) -> int:
    halves = load()
    print(f"{'seams':<10} {'cases':>5} {'near misses':>11} {'precision':>9} {'recall':>7}")
    for half in HALVES:
        s = score(halves[half])
        print(f"{half:<10} {s.cases:>5} {s.tp + s.fn:>11} {s.precision:>9.1%} {s.recall:>7.1%}")
        if "--wrong" in argv:
            for line in s.wrong:
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

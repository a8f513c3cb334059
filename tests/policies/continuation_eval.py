"""Labelled continuations: feed each fallback's text to the seam rule word by word, as a
stream arrives, and score the verdict and the text the caller ends up with.

A case is right when the outcome is the labelled one and, unless it failed, the delivered
text plus what the rule lets through is exactly the whole answer. A wrong "resumed",
"trimmed" or "restarted" (a garbled answer passed as whole) is counted apart: it is the
one error that must not happen.

    .venv/bin/python tests/policies/continuation_eval.py [--wrong]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from crosswalk.policies.continuation import judge

LABELLED = Path(__file__).resolve().parent / "continuation_labelled.yaml"
PARTS = ("tune", "tune_2", "tune_3", "held_out", "held_out_2")


def load(path: Path = LABELLED) -> dict[str, list[dict[str, Any]]]:
    """The labelled parts: the tuned ones, held_out and held_out_2."""
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def pieces(text: str) -> list[str]:
    """The fallback's text in the pieces a vendor streams it in (a word with its leading space)."""
    return re.findall(r"\s*\S+", text) or [text]


def decide(delivered: str, fallback: str) -> tuple[str, str]:
    """The outcome and the text the caller ends up with, fed piece by piece."""
    held = ""
    for i, piece in enumerate([*pieces(fallback), ""]):
        held += piece
        seam = judge(delivered, held, ended=i == len(pieces(fallback)))
        if seam is not None:
            break
    assert seam is not None  # ended=True always decides
    if seam.outcome == "failed":
        return "failed", delivered
    return seam.outcome, delivered + fallback[seam.skip:]


def expected_whole(case: dict[str, Any]) -> str:
    if "whole" in case:
        return case["whole"]
    if case["expect"] == "restarted":
        return case["fallback"].lstrip()
    return case["delivered"] + case["fallback"]


def score(items: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """(right, unsafe, lines for the wrong ones)."""
    right = unsafe = 0
    wrong = []
    for case in items:
        outcome, text = decide(case["delivered"], case["fallback"])
        ok = outcome == case["expect"] and (outcome == "failed" or text == expected_whole(case))
        right += ok
        if not ok and outcome != "failed":
            unsafe += 1
        if not ok:
            wrong.append(f"  {case['id']}: expected {case['expect']}, got {outcome}: {text!r}")
    return right, unsafe, wrong


def main(argv: list[str]) -> int:
    parts = load()
    for part in PARTS:
        items = parts.get(part) or []
        right, unsafe, wrong = score(items)
        print(f"{part:10} {right}/{len(items)} right ({right / max(1, len(items)):.0%}), "
              f"{unsafe} garbled answers passed as whole")
        if "--wrong" in argv:
            print("\n".join(wrong))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

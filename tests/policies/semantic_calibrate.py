"""Calibrate the semantic comparator's threshold on the labelled set, with the local model.

For each pair of tests/policies/semantic_labelled.yaml the comparator (`embeddings: local`)
gives a fact verdict and a cosine. On the calibration half (`split: cal`, with the pairs of
../shared/agreement_examples.yaml when present) it prints the
accuracy at each threshold and picks the best (ties: the lowest); on the
held-out half it reports the accuracy at that threshold, and the same for the cosine
alone (`facts: false`), which is what the comparator was before fact checks:

    .venv/bin/python tests/policies/semantic_calibrate.py [--table] [--wrong]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEMANTIC_LABELLED = HERE / "semantic_labelled.yaml"
THRESHOLDS = [round(0.40 + 0.01 * i, 2) for i in range(56)]  # 0.40 .. 0.95


PUBLIC = REPO.parent / "shared" / "agreement_examples.yaml"


def labelled(path: Path = SEMANTIC_LABELLED) -> list[dict[str, Any]]:
    """The labelled pairs, in file order; the public examples' pairs (when the file is
    beside the checkout) join the calibration half: they are users' labels too."""
    with path.open(encoding="utf-8") as fh:
        pairs = list((yaml.safe_load(fh) or {}).get("semantic") or [])
    if path == SEMANTIC_LABELLED and PUBLIC.exists():
        with PUBLIC.open(encoding="utf-8") as fh:
            public = (yaml.safe_load(fh) or {}).get("semantic") or []
        pairs += [{**case, "split": "cal"} for case in public if len(case["answers"]) == 2]
    return pairs


def measure(pairs: list[dict[str, Any]], embedder: Any, *, facts: bool = True) -> list[tuple[dict[str, Any], Any]]:
    """(case, Verdict) for each pair: the comparator at threshold 1.0, so the verdict shows
    whether a fact decided and the cosine that a threshold would compare."""
    from crosswalk.policies.schema import VerifySpec
    from crosswalk.router.compare import comparator_for

    spec = VerifySpec(compare="semantic", embeddings="local", threshold=1.0, facts=facts)

    async def run() -> list[tuple[dict[str, Any], Any]]:
        comparator = comparator_for(spec, {"local": embedder}, {})
        return [(case, await comparator.verdict(*case["answers"][:2])) for case in pairs]  # type: ignore[attr-defined]

    return asyncio.run(run())


def decided(verdict: Any, threshold: float) -> str:
    """The panel's decision for a pair at `threshold`."""
    same = not verdict.by_fact and verdict.similarity is not None and verdict.similarity >= threshold
    return "agreed" if same else "disagreed"


def accuracy(rows: list[tuple[dict[str, Any], Any]], threshold: float) -> float:
    """Share of pairs decided as labelled."""
    return sum(decided(v, threshold) == c["expect"] for c, v in rows) / max(1, len(rows))


def best_threshold(rows: list[tuple[dict[str, Any], Any]]) -> float:
    """The threshold with the best accuracy on `rows`; ties: the lowest, since the fact
    checks, not the cosine, catch one-fact changes, and a lower bar keeps paraphrases together."""
    scores = [accuracy(rows, t) for t in THRESHOLDS]
    return next(t for t, s in zip(THRESHOLDS, scores) if s == max(scores))


def report(embedder: Any, *, table: bool = False, wrong: bool = False) -> dict[str, float]:
    """Print the calibration and held-out figures; return them."""
    pairs = labelled()
    figures: dict[str, float] = {}
    for facts in (True, False):
        rows = measure(pairs, embedder, facts=facts)
        cal = [r for r in rows if r[0]["split"] == "cal"]
        held = [r for r in rows if r[0]["split"] == "held"]
        chosen = best_threshold(cal)
        name = "facts + cosine" if facts else "cosine alone"
        if table:
            print(f"{name}: accuracy on the calibration half by threshold")
            print("  " + "  ".join(f"{t:.2f}:{accuracy(cal, t):.3f}" for t in THRESHOLDS[20:45]))
        false_agreements = sum(c["expect"] == "disagreed" and decided(v, chosen) == "agreed" for c, v in held)
        print(f"{name:<15} threshold {chosen:.2f}: calibration {accuracy(cal, chosen):6.1%} ({len(cal)} pairs), "
              f"held-out {accuracy(held, chosen):6.1%} ({len(held)} pairs, {false_agreements} false agreements), "
              f"all {accuracy(rows, chosen):6.1%}")
        figures[f"{'facts' if facts else 'cosine'}_threshold"] = chosen
        figures[f"{'facts' if facts else 'cosine'}_held"] = accuracy(held, chosen)
        if wrong and facts:
            for case, verdict in rows:
                if decided(verdict, chosen) != case["expect"]:
                    sim = f"{verdict.similarity:.3f}" if verdict.similarity is not None else "-"
                    why = verdict.reason if verdict.by_fact else f"cosine {sim} vs threshold {chosen:.2f}"
                    print(f"  {case['id']} [{case['split']}]: expected {case['expect']}; {why}")
    return figures


def main(argv: list[str]) -> int:
    """Run the calibration with the bundled model."""
    from crosswalk.providers.local_embeddings import LocalEmbedder

    report(LocalEmbedder(), table="--table" in argv, wrong="--wrong" in argv)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main(sys.argv[1:]))

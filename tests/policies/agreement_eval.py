"""Labelled agreement cases: load them, decide them as the verifier would, score them.

A case is `{id, answers, expect: agreed|disagreed, why, opts}` under a section named for
the comparator (numeric, json, normalized, ...). The decision groups the answers the way
`router.verify._Panel` does (each joins the first group whose first member it matches) and
says "agreed" when some group reaches the quorum of 2. A case with `split: cal|held` is
tallied per split (`numeric held`): the held part was never tuned on.

Print each comparator's accuracy on one or more files (default: the labelled sets beside
this file and ../shared/agreement_examples.yaml when present, then the `grounded: numbers`
validator's precision and recall, tests/policies/grounded_eval.py, and the seam rule's,
tests/policies/seams_eval.py: every verification figure from one command); semantic runs the
in-process all-MiniLM-L6-v2 (`embeddings: local`) at the default threshold:

    .venv/bin/python tests/policies/agreement_eval.py [FILE.yaml ...] [--wrong]
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LABELLED = HERE / "agreement_labelled.yaml"
TRAPS = HERE / "agreement_traps.yaml"  # split into cal / held: the held part is published
SEMANTIC_LABELLED = HERE / "semantic_labelled.yaml"
PUBLIC = REPO.parent / "shared" / "agreement_examples.yaml"
PURE = ("numeric", "json", "normalized")  # the comparators that need no model
MEASURED = (*PURE, "semantic")  # semantic runs the local model (the [local] extra)
QUORUM = 2


@functools.lru_cache(maxsize=1)
def local_embedder():  # type: ignore[no-untyped-def]
    """One in-process all-MiniLM-L6-v2 embedder for the whole run (the model loads once)."""
    from crosswalk.providers.local_embeddings import LocalEmbedder

    return LocalEmbedder()


class StoredVectors:
    """An embedder that answers from vectors stored in `path` (a JSON file of text -> vector,
    kept by pytest's cache between runs, never committed) and asks `inner` only for texts
    it has not seen: the semantic tests then load torch only when a labelled text changed.
    The file is keyed by the model's name, so another model starts it afresh."""

    def __init__(self, inner: Any, path: Path, *, model: str = "all-MiniLM-L6-v2") -> None:
        self.inner, self.path, self.model = inner, path, model
        self.name = getattr(inner, "name", "local")
        stored: dict[str, Any] = {}
        if path.exists():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:  # a torn write: start afresh
                stored = {}
        self.vectors: dict[str, list[float]] = stored.get("vectors", {}) if stored.get("model") == model else {}
        self.asked = 0  # texts the model was asked for this run

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.asked += len(missing)
            self.vectors.update(zip(missing, await self.inner.embed(missing)))
        return [self.vectors[t] for t in texts]

    def save(self) -> None:
        """Write the vectors back when the model was asked for any."""
        if self.asked:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"model": self.model, "vectors": self.vectors}), encoding="utf-8")


def semantic_available() -> bool:
    """True when the [local] extra is installed (semantic cases can be decided)."""
    from crosswalk.providers.local_embeddings import local_available

    return local_available()


def load(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The sections of a cases file: comparator name -> its cases."""
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def cases(path: Path, sections: tuple[str, ...] = PURE) -> Iterator[tuple[str, dict[str, Any]]]:
    """(comparator, case) for every case of the given sections, in file order."""
    for section, items in load(path).items():
        if section in sections:
            for case in items or ():
                yield section, case


def decide(compare: str, answers: list[str], opts: dict[str, Any] | None = None) -> str:
    """'agreed' or 'disagreed' for a panel's answers under quorum 2 of k."""
    from crosswalk.policies.schema import VerifySpec
    from crosswalk.router.compare import comparator_for

    opts = dict(opts or {})
    providers = {}
    if compare == "semantic":
        opts.setdefault("embeddings", "local")
        providers["local"] = local_embedder()
    spec = VerifySpec(compare=compare, **opts)
    comparator = comparator_for(spec, providers, {})

    async def grouped() -> list[list[int]]:
        groups: list[list[int]] = []
        for index, answer in enumerate(answers):
            for group in groups:
                if await comparator.same(answers[group[0]], answer):
                    group.append(index)
                    break
            else:
                groups.append([index])
        return groups

    groups = asyncio.run(grouped())
    return "agreed" if max(map(len, groups)) >= QUORUM else "disagreed"


def score(paths: list[Path], sections: tuple[str, ...] = PURE) -> tuple[dict[str, list[int]], list[str]]:
    """Per comparator [right, total], and a line for every wrong decision."""
    tally: dict[str, list[int]] = {}
    wrong: list[str] = []
    for path in paths:
        for section, case in cases(path, sections):
            got = decide(section, case["answers"], case.get("opts"))
            key = f"{section} {case['split']}" if "split" in case else section
            right = tally.setdefault(key, [0, 0])
            right[1] += 1
            if got == case["expect"]:
                right[0] += 1
            else:
                wrong.append(f"  {path.name}:{case['id']}: expected {case['expect']}, got {got}  ({case.get('why', '')})")
    return tally, wrong


def main(argv: list[str]) -> int:
    """Print the accuracy table (and with --wrong the misses) for the given files."""
    show_wrong = "--wrong" in argv
    names = [a for a in argv if a != "--wrong"]
    paths = [Path(n) for n in names] or [p for p in (LABELLED, TRAPS, PUBLIC, SEMANTIC_LABELLED) if p.exists()]
    sections = MEASURED if semantic_available() else PURE
    if not semantic_available():
        print("semantic: not measured (install the [local] extra for the local model)")
    for path in paths:
        tally, wrong = score([path], sections)
        print(f"{path}:")
        for key in sorted(tally, key=lambda k: (sections.index(k.split()[0]), k)):
            right, total = tally[key]
            print(f"  {key:<16} {right:>4}/{total:<4} {100 * right / total:5.1f} %")
        if show_wrong and wrong:
            print("\n".join(wrong))
    if not names:
        from tests.policies import seams_eval
        from tests.policies.grounded_eval import report

        report(show_wrong=show_wrong)
        seams_eval.main(["--wrong"] if show_wrong else [])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main(sys.argv[1:]))

"""Cost per comparison of the pure comparators, in microseconds (a table, no assertion on
time): numeric and json on typical answers, the old parser (git HEAD's regex) for scale,
and the libraries considered for numeric (measured when installed).

    .venv/bin/python -m pytest tests/perf/test_comparators_cost.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import importlib.util
import time
import timeit

import pytest
from typing import Callable

from crosswalk.policies.compare_json import json_differences
from crosswalk.policies.compare_numbers import numeric_equal
from crosswalk.policies.normalize import normalized_equal
from crosswalk.policies.numbers import read_numbers
from tests.perf.conftest import report

PAIRS = {
    "numeric, short amount": ("The refund is $42.99.", "Refund: 42.99 USD"),
    "numeric, EU vs US": ("Invoice total: 3.875,40 €", "Invoice total: €3,875.40"),
    "numeric, words + units": ("It weighs twenty kilograms and costs twelve dollars", "It weighs 20 kg and costs $12"),
    "numeric, 3 labelled": ("subtotal 40, tax 4, total 44", "total 44, subtotal 40, tax 4"),
    "numeric, 400-word answer": (("The quarter closed with revenue of $10.2M, up 12% since 2023. " * 40),
                                 ("The quarter closed with revenue of $10.2M, up 12% since 2023. " * 40)),
    "json, small object": ('{"guest": "Okafor", "nights": 3}', 'The booking is {"nights": 3, "guest": "Okafor"}.'),
    "json, 50 fields": (str({f"k{i}": i for i in range(50)}).replace("'", '"'),
                        str({f"k{i}": i for i in range(50)}).replace("'", '"')),
    "normalized, sentence": ("The capital of Turkey is Ankara.", "capital of turkey is ankara"),
}


def _micros(fn: Callable[[], object], number: int = 2000) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def test_comparator_cost_per_comparison() -> None:
    rows = []
    for name, (a, b) in PAIRS.items():
        kind = name.split(",")[0]
        compare = {"numeric": numeric_equal, "json": json_differences, "normalized": normalized_equal}[kind]
        number = 50 if "400-word" in name else 2000
        rows.append((name, f"{_micros(lambda: compare(a, b), number):8.1f} us"))
    rows.append(("read_numbers, one amount", f"{_micros(lambda: read_numbers('Total: $42.99')):8.1f} us"))
    report("comparators: cost per comparison (best of 5)", rows)


def test_library_cost_for_comparison() -> None:
    """What the libraries considered would cost per call (each does only part of the job)."""
    rows = []
    if importlib.util.find_spec("price_parser"):
        from price_parser import Price

        rows.append(("price-parser Price.fromstring", f"{_micros(lambda: Price.fromstring('Invoice total: 3.875,40 €')):8.1f} us"))
    if importlib.util.find_spec("word2number"):
        from word2number import w2n

        rows.append(("word2number word_to_num", f"{_micros(lambda: w2n.word_to_num('three hundred and sixty-five')):8.1f} us"))
    if importlib.util.find_spec("pint"):
        import pint

        start = timeit.default_timer()
        registry = pint.UnitRegistry()
        rows.append(("pint UnitRegistry() (first use)", f"{(timeit.default_timer() - start) * 1e6:8.0f} us"))
        rows.append(("pint Quantity(5, 'km').to('mile')", f"{_micros(lambda: registry.Quantity(5, 'km').to('mile'), 500):8.1f} us"))
    if not rows:
        rows.append(("(none of price-parser, word2number, pint installed)", ""))
    report("libraries considered (not dependencies)", rows)


SEMANTIC_PAIRS = {
    "paraphrase (cosine decides)": ("The library closes early on Fridays.", "On Fridays the library shuts earlier than usual."),
    "swapped roles (a fact decides)": ("Google acquired YouTube in 2006.", "YouTube acquired Google in 2006."),
    "two 120-word answers": (("The quarterly report shows revenue growth across every region. " * 15),
                             ("Revenue grew in each region, the quarterly report shows. " * 15)),
}


@pytest.mark.timeout(600)  # the model loads first (seconds; minutes on a loaded machine)
def test_semantic_local_cost_per_comparison() -> None:
    """Semantic with the in-process all-MiniLM-L6-v2, in milliseconds: warm (vectors cached
    per text, as within one request's panel), uncached (each comparison embeds both
    answers afresh: a new request), and the fact checks alone."""
    import asyncio

    from crosswalk.policies.facts import fact_mismatch
    from crosswalk.policies.schema import VerifySpec
    from crosswalk.providers.local_embeddings import LocalEmbedder, local_available
    from crosswalk.router.compare import comparator_for

    if not local_available():
        report("semantic, local model", [("(the [local] extra is not installed)", "")])
        return
    embedder = LocalEmbedder()
    embedder.embed_sync(["warm up the model"])  # the load (once per process) is not a comparison
    spec = VerifySpec(compare="semantic", embeddings="local")
    rows = []
    for name, (a, b) in SEMANTIC_PAIRS.items():
        comparator = comparator_for(spec, {"local": embedder}, {})

        async def many(n: int) -> float:
            await comparator.same(a, b)  # fills the per-request vector cache
            start = time.perf_counter()
            for _ in range(n):
                await comparator.same(a, b)
            return (time.perf_counter() - start) / n * 1000

        warm = min(asyncio.run(many(50)) for _ in range(3))

        def uncached() -> None:
            embedder.embed_sync_uncached(a)
            embedder.embed_sync_uncached(b)
            fact_mismatch(a, b)

        cold = min(timeit.repeat(uncached, number=3, repeat=3)) / 3 * 1000
        facts = _micros(lambda: fact_mismatch(a, b), 100) / 1000
        rows.append((name, f"warm {warm:7.3f} ms   uncached {cold:7.2f} ms   facts alone {facts:6.3f} ms"))
    report("semantic, local model: cost per comparison (best of 3)", rows)

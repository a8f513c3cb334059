"""What output validators cost: each rule's check on typical answers (microseconds per
check), and a step with validators against the same step without, side by side in one
run on a zero-latency simulated vendor (router time per request and the ratio). Tables,
no assertion on time.

    .venv/bin/python -m pytest tests/perf/test_validators_cost.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import time
import timeit
from decimal import Decimal
from typing import Callable

from crosswalk import Router
from crosswalk.policies.parse import parse_config
from crosswalk.policies.grounded_numbers import GroundedRule
from crosswalk.policies.validators import MaxCharsRule, NumberRule, RegexRule, SchemaRule
from tests.perf.conftest import report

PROSE = "Premium: $840 per year for home policy P-77 ($300,000 cover), payable monthly."
JSON = '{"premium": 840, "currency": "USD", "cover": 300000, "policy": "P-77"}'
SCHEMA = {"type": "object", "required": ["premium", "currency"],
          "properties": {"premium": {"type": "number", "minimum": 0}, "currency": {"enum": ["USD", "EUR"]}}}
# a tool result with a dozen amounts: what a grounded answer is traced to
CONTEXT = ["policy P-77: home, cover $300,000, premium $840 per year, excess $500, contents $45,000, "
           "discount 10%, tax 4.5%, fees $25 and $12.50, 2 claims in 2023, no-claims bonus 15%, term 12 months",
           "Quote the yearly premium."]
INVENTED = "Premium: $870 per year, $72.50 per month, with a 12% discount and $48,000 contents cover."
ALL = frozenset({"sum", "product", "percent", "units"})
CASES: dict[str, tuple[Callable[[str], object], str]] = {
    "schema, small object": (SchemaRule("s", SCHEMA).check, JSON),
    "schema, object in prose": (SchemaRule("s", SCHEMA).check, f"Here is the quote: {JSON} Thanks."),
    "number, JSON field": (NumberRule("n", Decimal(100), Decimal(5000), "premium").check, JSON),
    "number, labelled in prose": (NumberRule("n", Decimal(100), Decimal(5000), "premium").check, PROSE),
    "number, first amount": (NumberRule("n", Decimal(100), Decimal(5000)).check, PROSE),
    "number, 400-word answer": (NumberRule("n", Decimal(100), Decimal(5000), "premium").check, (PROSE + " ") * 30),
    "regex": (RegexRule("r", r"(?i)\bper (year|annum)\b").check, PROSE),
    "max_chars": (MaxCharsRule("m", 400).check, PROSE),
    "grounded, restated": (lambda text: GroundedRule("g").check(text, CONTEXT), PROSE),
    "grounded, derive all, invented": (lambda text: GroundedRule("g", ALL).check(text, CONTEXT), INVENTED),
}


def _micros(fn: Callable[[], object], number: int = 2000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def test_cost_per_check() -> None:
    rows = []
    for name, (check, text) in CASES.items():
        number = 20 if "400-word" in name or name.startswith("grounded") else 300 if name.startswith(("number", "schema")) else 2000
        rows.append((name, f"{_micros(lambda: check(text), number):8.1f} us"))
    report("validators: cost per check (best of 5)", rows)


CONFIG = """
providers:
  sim: {kind: simulated, model: m, simulate: {latency_ms: 0, jitter_ms: 0, ttft_ms: 0, answer: "%s"}}
steps:
  plain: {providers: [sim]}
  validated:
    providers: [sim]
    validate:
      - {name: premium-band, number: {field: premium, min: 100, max: 5000}}
      - {regex: 'per year'}
      - {max_chars: 400}
""" % PROSE


async def _per_request(router: Router, step: str, n: int) -> float:
    messages = [{"role": "user", "content": "Quote the yearly premium."}]
    for _ in range(50):
        await router.acompletion(step=step, messages=messages)
    t0 = time.perf_counter()
    for _ in range(n):
        await router.acompletion(step=step, messages=messages)
    return (time.perf_counter() - t0) / n


def test_validated_step_against_the_same_step_without() -> None:
    async def run() -> list[tuple[str, str]]:
        router = Router(parse_config(CONFIG, env={}))
        plain, checked = [], []
        for _ in range(5):  # interleaved rounds: both sides see the same machine load
            plain.append(await _per_request(router, "plain", 400))
            checked.append(await _per_request(router, "validated", 400))
        await router.aclose()
        p, c = min(plain), min(checked)
        return [("plain step", f"{p * 1e6:8.1f} us/request"), ("3 validators", f"{c * 1e6:8.1f} us/request"),
                ("validators add", f"{(c - p) * 1e6:8.1f} us/request ({c / p:.2f}x)")]

    report("SDK request on a zero-latency simulated vendor (best of 5 rounds of 400)", asyncio.run(run()))

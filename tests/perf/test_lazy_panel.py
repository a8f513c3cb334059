"""Lazy against eager verification panels, in one run, on a labelled mix of agreeing and
disagreeing cases: upstream calls, tokens and latency per verified request.

A 2-of-3 numeric panel over three simulated vendors (a 30 ms, b 40 ms, c 60 ms, seeded
jitter). 30 cases where every member answers the same amount, 10 where one of the two
best-ranked members answers another (5 where b dissents, 5 where a does). Eager asks all
three at once and cancels the third once two agree; lazy asks a and b, and c only when they
split. Tokens are counted two ways: as the answers' `usage` reports them (a cancelled call
reports nothing), and as billed (every call sent, in full: a vendor bills a request it
already started even if the caller hangs up). The verdicts must be the same in both modes."""

from __future__ import annotations

import asyncio
import statistics
import time

from crosswalk import Router
from crosswalk.policies.parse import parse_config
from tests.perf.conftest import report

AGREEING, DISAGREEING = 30, 10


def _cases() -> list[tuple[str, str]]:
    """(message, expected decision) for the labelled mix."""
    cases = [(f"agree-{i}: what is the refund for order {1000 + i}?", "agreed") for i in range(AGREEING)]
    cases += [(f"split-b-{i}: what is the refund for order {2000 + i}?", "agreed") for i in range(DISAGREEING // 2)]
    cases += [(f"split-a-{i}: what is the refund for order {3000 + i}?", "agreed") for i in range(DISAGREEING // 2)]
    return cases


def _router(lazy: bool) -> Router:
    wrong = {f"split-a-{i}": "Refund: $4,299.00" for i in range(DISAGREEING // 2)}
    wrong_b = {f"split-b-{i}": "Refund: $4,299.00" for i in range(DISAGREEING // 2)}

    def vendor(name: str, ms: int, answers: dict[str, str]) -> str:
        table = ", ".join(f'"{k}": "{v}"' for k, v in answers.items())
        return (f'  {name}: {{kind: simulated, model: m-{name}, vendor: v{name}, family: f{name}, '
                f'simulate: {{latency_ms: {ms}, jitter_ms: 5, seed: {ms}, answer: "Refund: $42.99", answers: {{{table}}}}}}}')

    return Router(parse_config("\n".join([
        "providers:", vendor("a", 30, wrong), vendor("b", 40, wrong_b), vendor("c", 60, {}),
        "steps:",
        f"  refund: {{providers: [a, b, c], verify: {{agree: {{min: 2, of: 3}}, compare: numeric, lazy: {str(lazy).lower()}}}}}",
    ]), env={}))


def _billed(message: str, answer: str) -> int:
    """What one call costs in the simulated vendors' token count (words in, words out)."""
    return len(message.split()) + len(answer.split())


async def _run(lazy: bool) -> dict[str, float]:
    router = _router(lazy)
    calls, reported, billed, latencies, decisions = 0, 0, 0, [], []
    try:
        await router.acompletion(step="refund", messages=[{"role": "user", "content": "warm-up"}])  # imports, connections
        await asyncio.sleep(0.07)
        for message, expected in _cases():
            before = {n: p.calls for n, p in router.providers.items()}  # type: ignore[attr-defined]
            started = time.perf_counter()
            resp = await router.acompletion(step="refund", messages=[{"role": "user", "content": message}])
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.07)  # let a cancelled member's task unwind before counting
            for name, provider in router.providers.items():
                made = provider.calls - before[name]  # type: ignore[attr-defined]
                calls += made
                billed += made * _billed(message, provider._answer_to([{"role": "user", "content": message}]))  # type: ignore[attr-defined]
            reported += resp.usage.total_tokens
            decisions.append(resp.crosswalk.agreement.decision == expected)
    finally:
        await router.aclose()
    n = len(latencies)
    return {"calls": calls / n, "reported": reported / n, "billed": billed / n, "p50": statistics.median(latencies) * 1000,
            "mean": statistics.fmean(latencies) * 1000, "right": sum(decisions) / n}


def test_lazy_panel_costs_less_than_eager() -> None:
    eager = asyncio.run(_run(lazy=False))
    lazy = asyncio.run(_run(lazy=True))
    rows = []
    for key, label in (("calls", "upstream calls / verified request"), ("reported", "tokens reported by usage / request"),
                       ("billed", "tokens billed (every call sent) / request"), ("p50", "latency p50 ms"),
                       ("mean", "latency mean ms"), ("right", "verdicts as labelled")):
        rows.append((label, f"eager {eager[key]:8.2f}   lazy {lazy[key]:8.2f}   lazy/eager {lazy[key] / eager[key]:.2f}"))
    report(f"lazy vs eager 2-of-3 panel: {AGREEING} agreeing + {DISAGREEING} disagreeing cases", rows)
    assert eager["right"] == lazy["right"] == 1.0  # the same verdicts
    assert lazy["calls"] < eager["calls"] and lazy["billed"] < eager["billed"]

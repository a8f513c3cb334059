"""SDK call through the router vs a raw client call to the same loopback upstream, in one
run: sequential and at concurrency 32. Target: router <= 1.3x the raw call."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from crosswalk.policies.parse import parse_config
from crosswalk import Router

MESSAGES = [{"role": "user", "content": "What is the refund for order 1182?"}]
ROUNDS = 5
SEQ_CALLS = 400  # per round
CONC_CALLS = 1600  # per round
CONCURRENCY = 32


def _config(url: str):
    return parse_config(
        f"""
providers:
  bench: {{kind: openai, model: bench-model, base_url: "{url}", api_key: sk-bench}}
steps:
  s: {{providers: [bench]}}
""",
        env={},
    )


async def _seq(call, n: int) -> float:
    for _ in range(50):
        await call()
    t0 = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - t0) / n


async def _conc(call, n: int, width: int) -> float:
    async def worker(k: int) -> None:
        for _ in range(k):
            await call()

    await asyncio.gather(*(worker(10) for _ in range(width)))
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n // width) for _ in range(width)))
    return (time.perf_counter() - t0) / n


async def _measure(upstream_url: str) -> dict[str, dict[str, float]]:
    import aiohttp
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    payload = {"model": "bench-model", "messages": MESSAGES}
    url = upstream_url + "/chat/completions"
    headers = {"authorization": "Bearer sk-bench"}

    async def raw_aiohttp():
        async with session.post(url, json=payload, headers=headers) as resp:
            return ChatCompletion.model_validate(await resp.json())

    client = AsyncOpenAI(base_url=upstream_url, api_key="sk-bench", max_retries=0)

    async def raw_openai():
        return await client.chat.completions.create(model="bench-model", messages=MESSAGES)

    router = Router(_config(upstream_url))

    async def via_router():
        return await router.acompletion(step="s", messages=MESSAGES)

    assert (await via_router()).model == "bench"
    calls = {"aiohttp+types": raw_aiohttp, "openai client": raw_openai, "crosswalk router": via_router}
    out: dict[str, dict[str, float]] = {name: {} for name in calls}
    for _ in range(ROUNDS):  # interleave rounds so drift hits every contender alike
        for name, call in calls.items():
            out[name].setdefault("seq", []).append(await _seq(call, SEQ_CALLS))  # type: ignore[union-attr]
            out[name].setdefault("conc", []).append(await _conc(call, CONC_CALLS, CONCURRENCY))  # type: ignore[union-attr]
    await router.aclose()
    await client.close()
    await session.close()
    return {name: {k: statistics.median(v) for k, v in d.items()} for name, d in out.items()}  # type: ignore[arg-type]


@pytest.mark.timeout(600)
def test_router_overhead_vs_raw_client(upstream_url):
    from tests.perf.conftest import report

    res = asyncio.run(_measure(upstream_url))
    rows = []
    for mode in ("seq", "conc"):
        for name, d in res.items():
            rows.append((f"{mode} {name}", f"{d[mode] * 1e6:8.0f} us/call"))
    raw, sdk, r = res["aiohttp+types"], res["openai client"], res["crosswalk router"]
    ratios = {
        "router / aiohttp+types, sequential": r["seq"] / raw["seq"],
        "router / aiohttp+types, concurrency 32": r["conc"] / raw["conc"],
        "router / openai client, sequential": r["seq"] / sdk["seq"],
        "router / openai client, concurrency 32": r["conc"] / sdk["conc"],
    }
    rows += [(k, f"{v:.2f}x") for k, v in ratios.items()]
    report("SDK overhead (loopback upstream in its own process)", rows)
    assert ratios["router / aiohttp+types, sequential"] <= 1.3
    assert ratios["router / aiohttp+types, concurrency 32"] <= 1.3

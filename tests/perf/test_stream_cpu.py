"""The proxy's CPU per streamed chunk, for long (200-chunk) answers, side by side in one run
with a bare aiohttp pass-through streaming the same upstream (the Python floor).

CPU, not wall time: the upstream and the load generator run on CPU 0, each proxy on CPU 1,
and the figure is the proxy process's own user + system time (from /proc) over the chunks
it forwarded. Rounds are interleaved and the best of each is kept. A long streamed answer
spends most of its proxy cost here, so mid-stream recovery's bookkeeping must not raise it.

With CROSSWALK_BENCH_BASELINE=<commit> (say `HEAD~3`), that commit's `crosswalk serve`
runs too, in the same rounds, for the ratio of this tree to it:

    CROSSWALK_BENCH_BASELINE=HEAD~3 .venv/bin/python -m pytest -n 0 -s tests/perf/test_stream_cpu.py"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.perf.conftest import free_port, pinned, report, source_tree
from tests.perf.test_proxy_throughput import _wait_http

HERE = Path(__file__).parent
CHUNKS = 200
REQUESTS = 60
IN_FLIGHT = 6
ROUNDS = 3
KEY = "bench-key"


def _cpu_s(pid: int) -> float:
    """CPU seconds of process `pid` so far, summed over its threads: the scheduler's
    nanosecond run time (/proc/PID/task/*/schedstat), not /proc/PID/stat's 10 ms ticks,
    which are too coarse for a C proxy's few milliseconds per round."""
    return sum(int((task / "schedstat").read_text().split()[0]) for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9


async def _drive(url: str, model: str, split: bool) -> int:
    """REQUESTS streamed answers, IN_FLIGHT at a time; returns the content chunks received.
    With `split`, the upstream writes each event on its own (see upstream.py)."""
    body = {"model": model, "stream": True, "bench_chunks": CHUNKS, "bench_split": split,
            "messages": [{"role": "user", "content": "Write at length."}]}
    headers = {"authorization": f"Bearer {KEY}"}
    left, received = REQUESTS, 0
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal left, received
            while left > 0:
                left -= 1
                async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as resp:
                    assert resp.status == 200, await resp.text()
                    data = await resp.read()
                assert data.endswith(b"data: [DONE]\n\n"), data[-200:]
                received += data.count(b'"content": " word') + data.count(b'"content":" word')

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return received


def _us_per_chunk(pid: int, url: str, model: str, *, split: bool = False) -> float:
    cpu = _cpu_s(pid)
    received = asyncio.run(_drive(url, model, split))
    used = _cpu_s(pid) - cpu
    assert received == REQUESTS * CHUNKS
    return used / received * 1e6


@pytest.mark.timeout(600)
def test_stream_cpu_per_chunk_vs_passthrough(upstream_url, tmp_path):
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pt_port = free_port()
        passthrough = subprocess.Popen(pinned([sys.executable, str(HERE / "passthrough.py"), str(pt_port), upstream_url], 1))
        procs.append(passthrough)
        cfg = tmp_path / "stream.yaml"
        cfg.write_text(f"""
providers:
  up: {{kind: openai, model: bench-model, base_url: "{upstream_url}", api_key: sk-up}}
steps:
  long: {{providers: [up]}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0}}
""")
        cw_port = free_port()
        cw = subprocess.Popen(pinned([sys.executable, "-m", "crosswalk.router.cli", "serve", "--config", str(cfg), "--port", str(cw_port)], 1),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(cw)
        _wait_http(f"http://127.0.0.1:{cw_port}/healthz")
        _wait_http(f"http://127.0.0.1:{pt_port}/v1/chat/completions")
        targets = {
            "bare aiohttp pass-through": (passthrough.pid, f"http://127.0.0.1:{pt_port}", "bench-model"),
            "crosswalk serve": (cw.pid, f"http://127.0.0.1:{cw_port}", "long"),
        }
        baseline = os.environ.get("CROSSWALK_BENCH_BASELINE")
        if baseline:
            tree = source_tree(baseline, tmp_path / "baseline")
            base_port = free_port()
            base = subprocess.Popen(pinned([sys.executable, "-m", "crosswalk.router.cli", "serve", "--config", str(cfg), "--port", str(base_port)], 1),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tree,
                                    env={**os.environ, "PYTHONPATH": str(tree)})
            procs.append(base)
            _wait_http(f"http://127.0.0.1:{base_port}/healthz")
            targets[f"crosswalk serve at {baseline}"] = (base.pid, f"http://127.0.0.1:{base_port}", "long")
        for pid, url, model in targets.values():  # warm-up: imports, connection pools
            _us_per_chunk(pid, url, model)
        best: dict[str, float] = {}
        t0 = time.perf_counter()
        for _ in range(ROUNDS):
            for name, (pid, url, model) in targets.items():
                best[name] = min(best.get(name, float("inf")), _us_per_chunk(pid, url, model))
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    ratio = best["crosswalk serve"] / best["bare aiohttp pass-through"]
    rows = [(name, f"{us:7.1f} us CPU per chunk") for name, us in best.items()]
    rows += [("crosswalk / pass-through (CPU per chunk)", f"{ratio:.2f}x")]
    rows += [(f"this tree / {name.removeprefix('crosswalk serve at ')} (CPU per chunk)", f"{best['crosswalk serve'] / us:.2f}x")
             for name, us in best.items() if name.startswith("crosswalk serve at ")]
    rows += [
             ("measured", f"{ROUNDS} rounds x {REQUESTS} answers x {CHUNKS} chunks, {IN_FLIGHT} in flight, {wall:.1f} s")]
    report(f"proxy CPU per streamed chunk, {CHUNKS}-chunk answers", rows)
    assert best["crosswalk serve"] > 0 and best["bare aiohttp pass-through"] > 0

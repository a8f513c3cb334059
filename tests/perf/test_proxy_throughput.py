"""Proxy throughput and latency with wrk (16 connections, non-streaming), side by side in
one run against the same loopback upstream: direct, a bare aiohttp pass-through proxy (the
Python floor), Crosswalk healthy, and Crosswalk with its first provider ejected. Also the
proxy's start-up time and idle memory with openai-kind providers only.

Targets: Crosswalk >= 0.8x the pass-through; ejected path >= 0.9x the healthy path;
start-up <= 1.5 s; idle RSS <= 100 MB."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.perf.conftest import free_port, pinned, report
from tests.perf.wrk import CONNECTIONS, DURATION_S
from tests.perf.wrk import wait_http as _wait_http
from tests.perf.wrk import wrk as _wrk

HERE = Path(__file__).parent
LITELLM_PROXY_REQ_S = 35.0  # ANCHORS.md: LiteLLM proxy 1.108, 1 worker, this machine class
LITELLM_BIN = Path(os.environ.get("CROSSWALK_BENCH_LITELLM", HERE.parents[1] / ".bench" / "litellm" / "bin" / "litellm"))
LITELLM_KEY = "sk-bench-master-key-0123456789"


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (make bench installs it)")
def test_proxy_throughput_vs_passthrough(upstream_url, tmp_path):
    procs = []
    try:
        pt_port = free_port()
        procs.append(subprocess.Popen(pinned([sys.executable, str(HERE / "passthrough.py"), str(pt_port), upstream_url], 1)))
        cfg = tmp_path / "bench.yaml"
        dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: connection refused
        cfg.write_text(f"""
providers:
  up: {{kind: openai, model: bench-model, base_url: "{upstream_url}", api_key: sk-up}}
  dead: {{kind: openai, model: bench-model, base_url: "{dead}", api_key: sk-dead, vendor: deadco}}
steps:
  healthy: {{providers: [up]}}
  failover: {{providers: [dead, up]}}
proxy: {{api_keys: [bench-key], drain_s: 0}}
health: {{ejection_base_s: 300, ejection_max_s: 300}}
""")
        cw_port = free_port()
        t0 = time.perf_counter()
        cw = subprocess.Popen(pinned([sys.executable, "-m", "crosswalk.router.cli", "serve", "--config", str(cfg), "--port", str(cw_port)], 1),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(cw)
        _wait_http(f"http://127.0.0.1:{cw_port}/healthz")
        startup = time.perf_counter() - t0
        idle_rss = _rss_mb(cw.pid)
        _wait_http(f"http://127.0.0.1:{pt_port}/v1/chat/completions")
        # Eject 'dead' before measuring the failover path: 5 connection failures.
        for _ in range(6):
            req = urllib.request.Request(f"http://127.0.0.1:{cw_port}/v1/chat/completions", method="POST",
                                         data=json.dumps({"model": "failover", "messages": [{"role": "user", "content": "x"}]}).encode(),
                                         headers={"authorization": "Bearer bench-key", "content-type": "application/json"})
            urllib.request.urlopen(req, timeout=10).read()
        results = {}
        base = upstream_url.rsplit("/v1", 1)[0]
        for _ in range(3):  # interleaved rounds; keep the best of each
            for name, url, model in (
                ("direct to upstream", base, "bench-model"),
                ("bare aiohttp pass-through", f"http://127.0.0.1:{pt_port}", "bench-model"),
                ("crosswalk, healthy", f"http://127.0.0.1:{cw_port}", "healthy"),
                ("crosswalk, first provider ejected", f"http://127.0.0.1:{cw_port}", "failover"),
            ):
                r = _wrk(url, model, tmp_path)
                if name not in results or r["rps"] > results[name]["rps"]:
                    results[name] = r
        loaded_rss = _rss_mb(cw.pid)
        litellm = _litellm_proxy(upstream_url, tmp_path, procs)
        if litellm is not None:
            results["LiteLLM proxy (1 worker, same upstream)"] = litellm
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    rows = [(n, f"{r['rps']:8.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms") for n, r in results.items()]
    cw_h, cw_f = results["crosswalk, healthy"], results["crosswalk, first provider ejected"]
    pt, direct = results["bare aiohttp pass-through"], results["direct to upstream"]
    ratios = {
        "crosswalk / pass-through (throughput)": cw_h["rps"] / pt["rps"],
        "crosswalk ejected path / healthy path": cw_f["rps"] / cw_h["rps"],
    }
    measured = results.get("LiteLLM proxy (1 worker, same upstream)")
    if measured is not None:
        ratios["crosswalk / LiteLLM proxy, measured in this run"] = cw_h["rps"] / measured["rps"]
    else:
        ratios["crosswalk / LiteLLM proxy (35 req/s from ANCHORS.md; not installed here)"] = cw_h["rps"] / LITELLM_PROXY_REQ_S
    rows += [(k, f"{v:.2f}x") for k, v in ratios.items()]
    rows += [
        ("added latency vs direct, p50 / p99", f"{cw_h['p50_ms'] - direct['p50_ms']:.2f} ms / {cw_h['p99_ms'] - direct['p99_ms']:.2f} ms"),
        ("start-up to /healthz", f"{startup:.2f} s"),
        ("RSS idle / after load", f"{idle_rss:.0f} MB / {loaded_rss:.0f} MB"),
    ]
    report(f"proxy, wrk -c{CONNECTIONS} -d{DURATION_S}s, non-streaming", rows)
    assert ratios["crosswalk / pass-through (throughput)"] >= 0.8
    assert ratios["crosswalk ejected path / healthy path"] >= 0.9
    assert startup <= 1.5
    assert idle_rss <= 100


def _litellm_proxy(upstream_url: str, tmp: Path, procs: list[subprocess.Popen[bytes]]) -> dict[str, float] | None:
    """The LiteLLM proxy (1 worker) on the same upstream, when `make bench` installed it
    into .bench/litellm (or CROSSWALK_BENCH_LITELLM names its binary)."""
    if not LITELLM_BIN.exists():
        return None
    cfg = tmp / "litellm.yaml"
    cfg.write_text(
        "model_list:\n  - model_name: bench-model\n    litellm_params:\n"
        f"      model: openai/bench-model\n      api_base: {upstream_url}\n      api_key: sk-up\n"
        "litellm_settings:\n  num_retries: 0\n"
    )
    port = free_port()
    env = {**os.environ, "LITELLM_MASTER_KEY": LITELLM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.Popen(pinned([str(LITELLM_BIN), "--config", str(cfg), "--port", str(port), "--num_workers", "1"], 1),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    procs.append(proc)
    _wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=120)
    return _wrk(f"http://127.0.0.1:{port}", "bench-model", tmp, key=LITELLM_KEY)

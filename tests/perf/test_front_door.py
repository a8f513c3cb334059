"""The sidecar's HTTP front door against nginx (issue 20), side by side in one run: nginx
pass-through, a bare aiohttp pass-through, the floor of a Python proxy (floor.py: httptools and
Crosswalk's own upstream client with no logic, on asyncio's loop and on uvloop), Crosswalk from this tree and
Crosswalk at a baseline commit built side by side (CROSSWALK_BENCH_BASELINE, default the
previous commit, HEAD~1).

Two figures, each as a ratio to nginx:
- req/s, non-streamed, 2 ranked providers: each proxy pinned to CPU 1; wrk (16 connections)
  and a fast upstream (nginx answering from memory, so the upstream is not the limit) on CPU 0.
- CPU per streamed chunk (200-chunk answers from upstream.py, one write per event as a vendor
  sends tokens; what arrives together is up to the network): the proxy process's own CPU time
  over the chunks it relayed (tests/perf/test_stream_cpu).

Issue 20's targets (>= 0.7x nginx's req/s, <= 1.5x nginx's CPU per chunk) are printed as met or
not; the test fails when this tree is slower than the baseline (a regression), not on them."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.perf import nginx
from tests.perf.conftest import free_port, pinned, report, source_tree, wait_port
from tests.perf.test_proxy_throughput import _rss_mb
from tests.perf.test_stream_cpu import KEY, _us_per_chunk
from tests.perf.wrk import CONNECTIONS, DURATION_S, wait_http, wrk

HERE = Path(__file__).parent
DEFAULT_CONFIG = HERE.parents[1] / "config" / "default.yaml"
ROUNDS = 2  # interleaved; the best of each is kept
THROUGHPUT_TARGET, CPU_TARGET = 0.7, 1.5  # issue 20, "Must hold" 1
STARTUP_TARGET_S, RSS_TARGET_MB = 0.5, 60  # issue 20, "Must hold" 5
# This tree against the baseline: on this 2-core machine shared with other jobs, two runs of
# the same tree differ by up to about 17 %, so only a larger loss fails.
NO_REGRESSION = 0.75


def _crosswalk(cfg: Path, tree: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`crosswalk serve` from the sources in `tree` (conftest.source_tree) on CPU 1, once
    /healthz answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(pinned([sys.executable, "-m", "crosswalk.router.cli", "serve", "--config", str(cfg), "--port", str(port)], 1),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tree, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz")
    return proc, url


def _startup_and_idle_rss(tmp: Path, trees: dict[str, Path], starts: int = 8) -> dict[str, tuple[float, float]]:
    """Per source tree (conftest.source_tree): seconds from spawning `crosswalk serve --config
    config/default.yaml` (on CPU 1) to a 200 from /readyz, and its RSS in MB a second later;
    medians of `starts` fresh processes, the trees taking turns, after one each that fills
    its bytecode cache. Cached bytecode is how an installed Crosswalk starts (pip compiles
    on install); with PYTHONDONTWRITEBYTECODE and no .pyc, every start compiles some 250
    modules and took twice as long here."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[float]] = {name: [] for name in trees}
    rss: dict[str, list[float]] = {name: [] for name in trees}
    for round_ in range(starts + 1):
        for i, (name, tree) in enumerate(trees.items()):
            # beside the test, never into the venv
            env = {**base, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(tmp / f"pycache-{i}")}
            port = free_port()
            t0 = time.perf_counter()
            proc = subprocess.Popen(pinned([sys.executable, "-m", "crosswalk.router.cli", "serve", "--config", str(DEFAULT_CONFIG),
                                            "--port", str(port)], 1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=env, cwd=tree)
            try:
                while True:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                            if resp.status == 200:
                                break
                    except OSError:
                        time.sleep(0.005)
                    assert time.perf_counter() - t0 < 30, "crosswalk serve never became ready"
                if round_:  # the first start of each tree fills its bytecode cache
                    times[name].append(time.perf_counter() - t0)
                    if round_ <= 3:
                        time.sleep(1)
                        rss[name].append(_rss_mb(proc.pid))
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    return {name: (statistics.median(times[name]), statistics.median(rss[name])) for name in trees}


def _config(tmp: Path, fast: list[int], stream_upstream: str) -> Path:
    cfg = tmp / "front-door.yaml"
    cfg.write_text(f"""
providers:
  first: {{kind: openai, model: bench-model, base_url: "http://127.0.0.1:{fast[0]}/v1", api_key: sk-up}}
  second: {{kind: openai, model: bench-model, base_url: "http://127.0.0.1:{fast[1]}/v1", api_key: sk-up, vendor: otherco}}
  streamer: {{kind: openai, model: bench-model, base_url: "{stream_upstream}", api_key: sk-up}}
steps:
  ranked: {{providers: [first, second]}}
  long: {{providers: [streamer]}}
proxy: {{api_keys: [{KEY}], drain_s: 0}}
health: {{probe_interval_s: 0}}
""")
    return cfg


@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("wrk") is None or not Path(nginx.NGINX).exists(),
                    reason="wrk or nginx not installed (make bench installs both)")
def test_front_door_vs_nginx(upstream_url, tmp_path):
    baseline = os.environ.get("CROSSWALK_BENCH_BASELINE", "HEAD~1")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fast = [free_port(), free_port()]
        procs.append(nginx.fast_upstream(tmp_path / "nginx-upstream", fast))
        ng_port, ng_stream_port = free_port(), free_port()
        upstream_host = upstream_url.split("//")[1].split("/")[0]
        ng = nginx.pass_through(tmp_path / "nginx-proxy", port=ng_port, ranked=[f"127.0.0.1:{p}" for p in fast],
                                stream_port=ng_stream_port, stream_upstream=upstream_host)
        procs.append(ng)
        pt_port, pt_stream_port = free_port(), free_port()
        procs.append(subprocess.Popen(pinned([sys.executable, str(HERE / "passthrough.py"), str(pt_port), f"http://127.0.0.1:{fast[0]}/v1"], 1)))
        pt_stream = subprocess.Popen(pinned([sys.executable, str(HERE / "passthrough.py"), str(pt_stream_port), upstream_url], 1))
        procs.append(pt_stream)
        floors = {}  # name: (port, stream port, the stream port's process)
        for loop_kind in ("uvloop", "asyncio"):
            port, stream_port = free_port(), free_port()
            procs.append(subprocess.Popen(pinned([sys.executable, str(HERE / "floor.py"), str(port), f"http://127.0.0.1:{fast[0]}/v1", loop_kind], 1)))
            stream = subprocess.Popen(pinned([sys.executable, str(HERE / "floor.py"), str(stream_port), upstream_url, loop_kind], 1))
            procs.append(stream)
            floors[f"Python floor, httptools on {loop_kind}"] = (port, stream_port, stream)
        cfg = _config(tmp_path, fast, upstream_url)
        trees = {"this tree": source_tree(None, tmp_path / "this"), baseline: source_tree(baseline, tmp_path / "baseline")}
        cw, cw_url = _crosswalk(cfg, trees["this tree"])
        base, base_url = _crosswalk(cfg, trees[baseline])
        procs += [cw, base]
        for port in (ng_port, pt_port, pt_stream_port):
            wait_http(f"http://127.0.0.1:{port}/v1/chat/completions")
        for port in (p for floor in floors.values() for p in floor[:2]):
            wait_port(port)  # the floor forwards anything: a GET would reach upstream.py as a bad request
        # name: (pid for CPU, req/s url and model, stream url and model)
        targets = {
            "nginx pass-through": (ng.pid, f"http://127.0.0.1:{ng_port}", "bench-model",
                                   f"http://127.0.0.1:{ng_stream_port}", "bench-model"),
            "bare aiohttp pass-through": (pt_stream.pid, f"http://127.0.0.1:{pt_port}", "bench-model",
                                          f"http://127.0.0.1:{pt_stream_port}", "bench-model"),
            **{name: (stream.pid, f"http://127.0.0.1:{port}", "bench-model", f"http://127.0.0.1:{stream_port}", "bench-model")
               for name, (port, stream_port, stream) in floors.items()},
            "crosswalk, this tree": (cw.pid, cw_url, "ranked", cw_url, "long"),
            f"crosswalk at {baseline}": (base.pid, base_url, "ranked", base_url, "long"),
        }
        rps: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name, (pid, _, _, surl, smodel) in targets.items():  # warm-up: imports, pools
            _us_per_chunk(pid, surl, smodel, split=True)
        t0 = time.perf_counter()
        for round_ in range(ROUNDS):
            # Every other round in reverse: two runs of one tree differed by 17 % in a fixed order.
            order = list(targets.items())[::-1 if round_ % 2 else 1]
            for name, (pid, url, model, surl, smodel) in order:
                rps[name] = max(rps.get(name, 0.0), wrk(url, model, tmp_path, key=KEY)["rps"])
                cpu[name] = min(cpu.get(name, float("inf")), _us_per_chunk(pid, surl, smodel, split=True))
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    started = _startup_and_idle_rss(tmp_path, trees)
    (startup, idle_rss), (base_startup, _) = started["this tree"], started[baseline]
    ng_rps, ng_cpu = rps["nginx pass-through"], cpu["nginx pass-through"]
    rows = [(name, f"{rps[name]:8.0f} req/s ({rps[name] / ng_rps:.2f}x nginx)   "
                   f"{cpu[name]:6.1f} us CPU/chunk ({cpu[name] / ng_cpu:.2f}x nginx)") for name in targets]
    now, before = "crosswalk, this tree", f"crosswalk at {baseline}"
    rows += [
        (f"this tree / {baseline}", f"{rps[now] / rps[before]:.2f}x req/s, {cpu[now] / cpu[before]:.2f}x CPU per chunk"),
        (f"issue 20: req/s >= {THROUGHPUT_TARGET}x nginx", "met" if rps[now] / ng_rps >= THROUGHPUT_TARGET else "NOT met"),
        (f"issue 20: CPU per chunk <= {CPU_TARGET}x nginx", "met" if cpu[now] / ng_cpu <= CPU_TARGET else "NOT met"),
        (f"issue 20: start-up to /readyz <= {STARTUP_TARGET_S} s (.pyc cached)",
         f"{startup:.2f} s ({baseline}: {base_startup:.2f} s, {startup / base_startup:.2f}x): "
         f"{'met' if startup <= STARTUP_TARGET_S else 'NOT met'}"),
        (f"issue 20: idle RSS <= {RSS_TARGET_MB} MB", f"{idle_rss:.0f} MB: {'met' if idle_rss <= RSS_TARGET_MB else 'NOT met'}"),
        ("measured", f"{ROUNDS} rounds: wrk -c{CONNECTIONS} -d{DURATION_S}s; 60 answers x 200 chunks, 6 in flight; {wall:.0f} s"),
    ]
    report("front door vs nginx (proxy on CPU 1; load and upstream on CPU 0)", rows)
    assert rps[now] >= NO_REGRESSION * rps[before]
    assert cpu[now] <= cpu[before] / NO_REGRESSION

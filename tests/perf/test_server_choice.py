"""HTTP servers for the front door (issue 20 item 3), measured, not integrated: Crosswalk's
real non-streamed chat path (POST /v1/chat/completions on a step of 2 ranked providers:
auth, Runtime.complete, records, metrics, x-crosswalk-* headers, the JSON answer) hosted by
`crosswalk serve` itself (aiohttp's server on asyncio's loop, the baseline), the same on
uvloop, a hand-written httptools asyncio.Protocol server (on asyncio and on uvloop), uvicorn
(httptools, on asyncio and on uvloop) with an ASGI app, and granian (RSGI and ASGI). Every
host but the baseline calls the handler `crosswalk serve` registers through the smallest
adapter it needs (tests/perf/crosswalk_hosts.py says exactly what each does). nginx's
pass-through (issue 20's yardstick) and the floor of a Python proxy (floor.py: httptools on
uvloop and Crosswalk's upstream client, no logic) are measured beside them.

Each host is pinned to CPU 1 and runs Crosswalk from a copy of this tree laid out as
installed (as test_front_door.py does); wrk (16 connections) and a fast nginx upstream on
CPU 0. One warm-up request per host must answer 200 from the first provider with the
x-crosswalk-* headers and the upstream's completion before anything is timed; then
interleaved rounds, the best of each: req/s, and the host's own CPU time per request (all its
threads and child processes, user and kernel, from /proc; the kernel's part printed apart),
which other jobs sharing CPU 1 inflate far less than req/s. Rows whose server is not
installed (uvicorn, granian: not Crosswalk dependencies, `pip install uvicorn granian`) are
skipped with the reason. tests/perf/profile_host.py profiles one host by file.

    .venv/bin/python -m pytest -n 0 -s -p no:cacheprovider tests/perf/test_server_choice.py"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.perf import nginx
from tests.perf.conftest import free_port, pinned, report, source_tree
from tests.perf.test_front_door import _config
from tests.perf.test_stream_cpu import KEY
from tests.perf.upstream import BODY, REQUEST_ID
from tests.perf.wrk import CONNECTIONS, DURATION_S, wait_http, wrk

HERE = Path(__file__).parent
ROUNDS = 3  # interleaved, every other round in reverse; the best of each is kept (other jobs share the cores)
TICK_HZ = os.sysconf("SC_CLK_TCK")
BASELINE = "crosswalk serve (aiohttp, asyncio loop)"
NGINX, FLOOR = "nginx pass-through, no logic", "Python floor (floor.py), no logic"
APP = "tests.perf.crosswalk_hosts"


def _hosts(port: int, cfg: Path) -> dict[str, tuple[str | None, list[str]]]:
    """name: (the module it needs, or None, its command line)."""
    py = sys.executable
    where = ["--host", "127.0.0.1", "--port", str(port)]
    uvicorn = [py, "-m", "uvicorn", f"{APP}:asgi_app", *where, "--http", "httptools", "--lifespan", "off",
               "--no-access-log", "--log-level", "warning"]
    granian = [py, "-m", "granian", *where, "--workers", "1", "--log-level", "warning", "--no-ws"]
    return {
        BASELINE: (None, [py, "-m", "crosswalk.router.cli", "serve", "--config", str(cfg), "--port", str(port)]),
        "crosswalk serve on uvloop (aiohttp)": ("uvloop", [py, "-m", APP, str(port), "aiohttp-uvloop"]),
        "httptools Protocol, asyncio loop": (None, [py, "-m", APP, str(port), "httptools-asyncio"]),
        "httptools Protocol, uvloop": ("uvloop", [py, "-m", APP, str(port), "httptools-uvloop"]),
        "uvicorn (httptools) ASGI, asyncio loop": ("uvicorn", [*uvicorn, "--loop", "asyncio"]),
        "uvicorn (httptools) ASGI, uvloop": ("uvicorn", [*uvicorn, "--loop", "uvloop"]),
        "granian RSGI, uvloop": ("granian", [*granian, "--loop", "uvloop", "--interface", "rsgi", f"{APP}:rsgi_app"]),
        "granian RSGI, asyncio loop": ("granian", [*granian, "--loop", "asyncio", "--interface", "rsgi", f"{APP}:rsgi_app"]),
        "granian ASGI, uvloop": ("granian", [*granian, "--loop", "uvloop", "--interface", "asgi", f"{APP}:asgi_app"]),
    }


def _tree_cpu_s(pid: int) -> tuple[float, float]:
    """User and kernel CPU seconds of `pid` (all its threads) and its child processes
    (granian runs its worker in one), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    user, kernel = int(fields[11]) / TICK_HZ, int(fields[12]) / TICK_HZ
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            child_user, child_kernel = _tree_cpu_s(int(child))
            user, kernel = user + child_user, kernel + child_kernel
    return user, kernel


def _check_answer(url: str) -> None:
    """One request, answered completely and correctly, as `crosswalk serve` answers it."""
    request = urllib.request.Request(url + "/v1/chat/completions", method="POST", headers={
        "content-type": "application/json", "authorization": f"Bearer {KEY}"},
        data=json.dumps({"model": "ranked", "messages": [{"role": "user", "content": "What is the refund?"}]}).encode())
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["x-crosswalk-step"] == "ranked"
        assert resp.headers["x-crosswalk-provider"] == "first"
        assert resp.headers["x-crosswalk-attempts"] == "first:ok"
        assert resp.headers["x-crosswalk-upstream-request-id"] == REQUEST_ID["x-request-id"]
        answer = json.loads(resp.read())
    assert answer["choices"] == json.loads(BODY)["choices"]
    assert answer["object"] == "chat.completion"


@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("wrk") is None or not Path(nginx.NGINX).exists(), reason="wrk or nginx not installed")
def test_servers_hosting_crosswalk(tmp_path):
    fast = [free_port(), free_port()]
    procs = [nginx.fast_upstream(tmp_path / "nginx-upstream", fast)]
    cfg = _config(tmp_path, fast, f"http://127.0.0.1:{fast[0]}/v1")
    env = {**os.environ, "PYTHONPATH": str(source_tree(None, tmp_path / "this")), "CROSSWALK_BENCH_CONFIG": str(cfg)}
    urls: dict[str, tuple[int, str]] = {}  # name: (pid, url)
    skipped: list[tuple[str, str]] = []
    try:
        for name in _hosts(0, cfg):
            port = free_port()
            needs, cmd = _hosts(port, cfg)[name]
            if needs is not None and importlib.util.find_spec(needs) is None:
                skipped.append((name, f"skipped: {needs} is not installed"))
                continue
            proc = subprocess.Popen(pinned(cmd, 1), cwd=HERE.parents[1], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            urls[name] = (proc.pid, f"http://127.0.0.1:{port}")
        # Beside them, proxies with no logic at all, on the same core: nginx, and the floor of a
        # Python proxy (floor.py: httptools on uvloop, Crosswalk's upstream client).
        ng_port, floor_port = free_port(), free_port()
        ng = nginx.pass_through(tmp_path / "nginx-proxy", port=ng_port, ranked=[f"127.0.0.1:{p}" for p in fast],
                                stream_port=free_port(), stream_upstream=f"127.0.0.1:{fast[0]}")
        floor = subprocess.Popen(pinned([sys.executable, str(HERE / "floor.py"), str(floor_port), f"http://127.0.0.1:{fast[0]}/v1", "uvloop"], 1),
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs += [ng, floor]
        references = {NGINX: (ng.pid, f"http://127.0.0.1:{ng_port}"), FLOOR: (floor.pid, f"http://127.0.0.1:{floor_port}")}
        for _, url in urls.values():
            wait_http(url + "/healthz")
            _check_answer(url)
        for _, url in references.values():
            wait_http(url + "/v1/chat/completions")
        targets = {**urls, **references}
        rps: dict[str, float] = {}
        cpu_us: dict[str, tuple[float, float]] = {}  # the host's CPU per request (all, in the kernel): what other jobs on CPU 1 inflate less
        for round_ in range(ROUNDS):
            for name, (pid, url) in list(targets.items())[::-1 if round_ % 2 else 1]:
                model = "bench-model" if name in references else "ranked"
                cpu0 = _tree_cpu_s(pid)
                got = wrk(url, model, tmp_path, key=KEY)["rps"]
                rps[name] = max(rps.get(name, 0.0), got)
                (user0, kernel0), (user, kernel) = cpu0, _tree_cpu_s(pid)
                per_request = 1e6 / (got * DURATION_S)
                this = ((user - user0 + kernel - kernel0) * per_request, (kernel - kernel0) * per_request)
                cpu_us[name] = min(cpu_us.get(name, this), this)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    base, base_cpu = rps[BASELINE], cpu_us[BASELINE][0]
    rows = [(name, f"{r:6.0f} req/s ({r / base:4.2f}x)  {cpu_us[name][0]:5.0f} us CPU/request ({cpu_us[name][0] / base_cpu:4.2f}x), "
                   f"{cpu_us[name][1]:3.0f} of them in the kernel") for name, r in rps.items()]
    report(f"Crosswalk's chat path on HTTP servers (CPU 1), wrk -c{CONNECTIONS} -d{DURATION_S}s, best of {ROUNDS}; x: to crosswalk serve", rows + skipped)
    assert all(r > 0 for r in rps.values())

"""HTTP servers for the front door (issue 20 item 3), measured, not integrated: the same tiny
endpoint (tests/perf/server_apps.py; a fixed answer, then forwarded to a fast nginx upstream
through Crosswalk's own upstream client) under aiohttp's server, uvicorn (httptools) with an
ASGI app, and granian (ASGI and its own RSGI), side by side in one run,
each pinned to CPU 1 with wrk (16 connections) and the upstream on CPU 0. Skipped unless
uvicorn and granian are installed (`pip install uvicorn granian`; not Crosswalk dependencies).

    .venv/bin/python -m pytest -n 0 -s -p no:cacheprovider tests/perf/test_server_choice.py"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.perf import nginx
from tests.perf.conftest import free_port, pinned, report
from tests.perf.wrk import CONNECTIONS, DURATION_S, wait_http, wrk

HERE = Path(__file__).parent
ROUNDS = 2


def _servers(port: int) -> dict[str, list[str]]:
    py = sys.executable
    where = ["--host", "127.0.0.1", "--port", str(port)]
    granian = [py, "-m", "granian", *where, "--workers", "1", "--log-level", "warning", "--no-ws"]
    return {
        "aiohttp server": [py, "-m", "tests.perf.server_apps", str(port)],
        "uvicorn (httptools), ASGI": [py, "-m", "uvicorn", "tests.perf.server_apps:app", *where, "--http", "httptools",
                                      "--no-access-log", "--log-level", "warning"],
        "granian, ASGI": [*granian, "--interface", "asgi", "tests.perf.server_apps:app"],
        "granian, RSGI": [*granian, "--interface", "rsgi", "tests.perf.server_apps:rsgi_app"],
    }


@pytest.mark.timeout(600)
@pytest.mark.skipif(not (importlib.util.find_spec("uvicorn") and importlib.util.find_spec("granian"))
                    or shutil.which("wrk") is None or not Path(nginx.NGINX).exists(),
                    reason="uvicorn, granian, wrk or nginx not installed")
def test_http_servers_side_by_side(tmp_path):
    fast = free_port()
    upstream = f"http://127.0.0.1:{fast}/v1"
    procs = [nginx.fast_upstream(tmp_path / "nginx-upstream", [fast])]
    rps: dict[str, float] = {}
    try:
        servers = {}
        for work, env in (("fixed answer", {}), ("forwarded", {"CROSSWALK_BENCH_UPSTREAM": upstream})):
            for name in _servers(0):
                port = free_port()
                procs.append(subprocess.Popen(pinned(_servers(port)[name], 1), cwd=HERE.parents[1], stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, env={**os.environ, **env}))
                servers[f"{name}, {work}"] = f"http://127.0.0.1:{port}"
        ng_port = free_port()  # the C yardstick: nginx's own fixed answer, on the same core
        procs.append(nginx.fast_upstream(tmp_path / "nginx-fixed", [ng_port], cpu=1))
        servers["nginx, fixed answer"] = f"http://127.0.0.1:{ng_port}"
        for url in servers.values():
            wait_http(url + "/v1/chat/completions")
        for _ in range(ROUNDS):
            for name, url in servers.items():
                rps[name] = max(rps.get(name, 0.0), wrk(url, "bench-model", tmp_path)["rps"])
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    rows = [(name, f"{r:8.0f} req/s ({r / rps['aiohttp server, ' + name.rsplit(', ', 1)[1]]:.2f}x aiohttp's server)")
            for name, r in rps.items()]
    report(f"HTTP servers, wrk -c{CONNECTIONS} -d{DURATION_S}s, best of {ROUNDS}", rows)
    assert all(r > 0 for r in rps.values())

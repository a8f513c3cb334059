"""Where a host of Crosswalk's chat path spends its CPU under load: cProfile's own time,
grouped by file (C functions by name), over one wrk run. Not a test; run by hand:

    .venv/bin/python -m tests.perf.profile_host KIND [SECONDS]

KIND: `crosswalk-serve` (aiohttp's server on asyncio's loop, as shipped) or a kind of
tests/perf/crosswalk_hosts.py (httptools-uvloop, httptools-asyncio, aiohttp-uvloop). The host
runs pinned to CPU 1 against the same 2-provider config and fast nginx upstream as
test_server_choice.py, and profiles only while wrk drives it (SIGUSR1 starts, SIGUSR2 writes
the profile). cProfile adds a cost to every Python call, so the shares lean towards code made
of many small calls; read them as where the time goes, not as what removing it would save."""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.perf import nginx
from tests.perf.conftest import free_port, pinned
from tests.perf.test_front_door import _config
from tests.perf.test_stream_cpu import KEY
from tests.perf.wrk import wait_http, wrk


def _host(kind: str, port: int, out: str) -> None:
    """The host, profiled between SIGUSR1 and SIGUSR2."""
    profile = cProfile.Profile()
    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
    signal.signal(signal.SIGUSR2, lambda *_: (profile.disable(), profile.dump_stats(out)))
    if kind == "crosswalk-serve":
        from crosswalk.router import logs
        from crosswalk.router.serve import serve

        logs.setup(level="warning")
        asyncio.run(serve(Path(os.environ["CROSSWALK_BENCH_CONFIG"]), "127.0.0.1", port))
    else:
        from tests.perf import crosswalk_hosts

        sys.argv = [sys.argv[0], str(port), kind]
        crosswalk_hosts.main()


REPO = Path(__file__).parents[2]
_LIBRARIES = ("aiohttp", "multidict", "yarl", "httptools", "uvicorn", "granian")


def _where(filename: str, func: str) -> tuple[str, str]:
    """(a short name for the file or C function, its part: Crosswalk's upstream client, the
    rest of Crosswalk, the host adapter, the HTTP server's library, the event loop, socket
    calls, other). uvloop's own work (its socket calls included) is not profiled: it counts
    as the own time of the Python function that called into it (a transport's write)."""
    if filename == "~":
        if "_socket.socket" in func:
            return f"C: {func}", "socket calls"
        if "epoll" in func or "Context" in func:
            return f"C: {func}", "event loop"
        return f"C: {func}", "other"
    path = Path(filename)
    if path.is_relative_to(REPO):
        short = str(path.relative_to(REPO))
        if short == "providers/http1.py":  # the floor (floor.py) has it too
            return short, "Crosswalk's upstream client"
        return short, "host adapter" if short.startswith("tests/") else "Crosswalk (all but its upstream client)"
    parts = path.parts
    cut = max((i for i, p in enumerate(parts) if p in ("site-packages", "python3.11")), default=len(parts) - 3)
    short = "/".join(parts[cut + 1:])
    if short.split("/")[0] in _LIBRARIES:
        return short, "HTTP server library"
    return short, "event loop" if short.startswith(("asyncio/", "uvloop/")) else "other"


def _by_file(path: Path, requests: int) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """(file or C function, share of own time, own us per request), largest first; and the
    same by part (_where)."""
    own: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    for (filename, _, func), (_, _, tt, _, _) in pstats.Stats(str(path)).stats.items():  # type: ignore[attr-defined]
        short, part = _where(filename, func)
        own[short] += tt
        parts[part] += tt
    total = sum(own.values())
    return ([(key, tt / total, tt / requests * 1e6) for key, tt in own.most_common()],
            [(key, tt / total, tt / requests * 1e6) for key, tt in parts.most_common()])


def main() -> None:
    if sys.argv[1] == "--host":
        _host(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    kind, seconds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6
    tmp = Path(tempfile.mkdtemp(prefix="crosswalk-profile-"))
    fast = [free_port(), free_port()]
    upstream = nginx.fast_upstream(tmp / "nginx-upstream", fast)
    cfg = _config(tmp, fast, f"http://127.0.0.1:{fast[0]}/v1")
    port, out = free_port(), tmp / "host.prof"
    env = {**os.environ, "CROSSWALK_BENCH_CONFIG": str(cfg)}
    host = subprocess.Popen(pinned([sys.executable, "-m", "tests.perf.profile_host", "--host", kind, str(port), str(out)], 1), env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        wrk(url, "ranked", tmp, key=KEY, duration_s=2)  # warm
        host.send_signal(signal.SIGUSR1)
        rps = wrk(url, "ranked", tmp, key=KEY, duration_s=seconds)["rps"]
        host.send_signal(signal.SIGUSR2)
        while not out.exists():
            time.sleep(0.1)
        time.sleep(0.5)  # the dump finishes
    finally:
        host.terminate()
        upstream.terminate()
        host.wait(timeout=10)
        upstream.wait(timeout=10)
    requests = int(rps * seconds)
    rows, parts = _by_file(out, requests)
    print(f"{kind}: {rps:.0f} req/s under cProfile, {requests} requests; own time by part:")
    for key, share, us in parts:
        print(f"  {share * 100:5.1f} %  {us:6.1f} us/request  {key}")
    print("by file:")
    for key, share, us in rows[:25]:
        print(f"  {share * 100:5.1f} %  {us:6.1f} us/request  {key}")
    print(f"  (and {len(rows) - 25} more)\nthe functions with the most own time:")
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()

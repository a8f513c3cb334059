"""Benchmark fixtures: a loopback upstream in its own process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def pinned(cmd: list[str], cpu: int) -> list[str]:
    """Run `cmd` on one CPU when taskset exists: the load generator and the upstream share
    CPU 0, the proxy under test gets CPU 1, so runs compare proxies, not scheduler luck."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu), *cmd]
    return cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_upstream(*args: str) -> tuple[str, subprocess.Popen]:
    """Start upstream.py (with its optional arguments) on CPU 0 and a free port; returns
    its base URL and process once it accepts connections. The caller terminates it."""
    port = free_port()
    proc = subprocess.Popen(pinned([sys.executable, str(Path(__file__).with_name("upstream.py")), str(port), *args], 0))
    try:
        wait_port(port)
    except RuntimeError:
        proc.kill()
        raise
    return f"http://127.0.0.1:{port}/v1", proc


def wait_port(port: int, timeout: float = 20.0) -> None:
    """Until something accepts connections on loopback `port` (no request sent: for a
    proxy whose upstream would log a stray probe as an error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def source_tree(commit: str | None, into: Path) -> Path:
    """`commit`'s sources (None: the working tree's, uncommitted changes included) laid out as
    installed (the crosswalk package), for PYTHONPATH. Benchmarks run this tree that way too,
    so both sides import alike (an editable install measured up to 10 % slower)."""
    repo = Path(__file__).parents[2]
    src = into / "src"
    src.mkdir(parents=True)
    if commit is None:
        for part in ("router", "policies", "providers", "config"):
            shutil.copytree(repo / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(repo), "archive", commit], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    pkg = into / "tree" / "crosswalk"
    pkg.mkdir(parents=True)
    for part in ("router", "policies", "providers", "config"):
        (src / part).rename(pkg / part)
    (pkg / "router" / "crosswalk" / "__init__.py").rename(pkg / "__init__.py")
    return into / "tree"


@pytest.fixture(scope="session")
def upstream_url():
    url, proc = start_upstream()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def report(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a small aligned table (make bench runs with -s)."""
    print(f"\n== {title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")

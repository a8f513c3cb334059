"""Import cost and cold start, each in fresh processes, side by side with a baseline.

Targets: `import crosswalk` <= 0.3 s without importing litellm; a new process's first answer
through the router <= 1.3x the plain openai client's first answer from the same upstream."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import textwrap
import time

import pytest

from tests.perf.conftest import report

RUNS = 5


def _importtime(stmt: str) -> tuple[float, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{stmt}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )
    # Sum the cumulative time of top-level imports only (no indentation before the name),
    # leaving out what the interpreter itself loads before -c runs.
    top = 0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m and m.group(2) not in _STARTUP:
            top += int(m.group(1))
    return top / 1e6, set(proc.stdout.split())


_STARTUP = set(subprocess.run([sys.executable, "-c", "import sys; print(' '.join(sys.modules))"], capture_output=True, text=True).stdout.split())


def test_import_router_is_cheap():
    rows = []
    results = {}
    for stmt in ("import crosswalk", "from crosswalk import Router", "import openai"):
        times = []
        for _ in range(RUNS):
            seconds, modules = _importtime(stmt)
            times.append(seconds)
        results[stmt] = (statistics.median(times), modules)
        rows.append((stmt, f"{statistics.median(times) * 1000:7.1f} ms  (litellm loaded: {'litellm' in modules}, openai loaded: {'openai' in modules})"))
    report("import time (python -X importtime, median of %d fresh processes)" % RUNS, rows)
    assert results["import crosswalk"][0] <= 0.3
    assert "litellm" not in results["import crosswalk"][1]
    assert "litellm" not in results["from crosswalk import Router"][1]


ROUTER_SCRIPT = """
import asyncio
from crosswalk.policies.parse import parse_config
from crosswalk import Router
cfg = parse_config('''
providers:
  up: {{kind: openai, model: bench-model, base_url: "{url}", api_key: sk-bench}}
steps:
  s: {{providers: [up]}}
''', env={{}})
async def main():
    r = Router(cfg)
    resp = await r.acompletion(step="s", messages=[{{"role": "user", "content": "hi"}}])
    assert resp.choices[0].message.content
    await r.aclose()
asyncio.run(main())
"""

OPENAI_SCRIPT = """
from openai import OpenAI
client = OpenAI(base_url="{url}", api_key="sk-bench", max_retries=0)
resp = client.chat.completions.create(model="bench-model", messages=[{{"role": "user", "content": "hi"}}])
assert resp.choices[0].message.content
"""


def _run(script: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True)
    return time.perf_counter() - t0


@pytest.mark.timeout(300)
def test_cold_start_to_first_answer(upstream_url):
    router_times, openai_times = [], []
    for _ in range(RUNS):  # interleaved, so both see the same page cache and load
        router_times.append(_run(ROUTER_SCRIPT.format(url=upstream_url)))
        openai_times.append(_run(OPENAI_SCRIPT.format(url=upstream_url)))
    r, o = statistics.median(router_times), statistics.median(openai_times)
    report(
        f"cold start to first answer (new process, median of {RUNS})",
        [("crosswalk router (import, config, call)", f"{r * 1000:7.0f} ms"),
         ("openai client direct", f"{o * 1000:7.0f} ms"),
         ("ratio", f"{r / o:.2f}x")],
    )
    assert r / o <= 1.3

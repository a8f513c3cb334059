"""What the metrics of issue 13 cost, side by side in one run: `Metrics.request_done` for a
record without usage (the per-request work there was before token counters) and with
usage (the token counters added), per op; and the scrape-time merge of two workers'
expositions under `serve --workers 2` (nothing is added per request for it)."""

from __future__ import annotations

import statistics
import time

from prometheus_client import generate_latest

from crosswalk.router.metrics import Metrics
from crosswalk.router.records import Attempt, DecisionRecord, usage_of
from crosswalk.router.worker_metrics import merge
from tests.perf.conftest import report

N = 20000
ROUNDS = 5


def _per_op(metrics: Metrics, record: DecisionRecord) -> float:
    t0 = time.perf_counter()
    for _ in range(N):
        metrics.request_done(record, None)
    return (time.perf_counter() - t0) / N


def test_token_counters_cost_per_request_and_the_worker_merge_per_scrape():
    answer = {"choices": [], "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}}
    bare = DecisionRecord("draft", "a", [Attempt("a", None, 0.01)], 0.01)
    counted = DecisionRecord("draft", "a", [Attempt("a", None, 0.01)], 0.01, usage=usage_of(answer))
    without, with_usage = [], []
    for _ in range(ROUNDS):  # interleaved, so both see the same machine load
        without.append(_per_op(Metrics(), bare))
        with_usage.append(_per_op(Metrics(), counted))
    t0 = time.perf_counter()
    for _ in range(N):
        usage_of(answer)
    usage_cost = (time.perf_counter() - t0) / N
    a, b = statistics.median(without), statistics.median(with_usage)

    page = Metrics(process=True)
    for _ in range(50):
        page.request_done(counted, None)
    text = generate_latest(page.registry).decode()
    t0 = time.perf_counter()
    for _ in range(20):
        merged = merge({0: text, 1: text}, workers=2)
    merge_ms = (time.perf_counter() - t0) / 20 * 1000
    assert b'crosswalk_requests_total{outcome="ok",step="draft"} 100.0' in merged
    report("metrics cost", [
        ("request_done, a record without usage", f"{a * 1e6:.2f} µs/op"),
        ("request_done, with token counters", f"{b * 1e6:.2f} µs/op ({(b - a) * 1e6:+.2f} µs, {b / a:.2f}x)"),
        ("usage_of (chain, per answer)", f"{usage_cost * 1e6:.2f} µs/op"),
        ("merge of 2 workers' pages (per scrape)", f"{merge_ms:.2f} ms ({len(text)} bytes a page)"),
    ])
    assert b / a < 2.0

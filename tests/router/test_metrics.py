"""Token counters from records, and the merge of several workers' metric pages."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from crosswalk.router.metrics import Metrics
from crosswalk.router.records import Attempt, DecisionRecord, usage_of
from crosswalk.router.worker_metrics import merge


def _tokens(m: Metrics) -> dict[tuple[str, str, str], int]:
    return dict(m.tokens)


def test_tokens_are_counted_per_answering_provider_and_panel_member():
    m = Metrics()
    ok = [Attempt("a", None, 0.1)]
    m.request_done(DecisionRecord("s", "a", ok, 0.1, usage=usage_of({"usage": {"prompt_tokens": 5, "completion_tokens": 2}})), None)
    members = [DecisionRecord("s", "a", ok, 0.1, usage={"prompt_tokens": 5, "completion_tokens": 3}),
               DecisionRecord("s", "b", [Attempt("b", None, 0.1)], 0.1, usage={"prompt_tokens": 6, "completion_tokens": 4}),
               DecisionRecord("s", None, [Attempt("c", "transient", 0.1)], 0.1)]  # failed: nothing to count
    m.request_done(DecisionRecord("s", "a", [], 0.2, members=members), None)
    assert _tokens(m) == {("s", "a", "prompt"): 10, ("s", "a", "completion"): 5, ("s", "b", "prompt"): 6, ("s", "b", "completion"): 4}


def test_malformed_usage_is_not_counted():
    m = Metrics()
    for usage in ({"prompt_tokens": "19", "completion_tokens": -3}, {"prompt_tokens": True}, {"prompt_tokens": 1.5}):
        m.request_done(DecisionRecord("s", "a", [Attempt("a", None, 0.1)], 0.1, usage=usage), None)
    assert _tokens(m) == {}
    assert usage_of({"usage": None}) is None and usage_of({"usage": []}) is None and usage_of({}) is None


def _page(requests: int, provider_state: float) -> str:
    m = Metrics()
    for _ in range(requests):
        m.request_done(DecisionRecord("s", "a", [Attempt("a", None, 0.02)], 0.02), None)
    text = generate_latest(m.registry).decode()
    return text + ("# HELP crosswalk_x_total demo\n# TYPE crosswalk_x_total counter\ncrosswalk_x_total 1.0\n"
                   "# HELP crosswalk_up demo\n# TYPE crosswalk_up gauge\n"
                   f"crosswalk_up{{provider=\"a\"}} {provider_state}\n")


def test_merge_sums_counters_and_histograms_and_labels_gauges_by_worker():
    merged = merge({0: _page(3, 1.0), 2: _page(4, 0.0)}, workers=3).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(merged) for s in f.samples}
    assert samples[("crosswalk_requests_total", (("outcome", "ok"), ("step", "s")))] == 7.0
    assert samples[("crosswalk_request_duration_seconds_count", (("step", "s"),))] == 7.0
    assert samples[("crosswalk_request_duration_seconds_bucket", (("le", "0.025"), ("step", "s")))] == 7.0
    assert samples[("crosswalk_x_total", ())] == 2.0
    assert samples[("crosswalk_up", (("provider", "a"), ("worker", "0")))] == 1.0
    assert samples[("crosswalk_up", (("provider", "a"), ("worker", "2")))] == 0.0
    assert samples[("crosswalk_metrics_workers", (("kind", "answered"),))] == 2.0  # worker 1 did not answer
    assert samples[("crosswalk_metrics_workers", (("kind", "expected"),))] == 3.0

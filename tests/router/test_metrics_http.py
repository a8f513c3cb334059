"""Metrics through real processes: `crosswalk serve` (one process and `--workers 2`) in
front of loopback fake vendors, the official openai client, /metrics scraped over HTTP,
and `crosswalk report` run as a command on what was scraped."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import openai
from prometheus_client.parser import text_string_to_metric_families

import tests.fakevendor as fv
from tests.eventually import eventually
from tests.router.proxy_harness import ProxyProcess

KEY = "metrics-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe for order 1182?"}]


def _config(tmp_path: Path, a: str, b: str, c: str) -> Path:
    cfg = tmp_path / "metrics.yaml"
    cfg.write_text(
        "providers:\n"
        f'  a: {{kind: openai, model: m-a, base_url: "{a}", vendor: va}}\n'
        f'  b: {{kind: openai, model: m-b, base_url: "{b}", vendor: vb}}\n'
        f'  c: {{kind: openai, model: m-c, base_url: "{c}", vendor: vc}}\n'
        "steps:\n"
        "  draft: {providers: [a, b], timeouts: {per_try_s: 5, total_s: 8}}\n"
        "  extract: {providers: [c], timeouts: {per_try_s: 5, total_s: 8}}\n"
        f"proxy: {{api_keys: [{KEY}]}}\n"
    )
    return cfg


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return resp.read().decode()


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Sample values of `name` by their sorted label pairs."""
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name == name}


def _post(url: str, step: str) -> int:
    """One request on a fresh connection (so that SO_REUSEPORT spreads them over workers)."""
    body = json.dumps({"model": step, "messages": MSG}).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", data=body, method="POST",
                                 headers={"authorization": f"Bearer {KEY}", "content-type": "application/json", "connection": "close"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def _report(source: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "report", "--metrics", source, *args],
                          capture_output=True, text=True, timeout=60)


async def test_tokens_process_metrics_and_report_labels_through_a_real_proxy(fake_vendor, tmp_path):
    a, b, c = await fake_vendor("a"), await fake_vendor("b"), await fake_vendor("c")
    a.script(fv.rate_limited(retry_after=30))  # the first draft fails over to b; a cools down
    c.script(fv.ok(), fv.error(400, {"error": {"message": "bad request", "type": "invalid_request_error", "code": None}}))
    proxy = await asyncio.to_thread(lambda: ProxyProcess(_config(tmp_path, a.base_url, b.base_url, c.base_url)).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        for _ in range(3):
            await client.chat.completions.create(model="draft", messages=MSG)
        stream = await client.chat.completions.create(model="draft", messages=MSG, stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
        words = len(b.answer.split(" "))  # the fake vendor counts one token per word
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == words
        await client.chat.completions.create(model="extract", messages=MSG)
        try:
            await client.chat.completions.create(model="extract", messages=MSG)
        except openai.BadRequestError:
            pass
        else:
            raise AssertionError("c's 400 must reach the caller")
        text = await asyncio.to_thread(_scrape, proxy.url)
        tokens = _samples(text, "crosswalk_tokens_total")
        # draft: three answers by b (19 + 10 each) and one stream (19 + a token a word); extract: one answer by c.
        assert tokens == {
            (("kind", "prompt"), ("provider", "b"), ("step", "draft")): 4 * 19.0,
            (("kind", "completion"), ("provider", "b"), ("step", "draft")): 3 * 10.0 + words,
            (("kind", "prompt"), ("provider", "c"), ("step", "extract")): 19.0,
            (("kind", "completion"), ("provider", "c"), ("step", "extract")): 10.0,
        }
        assert _samples(text, "process_resident_memory_bytes")[()] > 0
        assert _samples(text, "process_open_fds")[()] > 0
        assert any(dict(k).get("implementation") for k in _samples(text, "python_info"))
        page = tmp_path / "metrics.txt"
        page.write_text(text)
        report = await asyncio.to_thread(_report, proxy.url + "/metrics", "--pipeline", "extract,draft")
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    header = lines[0].split("  ")
    assert [h.strip() for h in header if h.strip()] == [
        "step", "requests", "answered", "first attempt ok", "first attempt failed", "answered after failover", "unanswered", "verified", "disagreed"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:3]}
    assert rows["draft"] == ["4", "100.0%", "75.0%", "25.0%", "25.0%", "0.0%", "0.0%", "-"]
    assert rows["extract"] == ["2", "50.0%", "50.0%", "50.0%", "0.0%", "50.0%", "0.0%", "-"]
    # The pipeline in the order asked for, not the table's (alphabetical) order.
    assert "pipeline extract -> draft: end to end 50.0% answered with failover, 37.5% by first attempts alone" in report.stdout
    assert "first attempt failed: share whose first attempt did not answer (what failover had to make up)" in report.stdout
    assert "answered after failover: share whose first attempt failed and that a later attempt answered" in report.stdout
    unknown = await asyncio.to_thread(_report, str(page), "--pipeline", "extract,drafts")
    assert unknown.returncode == 1 and "no requests observed for step(s) drafts; did you mean 'draft'?" in unknown.stderr
    # Without --pipeline the steps are reported one by one: nothing compounds steps the operator did not name.
    steps = await asyncio.to_thread(_report, str(page))
    assert steps.returncode == 0 and steps.stdout.splitlines()[:3] == lines[:3]
    assert "pipeline" not in steps.stdout and "end to end" not in steps.stdout


async def test_every_scrape_of_two_workers_shows_the_sum(fake_vendor, tmp_path):
    a, b, c = await fake_vendor("a"), await fake_vendor("b"), await fake_vendor("c")
    proxy = ProxyProcess(_config(tmp_path, a.base_url, b.base_url, c.base_url), extra=["--workers", "2"])
    await asyncio.to_thread(proxy.wait_ready)
    try:
        def both_answer() -> bool:
            workers = _samples(_scrape(proxy.url), "crosswalk_metrics_workers")
            return workers == {(("kind", "answered"),): 2.0, (("kind", "expected"),): 2.0}

        await eventually(lambda: asyncio.to_thread(both_answer), what="both workers answer the metrics scrape")
        n = 24
        statuses = [await asyncio.to_thread(_post, proxy.url, "draft") for _ in range(n)]
        assert statuses == [200] * n and a.count == n
        for _ in range(6):  # each scrape lands on either worker; every one must show the whole
            text = await asyncio.to_thread(_scrape, proxy.url)
            assert _samples(text, "crosswalk_requests_total") == {(("outcome", "ok"), ("step", "draft")): float(n)}
            assert _samples(text, "crosswalk_tokens_total")[(("kind", "prompt"), ("provider", "a"), ("step", "draft"))] == 19.0 * n
            assert _samples(text, "crosswalk_request_duration_seconds_count") == {(("step", "draft"),): float(n)}
            # Gauges stay per worker: each worker's own window of first attempts, both of them busy.
            firsts = {dict(k)["worker"]: v for k, v in _samples(text, "crosswalk_retry_budget").items() if dict(k)["kind"] == "first_attempts"}
            assert set(firsts) == {"0", "1"} and sum(firsts.values()) == n and min(firsts.values()) > 0
            assert {dict(k)["worker"] for k in _samples(text, "process_resident_memory_bytes")} == {"0", "1"}
    finally:
        await asyncio.to_thread(proxy.stop)

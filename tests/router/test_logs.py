"""`crosswalk serve --log-level --log-format` through a real serve process: one decision
line per request (request id, trace id, step, attempts with classes, provider, latency,
agreement) and a line for each ejection, exclusion, recovery and reload, read from the
process's own stderr; the official openai client sends the requests."""

from __future__ import annotations

import asyncio
import json
import signal

import openai
import pytest

import tests.fakevendor as fv
from tests.eventually import eventually
from tests.router.proxy_harness import ProxyProcess

KEY = "logs-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe?"}]
TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


def _config(primary, secondary, banned, a, b) -> str:
    return f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{primary.base_url}", vendor: alpha}}
  secondary: {{kind: openai, model: mistral-large, base_url: "{secondary.base_url}", vendor: beta}}
  banned: {{kind: openai, model: m-banned, base_url: "{banned.base_url}", vendor: gamma}}
  a: {{kind: openai, model: m-a, base_url: "{a.base_url}", vendor: va, family: fa}}
  b: {{kind: openai, model: m-b, base_url: "{b.base_url}", vendor: vb, family: fb}}
steps:
  draft: {{providers: [primary, secondary], retry: {{same_provider: 0}}, timeouts: {{per_try_s: 2, total_s: 5}}}}
  legal: {{providers: [banned, secondary], timeouts: {{per_try_s: 2, total_s: 5}}}}
  refund: {{providers: [a, b], timeouts: {{per_try_s: 5, total_s: 8}}, verify: {{agree: {{min: 2, of: 2}}, compare: numeric}}}}
proxy: {{api_keys: [{KEY}], reload_interval_s: 60}}
health: {{probe_interval_s: 0, consecutive_failures: 2, ejection_base_s: 0.3, ejection_max_s: 0.3, jitter: 0, half_open_probes: 1}}
"""


@pytest.fixture
async def stack(fake_vendor, tmp_path):
    started: list[ProxyProcess] = []
    clients: list[openai.AsyncOpenAI] = []
    names = ("primary", "secondary", "banned", "a", "b")
    answers = {"secondary": "from secondary", "a": "The refund is $42.99.", "b": "Refund: 42.990 USD"}
    vendors = {n: await fake_vendor(n, answer=answers.get(n)) for n in names}

    async def start(*flags: str):
        cfg = tmp_path / f"c{len(started)}.yaml"
        cfg.write_text(_config(*vendors.values()))
        proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg, extra=list(flags)).wait_ready())
        started.append(proxy)
        client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=10)
        clients.append(client)
        return proxy, client, cfg

    yield start, vendors
    for client in clients:
        await client.close()
    for proxy in started:
        await asyncio.to_thread(proxy.stop)
        assert KEY not in proxy.log()


def _json_lines(proxy: ProxyProcess) -> list[dict]:
    lines = [line for line in proxy.log().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object, or this fails


def _events(proxy: ProxyProcess, kind: str) -> list[dict]:
    return [line for line in _json_lines(proxy) if line.get("event") == kind]


async def test_json_decision_lines_and_provider_events(stack):
    start, v = stack
    proxy, client, cfg = await start("--log-level", "info", "--log-format", "json")
    v["primary"].always(fv.error(503, fv.OVERLOADED_503))
    resp = await client.chat.completions.create(model="draft", messages=MSG,
                                                extra_headers={"x-request-id": "req-1182", "traceparent": TRACEPARENT})
    assert resp.choices[0].message.content == "from secondary"

    (line,) = await eventually(lambda: _events(proxy, "decision"), what="the decision line")
    assert (line["request_id"], line["trace_id"], line["step"], line["provider"]) == ("req-1182", TRACE, "draft", "secondary")
    assert [(a["provider"], a["result"], a["status"]) for a in line["attempts"]] == [("primary", "transient", 503), ("secondary", "ok", None)]
    assert line["latency_ms"] >= 0 and line["failovers"] == 1 and line["error"] is None
    assert line["level"] == "info" and line["logger"] == "crosswalk.decision" and line["ts"].endswith("Z")

    # A second transient failure in a row ejects primary (consecutive_failures: 2).
    await client.chat.completions.create(model="draft", messages=MSG)
    (ejected,) = await eventually(lambda: _events(proxy, "ejected"), what="the ejection line")
    assert ejected["provider"] == "primary" and ejected["level"] == "warning" and "503" in ejected["reason"]
    decisions = _events(proxy, "decision")
    assert len(decisions) == 2 and decisions[1]["request_id"] != "req-1182" and decisions[1]["trace_id"] is None

    # The vendor is back; once the ejection ends a half-open call answers and closes it.
    v["primary"].always(fv.ok())

    async def recovered():
        await client.chat.completions.create(model="draft", messages=MSG)
        return _events(proxy, "recovered")

    (recovery,) = await eventually(recovered, what="the recovery line", every=0.1)
    assert recovery["provider"] == "primary" and "half-open" in recovery["how"]

    v["banned"].always(fv.error(451, fv.LEGAL_451))
    await client.chat.completions.create(model="legal", messages=MSG)
    (excluded,) = await eventually(lambda: _events(proxy, "excluded"), what="the exclusion line")
    assert (excluded["provider"], excluded["failure_class"], excluded["basis"]) == ("banned", "regulatory", "structured")

    resp = await client.chat.completions.create(model="refund", messages=MSG)
    verified = await eventually(lambda: [d for d in _events(proxy, "decision") if d["step"] == "refund"], what="the verified decision")
    agreement = verified[0]["agreement"]
    assert (agreement["decision"], agreement["comparator"], sorted(agreement["agreeing"])) == ("agreed", "numeric", ["a", "b"])
    assert len(verified) == 1  # one line per request, the panel included

    cfg.write_text(cfg.read_text().replace("total_s: 5}}}\n  legal", "total_s: 6}}}\n  legal"))
    proxy.proc.send_signal(signal.SIGHUP)
    (reload,) = await eventually(lambda: _events(proxy, "reload"), what="the reload line")
    assert reload["ok"] is True and reload["path"] == str(cfg)
    cfg.write_text("steps: {broken: {providers: [nobody]}}\n")
    proxy.proc.send_signal(signal.SIGHUP)
    rejected = await eventually(lambda: [r for r in _events(proxy, "reload") if not r["ok"]], what="the rejected reload line")
    assert "providers: required key 'providers' is missing" in rejected[0]["reason"] and rejected[0]["level"] == "warning"


async def test_text_lines_and_the_quiet_default(stack):
    start, v = stack
    loud, loud_client, _ = await start("--log-level", "info")
    quiet, quiet_client, _ = await start()
    for client in (loud_client, quiet_client):
        await client.chat.completions.create(model="draft", messages=MSG, extra_headers={"traceparent": TRACEPARENT})
    line = await eventually(lambda: [x for x in loud.log().splitlines() if "crosswalk decision" in x], what="a text decision line")
    assert " INFO crosswalk.decision: crosswalk decision step=draft provider=primary attempts=primary:ok " in line[0]
    assert f"trace_id={TRACE}" in line[0] and "request_id=" in line[0]
    assert "crosswalk decision" not in quiet.log()  # warning by default: no per-request lines


def test_bad_log_flags_are_refused_with_the_choices(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "serve", "--log-format", "xml"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "invalid choice: 'xml' (choose from 'text', 'json')" in out.stderr

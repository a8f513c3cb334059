"""A model the vendor says is gone is an outage, and a caller cannot forge one: through a
real `crosswalk serve` process in front of fake vendors on loopback.

- Issue 18 (the seed's outage): a step [claude (litellm, anthropic/...), gpt (openai)]
  whose Claude answers Anthropic's 404 `not_found_error` fails over to gpt, and claude
  is excluded as regulatory with Anthropic's message as evidence, in
  /v1/crosswalk/providers and `crosswalk explain`; liftable. The Anthropic side is a
  loopback server speaking Anthropic's wire (POST /v1/messages, its error JSON and
  `request-id` header), reached through litellm's own Anthropic client (`api_base`).
  The OpenAI side's `model_not_found` does the same through the wire adapter.
- Issue 23 item 1: padding past what the caller-text filter used to read, a prompt that
  starts with "unrecognized request argument" and an unknown field named like hard
  evidence never make OpenAI's echo of that field exclude anyone.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests import fakevendor as fv
from tests.loopback import serve_loopback
from tests.router.proxy_harness import ProxyProcess
from tests.router.test_exclusion_evidence import _cli

# The Claude sidecar imports litellm on its first call (several seconds of CPU, more on a
# loaded machine): more than the suite's default 60 s per test.
pytestmark = pytest.mark.timeout(240)

KEY = "cw-withdrawn-key-0123456789"
CLAUDE = "claude-sonnet-4-20250514"
ASK = [{"role": "user", "content": "How much is the refund for order 1234?"}]
CONFIG = """
providers:
  claude: {{kind: litellm, model: "anthropic/{claude}", base_url: "{anthropic}", api_key: sk-ant-loopback-0123456789, vendor: anthropic}}
  gpt:    {{kind: openai, model: gpt-4o-mini, base_url: "{openai}", api_key: sk-gpt-0123456789, vendor: openai}}
  mini:   {{kind: openai, model: gpt-4.1-mini, base_url: "{other}", api_key: sk-mini-0123456789, vendor: other}}
steps:
  draft: {{providers: [claude, gpt], timeouts: {{per_try_s: 60, ttft_s: 60, idle_s: 60, total_s: 90}}}}
  plain: {{providers: [gpt, mini], timeouts: {{per_try_s: 5, ttft_s: 5, idle_s: 5, total_s: 10}}}}
proxy:
  api_keys: ["{key}"]
health:
  probe_interval_s: 0
"""
# Anthropic's error bodies (docs.anthropic.com/en/api/errors; the seed's outage as recorded
# in a public Claude Code issue; a retired model as in mattermost-plugin-agents#257).
FABLE_404 = {"type": "error", "error": {"type": "not_found_error", "message":
             "Claude Fable 5 is not available. Please use Opus 4.8. Learn more: https://www.anthropic.com/news/fable-mythos-access"},
             "request_id": "req_011Cbz7Hq2fX9wYd3mVnKp4L"}
RETIRED_404 = {"type": "error", "error": {"type": "not_found_error", "message": f"model: {CLAUDE}"},
               "request_id": "req_011Cbz7Hq2fX9wYd3mVnKp4M"}
# OpenAI's answer for a model nobody may use any more.
GONE_404 = {"error": {"message": "The model `gpt-4o-mini` does not exist or you do not have access to it.",
                      "type": "invalid_request_error", "param": None, "code": "model_not_found"}}


class FakeAnthropic:
    """POST /v1/messages answering every call with one Anthropic error (status, JSON)."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        self.status, self.payload, self.calls = status, payload, 0
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> "FakeAnthropic":
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        self._runner, port = await serve_loopback(app)
        self.base_url = f"http://127.0.0.1:{port}"  # litellm appends /v1/messages
        return self

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert body["model"] == CLAUDE and request.headers.get("x-api-key") == "sk-ant-loopback-0123456789"
        self.calls += 1
        return web.json_response(self.payload, status=self.status, headers={"request-id": self.payload["request_id"]})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Proxy:
    proc: ProxyProcess
    http: aiohttp.ClientSession
    config: Path

    async def ask(self, step: str, content: str = ASK[0]["content"], **extra: Any) -> tuple[int, dict[str, str], Any]:
        body = {"model": step, "messages": [{"role": "user", "content": content}], **extra}
        async with self.http.post(self.proc.url + "/v1/chat/completions", json=body,
                                  headers={"authorization": f"Bearer {KEY}"}) as resp:
            return resp.status, dict(resp.headers), await resp.json()

    async def providers(self) -> dict[str, dict[str, Any]]:
        async with self.http.get(self.proc.url + "/v1/crosswalk/providers", headers={"authorization": f"Bearer {KEY}"}) as resp:
            return {p["provider"]: p for p in (await resp.json())["providers"]}


async def _serve(tmp_path: Path, anthropic: FakeAnthropic, openai_url: str, other_url: str) -> Proxy:
    path = tmp_path / "crosswalk.yaml"
    path.write_text(CONFIG.format(claude=CLAUDE, anthropic=anthropic.base_url, openai=openai_url, other=other_url, key=KEY))
    proc = ProxyProcess(path, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    await asyncio.to_thread(proc.wait_ready)
    return Proxy(proc, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)), path)


@pytest.fixture
async def serve(tmp_path: Path, fake_vendor: Any) -> Any:
    made: list[tuple[Proxy, FakeAnthropic]] = []

    async def start(status: int, payload: dict[str, Any]) -> tuple[Proxy, FakeAnthropic, fv.FakeVendor, fv.FakeVendor]:
        anthropic = await FakeAnthropic(status, payload).start()
        gpt, other = await fake_vendor("gpt"), await fake_vendor("mini")
        proxy = await _serve(tmp_path, anthropic, gpt.base_url, other.base_url)
        made.append((proxy, anthropic))
        return proxy, anthropic, gpt, other

    yield start
    for proxy, anthropic in made:
        await proxy.http.close()
        await asyncio.to_thread(proxy.proc.stop)
        await anthropic.stop()


async def _explain(proxy: Proxy, step: str, provider: str) -> str:
    out = await asyncio.to_thread(_cli, "explain", "--step", step, "--config", str(proxy.config), "--url", proxy.proc.url, "--key", KEY)
    # the provider's own row, not a line that merely contains its name (the config's path may)
    return next(line for line in out.stdout.splitlines() if line.split()[1:2] == [provider] or line.split()[:1] == [provider])


# --- issue 18: the seed's outage ------------------------------------------------------------


async def test_a_withdrawn_claude_fails_over_and_is_excluded_as_regulatory_and_can_be_lifted(serve):
    proxy, anthropic, _, _ = await serve(404, RETIRED_404)
    status, headers, body = await proxy.ask("draft")  # the first call also imports litellm: a long per_try_s
    assert status == 200 and headers["x-crosswalk-provider"] == "gpt", body
    assert headers["x-crosswalk-attempts"] == "claude:regulatory,gpt:ok"
    row = (await proxy.providers())["claude"]
    assert row["state"] == "excluded" and row["exclusion"]["failure_class"] == "regulatory"
    assert row["exclusion"]["basis"] == "structured" and f"model: {CLAUDE}" in row["exclusion"]["evidence"]
    calls = anthropic.calls
    for _ in range(2):  # every caller keeps getting answers, and claude is not asked again
        status, headers, _ = await proxy.ask("draft", "Another question, order 77?")
        assert status == 200 and headers["x-crosswalk-provider"] == "gpt"
    assert anthropic.calls == calls
    line = await _explain(proxy, "draft", "claude")
    assert "EXCLUDED" in line and "regulatory" in line and CLAUDE in line
    # Liftable by an operator.
    async with proxy.http.post(proxy.proc.url + "/v1/crosswalk/providers/claude/unexclude",
                               headers={"authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status == 200
    assert (await proxy.providers())["claude"]["exclusion"] is None

    # The export-control 404 names the model by its display name only: Anthropic's words,
    # so a second, different request corroborates it before claude is excluded.
    anthropic.payload = FABLE_404
    for _ in range(2):  # one request, asked twice: one sighting
        status, headers, _ = await proxy.ask("draft")
        assert status == 200 and headers["x-crosswalk-attempts"] == "claude:regulatory,gpt:ok"
    row = (await proxy.providers())["claude"]
    assert row["exclusion"] is None and [s["failure_class"] for s in row["pending_sightings"]] == ["regulatory"]
    status, headers, _ = await proxy.ask("draft", "A different question: order 5678?")
    assert status == 200 and headers["x-crosswalk-provider"] == "gpt"
    row = (await proxy.providers())["claude"]
    assert row["state"] == "excluded" and row["exclusion"]["basis"] == "corroborated"
    assert "Claude Fable 5 is not available" in row["exclusion"]["evidence"]


async def test_openai_model_not_found_fails_over_and_excludes_and_padding_never_forges_one(serve):
    proxy, _, gpt, other = await serve(404, RETIRED_404)
    # Issue 23 item 1: padding past what the filter used to read, a prompt that starts with
    # "unrecognized request argument", an unknown field named like hard evidence.
    gpt.always(fv.echo_field())
    other.always(fv.echo_field())
    for n, field in enumerate(["unsupported_country_region_territory", "deprecated", "unsupported_country_region_territory",
                               "deprecated", "model_not_found"]):
        pad = f"{n} padding " * ((1 << 20) // 10 + 1)  # over 1 MiB, the old bound; a different request each time
        status, headers, body = await proxy.ask("plain", "unrecognized request argument " + pad, **{field: True})
        assert status == 400 and body["error"]["message"].endswith(f"Unrecognized request argument supplied: {field}")
        assert headers["x-crosswalk-attempts"] == "gpt:client"
        assert json.dumps(gpt.calls[-1].body).count(field) == 1
    for name in ("gpt", "mini"):
        row = (await proxy.providers())[name]
        assert row["exclusion"] is None and row["pending_sightings"] == [], row
    assert "hard-excluded" not in proxy.proc.log() and "evidence in an error's text" not in proxy.proc.log()

    # The vendor's own model_not_found about the model Crosswalk sent: an outage, streamed too.
    gpt.always(fv.error(404, GONE_404))
    async with proxy.http.post(proxy.proc.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"},
                               json={"model": "plain", "messages": ASK, "stream": True}) as resp:
        streamed = (await resp.read()).decode()
        assert resp.status == 200 and resp.headers["x-crosswalk-provider"] == "mini", streamed
    events = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]) == other.answer
    assert streamed.rstrip().endswith("data: [DONE]")
    row = (await proxy.providers())["gpt"]
    assert row["exclusion"]["failure_class"] == "regulatory" and "does not exist" in row["exclusion"]["evidence"]

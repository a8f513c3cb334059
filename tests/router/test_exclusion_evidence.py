"""Hard exclusions through the sidecar as users meet them: a real `crosswalk serve` process
in front of fake vendors on loopback, called with the official openai client and raw HTTP.

- A caller's own input is never evidence against a provider: a vendor that echoes an
  unknown field (`deprecated`, `api_key_invalid`, `..._unsupported_country_region_territory`)
  or the prompt gives the caller its 400, and every provider stays healthy.
- Hard evidence from an error's free text alone needs a second, different request; a
  structured signal excludes at once; either way the exclusion is logged at WARNING with
  its evidence and shown by GET /v1/crosswalk/providers and `crosswalk explain`.
- An operator lifts an exclusion with `crosswalk unexclude` (or the endpoint, behind the
  proxy's keys).
- A 503 caused by an exclusion that lasts until the config changes promises no retry time.

Waits poll with a deadline, never sleep-and-assert.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tests import fakevendor as fv
from tests.fakevendor import Vendors
from tests.router.proxy_harness import ProxyProcess

KEY = "cw-evidence-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]
ASK = [{"role": "user", "content": "How much is the refund for order 1234?"}]
CONFIG = """
providers:
  primary:   {{kind: openai, model: gpt-4o-mini, base_url: "{primary}", api_key: sk-primary-0123456789, vendor: alpha, region: us}}
  secondary: {{kind: openai, model: mistral-large-latest, base_url: "{secondary}", api_key: sk-secondary-0123456789, vendor: beta, region: eu}}
steps:
  draft: {{providers: [primary, secondary], timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}}}
  solo:  {{providers: [primary], timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}}}
  quota: {{providers: [secondary], timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}}}
proxy:
  api_keys: ["{key}"]
health:
  probe_interval_s: 0
"""
# A vendor's own free-text word that its model is gone (no code, no param): the kind of
# evidence an echo could fake, so it needs corroboration.
DECOMMISSIONED_400 = {"error": {"message": "The model `gpt-4o-mini` has been decommissioned and is no longer supported.",
                                "type": "invalid_request_error", "param": None, "code": None}}


@dataclass
class Proxy:
    proc: ProxyProcess
    http: aiohttp.ClientSession
    config: Path

    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.proc.url + "/v1", api_key=KEY, max_retries=0, timeout=15)

    async def post(self, path: str, body: Any = None, key: str | None = KEY) -> tuple[int, dict[str, str], Any]:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        async with self.http.post(self.proc.url + path, json=body, headers=headers) as resp:
            return resp.status, dict(resp.headers), await resp.json()

    async def ask(self, messages: list[dict[str, Any]] = ASK, step: str = "draft", **extra: Any) -> tuple[int, dict[str, str], Any]:
        return await self.post("/v1/chat/completions", {"model": step, "messages": messages, **extra})

    async def providers(self) -> dict[str, dict[str, Any]]:
        async with self.http.get(self.proc.url + "/v1/crosswalk/providers", headers={"authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 200
            return {p["provider"]: p for p in (await resp.json())["providers"]}


@pytest.fixture
async def proxy(tmp_path: Path, vendors: Vendors) -> Any:
    path = tmp_path / "crosswalk.yaml"
    path.write_text(CONFIG.format(primary=vendors.primary.base_url, secondary=vendors.secondary.base_url, key=KEY))
    proc = ProxyProcess(path)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
    try:
        await asyncio.to_thread(proc.wait_ready)
        yield Proxy(proc, http, path)
    finally:
        await http.close()
        await asyncio.to_thread(proc.stop)


async def _all_healthy(proxy: Proxy) -> None:
    for name, row in (await proxy.providers()).items():
        assert row["state"] == "healthy" and row["exclusion"] is None and row["pending_sightings"] == [], (name, row)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crosswalk.router.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=30)


# --- a caller's own input ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["deprecated", "api_key_invalid", "x_unsupported_country_region_territory_flag"])
async def test_an_echoed_unknown_field_is_the_callers_400_and_every_provider_stays_healthy(proxy, vendors, field):
    vendors.primary.always(fv.echo_field())
    vendors.secondary.always(fv.echo_field())
    with pytest.raises(openai.BadRequestError) as info:
        await proxy.client().chat.completions.create(model="draft", messages=ASK, extra_body={field: True})
    assert info.value.status_code == 400
    assert f"Unrecognized request argument supplied: {field}" in info.value.message  # the vendor's own 400
    assert vendors.primary.count == 1 and vendors.secondary.count == 0  # the caller's mistake: no failover
    await _all_healthy(proxy)
    raw = await proxy.client().chat.completions.with_raw_response.create(model="draft", messages=ASK)
    assert raw.headers["x-crosswalk-provider"] == "primary" and vendors.primary.count == 2
    assert "hard-excluded" not in proxy.proc.log()


async def test_a_prompt_quoted_back_in_an_error_is_not_evidence(proxy, vendors):
    vendors.primary.always(fv.echo_content(400, "Invalid value for 'messages[0].content': '{content}'"))
    prompt = [{"role": "user", "content": "Our old model was decommissioned; which region is not supported any more?"}]
    status, _, body = await proxy.ask(prompt)
    assert status == 400 and "decommissioned" in body["error"]["message"]
    assert vendors.secondary.count == 0
    await _all_healthy(proxy)


# --- corroboration ----------------------------------------------------------------------


async def test_free_text_evidence_excludes_only_when_a_different_request_shows_it_too(proxy, vendors):
    vendors.primary.always(fv.error(400, DECOMMISSIONED_400))
    first = [{"role": "user", "content": "First question: the refund for order 1234?"}]
    for _ in range(2):  # the same request twice is one sighting (a client retrying it)
        status, headers, _ = await proxy.ask(first)
        assert status == 200 and headers["x-crosswalk-provider"] == "secondary"  # failed over
        row = (await proxy.providers())["primary"]
        assert row["state"] == "healthy" and row["exclusion"] is None
        assert [s["failure_class"] for s in row["pending_sightings"]] == ["regulatory"]
        assert "decommissioned" in row["pending_sightings"][0]["evidence"]
    status, headers, _ = await proxy.ask([{"role": "user", "content": "Second question: the refund for order 5678?"}])
    assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
    row = (await proxy.providers())["primary"]
    assert row["state"] == "excluded" and row["pending_sightings"] == []
    assert row["exclusion"]["failure_class"] == "regulatory" and row["exclusion"]["corroborated"] is True
    assert row["exclusion"]["basis"] == "corroborated" and "decommissioned" in row["exclusion"]["evidence"]
    calls = vendors.primary.count
    status, headers, _ = await proxy.ask()
    assert status == 200 and headers["x-crosswalk-provider"] == "secondary" and vendors.primary.count == calls
    warning = next(line for line in proxy.proc.log().splitlines() if "hard-excluded" in line)
    assert "WARNING" in warning and "corroborated" in warning and "decommissioned" in warning


async def test_a_structured_signal_excludes_at_once_and_explain_shows_it(proxy, vendors):
    vendors.primary.always(fv.error(403, fv.REGION_403))
    status, headers, _ = await proxy.ask()
    assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
    row = (await proxy.providers())["primary"]
    assert row["state"] == "excluded" and row["exclusion"]["basis"] == "structured" and row["exclusion"]["corroborated"] is False
    assert "unsupported_country_region_territory" in row["exclusion"]["evidence"]
    warning = next(line for line in proxy.proc.log().splitlines() if "hard-excluded" in line)
    assert "WARNING" in warning and "unsupported_country_region_territory" in warning
    out = await asyncio.to_thread(_cli, "explain", "--step", "draft", "--config", str(proxy.config),
                                  "--url", proxy.proc.url, "--key", KEY)
    line = next(l for l in out.stdout.splitlines() if "primary" in l)
    assert "EXCLUDED" in line and "regulatory" in line and "unsupported_country_region_territory" in line


# --- operator lift ----------------------------------------------------------------------


async def test_crosswalk_unexclude_lifts_an_exclusion_on_a_running_proxy(proxy, vendors):
    vendors.primary.script(fv.error(401, fv.invalid_api_key_401("sk-primary-0123456789")))  # then it answers
    status, headers, _ = await proxy.ask()
    assert status == 200 and headers["x-crosswalk-provider"] == "secondary"
    assert (await proxy.providers())["primary"]["exclusion"]["failure_class"] == "auth"
    out = await asyncio.to_thread(_cli, "unexclude", "primary", "--url", proxy.proc.url, env={"CROSSWALK_API_KEY": KEY})
    assert out.returncode == 0, out.stderr
    assert "primary: lifted auth exclusion (structured)" in out.stdout and "invalid_api_key" in out.stdout
    await _all_healthy(proxy)
    status, headers, _ = await proxy.ask()
    assert status == 200 and headers["x-crosswalk-provider"] == "primary"
    assert any("WARNING" in l and "exclusion lifted by an operator" in l for l in proxy.proc.log().splitlines())
    again = await asyncio.to_thread(_cli, "unexclude", "primary", "--url", proxy.proc.url, "--key", KEY)
    assert again.returncode == 0 and "no exclusion was in force" in again.stdout


async def test_unexclude_clears_pending_sightings_and_the_endpoint_needs_a_key(proxy, vendors):
    vendors.primary.script(fv.error(400, DECOMMISSIONED_400))
    assert (await proxy.ask())[0] == 200
    assert len((await proxy.providers())["primary"]["pending_sightings"]) == 1
    for key in (None, "wrong-key"):
        status, _, body = await proxy.post("/v1/crosswalk/providers/primary/unexclude", key=key)
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert len((await proxy.providers())["primary"]["pending_sightings"]) == 1  # refused: nothing changed
    status, _, body = await proxy.post("/v1/crosswalk/providers/nobody/unexclude")
    assert status == 404 and body["error"]["code"] == "provider_not_found" and "primary" in body["error"]["message"]
    out = await asyncio.to_thread(_cli, "unexclude", "nobody", "--url", proxy.proc.url, "--key", KEY)
    assert out.returncode == 1 and "unknown provider 'nobody'" in out.stderr
    out = await asyncio.to_thread(_cli, "unexclude", "primary", "--url", proxy.proc.url, "--key", "wrong-key")
    assert out.returncode == 1 and "401" in out.stderr
    status, _, body = await proxy.post("/v1/crosswalk/providers/primary/unexclude")
    assert status == 200 and body == {"provider": "primary", "lifted": None, "sightings_dropped": 1, "state": "healthy"}
    await _all_healthy(proxy)


# --- no false promise of a retry ------------------------------------------------------------


async def test_a_503_from_an_exclusion_until_the_config_changes_says_not_to_retry(proxy, vendors):
    vendors.primary.always(fv.error(401, fv.invalid_api_key_401("sk-primary-0123456789")))
    status, _, _ = await proxy.ask(step="solo")
    assert status == 502  # the attempt that found out
    status, headers, body = await proxy.ask(step="solo")
    assert status == 503 and body["error"]["type"] == "no_eligible_provider"
    assert "until the config changes" in body["error"]["message"]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert "retry-after" not in lowered and lowered["x-should-retry"] == "false"
    # A quota exclusion does end: its 503 says when.
    vendors.secondary.always(fv.error(429, fv.INSUFFICIENT_QUOTA_429))
    assert (await proxy.ask(step="quota"))[0] == 502
    status, headers, _ = await proxy.ask(step="quota")
    lowered = {k.lower(): v for k, v in headers.items()}
    assert status == 503 and int(lowered["retry-after"]) > 60 and lowered["x-should-retry"] == "true"

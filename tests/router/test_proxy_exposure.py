"""What a real `crosswalk serve` shows to whom. On a public bind with keys set, /metrics
takes a key (an API key or one of proxy.metrics_keys, which opens nothing else) and /readyz
stays open for a kubelet but keeps the config file's name and reload error text for
callers with a key. Callers' errors and recovery events never show a vendor's scheme,
host or port (the log keeps them)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import openai

import tests.fakevendor as fv
from tests.eventually import eventually
from tests.loopback import free_port
from tests.router.proxy_harness import ProxyProcess

KEY = "exposure-key-0123456789"
SCRAPER = "scraper-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe?"}]


def _get(proxy: ProxyProcess, path: str, key: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(proxy.url + path, headers={"authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_on_a_public_bind_metrics_take_a_key_and_readiness_keeps_its_details(fake_vendor, tmp_path):
    vendor = await fake_vendor("primary")
    cfg = tmp_path / "secret-deployment-name.yaml"
    text = f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{vendor.base_url}", vendor: alpha}}
steps:
  draft: {{providers: [primary]}}
proxy: {{api_keys: [{KEY}], metrics_keys: [{SCRAPER}], reload_interval_s: 0.2}}
health: {{probe_interval_s: 0}}
"""
    cfg.write_text(text)
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg, host="0.0.0.0", env={"CROSSWALK_API_KEYS": ""}).wait_ready())
    try:
        status, body = await asyncio.to_thread(_get, proxy, "/metrics")
        assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
        assert (await asyncio.to_thread(_get, proxy, "/metrics", "wrong-key"))[0] == 401
        for key in (SCRAPER, KEY):
            status, body = await asyncio.to_thread(_get, proxy, "/metrics", key)
            assert status == 200 and b"crosswalk_requests" in body
        # The scraper's key opens nothing else.
        assert (await asyncio.to_thread(_get, proxy, "/v1/models", SCRAPER))[0] == 401

        status, body = await asyncio.to_thread(_get, proxy, "/readyz")
        assert status == 200 and b"secret-deployment-name" not in body
        assert json.loads(body) == {"status": "ok", "steps_ready": ["draft"], "steps_without_provider": [], "reload_failed": False}
        status, body = await asyncio.to_thread(_get, proxy, "/readyz", SCRAPER)
        assert status == 200 and json.loads(body)["config"].endswith("secret-deployment-name.yaml")

        cfg.write_text(text.replace("providers: [primary]", "providers: [nobody-by-this-name]"))

        async def rejected() -> bool:
            return json.loads((await asyncio.to_thread(_get, proxy, "/readyz"))[1])["reload_failed"]

        await eventually(rejected, within=15, what="the bad file is rejected")
        status, body = await asyncio.to_thread(_get, proxy, "/readyz")
        assert status == 200 and b"nobody-by-this-name" not in body and b"secret-deployment-name" not in body
        status, body = await asyncio.to_thread(_get, proxy, "/readyz", KEY)
        assert "nobody-by-this-name" in json.loads(body)["reload_error"]
    finally:
        await asyncio.to_thread(proxy.stop)
    assert KEY not in proxy.log() and SCRAPER not in proxy.log()


async def test_callers_never_read_a_vendors_address(fake_vendor, tmp_path):
    cutter, good = await fake_vendor("cutter"), await fake_vendor("good")
    cutter.always(fv.cut(after=3))  # breaks after its first tokens: resumed on `good`
    dead_port = free_port()  # nothing listens: connection refused
    cfg = tmp_path / "origins.yaml"
    cfg.write_text(f"""
providers:
  dead:   {{kind: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:{dead_port}/v1", vendor: alpha}}
  cutter: {{kind: openai, model: gpt-4o-mini, base_url: "{cutter.base_url}", vendor: beta}}
  good:   {{kind: openai, model: gpt-4o-mini, base_url: "{good.base_url}", vendor: gamma}}
steps:
  lonely: {{providers: [dead]}}
  resumed: {{providers: [cutter, good], stream: {{resume: restart}}}}
proxy: {{api_keys: [{KEY}]}}
health: {{probe_interval_s: 0, consecutive_failures: 1}}
""")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=KEY, max_retries=0, timeout=15)
    addresses = [f"127.0.0.1:{dead_port}", cutter.base_url.split("/v1")[0], "http://", "127.0.0.1"]
    try:
        try:
            await client.chat.completions.create(model="lonely", messages=MSG)
            raise AssertionError("a dead vendor answered")
        except openai.APIStatusError as exc:
            assert exc.status_code == 502
            message = exc.response.text
        assert "dead:" in message and not any(a in message for a in addresses), message
        stream = await client.chat.completions.create(model="resumed", messages=MSG, stream=True)
        events = [chunk.model_dump() async for chunk in stream]
        recovery = json.dumps([e for e in events if e.get("crosswalk")])
        assert '"resumed"' in recovery and "cutter" in recovery
        assert not any(a in recovery for a in addresses), recovery
    finally:
        await client.close()
        await asyncio.to_thread(proxy.stop)
    assert f"127.0.0.1:{dead_port}" in proxy.log()  # the operator's log keeps where it went (the ejection's evidence)

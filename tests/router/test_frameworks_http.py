"""The framework recipes of docs/frameworks.md against a real `crosswalk serve`: CrewAI's LLM(model=
"openai/<step>", base_url=...) is litellm's OpenAI wire with that model and base URL, and
n8n's OpenAI credential with a custom base URL fills its model list from /v1/models."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from tests.router.proxy_harness import ProxyProcess

KEY = "frameworks-key-0123456789"


@pytest.mark.timeout(120)  # the first litellm import takes seconds
async def test_crewai_style_litellm_call_and_n8n_model_list(fake_vendor, tmp_path, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    vendor = await fake_vendor("v")
    cfg = tmp_path / "frameworks.yaml"
    cfg.write_text(f"providers:\n  v: {{kind: openai, model: m-v, base_url: '{vendor.base_url}'}}\n"
                   f"steps:\n  draft: {{providers: [v]}}\n  verify: {{providers: [v]}}\nproxy: {{api_keys: [{KEY}]}}\n")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    try:
        resp = await litellm.acompletion(model="openai/draft", api_base=proxy.url + "/v1", api_key=KEY,
                                         messages=[{"role": "user", "content": "hi"}], max_retries=0, timeout=10)
        assert resp.choices[0].message.content == vendor.answer
        assert vendor.calls[-1].body["model"] == "m-v"  # the step's provider model, not the framework's name

        def models() -> list[str]:
            req = urllib.request.Request(proxy.url + "/v1/models", headers={"authorization": f"Bearer {KEY}"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return sorted(m["id"] for m in json.loads(r.read())["data"])

        assert await asyncio.to_thread(models) == ["draft", "verify"]
    finally:
        await asyncio.to_thread(proxy.stop)

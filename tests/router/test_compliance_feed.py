"""The compliance feed (compliance.embargo_file, hot-reloaded) and `crosswalk explain`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import tests.fakevendor as fv
from crosswalk.policies.errors import ConfigError
from crosswalk.router.configfile import load_config
from tests.eventually import eventually
from tests.router.proxy_harness import ProxyProcess

KEY = "feed-test-key-123456"


def _write(tmp_path: Path, primary: str, secondary: str, feed: str) -> Path:
    (tmp_path / "feed.yaml").write_text(feed)
    cfg = tmp_path / "crosswalk.yaml"
    cfg.write_text(f"""
providers:
  primary: {{kind: openai, model: deepseek-chat, base_url: "{primary}", vendor: deepseek, region: us}}
  secondary: {{kind: openai, model: gpt-4o-mini, base_url: "{secondary}", vendor: openai, region: eu}}
steps:
  draft: {{providers: [primary, secondary], timeouts: {{per_try_s: 2, ttft_s: 2, idle_s: 2, total_s: 5}}}}
compliance:
  embargo_file: feed.yaml
proxy: {{api_keys: ["{KEY}"], reload_interval_s: 0.1}}
""")
    return cfg


def _ask(proxy: ProxyProcess) -> tuple[str, str]:
    req = urllib.request.Request(proxy.url + "/v1/chat/completions", method="POST",
                                 data=json.dumps({"model": "draft", "messages": [{"role": "user", "content": "hi"}]}).encode(),
                                 headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["x-crosswalk-provider"], json.loads(resp.read())["model"]


async def _answered_by(proxy: ProxyProcess, provider: str) -> bool:
    return (await asyncio.to_thread(_ask, proxy))[0] == provider


def _reload_error(proxy: ProxyProcess) -> str | None:
    """Why the last reload was rejected, as /readyz says (None: the last one applied)."""
    try:
        with urllib.request.urlopen(proxy.url + "/readyz", timeout=10) as resp:
            return json.loads(resp.read())["reload_error"]
    except urllib.error.HTTPError as exc:  # 503 while a step has no usable provider
        return json.loads(exc.read())["reload_error"]


def _explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "explain", *args], capture_output=True, text=True, timeout=60)


def test_feed_entries_join_the_config_and_errors_name_the_feed(tmp_path):
    cfg = _write(tmp_path, "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1",
                 '- {model: "deepseek*", since: 2026-01-01, reason: "export-control review"}\n')
    config = load_config(cfg)
    assert [e.reason for e in config.compliance.embargo] == ["export-control review"]
    (tmp_path / "feed.yaml").write_text("- {vendor: x}\n")
    with pytest.raises(ConfigError, match=r"compliance.embargo_file \(feed.yaml\)\[0\].reason: required key 'reason' is missing"):
        load_config(cfg)
    (tmp_path / "feed.yaml").unlink()
    with pytest.raises(ConfigError, match=r"compliance.embargo_file \(feed.yaml\): the file cannot be read"):
        load_config(cfg)


def test_explain_prints_compliance_reasons_and_region(tmp_path):
    cfg = _write(tmp_path, "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1",
                 '- {model: "deepseek*", since: 2026-01-01, until: 2099-12-31, reason: "export-control review"}\n')
    out = _explain("--step", "draft", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert "primary" in out.stdout and "BLOCKED" in out.stdout
    assert "embargo on model 'deepseek*' since 2026-01-01 until 2099-12-31: export-control review" in out.stdout
    out = _explain("--step", "draft", "--config", str(cfg), "--region", "us")
    assert out.returncode == 1  # nothing may serve a US-only request: primary embargoed, secondary in the EU
    assert "region 'eu' not in allowed regions ['us']" in out.stdout
    out = _explain("--step", "nope", "--config", str(cfg))
    assert out.returncode == 1 and "known steps: draft" in out.stderr


async def test_feed_hot_reload_and_live_explain(tmp_path, fake_vendor):
    primary, secondary = await fake_vendor("primary"), await fake_vendor("secondary")
    cfg = _write(tmp_path, primary.base_url, secondary.base_url, "[]\n")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    try:
        assert (await asyncio.to_thread(_ask, proxy))[0] == "primary"
        # The compliance team embargoes the vendor in the feed only; routing follows.
        (tmp_path / "feed.yaml").write_text('- {vendor: deepseek, reason: "withdrawn under export control"}\n')
        await eventually(lambda: _answered_by(proxy, "secondary"), what="the feed change is applied")
        calls = primary.count
        for _ in range(3):
            assert (await asyncio.to_thread(_ask, proxy))[0] == "secondary"
        assert primary.count == calls  # never called while embargoed
        # A bad feed is rejected, naming the feed's path, and keeps the last good rules.
        (tmp_path / "feed.yaml").write_text("- {vendor: deepseek}\n")
        error = await eventually(lambda: asyncio.to_thread(_reload_error, proxy), what="the bad feed is rejected")
        assert "compliance.embargo_file (feed.yaml)[0].reason" in error and "'reason' is missing" in error
        assert (await asyncio.to_thread(_ask, proxy))[0] == "secondary"
        # The embargo lifts; then the primary answers with a region block: live explain shows it.
        (tmp_path / "feed.yaml").write_text("[]\n")
        await eventually(lambda: _answered_by(proxy, "primary"), what="the lifted embargo is applied")
        assert await asyncio.to_thread(_reload_error, proxy) is None  # the good feed cleared the error
        primary.always(fv.error(403, fv.REGION_403))
        assert (await asyncio.to_thread(_ask, proxy))[0] == "secondary"
        out = await asyncio.to_thread(_explain, "--step", "draft", "--config", str(cfg), "--url", proxy.url, "--key", KEY)
        assert out.returncode == 0, out.stderr
        assert "live state from the proxy" in out.stdout
        line = next(l for l in out.stdout.splitlines() if "primary" in l)
        assert "EXCLUDED" in line and "unsupported_country_region_territory" in line
    finally:
        await asyncio.to_thread(proxy.stop)
    assert "config reload rejected" in proxy.log()

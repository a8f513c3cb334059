"""Upstream proxies and CA bundles through real processes: `crosswalk serve` started with
HTTPS_PROXY / NO_PROXY / SSL_CERT_FILE in its environment, a loopback CONNECT proxy in
front of a loopback TLS vendor signed by a CA the test made, and the official openai
client; `crosswalk check` for the config errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import openai
import pytest

from tests.connect_proxy import ConnectProxy
from tests.router.proxy_harness import ProxyProcess
from tests.tls_certs import self_signed, server_context

KEY = "upstream-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe for order 1182?"}]


def _config(tmp_path, base_url: str, ca_bundle: str | None) -> object:
    cfg = tmp_path / "upstream.yaml"
    bundle = f", ca_bundle: '{ca_bundle}'" if ca_bundle else ""
    cfg.write_text(f"providers:\n  v: {{kind: openai, model: m, base_url: '{base_url}', api_key: sk-vendor-0123456789{bundle}}}\n"
                   f"steps:\n  draft: {{providers: [v], timeouts: {{per_try_s: 5, total_s: 8}}}}\nproxy: {{api_keys: [{KEY}]}}\n")
    return cfg


async def _ask(url: str, times: int) -> list[str]:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=10)
    try:
        return [(await client.chat.completions.create(model="draft", messages=MSG)).choices[0].message.content for _ in range(times)]
    finally:
        await client.close()


@pytest.fixture
async def tls_vendor(fake_vendor, tmp_path):
    cert, key = self_signed(tmp_path, "vendor-ca")
    return await fake_vendor("tls", tls=server_context(cert, key)), cert


@pytest.mark.parametrize("trust", ["ca_bundle", "SSL_CERT_FILE"])
async def test_serve_reaches_a_private_ca_vendor_through_the_proxy(tls_vendor, tmp_path, trust):
    vendor, cert = tls_vendor
    proxy = await ConnectProxy(credentials=("ops", "s3cret-proxy-pw")).start()
    env = {"HTTPS_PROXY": proxy.url.replace("://", "://ops:s3cret-proxy-pw@")}
    if trust == "SSL_CERT_FILE":
        env["SSL_CERT_FILE"] = str(cert)
    served = ProxyProcess(_config(tmp_path, vendor.base_url, str(cert) if trust == "ca_bundle" else None), env=env)
    try:
        await asyncio.to_thread(served.wait_ready)
        assert await _ask(served.url, 3) == [vendor.answer] * 3
    finally:
        await asyncio.to_thread(served.stop)
        await proxy.stop()
    assert len(proxy.tunnels) >= 1 and set(proxy.tunnels) == {vendor.base_url.split("//")[1].split("/")[0]}
    assert vendor.count == 3
    assert "s3cret-proxy-pw" not in served.log()


async def test_serve_with_no_proxy_goes_direct(tls_vendor, tmp_path):
    vendor, cert = tls_vendor
    proxy = await ConnectProxy().start()
    served = ProxyProcess(_config(tmp_path, vendor.base_url, str(cert)), env={"HTTPS_PROXY": proxy.url, "NO_PROXY": "localhost"})
    try:
        await asyncio.to_thread(served.wait_ready)
        assert await _ask(served.url, 2) == [vendor.answer] * 2
    finally:
        await asyncio.to_thread(served.stop)
        await proxy.stop()
    assert proxy.tunnels == [] and vendor.count == 2


async def test_serve_without_the_ca_answers_502_and_never_reaches_the_vendor(tls_vendor, tmp_path):
    vendor, _ = tls_vendor
    served = ProxyProcess(_config(tmp_path, vendor.base_url, None))
    try:
        await asyncio.to_thread(served.wait_ready)
        with pytest.raises(openai.APIStatusError) as info:
            await _ask(served.url, 1)
    finally:
        await asyncio.to_thread(served.stop)
    assert info.value.status_code in (502, 503) and vendor.count == 0
    assert info.value.response.headers["x-crosswalk-attempts"].startswith("v:")
    assert "its TLS certificate is not trusted" in info.value.message  # the cause reaches the caller


def test_check_names_a_bad_ca_bundle_and_a_bad_proxy_variable(tmp_path):
    cfg = _config(tmp_path, "https://api.vendor.example/v1", str(tmp_path / "nowhere.pem"))
    out = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "check", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"providers.v.ca_bundle: no such file '{tmp_path / 'nowhere.pem'}'; give the path of a PEM file of CA certificates" in out.stderr
    cfg = _config(tmp_path, "https://api.vendor.example/v1", None)
    out = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "check", str(cfg)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HTTPS_PROXY": "socks5://u:topsecret@proxy:1080"})
    assert out.returncode == 1 and "providers.v: HTTPS_PROXY: only http:// proxies are supported" in out.stderr
    assert "topsecret" not in out.stderr
    cfg.write_text("providers:\n  s: {kind: simulated, model: m, ca_bundle: /ca.pem}\nsteps:\n  draft: {providers: [s]}\n")
    out = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "check", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "providers.s: 'ca_bundle' is for kinds 'openai' and 'anthropic'" in out.stderr


def test_the_sdk_names_a_bad_ca_bundle_too(tmp_path):
    from crosswalk import Router
    from crosswalk.policies.errors import ConfigError
    from crosswalk.policies.parse import parse_config

    cfg = parse_config(_config(tmp_path, "https://api.vendor.example/v1", str(tmp_path / "gone.pem")).read_text(), env={})
    with pytest.raises(ConfigError, match=r"providers\.v\.ca_bundle: no such file '.*gone.pem'"):
        Router(cfg)

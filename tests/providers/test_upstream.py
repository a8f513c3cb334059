"""Upstream proxies and CA bundles in the lean client: the NO_PROXY and proxy-variable
rules, and real calls through a loopback CONNECT proxy to a loopback TLS vendor whose
certificate a CA made by the test signed."""

from __future__ import annotations

import base64

import pytest

from crosswalk.providers.base import ChatRequest
from crosswalk.providers.errors import ProviderConnectionError
from crosswalk.providers.openai_wire import OpenAIWireProvider
from crosswalk.providers.upstream import bypasses, proxy_for, tls_context, upstream_for
from tests.connect_proxy import ConnectProxy
from tests.tls_certs import self_signed, server_context

REQUEST = ChatRequest({"messages": [{"role": "user", "content": "hi"}]})


@pytest.mark.parametrize("no_proxy, host, port, bypassed", [
    ("*", "api.openai.com", 443, True),
    ("openai.com", "api.openai.com", 443, True),
    ("openai.com", "openai.com", 443, True),
    (".openai.com", "api.openai.com", 443, True),
    ("*.openai.com", "api.openai.com", 443, True),
    ("openai.com", "notopenai.com", 443, False),
    ("api.openai.com:8443", "api.openai.com", 443, False),
    ("api.openai.com:443", "api.openai.com", 443, True),
    ("10.0.0.0/8", "10.2.3.4", 443, True),
    ("10.0.0.0/8", "11.2.3.4", 443, False),
    ("10.0.0.0/8", "ten.example", 443, False),
    ("127.0.0.1", "127.0.0.1", 80, True),
    ("::1", "::1", 80, True),
    ("[::1]:8080", "::1", 8080, True),
    ("fd00::/8", "fd12::1", 443, True),
    (" example.org , LOCALHOST ", "localhost", 80, True),
    ("", "localhost", 80, False),
])
def test_no_proxy_matches_hosts_suffixes_cidrs_ports_and_star(no_proxy, host, port, bypassed):
    assert bypasses(no_proxy, host, port) is bypassed


def test_the_proxy_variables_lower_case_first_scheme_specific_then_all_proxy():
    https = "https://api.vendor.example/v1"
    assert proxy_for(https, {}) is None
    assert proxy_for(https, {"HTTP_PROXY": "http://p:1"}) is None  # https origins use https_proxy
    assert proxy_for(https, {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}).host == "lower"
    assert proxy_for(https, {"https_proxy": "", "HTTPS_PROXY": "http://upper:1"}).host == "upper"  # empty is unset
    assert proxy_for(https, {"ALL_PROXY": "proxy.corp:3128"}).port == 3128  # host:port means http://
    assert proxy_for("http://10.1.1.1:8000/v1", {"http_proxy": "http://p:8080"}).port == 8080
    assert proxy_for("http://10.1.1.1:8000/v1", {"HTTP_PROXY": "http://p:8080", "REQUEST_METHOD": "GET"}) is None  # httpoxy
    assert proxy_for(https, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "vendor.example"}) is None
    with pytest.raises(ValueError, match=r"^HTTPS_PROXY: only http:// proxies are supported \(got socks5://p\)"):
        proxy_for(https, {"HTTPS_PROXY": "socks5://user:secret@p:1080"})


def test_proxy_credentials_become_basic_auth_and_never_show():
    proxy = proxy_for("https://v.example/v1", {"HTTPS_PROXY": "http://us%40er:p%3Ass-w0rd-123@proxy.corp:3128"})
    assert proxy.authorization == "Basic " + base64.b64encode(b"us@er:p:ss-w0rd-123").decode()
    assert "w0rd" not in repr(proxy) and "w0rd" not in proxy.name and proxy.name == "http://proxy.corp:3128"


def test_ca_bundle_then_ssl_cert_file_then_requests_ca_bundle(tmp_path):
    a, _ = self_signed(tmp_path, "a")
    b, _ = self_signed(tmp_path, "b")
    assert "a.pem (ca_bundle)" in tls_context(str(a), {"SSL_CERT_FILE": str(b)})[1]
    assert "b.pem (SSL_CERT_FILE)" in tls_context(None, {"SSL_CERT_FILE": str(b), "REQUESTS_CA_BUNDLE": str(a)})[1]
    assert "a.pem (REQUESTS_CA_BUNDLE)" in tls_context(None, {"REQUESTS_CA_BUNDLE": str(a)})[1]
    assert tls_context(None, {}) == (None, "the system's CA store")
    with pytest.raises(ValueError, match=r"^ca_bundle: no such file '.*missing.pem'; give the path of a PEM file"):
        tls_context(str(tmp_path / "missing.pem"), {})
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"^SSL_CERT_FILE: cannot load CA certificates from '.*junk.pem'"):
        tls_context(None, {"SSL_CERT_FILE": str(junk)})


@pytest.fixture
async def tls_vendor(fake_vendor, tmp_path):
    cert, key = self_signed(tmp_path, "vendor-ca")
    vendor = await fake_vendor("tls", tls=server_context(cert, key))
    return vendor, cert


@pytest.fixture
async def forward_proxy():
    started: list[ConnectProxy] = []

    async def start(credentials: tuple[str, str] | None = None) -> ConnectProxy:
        proxy = await ConnectProxy(credentials=credentials).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        await proxy.stop()


def _provider(base_url: str, *, ca_bundle: str | None, env: dict[str, str]) -> OpenAIWireProvider:
    return OpenAIWireProvider(name="v", model="m", base_url=base_url, api_key="sk-vendor-key-0123456789",
                              upstream=upstream_for(base_url, ca_bundle=ca_bundle, env=env))


async def test_https_goes_through_a_connect_tunnel_with_the_private_ca(tls_vendor, forward_proxy):
    vendor, cert = tls_vendor
    proxy = await forward_proxy(("crosswalk", "pr0xy-secret"))
    provider = _provider(vendor.base_url, ca_bundle=str(cert), env={"HTTPS_PROXY": proxy.url.replace("://", "://crosswalk:pr0xy-secret@")})
    for _ in range(3):
        assert (await provider.complete(REQUEST))["choices"][0]["message"]["content"] == vendor.answer
    await provider.aclose()
    port = vendor.base_url.split(":")[2].split("/")[0]
    assert proxy.tunnels == [f"localhost:{port}"]  # one tunnel, kept alive for the three calls
    assert proxy.authorizations == ["Basic " + base64.b64encode(b"crosswalk:pr0xy-secret").decode()]
    assert vendor.count == 3 and all("proxy-authorization" not in {k.lower() for k in c.headers} for c in vendor.calls)
    assert "pr0xy-secret" not in repr(provider)


async def test_no_proxy_reaches_the_vendor_directly(tls_vendor, forward_proxy):
    vendor, cert = tls_vendor
    proxy = await forward_proxy()
    provider = _provider(vendor.base_url, ca_bundle=str(cert), env={"HTTPS_PROXY": proxy.url, "NO_PROXY": "example.org,localhost"})
    await provider.complete(REQUEST)
    await provider.aclose()
    assert vendor.count == 1 and proxy.tunnels == []


async def test_a_vendor_signed_by_another_ca_fails_with_a_clear_error(tls_vendor, forward_proxy, tmp_path):
    vendor, _ = tls_vendor
    other, _ = self_signed(tmp_path, "other-ca")
    proxy = await forward_proxy()
    for ca_bundle in (str(other), None):  # a wrong bundle, and the system's store (which knows neither)
        provider = _provider(vendor.base_url, ca_bundle=ca_bundle, env={"HTTPS_PROXY": proxy.url})
        with pytest.raises(ProviderConnectionError) as info:
            await provider.complete(REQUEST)
        await provider.aclose()
        message = str(info.value)
        assert f"cannot connect to {vendor.base_url.removesuffix('/v1')} through the proxy {proxy.url}" in message
        assert "TLS certificate is not trusted" in message and "Set the provider's ca_bundle" in message
        assert (f"other-ca.pem (ca_bundle)" if ca_bundle else "the system's CA store") in message
    assert vendor.count == 0 and len(proxy.tunnels) == 2


async def test_a_proxy_that_refuses_the_tunnel_is_named_without_the_credentials(tls_vendor, forward_proxy):
    vendor, cert = tls_vendor
    proxy = await forward_proxy(("crosswalk", "right-secret"))
    provider = _provider(vendor.base_url, ca_bundle=str(cert), env={"https_proxy": proxy.url.replace("://", "://crosswalk:wrong-secret@")})
    with pytest.raises(ProviderConnectionError, match=r"refused the tunnel to localhost:\d+: HTTP/1.1 407 Proxy Authentication Required") as info:
        await provider.complete(REQUEST)
    await provider.aclose()
    assert "wrong-secret" not in str(info.value) and proxy.refused == 1 and vendor.count == 0


async def test_plain_http_origins_are_sent_to_the_proxy_in_absolute_form(fake_vendor, forward_proxy):
    vendor = await fake_vendor("plain")
    proxy = await forward_proxy(("u", "p"))
    provider = _provider(vendor.base_url, ca_bundle=None, env={"HTTP_PROXY": proxy.url.replace("://", "://u:p@")})
    assert (await provider.complete(REQUEST))["choices"][0]["message"]["content"] == vendor.answer
    await provider.aclose()
    assert proxy.forwarded == [f"POST {vendor.base_url}/chat/completions HTTP/1.1"] and proxy.tunnels == []
    assert vendor.count == 1

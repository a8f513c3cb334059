"""Secrets never leave: API keys, and `${ENV}` values used as keys or headers, appear in no
repr, no config error, no provider error (even when the upstream echoes the key back), no
log line, and no `crosswalk check` output.

Upstreams are real aiohttp servers on loopback that echo whatever credentials they are sent.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.providers.base import ChatRequest
from crosswalk.providers.errors import ProviderError, ProviderHTTPError, StreamBroken
from crosswalk.providers.litellm_adapter import LiteLLMProvider
from crosswalk.providers.openai_wire import OpenAIWireProvider
from crosswalk import AllProvidersFailed, Router
from crosswalk.router.registry import build_providers
from tests.loopback import serve_loopback

ROOT = Path(__file__).resolve().parents[2]

OPENAI_KEY = "sk-live-OPENAIxENVx7f3a9c0d2b4e6f81"
AZURE_KEY = "azHEADERx5e2d8c1b9a7f6e4d3c2b1a09"
LITERAL_KEY = "sk-ant-LITERALxYAMLx0c9b8a7f6e5d4c3"
PROXY_KEY = "cw-PROXYxKEYx13572468ace0bdf9"
URL_PASSWORD = "pwURLxUSERINFOx9d8c7b6a5f4e3d2c1"  # https://user:<this>@host
URL_KEY = "qkURLxQUERYx1a2b3c4d5e6f7a8b9c0d"  # https://host/v1?api-key=<this>
REDIS_PASSWORD = "rdPASSxQUERYx7e6d5c4b3a2f1e0d9c"  # redis://host/0?password=<this>
SECRETS = (OPENAI_KEY, AZURE_KEY, LITERAL_KEY, PROXY_KEY, URL_PASSWORD, URL_KEY, REDIS_PASSWORD)
MSG = [{"role": "user", "content": "hello"}]

pytestmark = pytest.mark.filterwarnings("ignore:Item.*ReadOnly:UserWarning")


def assert_no_secret(text: str, where: str = "") -> None:
    """No secret, nor any 10-character piece of one, appears in `text`."""
    for secret in SECRETS:
        assert secret not in text, f"{where}: secret leaked: {text[:2000]}"
        for i in range(len(secret) - 9):
            assert secret[i:i + 10] not in text, f"{where}: part of a secret leaked ({secret[i:i + 10]!r}): {text[:2000]}"


class EchoVendor:
    """A loopback vendor that fails with `status` and quotes back every credential it got,
    the way a careless gateway does ('Incorrect API key provided: <key>')."""

    def __init__(self, status: int = 401, *, mode: str = "json", answer: str | None = None) -> None:
        self.status = status
        self.mode = mode  # json | code | text | stream | padded | url
        self.answer = answer
        self.seen: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def _creds(self, request: web.Request) -> str:
        creds = " ".join(
            v for k, v in request.headers.items() if k.lower() in ("authorization", "api-key", "x-api-key", "x-goog-api-key")
        )
        self.seen.append(creds)
        return creds

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        creds = self._creds(request)
        if self.answer is not None:
            body = {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": self.answer}, "finish_reason": "stop"}]}
            return web.json_response(body)
        message = f"Incorrect API key provided: {creds}. You can find your API key at https://example.invalid/keys."
        if self.mode == "text":
            return web.Response(status=self.status, text=f"Unauthorized: {creds}")
        if self.mode == "url":  # quotes the URL it was called on, query string and all
            return web.json_response({"error": {"message": f"Invalid API key in {request.path_qs}", "code": "invalid_api_key"}},
                                     status=self.status)
        if self.mode == "padded":  # the key straddles the 1000th character of the body
            bearer = request.headers.get("Authorization", "")
            return web.Response(status=self.status, text=("x" * 977) + " " + bearer + " " + ("y" * 100))
        if self.mode == "stream":
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            event = {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
            return resp
        code = creds if self.mode == "code" else "invalid_api_key"  # some gateways echo into any field
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code},
                "type": "error", "request": {"headers": {"authorization": creds}}}
        return web.json_response(body, status=self.status, headers={"x-echo-key": creds[-40:]})

    async def start(self) -> "EchoVendor":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, port = await serve_loopback(app)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def echo() -> Any:
    vendors: list[EchoVendor] = []

    async def start(status: int = 401, **kw: Any) -> EchoVendor:
        vendors.append(await EchoVendor(status, **kw).start())
        return vendors[-1]

    yield start
    for v in vendors:
        await v.stop()


CONFIG = """
providers:
  oa:
    kind: openai
    model: gpt-4o
    base_url: ${OA_URL:-https://api.openai.com/v1}
    api_key: ${OPENAI_API_KEY}
    vendor: openai
  az:
    kind: openai
    model: gpt-4o-eu
    base_url: ${AZ_URL:-https://example-eu.openai.azure.com/openai/deployments/gpt-4o}
    headers: {api-key: "${AZURE_KEY}"}
    vendor: azure
  lit:
    kind: litellm
    model: anthropic/claude-sonnet-4-5
    api_key: "%s"
    base_url: ${LIT_URL:-https://api.anthropic.com}
    vendor: anthropic
  sim:
    kind: simulated
    model: sim-1
    simulate: {latency_ms: 0, jitter_ms: 0, answer: "fine"}
steps:
  draft:
    providers: [oa, az, lit, sim]
    max_attempts: 4
    retry: {same_provider: 0}
  broken:
    providers: [oa, az, lit]
    max_attempts: 3
    retry: {same_provider: 0}
proxy:
  api_keys: ["${PROXY_KEY}"]
""" % LITERAL_KEY

ENV = {"OPENAI_API_KEY": OPENAI_KEY, "AZURE_KEY": AZURE_KEY, "PROXY_KEY": PROXY_KEY}


def load(env: dict[str, str] | None = None) -> Any:
    return parse_config(CONFIG, env={**ENV, **(env or {})}, source="secrets.yaml")


# --- config objects ------------------------------------------------------------------------


def test_config_holds_the_secrets_it_needs():
    config = load()
    # the test is only meaningful if the secrets really are in there
    assert config.providers["oa"].api_key == OPENAI_KEY
    assert dict(config.providers["az"].headers) == {"api-key": AZURE_KEY}
    assert config.providers["lit"].api_key == LITERAL_KEY
    assert config.proxy.api_keys == (PROXY_KEY,)


def test_repr_and_str_of_config_objects_hide_secrets():
    config = load()
    texts = [repr(config), str(config), repr(config.proxy), str(config.proxy), repr(dict(config.providers))]
    for conf in config.providers.values():
        texts += [repr(conf), str(conf), f"{conf}", f"{conf!r}"]
    for step in config.steps.values():
        texts.append(repr(step))
    for text in texts:
        assert_no_secret(text, "config repr")
    assert "oa" in repr(config) and "gpt-4o" in repr(config.providers["oa"])  # the repr still says something


def test_built_providers_hide_secrets_in_repr():
    providers = build_providers(load())
    assert {type(p).__name__ for p in providers.values()} == {"OpenAIWireProvider", "LiteLLMProvider", "SimulatedProvider"}
    for provider in providers.values():
        assert_no_secret(repr(provider), "provider repr")
        assert_no_secret(str(provider), "provider str")
    router = Router(load())
    assert_no_secret(repr(router), "router repr")
    router.close()


@pytest.mark.parametrize(
    "mistake",
    [
        pytest.param("providers:\n  x: {kind: simulated, model: m, apikey: '${OPENAI_API_KEY}'}\n", id="secret-under-misspelt-key"),
        pytest.param("providers:\n  x: {kind: openai, model: m, base_url: 'https://h/v1', headers: 'Bearer ${OPENAI_API_KEY}'}\n", id="headers-as-string"),
        pytest.param("providers:\n  x: {kind: '${AZURE_KEY}', model: m}\n", id="secret-in-literal-field"),
        pytest.param("providers:\n  x: {kind: simulated, model: m, context_window: '${OPENAI_API_KEY}'}\n", id="secret-in-int-field"),
        pytest.param("providers:\n  x: {kind: openai, model: m, base_url: 'https://h/v1', api_key: ['${OPENAI_API_KEY}']}\n", id="secret-as-list"),
        pytest.param("providers:\n  x: {kind: simulated, model: m, headers: {a: ['${AZURE_KEY}']}}\n", id="header-value-as-list"),
        pytest.param("providers:\n  x: {kind: openai, model: m, base_url: 'https://h/v1', api_key: '${MISSING_KEY}'}\n", id="missing-env-beside-set-ones"),
        pytest.param("proxy: {api_keys: '${PROXY_KEY}'}\n", id="proxy-keys-not-a-list"),
        pytest.param("proxy: {api_keys: ['${PROXY_KEY}'], api_key: '${PROXY_KEY}'}\n", id="proxy-misspelt-key"),
    ],
)
def test_config_errors_never_quote_a_secret(mistake):
    if mistake.startswith("providers:"):
        text = CONFIG.replace("providers:\n", mistake, 1)
    else:
        text = CONFIG.replace("proxy:\n  api_keys: [\"${PROXY_KEY}\"]\n", mistake)
    assert text != CONFIG
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=ENV, source="secrets.yaml")
    assert_no_secret(str(info.value), "ConfigError")
    assert_no_secret(repr(info.value), "ConfigError repr")
    assert_no_secret("\n".join(info.value.problems), "ConfigError problems")


def test_yaml_error_on_the_line_holding_a_secret_does_not_quote_it():
    text = f'providers:\n  a: {{kind: openai, model: m, base_url: "https://h/v1", api_key: "{OPENAI_KEY}\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={}, source="secrets.yaml")
    assert "not valid YAML" in str(info.value)
    assert_no_secret(str(info.value), "YAML error")


# --- provider errors when the upstream echoes the key --------------------------------------


async def _fail(provider: Any, *, stream: bool = False) -> ProviderError:
    try:
        with pytest.raises(ProviderError) as info:
            if stream:
                async for _ in provider.stream(ChatRequest({"messages": MSG, "stream": True})):
                    pass
            else:
                await provider.complete(ChatRequest({"messages": MSG}))
    finally:
        await provider.aclose()
    return info.value


def _error_texts(error: ProviderError) -> list[str]:
    return [str(error), repr(error), error.message, error.evidence(), str(error.code), str(error.error_type)]


@pytest.mark.parametrize("mode", ["json", "code", "text", "padded"])
async def test_wire_error_redacts_an_echoed_key(echo, mode):
    vendor = await echo(401, mode=mode)
    provider = OpenAIWireProvider(name="oa", model="gpt-4o", base_url=vendor.url + "/v1", api_key=OPENAI_KEY,
                                  headers={"api-key": AZURE_KEY})
    error = await _fail(provider)
    assert isinstance(error, ProviderHTTPError) and error.status == 401
    assert OPENAI_KEY in vendor.seen[0] and AZURE_KEY in vendor.seen[0]  # the upstream did echo them
    assert "***" in error.message
    for text in _error_texts(error):
        assert_no_secret(text, f"wire error ({mode})")


async def test_wire_stream_error_event_redacts_an_echoed_key(echo):
    vendor = await echo(200, mode="stream")
    provider = OpenAIWireProvider(name="oa", model="gpt-4o", base_url=vendor.url + "/v1", api_key=OPENAI_KEY)
    error = await _fail(provider, stream=True)
    assert isinstance(error, StreamBroken) and error.reason == "error_event"
    assert "***" in error.message
    for text in _error_texts(error):
        assert_no_secret(text, "stream error event")


async def test_wire_stream_http_error_redacts_an_echoed_key(echo):
    vendor = await echo(403)
    provider = OpenAIWireProvider(name="az", model="gpt-4o", base_url=vendor.url, headers={"api-key": AZURE_KEY})
    error = await _fail(provider, stream=True)
    assert isinstance(error, ProviderHTTPError) and error.status == 403
    for text in _error_texts(error):
        assert_no_secret(text, "stream http error")


async def test_litellm_error_redacts_an_echoed_key(echo):
    vendor = await echo(401)
    provider = LiteLLMProvider(name="lit", model="anthropic/claude-sonnet-4-5", api_key=LITERAL_KEY, base_url=vendor.url)
    error = await _fail(provider)
    assert LITERAL_KEY in vendor.seen[0]
    assert isinstance(error, ProviderHTTPError) and error.status == 401
    for text in _error_texts(error):
        assert_no_secret(text, "litellm error")


# --- log output of router calls -------------------------------------------------------------


def capture_all(caplog: pytest.LogCaptureFixture) -> None:
    """Everything at DEBUG, including the "crosswalk" logger even if something earlier in
    the process (the in-process demo) turned it down."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="crosswalk")


async def _router(echo: Any) -> tuple[Router, list[EchoVendor]]:
    oa, az, lit = await echo(401), await echo(500), await echo(403)
    config = load({"OA_URL": oa.url + "/v1", "AZ_URL": az.url, "LIT_URL": lit.url})
    return Router(config), [oa, az, lit]


async def test_no_secret_in_logs_or_records_when_a_call_fails_over_and_succeeds(echo, caplog):
    capture_all(caplog)
    router, vendors = await _router(echo)
    try:
        resp = await router.acompletion(step="draft", messages=MSG)
    finally:
        await router.aclose()
    assert resp.crosswalk.provider == "sim" and resp.choices[0].message.content == "fine"
    assert [(a.provider, a.failure_class) for a in resp.crosswalk.attempts] == [
        ("oa", "auth"), ("az", "transient"), ("lit", "auth"), ("sim", None)
    ]
    assert all(v.seen for v in vendors)  # every upstream was reached, and echoed its key
    assert "hard-excluded" in caplog.text and "***" in caplog.text  # the echoes were logged, redacted
    assert_no_secret(caplog.text, "logs")
    assert_no_secret(resp.model_dump_json(), "response")
    assert_no_secret(repr(resp.crosswalk), "decision record")
    for row in router.status("draft"):
        assert_no_secret(repr(row), "status row")


async def test_no_secret_in_logs_or_errors_when_every_provider_fails(echo, caplog):
    capture_all(caplog)
    router, _ = await _router(echo)
    try:
        with pytest.raises(AllProvidersFailed) as info:
            await router.acompletion(step="broken", messages=MSG)
        with pytest.raises(Exception) as again:  # now every provider is excluded or ejected
            await router.acompletion(step="broken", messages=MSG)
    finally:
        await router.aclose()
    assert "***" in str(info.value)  # the evidence is there, redacted
    for text in (str(info.value), repr(info.value), str(again.value), caplog.text):
        assert_no_secret(text, "failure")
    assert any(r.levelno >= logging.WARNING for r in caplog.records)


async def test_no_secret_in_logs_of_a_plain_success(echo, caplog):
    capture_all(caplog)
    vendor = await echo(answer="hi there")
    config = load({"OA_URL": vendor.url + "/v1"})
    router = Router(config)
    try:
        resp = await router.acompletion(step="draft", messages=MSG)
    finally:
        await router.aclose()
    assert resp.crosswalk.provider == "oa" and vendor.seen == [f"Bearer {OPENAI_KEY}"]
    assert "crosswalk decision" in caplog.text
    assert_no_secret(caplog.text, "logs")


# --- crosswalk check -----------------------------------------------------------------------


def _crosswalk() -> list[str]:
    exe = Path(sys.executable).parent / "crosswalk"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "crosswalk.router.cli"]


def _check(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ENV}
    full.update(env, LITELLM_LOCAL_MODEL_COST_MAP="True")
    return subprocess.run([*_crosswalk(), "check", str(path)], capture_output=True, text=True, env=full, cwd=ROOT, timeout=60)


def test_crosswalk_check_output_has_no_secret(tmp_path):
    path = tmp_path / "secrets.yaml"
    path.write_text(CONFIG)
    done = _check(path, ENV)
    assert done.returncode == 0, done.stderr
    assert "step draft" in done.stdout and "oa" in done.stdout
    assert_no_secret(done.stdout + done.stderr, "crosswalk check")


def test_crosswalk_check_error_output_has_no_secret(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("vendor: openai\n", "vendor: openai\n    apikey: ${OPENAI_API_KEY}\n    kind2: ${AZURE_KEY}\n")
                    + "extra: " + LITERAL_KEY + "\n")
    done = _check(path, ENV)
    assert done.returncode == 1
    assert "providers.oa.apikey: unknown key 'apikey'" in done.stderr
    assert_no_secret(done.stdout + done.stderr, "crosswalk check (error)")


def test_crosswalk_check_of_the_vendor_example_has_no_secret():
    env = {"OPENAI_API_KEY": OPENAI_KEY, "AZURE_OPENAI_API_KEY": AZURE_KEY, "MISTRAL_API_KEY": PROXY_KEY,
           "ANTHROPIC_API_KEY": LITERAL_KEY, "GEMINI_API_KEY": "gm-" + OPENAI_KEY[::-1]}
    done = _check(ROOT / "config" / "vendors.example.yaml", env)
    assert done.returncode == 0, done.stderr
    assert_no_secret(done.stdout + done.stderr, "crosswalk check vendors.example.yaml")
    assert OPENAI_KEY[::-1] not in done.stdout + done.stderr


# --- credentials inside URLs: a base_url's userinfo or ?api-key=, a Redis ?password= ------

SECRET_URL = f"https://svc:{URL_PASSWORD}@gateway.example/v1?api-version=2024-10-21&api-key={URL_KEY}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (SECRET_URL, "https://svc:***@gateway.example/v1?api-version=2024-10-21&api-key=***"),
        (f"redis://10.0.0.1:6380/0?password={REDIS_PASSWORD}&db=1", "redis://10.0.0.1:6380/0?password=***&db=1"),
        (f"redis://:{REDIS_PASSWORD}@cache/1", "redis://:***@cache/1"),
        (f"https://{URL_KEY}@host/v1", "https://***@host/v1"),  # a lone user name is often a token
        (f"https://h/v1?key={URL_KEY}&token=t0k3n&access_token=a&sig=s&X-Amz-Signature=x&client_secret=c",
         "https://h/v1?key=***&token=***&access_token=***&sig=***&X-Amz-Signature=***&client_secret=***"),
        (f"https://u:{URL_PASSWORD}@h:99999/v1#access_token={URL_KEY}", "https://u:***@h:99999/v1#access_token=***"),  # unparseable port
        ("https://api.openai.com/v1?api-version=1&flag", "https://api.openai.com/v1?api-version=1&flag"),
    ],
)
def test_redact_url_masks_userinfo_and_secret_parameters(url, shown):
    from crosswalk.providers.redaction import redact_url, url_secrets

    assert redact_url(url) == shown
    assert_no_secret(redact_url(url), "redact_url")
    hidden = url_secrets(url)
    for secret in (URL_PASSWORD, URL_KEY, REDIS_PASSWORD):
        assert (secret in url) == (secret in hidden)


def test_url_secrets_come_decoded_too():
    from crosswalk.providers.errors import redact
    from crosswalk.providers.redaction import url_secrets

    url = "https://h/v1?api_key=ab%2Fcd%3Def123"
    assert redact("echo: ab/cd=ef123 and ab%2Fcd%3Def123", url_secrets(url)) == "echo: *** and ***"


def _with_base_url(url: str) -> str:
    return CONFIG.replace("base_url: ${OA_URL:-https://api.openai.com/v1}", f'base_url: "{url}"')


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"ftp://svc:{URL_PASSWORD}@gateway.example/v1?api-key={URL_KEY}", id="wrong-scheme"),
        pytest.param(f"https://svc:{URL_PASSWORD}@gateway.example:99999/v1?api-key={URL_KEY}", id="bad-port"),
        pytest.param(f"https://svc:{URL_PASSWORD}@/v1?api-key={URL_KEY}", id="no-host"),
    ],
)
def test_config_errors_never_echo_a_base_url_raw(url):
    with pytest.raises(ConfigError) as info:
        parse_config(_with_base_url(url), env=ENV, source="secrets.yaml")
    assert "providers.oa" in str(info.value) and "base_url" in str(info.value)
    assert_no_secret(str(info.value) + repr(info.value) + "\n".join(info.value.problems), "ConfigError (base_url)")


def test_config_errors_never_echo_a_redis_url_raw():
    for url in (f"http://127.0.0.1:6379/0?password={REDIS_PASSWORD}", f"redis//:{REDIS_PASSWORD}@127.0.0.1:6379/0"):
        with pytest.raises(ConfigError) as info:
            parse_config(CONFIG + f'state: {{backend: redis, url: "{url}"}}\n', env=ENV, source="secrets.yaml")
        assert "state: url must start with redis://" in str(info.value)
        assert_no_secret(str(info.value), "ConfigError (state.url)")


def test_reprs_hide_url_credentials():
    from crosswalk.router.state.redis_sync import RedisSync

    config = parse_config(_with_base_url(SECRET_URL) + f'state: {{backend: redis, url: "redis://127.0.0.1:9/0?password={REDIS_PASSWORD}"}}\n',
                          env=ENV, source="secrets.yaml")
    assert config.providers["oa"].base_url == SECRET_URL  # the secret is really there
    providers = build_providers(config)
    router = Router(config)
    texts = [repr(config), repr(config.providers["oa"]), repr(providers["oa"]), repr(router), repr(config.state),
             repr(RedisSync(lambda: router.state, config.state))]
    router.close()
    for text in texts:
        assert_no_secret(text, "repr")
    assert "gateway.example" in repr(config.providers["oa"]) and "api-key=***" in repr(providers["oa"])


async def test_wire_error_redacts_a_url_the_vendor_quotes(echo):
    vendor = await echo(401, mode="url")
    provider = OpenAIWireProvider(name="oa", model="gpt-4o", base_url=f"{vendor.url}/v1?api-version=1&api-key={URL_KEY}")
    error = await _fail(provider)
    assert isinstance(error, ProviderHTTPError) and error.status == 401
    assert "api-key=***" in error.message  # the vendor quoted the query string; the key is masked
    for text in _error_texts(error):
        assert_no_secret(text, "wire error quoting the URL")


def test_crosswalk_check_hides_url_credentials(tmp_path):
    path = tmp_path / "urls.yaml"
    path.write_text(_with_base_url(SECRET_URL) + f'state: {{backend: redis, url: "redis://127.0.0.1:9/0?password={REDIS_PASSWORD}"}}\n')
    done = _check(path, ENV)
    assert done.returncode == 0, done.stderr
    assert "step draft" in done.stdout and "oa" in done.stdout
    assert_no_secret(done.stdout + done.stderr, "crosswalk check (URL credentials)")
    path.write_text(_with_base_url(SECRET_URL.replace("https://", "ftp://")))
    done = _check(path, ENV)
    assert done.returncode == 1 and "providers.oa: base_url must start with http://" in done.stderr
    assert_no_secret(done.stdout + done.stderr, "crosswalk check (bad base_url)")


async def test_serve_hides_url_credentials_in_reload_errors_and_logs(tmp_path, echo):
    """A real `crosswalk serve`: an upstream that quotes its URL (query key and all), a
    Redis URL with ?password= that is down, then a reload with a bad base_url holding
    credentials. /readyz, the provider-state endpoint and the log never show them."""
    import asyncio
    import urllib.request

    from tests.eventually import eventually_sync
    from tests.router.proxy_harness import ProxyProcess

    vendor = await echo(401, mode="url")
    good = (_with_base_url(f"http://svc:{URL_PASSWORD}@127.0.0.1:{vendor.url.rsplit(':', 1)[1]}/v1?api-key={URL_KEY}")
            + f'state: {{backend: redis, url: "redis://127.0.0.1:9/0?password={REDIS_PASSWORD}"}}\n').replace(
                "proxy:\n", "proxy:\n  reload_interval_s: 0.2\n")
    path = tmp_path / "serve.yaml"
    path.write_text(good)
    p = ProxyProcess(path, env={**ENV, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})

    def get(url_path: str) -> dict[str, Any]:
        req = urllib.request.Request(p.url + url_path, headers={"authorization": f"Bearer {PROXY_KEY}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # /readyz may be 503
            return json.loads(exc.read())

    def scenario() -> tuple[str, dict[str, Any]]:
        p.wait_ready()
        req = urllib.request.Request(p.url + "/v1/chat/completions", method="POST", data=json.dumps({"model": "broken", "messages": MSG}).encode(),
                                     headers={"authorization": f"Bearer {PROXY_KEY}", "content-type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=30).read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode()
        else:
            body = ""
        path.write_text(good.replace("http://svc:", "https://svc:").replace(f":{vendor.url.rsplit(':', 1)[1]}/v1", ":99999/v1"))
        eventually_sync(lambda: get("/readyz").get("reload_error"), what="the reload with a bad base_url is rejected")
        return body, get("/readyz")

    try:
        body, ready = await asyncio.to_thread(scenario)
        providers = await asyncio.to_thread(get, "/v1/crosswalk/providers")
    finally:
        await asyncio.to_thread(p.stop)
    log = p.log()
    assert vendor.seen, "the upstream was called"
    assert "api-key=***" in body  # the vendor's quote reached the caller, redacted
    assert "providers.oa" in ready["reload_error"] and "base_url" in ready["reload_error"]
    assert "shared state on redis://127.0.0.1:9/0?password=*** is down" in log
    assert "hard-excluded" in log
    for where, text in (("response", body), ("/readyz", json.dumps(ready)), ("providers", json.dumps(providers)), ("log", log)):
        assert_no_secret(text, where)

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

from policies.config import ConfigError, parse_config
from providers.base import ChatRequest
from providers.errors import ProviderError, ProviderHTTPError, StreamBroken
from providers.litellm_adapter import LiteLLMProvider
from providers.openai_wire import OpenAIWireProvider
from router import AllProvidersFailed, Router
from router.registry import build_providers
from tests.fakevendor import serve_loopback

ROOT = Path(__file__).resolve().parents[2]

OPENAI_KEY = "sk-live-OPENAIxENVx7f3a9c0d2b4e6f81"
AZURE_KEY = "azHEADERx5e2d8c1b9a7f6e4d3c2b1a09"
LITERAL_KEY = "sk-ant-LITERALxYAMLx0c9b8a7f6e5d4c3"
PROXY_KEY = "cw-PROXYxKEYx13572468ace0bdf9"
SECRETS = (OPENAI_KEY, AZURE_KEY, LITERAL_KEY, PROXY_KEY)
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
        self.mode = mode  # json | code | text | stream | padded
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
    assert resp.model == "sim" and resp.choices[0].message.content == "fine"
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
    assert resp.model == "oa" and vendor.seen == [f"Bearer {OPENAI_KEY}"]
    assert "crosswalk decision" in caplog.text
    assert_no_secret(caplog.text, "logs")


# --- crosswalk check -----------------------------------------------------------------------


def _crosswalk() -> list[str]:
    exe = Path(sys.executable).parent / "crosswalk"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "router.cli"]


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

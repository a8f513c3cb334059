"""The sidecar as its users see it: a real `crosswalk serve` process, the official openai
client and raw HTTP, simulated vendors inside the proxy."""

from __future__ import annotations

import http.client
import json
import signal
import socket
from pathlib import Path

import openai
import pytest

from tests.eventually import eventually_sync
from tests.router.proxy_harness import ProxyProcess

KEY = "cw-test-key-0123456789"
CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, region: us, simulate: {latency_ms: 1, jitter_ms: 0, answer: "answer from a"}}
  b: {kind: simulated, model: b-1, vendor: vb, region: eu, simulate: {latency_ms: 1, jitter_ms: 0, answer: "answer from b"}}
steps:
  draft: {providers: [a, b], description: "Draft a reply."}
  eu: {providers: [a, b], allowed_regions: [eu]}
proxy:
  api_keys: ["${PROXY_KEY}"]
  max_body_bytes: 65536
  body_timeout_s: 1
  reload_interval_s: 0.2
"""
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    path = tmp_path_factory.mktemp("proxy") / "crosswalk.yaml"
    path.write_text(CONFIG)
    p = ProxyProcess(path, env={"PROXY_KEY": KEY}).wait_ready()
    p.config_path = path  # type: ignore[attr-defined]
    yield p
    p.stop()
    assert KEY not in p.log()  # secrets never logged


def _client(proxy, key: str = KEY, cls=openai.OpenAI):
    return cls(base_url=proxy.url + "/v1", api_key=key, max_retries=0, timeout=10)


def _raw(proxy, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request(method, path, body=body, headers={"authorization": f"Bearer {KEY}", "content-type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_openai_client_sync(proxy):
    resp = _client(proxy).chat.completions.create(model="draft", messages=MSG)
    assert resp.choices[0].message.content == "answer from a"
    assert resp.model == "a-1"  # the model as the vendor names it; the provider alias is x-crosswalk-provider


def test_openai_client_headers_name_step_provider_attempts(proxy):
    raw = _client(proxy).chat.completions.with_raw_response.create(model="eu", messages=MSG)
    assert raw.headers["x-crosswalk-step"] == "eu"
    assert raw.headers["x-crosswalk-provider"] == "b"
    assert raw.headers["x-crosswalk-attempts"] == "b:ok"
    assert raw.parse().choices[0].message.content == "answer from b"


async def test_openai_client_async_and_streaming(proxy):
    client = _client(proxy, cls=openai.AsyncOpenAI)
    resp = await client.chat.completions.create(model="draft", messages=MSG)
    assert resp.model == "a-1"
    stream = await client.chat.completions.create(model="draft", messages=MSG, stream=True)
    text = ""
    finish = None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert text == "answer from a" and finish == "stop"
    await client.close()


def test_sync_streaming_ends_with_done(proxy):
    resp, data = _raw(proxy, "POST", "/v1/chat/completions", json.dumps({"model": "draft", "messages": MSG, "stream": True}).encode())
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    events = [e for e in data.decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)


def test_models_lists_steps(proxy):
    models = _client(proxy).models.list()
    assert sorted(m.id for m in models.data) == ["draft", "eu"]


def test_auth_required_and_wrong_key_rejected(proxy):
    with pytest.raises(openai.AuthenticationError) as info:
        _client(proxy, key="wrong").chat.completions.create(model="draft", messages=MSG)
    assert info.value.status_code == 401
    resp, data = _raw(proxy, "GET", "/v1/models", headers={"authorization": ""})
    assert resp.status == 401 and json.loads(data)["error"]["code"] == "invalid_api_key"
    assert KEY not in data.decode()


def test_unknown_step_is_404_listing_known(proxy):
    with pytest.raises(openai.NotFoundError) as info:
        _client(proxy).chat.completions.create(model="drfat", messages=MSG)
    assert "known steps: draft, eu" in str(info.value)


@pytest.mark.parametrize(
    "body, param",
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (json.dumps({"messages": MSG}).encode(), "model"),
        (json.dumps({"model": 3, "messages": MSG}).encode(), "model"),
        (json.dumps({"model": "draft"}).encode(), "messages"),
        (json.dumps({"model": "draft", "messages": "hi"}).encode(), "messages"),
        (json.dumps({"model": "draft", "messages": [{"content": "x"}]}).encode(), "messages[0].role"),
        (json.dumps({"model": "draft", "messages": MSG, "stream": "yes"}).encode(), "stream"),
        (json.dumps({"model": "draft", "messages": MSG, "api_base": "http://evil.example"}).encode(), "api_base"),
        (json.dumps({"model": "draft", "messages": MSG, "base_url": "http://evil.example"}).encode(), "base_url"),
    ],
)
def test_bad_requests_name_the_field(proxy, body, param):
    resp, data = _raw(proxy, "POST", "/v1/chat/completions", body)
    err = json.loads(data)["error"]
    assert resp.status == 400, data
    assert err["param"] == param
    assert "Traceback" not in data.decode()


def test_huge_body_is_413_and_server_keeps_serving(proxy):
    big = json.dumps({"model": "draft", "messages": [{"role": "user", "content": "x" * 200_000}]}).encode()
    resp, data = _raw(proxy, "POST", "/v1/chat/completions", big)
    assert resp.status == 413
    assert json.loads(data)["error"]["code"] == "body_too_large"
    assert _client(proxy).chat.completions.create(model="draft", messages=MSG).model == "a-1"


def test_slow_loris_client_does_not_block_others(proxy):
    sock = socket.create_connection(("127.0.0.1", proxy.port))
    try:
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"model\": ")
        sock.sendall(head.encode())
        # While that body trickles (or never comes), others are served.
        for _ in range(3):
            assert _client(proxy).chat.completions.create(model="draft", messages=MSG).model == "a-1"
        sock.settimeout(5)
        reply = sock.recv(65536).decode(errors="replace")
        assert " 408 " in reply.splitlines()[0]  # the slow body is cut off with a clear error
    finally:
        sock.close()


def test_nothing_eligible_by_compliance_is_503_that_says_not_to_retry(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""
providers:
  a: {kind: simulated, model: a-1, region: us}
steps:
  eu: {providers: [a], allowed_regions: [eu]}
""")
    p = ProxyProcess(path).wait_ready()
    try:
        conn_resp, data = _raw(p, "POST", "/v1/chat/completions", json.dumps({"model": "eu", "messages": MSG}).encode())
        assert conn_resp.status == 503
        # Blocked by the config itself: no retry time exists, so none is promised.
        assert conn_resp.getheader("retry-after") is None and conn_resp.getheader("x-should-retry") == "false"
        body = json.loads(data)
        assert body["error"]["type"] == "no_eligible_provider"
        assert "region 'us' not in allowed regions" in body["error"]["message"]
        ready, rdata = _raw(p, "GET", "/readyz")
        assert ready.status == 503 and "eu" in json.loads(rdata)["steps_without_provider"]
    finally:
        p.stop()


def test_health_ready_metrics_and_provider_state(proxy):
    _client(proxy).chat.completions.create(model="draft", messages=MSG)
    assert _raw(proxy, "GET", "/healthz")[0].status == 200
    assert _raw(proxy, "GET", "/readyz")[0].status == 200
    resp, data = _raw(proxy, "GET", "/metrics")
    text = data.decode()
    assert resp.status == 200
    assert 'crosswalk_requests_total{outcome="ok",step="draft"}' in text
    assert 'crosswalk_attempts_total{provider="a",result="ok",step="draft"}' in text
    assert 'crosswalk_provider_state{provider="a",state="healthy"} 1.0' in text
    resp, data = _raw(proxy, "GET", "/v1/crosswalk/providers")
    states = {p["provider"]: p for p in json.loads(data)["providers"]}
    assert states["a"]["state"] == "healthy" and states["b"]["vendor"] == "vb"
    assert _raw(proxy, "GET", "/v1/crosswalk/providers", headers={"authorization": "Bearer nope"})[0].status == 401


def test_refuses_public_bind_without_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("providers:\n  a: {kind: simulated, model: m}\nsteps:\n  s: {providers: [a]}\n")
    p = ProxyProcess(path, host="0.0.0.0")
    code = p.proc.wait(timeout=20)
    log = p.log()
    p.stop()
    assert code == 1
    assert "refusing to listen on 0.0.0.0 without API keys" in log


def test_reload_applies_good_file_and_keeps_old_on_bad(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    p = ProxyProcess(path, env={"PROXY_KEY": KEY}).wait_ready()
    try:
        client = _client(p)
        assert client.chat.completions.create(model="draft", messages=MSG).model == "a-1"
        # Good file: b ranked first, a new step appears.
        path.write_text(CONFIG.replace("draft: {providers: [a, b]", "draft: {providers: [b, a]") + "  # v2\n")
        eventually_sync(lambda: client.chat.completions.create(model="draft", messages=MSG).model == "b-1", what="the good file is applied")
        # Bad file: rejected, old config keeps serving, the reason is exposed.
        path.write_text(CONFIG.replace("draft: {providers: [a, b]", "draft: {providers: [a, gpt5]"))
        eventually_sync(lambda: json.loads(_raw(p, "GET", "/readyz")[1]).get("reload_error"), what="the bad file is rejected")
        ready = json.loads(_raw(p, "GET", "/readyz")[1])
        assert "steps.draft.providers[1]: unknown provider 'gpt5'" in ready["reload_error"]
        assert client.chat.completions.create(model="draft", messages=MSG).model == "b-1"
        # SIGHUP reloads at once (file fixed again).
        path.write_text(CONFIG)
        p.proc.send_signal(signal.SIGHUP)
        eventually_sync(lambda: client.chat.completions.create(model="draft", messages=MSG).model == "a-1", what="SIGHUP applies the fixed file")
        assert json.loads(_raw(p, "GET", "/readyz")[1])["reload_error"] is None
    finally:
        p.stop()
    assert "config reload rejected" in p.log()


def test_workers_share_one_port(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    p = ProxyProcess(path, env={"PROXY_KEY": KEY}, extra=["--workers", "2"]).wait_ready()
    try:
        client = _client(p)
        answers = {client.chat.completions.create(model="draft", messages=MSG).model for _ in range(20)}
        assert answers == {"a-1"}
    finally:
        p.stop()
    assert KEY not in p.log()

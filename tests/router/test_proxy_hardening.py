"""The sidecar against malformed and hostile input, as a real `crosswalk serve` process in
front of a loopback fake vendor: every refusal is OpenAI error JSON with the right status,
made before any upstream call (the vendor's call count says so) and without hurting the
provider's health; big integers pass through exactly; streams are closed on every exit."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import urllib.request

import pytest

from tests.eventually import eventually_sync
from tests.router.proxy_harness import ProxyProcess

KEY = "hardening-key-0123456789"
MSG = [{"role": "user", "content": "What refund do we owe?"}]


@pytest.fixture
async def stack(fake_vendor, tmp_path):
    vendor = await fake_vendor("primary", answer="the refund is 42.99")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
providers:
  primary: {{kind: openai, model: gpt-4o-mini, base_url: "{vendor.base_url}", vendor: alpha}}
steps:
  draft: {{providers: [primary]}}
proxy: {{api_keys: [{KEY}], header_timeout_s: 0.5}}
health: {{probe_interval_s: 0, consecutive_failures: 1}}
""")
    proxy = await asyncio.to_thread(lambda: ProxyProcess(cfg).wait_ready())
    yield proxy, vendor
    await asyncio.to_thread(proxy.stop)
    assert KEY not in proxy.log()


def _exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes (every answer here closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def _post(body: bytes, headers: bytes = b"Authorization: Bearer " + KEY.encode() + b"\r\n") -> bytes:
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers
            + b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _parse(reply: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _error_json(reply: bytes, status: int) -> dict:
    got, headers, body = _parse(reply)
    assert got == status, reply[:300]
    assert headers["content-type"].startswith("application/json"), reply[:300]
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def _state(proxy) -> dict:
    req = urllib.request.Request(proxy.url + "/v1/crosswalk/providers", headers={"authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return {p["provider"]: p for p in json.loads(resp.read())["providers"]}


def _ok_body(**extra) -> bytes:
    return json.dumps({"model": "draft", "messages": MSG, **extra}).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("stream_it", [False, True])
async def test_deeply_nested_body_is_400_before_any_upstream_call(stack, stream_it):
    proxy, vendor = stack
    body = (b'{"model":"draft","stream":' + (b"true" if stream_it else b"false")
            + b',"messages":[{"role":"user","content":"hi"}],"metadata":{"x":' + _nested(300) + b"}}")
    reply = await asyncio.to_thread(_exchange, proxy.port, _post(body))
    error = _error_json(reply, 400)
    assert error["type"] == "invalid_request_error" and "nested deeper" in error["message"]
    assert vendor.count == 0
    state = await asyncio.to_thread(_state, proxy)
    assert state["primary"]["state"] == "healthy" and state["primary"]["recent_failures"] == []
    # Deeper than the parser allows: 400 too.
    too_deep = b'{"model":"draft","messages":[{"role":"user","content":"hi"}],"metadata":' + _nested(1100) + b"}"
    assert _error_json(await asyncio.to_thread(_exchange, proxy.port, _post(too_deep)), 400)["code"] == "nested_too_deeply"
    # ...and the provider still answers the next caller.
    status, headers, _ = _parse(await asyncio.to_thread(_exchange, proxy.port, _post(_ok_body())))
    assert status == 200 and headers["x-crosswalk-attempts"] == "primary:ok"


@pytest.mark.parametrize("name, request_bytes, status, param", [
    ("control characters in model", _post(json.dumps({"model": "dr\r\naft", "messages": MSG}).encode()), 400, "model"),
    ("model over 256 characters", _post(json.dumps({"model": "d" * 300, "messages": MSG}).encode()), 400, "model"),
    ("non-ASCII Authorization", _post(_ok_body(), "Authorization: Bearer k\xe4y\r\n".encode("latin-1")), 401, None),
    ("UTF-8 Authorization", _post(_ok_body(), "Authorization: Bearer kä\r\n".encode()), 401, None),
    ("undecodable gzip body", _post(b"not gzip at all", b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Encoding: gzip\r\n"), 400, "content-encoding"),
    ("unknown Content-Encoding", _post(_ok_body(), b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Encoding: rot13\r\n"), 400, "content-encoding"),
    ("oversize header", _post(_ok_body(), b"Authorization: Bearer " + KEY.encode() + b"\r\nX-Big: " + b"a" * 9000 + b"\r\n"), 431, None),
    ("too many headers", _post(_ok_body(), b"".join(b"X-H%d: v\r\n" % i for i in range(200))), 431, None),
    ("garbage request line", b"NOT HTTP AT ALL\r\n\r\n", 400, None),
])
async def test_malformed_requests_get_openai_error_json(stack, name, request_bytes, status, param):
    proxy, vendor = stack
    reply = await asyncio.to_thread(_exchange, proxy.port, request_bytes)
    error = _error_json(reply, status)
    assert error["param"] == param
    if param == "model":
        assert "dr\r\naft" not in reply.decode("latin-1").split("\r\n\r\n")[0]  # never echoed raw into headers
    assert vendor.count == 0
    status_ok, _, _ = _parse(await asyncio.to_thread(_exchange, proxy.port, _post(_ok_body())))
    assert status_ok == 200
    log = proxy.log()
    assert "Traceback" not in log, log[-3000:]


async def test_gzip_body_and_lowercase_bearer_scheme_are_accepted(stack):
    proxy, vendor = stack
    headers = b"Authorization: bearer " + KEY.encode() + b"\r\nContent-Encoding: gzip\r\n"
    status, _, body = _parse(await asyncio.to_thread(_exchange, proxy.port, _post(gzip.compress(_ok_body()), headers)))
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "the refund is 42.99"
    assert vendor.count == 1


async def test_unknown_non_ascii_step_is_404_with_a_header_safe_step_name(stack):
    proxy, vendor = stack
    reply = await asyncio.to_thread(_exchange, proxy.port, _post(json.dumps({"model": "entwurf-ä", "messages": MSG}).encode()))
    error = _error_json(reply, 404)
    assert error["param"] == "model" and "entwurf-ä" in error["message"]
    assert _parse(reply)[1]["x-crosswalk-step"] == "entwurf-%C3%A4"
    assert vendor.count == 0


@pytest.mark.parametrize("stream_it", [False, True])
async def test_integers_beyond_64_bits_pass_through_exactly(stack, stream_it):
    proxy, vendor = stack
    big, negative = 123456789012345678901234567890, -98765432109876543210
    vendor.extra = {"crosswalk_test_big": big}
    raw = (b'{"model":"draft","stream":' + (b"true" if stream_it else b"false") + b',"messages":[{"role":"user","content":"hi"}],'
           b'"seed":%d,"metadata":{"order":%d,"ids":[%d,1]},' % (big, negative, big)
           + b'"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"n":{"type":"integer","maximum":%d}}}}}]}' % big)
    status, _, body = _parse(await asyncio.to_thread(_exchange, proxy.port, _post(raw)))
    assert status == 200, body[:300]
    sent = vendor.calls[0].body
    assert sent["seed"] == big and type(sent["seed"]) is int
    assert sent["metadata"] == {"order": negative, "ids": [big, 1]}
    assert sent["tools"][0]["function"]["parameters"]["properties"]["n"]["maximum"] == big
    if stream_it:
        # chunked transfer: the big int arrives inside the SSE events, as an integer literal
        assert b'"crosswalk_test_big":%d' % big in body
    else:
        assert json.loads(body)["crosswalk_test_big"] == big


async def test_half_sent_request_head_is_answered_408_and_closed(stack):
    proxy, vendor = stack
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bea")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert _error_json(reply, 408)["code"] == "request_timeout"
    # A connection that never sends a byte is closed without an answer it did not ask for.
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        assert sock.recv(65536) == b""
    assert vendor.count == 0


def test_connection_cap_closes_the_oldest_idle_connection_for_a_new_one(tmp_path):
    cfg = tmp_path / "cap.yaml"
    cfg.write_text("""
providers:
  a: {kind: simulated, model: a-1, simulate: {latency_ms: 1, jitter_ms: 0, answer: "answer from a"}}
steps:
  draft: {providers: [a]}
proxy: {max_connections: 4, header_timeout_s: 60}
""")
    proxy = ProxyProcess(cfg).wait_ready()
    try:
        idle = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(4)]
        reply = _exchange(proxy.port, _post(_ok_body(), b""))
        assert _parse(reply)[0] == 200
        assert idle[0].recv(65536) == b""  # the oldest idle connection made room
        for sock in idle:
            sock.close()
    finally:
        proxy.stop()
    assert "Traceback" not in proxy.log()


def test_at_the_descriptor_limit_the_proxy_keeps_serving_and_its_log_stays_small(tmp_path):
    import resource

    cfg = tmp_path / "fd.yaml"
    cfg.write_text("""
providers:
  a: {kind: simulated, model: a-1, simulate: {latency_ms: 1, jitter_ms: 0, answer: "answer from a"}}
steps:
  draft: {providers: [a]}
proxy: {header_timeout_s: 2}
""")
    proxy = ProxyProcess(cfg, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))).wait_ready()
    flood: list[socket.socket] = []
    try:
        for _ in range(400):  # more idle sockets than the proxy has descriptors
            try:
                flood.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=10))
            except OSError:
                break
        def served() -> bool:
            try:
                return _parse(_exchange(proxy.port, _post(_ok_body(), b""), timeout=2))[0] == 200
            except OSError:
                return False

        # The accept loop resumes once idle connections are shed or reaped.
        eventually_sync(served, within=40, every=0.2, what="a request is answered 200 at the descriptor limit")
    finally:
        for sock in flood:
            sock.close()
        proxy.stop()
    log = proxy.log()
    assert len(log.encode()) < 20_000, log[:3000]
    assert "Traceback" not in log
    assert "RLIMIT_NOFILE 256" in log  # the cap was sized to the limit, and said so


VERSIONS = [(b"GET /healthz HTTP/0.9", 400), (b"GET /healthz", 400), (b"GET /healthz HTTP/2.0", 505),
            (b"POST /v1/chat/completions HTTP/2.0", 505)]


async def test_request_lines_in_other_http_versions_are_refused_as_error_json(stack):
    proxy, vendor = stack
    body = _ok_body()
    for request_line, status in VERSIONS:
        reply = await asyncio.to_thread(_exchange, proxy.port, request_line + b"\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
                                        + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                                        + b"\r\n\r\n" + body)
        error = _error_json(reply, status)
        assert error["code"] == ("http_version_not_supported" if status == 505 else "bad_request"), request_line
        assert reply.startswith(b"HTTP/1."), reply[:40]
    assert vendor.count == 0
    assert "Traceback" not in proxy.log()


def _responses(reply: bytes) -> list[tuple[int, bytes]]:
    """Split a connection's replies (each framed by Content-Length) into (status, body)."""
    out = []
    while reply:
        status, headers, rest = _parse(reply)
        length = int(headers["content-length"])
        out.append((status, rest[:length]))
        reply = rest[length:]
    return out


async def test_a_request_pipelined_ahead_of_a_garbled_one_is_answered_first(stack):
    proxy, vendor = stack
    body = _ok_body()
    valid = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
             + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    reply = await asyncio.to_thread(_exchange, proxy.port, valid + valid + b"NOT HTTP AT ALL\r\n\r\n")
    answers = _responses(reply)
    assert [status for status, _ in answers] == [200, 200, 400], reply[:500]
    assert json.loads(answers[0][1])["choices"][0]["message"]["content"] == "the refund is 42.99"
    assert json.loads(answers[2][1])["error"]["code"] == "bad_request"
    assert vendor.count == 2

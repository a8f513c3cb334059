"""A config reload never weakens security: a real `crosswalk serve` process bound to a
public address (0.0.0.0, reached through 127.0.0.1) refuses a new file that leaves it
without API keys, keeps the old config and keys, and says why; on loopback the same file
applies, with a warning; keys from CROSSWALK_API_KEYS keep auth on whatever the file says."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest

from tests.eventually import eventually_sync
from tests.router.proxy_harness import ProxyProcess

KEY = "cw-reload-key-5f1e2d3c4b5a6978"
ENV_KEY = "cw-env-key-0a9b8c7d6e5f4321"
CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, simulate: {latency_ms: 1, jitter_ms: 0}}
  b: {kind: simulated, model: b-1, vendor: vb, simulate: {latency_ms: 1, jitter_ms: 0}}
steps:
  draft: {providers: [a, b]}
proxy:
  api_keys: ["%s"]
  reload_interval_s: 0.2
""" % KEY
# The same file with b ranked first, so whether a reload applied shows in every answer.
B_FIRST = CONFIG.replace("draft: {providers: [a, b]}", "draft: {providers: [b, a]}")
WITHOUT_KEYS = {
    "dropped": B_FIRST.replace('  api_keys: ["%s"]\n' % KEY, ""),
    "emptied": B_FIRST.replace('["%s"]' % KEY, "[]"),
}


def _call(p: ProxyProcess, key: str | None) -> tuple[int, str | None]:
    """POST a chat completion; (status, the provider that answered)."""
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": "draft", "messages": [{"role": "user", "content": "hi"}]}),
                 headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("x-crosswalk-provider") if resp.status == 200 else None


def _get(p: ProxyProcess, path: str, key: str | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    conn.request("GET", path, headers={"authorization": f"Bearer {key}"} if key else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return json.loads(data)


def _serve(tmp_path: Path, host: str, env: dict[str, str] | None = None) -> tuple[ProxyProcess, Path]:
    path = tmp_path / "crosswalk.yaml"
    path.write_text(CONFIG)
    return ProxyProcess(path, host=host, env={"CROSSWALK_API_KEYS": "", **(env or {})}).wait_ready(), path


@pytest.mark.parametrize("variant", sorted(WITHOUT_KEYS))
def test_public_reload_without_keys_is_refused_and_the_old_key_still_required(tmp_path, variant):
    p, path = _serve(tmp_path, "0.0.0.0")
    try:
        assert _call(p, KEY) == (200, "a") and _call(p, None)[0] == 401
        path.write_text(WITHOUT_KEYS[variant])
        assert _get(p, "/readyz")["reload_failed"] is False  # public bind: the text is for key holders
        error = eventually_sync(lambda: _get(p, "/readyz", KEY)["reload_error"], what="the reload is rejected")
        assert _get(p, "/readyz") == {"status": "ok", "steps_ready": ["draft"], "steps_without_provider": [], "reload_failed": True}
        assert "proxy.api_keys" in error and "0.0.0.0" in error and "127.0.0.1" in error
        assert _call(p, None)[0] == 401  # the old key is still required...
        assert _call(p, "wrong")[0] == 401
        assert _call(p, KEY) == (200, "a")  # ...and the old config still serves (a first, not b)
        providers = _get(p, "/v1/crosswalk/providers", KEY)
        assert providers["config"]["reload_error"] == error
        # Putting the keys back applies the file (and clears the error).
        path.write_text(B_FIRST)
        eventually_sync(lambda: _call(p, KEY) == (200, "b"), what="the fixed file is applied")
        assert _get(p, "/readyz", KEY)["reload_error"] is None
        assert _call(p, None)[0] == 401
    finally:
        p.stop()
    log = p.log()
    assert "WARNING" in log and "config reload rejected" in log and "proxy.api_keys" in log
    assert KEY not in log


def test_loopback_reload_may_drop_the_keys_but_warns(tmp_path):
    p, path = _serve(tmp_path, "127.0.0.1")
    try:
        assert _call(p, None)[0] == 401
        path.write_text(WITHOUT_KEYS["dropped"])
        eventually_sync(lambda: _call(p, None) == (200, "b"), what="applied: b first, no key needed")
        assert _get(p, "/readyz")["reload_error"] is None
    finally:
        p.stop()
    log = p.log()
    warning = next((line for line in log.splitlines() if "turns API-key authentication off" in line), "")
    assert " WARNING " in warning and "127.0.0.1 is loopback" in warning, log


def test_keys_from_the_environment_keep_auth_on_across_a_reload(tmp_path):
    p, path = _serve(tmp_path, "0.0.0.0", env={"CROSSWALK_API_KEYS": ENV_KEY})
    try:
        assert _call(p, ENV_KEY) == (200, "a") and _call(p, KEY) == (200, "a")
        path.write_text(WITHOUT_KEYS["dropped"])
        eventually_sync(lambda: _call(p, ENV_KEY) == (200, "b"), what="applied: the env key is a key")
        assert _get(p, "/readyz", ENV_KEY)["reload_error"] is None
        assert _call(p, None)[0] == 401
        assert _call(p, KEY)[0] == 401  # the file's key went with the file
    finally:
        p.stop()
    assert ENV_KEY not in p.log()

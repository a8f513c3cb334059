"""Config reload survives any file content (issue 23.3): a config or compliance feed that is
not UTF-8, nested thousands deep or an alias bomb is a config error naming the file, in
`crosswalk check` (no traceback) and in a real `crosswalk serve` (reload_error set and
logged, the old config serving, the next good edit or SIGHUP applied)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.eventually import eventually_sync
from tests.router.proxy_harness import ProxyProcess

CONFIG = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, simulate: {latency_ms: 1, jitter_ms: 0}}
  b: {kind: simulated, model: b-1, vendor: vb, simulate: {latency_ms: 1, jitter_ms: 0}}
steps:
  draft: {providers: [a, b]}
compliance: {embargo_file: feed.yaml}
proxy: {reload_interval_s: INTERVAL}
"""
B_FIRST = CONFIG.replace("[a, b]", "[b, a]")
# A 9-way alias bomb seven levels deep: 345 bytes, 9**7 (4.8 million) strings once expanded.
BOMB = "".join(f"{n}: &{n} [{', '.join([prev] * 9)}]\n" for n, prev in zip("abcdefg", ['"lol"', *("*" + c for c in "abcdef")]))
HOSTILE = {
    "not utf-8": (CONFIG.replace("a-1", "a-\xff").encode("latin-1"), "not UTF-8"),
    "3000 deep": (("providers: " + "[" * 3000 + "]" * 3000 + "\n").encode(), "nested more than"),
    "alias bomb": ((BOMB + CONFIG).encode(), "aliases"),
    "over 1 MiB": ((CONFIG + "# padding\n" * 120_000).encode(), "larger than 1,048,576 bytes"),
}


def _readyz(p: ProxyProcess) -> dict:
    try:
        with urllib.request.urlopen(p.url + "/readyz", timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def _answered_by(p: ProxyProcess) -> str:
    req = urllib.request.Request(p.url + "/v1/chat/completions", method="POST", headers={"content-type": "application/json"},
                                 data=json.dumps({"model": "draft", "messages": [{"role": "user", "content": "hi"}]}).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["x-crosswalk-provider"]


def _rejected_with(p: ProxyProcess, words: str) -> str:
    error = eventually_sync(lambda: (_readyz(p)["reload_error"] or "") if words in (_readyz(p)["reload_error"] or "") else "",
                            what=f"the reload is rejected with {words!r}")
    return error


def _serve(tmp_path: Path, interval: str) -> tuple[ProxyProcess, Path]:
    (tmp_path / "feed.yaml").write_text("[]\n")
    path = tmp_path / "crosswalk.yaml"
    path.write_text(CONFIG.replace("INTERVAL", interval))
    return ProxyProcess(path).wait_ready(), path


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_check_names_the_file_and_never_prints_a_traceback(tmp_path, case):
    content, words = HOSTILE[case]
    (tmp_path / "feed.yaml").write_text("[]\n")
    path = tmp_path / "bad.yaml"
    path.write_bytes(content.replace(b"INTERVAL", b"1"))
    proc = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "check", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and str(path) in proc.stderr and words in proc.stderr, proc.stderr
    assert "OK" not in proc.stdout


def test_check_names_a_hostile_feed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("INTERVAL", "1"))
    for content, words in ((b"- {provider: a, reason: \xff}\n", "not UTF-8"), (BOMB.encode(), "aliases")):
        (tmp_path / "feed.yaml").write_bytes(content)
        proc = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "check", str(path)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "compliance.embargo_file" in proc.stderr and "feed.yaml" in proc.stderr and words in proc.stderr, proc.stderr


def test_the_watcher_survives_hostile_edits_and_applies_the_next_good_one(tmp_path):
    p, path = _serve(tmp_path, "0.1")
    good = {"a": CONFIG.replace("INTERVAL", "0.1"), "b": B_FIRST.replace("INTERVAL", "0.1")}
    try:
        served = "a"
        for case in sorted(HOSTILE):
            content, words = HOSTILE[case]
            path.write_bytes(content.replace(b"INTERVAL", b"0.1"))
            error = _rejected_with(p, words)
            assert str(path) in error
            assert _answered_by(p) == served  # the previous config still serves
            served = "b" if served == "a" else "a"
            path.write_text(good[served])
            eventually_sync(lambda: _readyz(p)["reload_error"] is None and _answered_by(p) == served, what=f"{case}: the fix applies")
        for feed, words in ((b"- {provider: a, reason: \xff}\n", "not UTF-8"), (BOMB.encode(), "aliases")):
            (tmp_path / "feed.yaml").write_bytes(feed)
            assert "feed.yaml" in _rejected_with(p, words)
            (tmp_path / "feed.yaml").write_text("[]\n")
            eventually_sync(lambda: _readyz(p)["reload_error"] is None, what="the fixed feed applies")
    finally:
        p.stop()
    log = p.log()
    assert log.count("config reload rejected") >= len(HOSTILE) + 2 and "Traceback" not in log


def test_sighup_after_a_hostile_file_still_reloads(tmp_path):
    p, path = _serve(tmp_path, "3600")  # no polling: only SIGHUP reloads
    try:
        path.write_bytes(HOSTILE["not utf-8"][0].replace(b"INTERVAL", b"3600"))
        p.proc.send_signal(signal.SIGHUP)
        _rejected_with(p, "not UTF-8")
        path.write_bytes(HOSTILE["3000 deep"][0])
        p.proc.send_signal(signal.SIGHUP)
        _rejected_with(p, "nested more than")
        path.write_text(B_FIRST.replace("INTERVAL", "3600"))
        p.proc.send_signal(signal.SIGHUP)
        eventually_sync(lambda: _readyz(p)["reload_error"] is None and _answered_by(p) == "b", what="SIGHUP applies the good file")
    finally:
        p.stop()

"""The `crosswalk` command as a user runs it: check and demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from crosswalk.router.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _fast_default(tmp_path: Path) -> Path:
    """config/default.yaml with ejection times cut so the story's recovery takes a moment."""
    raw = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    raw["health"].update(ejection_base_s=0.3, ejection_max_s=1.0)
    raw["steps"].pop("acquisition", None)  # its scene loads a model: tests/router/test_demo_semantic.py runs it
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_check_prints_routing_table_with_reasons(capsys):
    assert main(["check", str(ROOT / "config" / "default.yaml")]) == 0
    out = capsys.readouterr().out
    assert "step summarize-eu" in out
    assert "alpha-large" in out and "BLOCKED" in out and "region 'us' not in allowed regions ['eu']" in out


def test_check_reports_errors_with_paths_and_exits_nonzero(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "providers:\n  a: {kind: simulated, model: m}\n"
        "steps:\n  draft: {providers: [a, gpt5], max_atempts: 2}\n"
    )
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "steps.draft.max_atempts: unknown key 'max_atempts'" in err


def test_check_flags_a_step_nothing_can_serve(tmp_path, capsys):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text(
        "providers:\n  a: {kind: simulated, model: m, region: us}\n"
        "steps:\n  s: {providers: [a], allowed_regions: [eu]}\n"
    )
    assert main(["check", str(cfg)]) == 1
    assert "steps.s: no provider is eligible today" in capsys.readouterr().err


def test_check_unknown_provider_names_known_ones(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("providers:\n  a: {kind: simulated, model: m}\nsteps:\n  draft: {providers: [a, gpt5]}\n")
    assert main(["check", str(cfg)]) == 1
    assert "steps.draft.providers[1]: unknown provider 'gpt5' (known: a)" in capsys.readouterr().err


def test_demo_tells_the_outage_story_and_exits_zero(tmp_path, capsys):
    assert main(["demo", "--config", str(_fast_default(tmp_path)), "--pace", "0"]) == 0
    out = capsys.readouterr().out
    assert "alpha-large ejected" in out
    assert "beta-pro excluded: regulatory" in out
    assert "beta-pro was called 1 time(s) after the block" in out
    for phase in ("healthy", "alpha outage", "beta blocked", "alpha recovered"):
        line = next(l for l in out.splitlines() if l.strip().startswith(phase))
        assert " 0 failed" in line, line
    recovered = next(l for l in out.splitlines() if l.strip().startswith("alpha recovered"))
    assert "alpha-large" in recovered  # traffic returned to the recovered vendor
    assert "End to end:" in out and "(100.0%)" in out
    _validator_fails_over(out)


def _validator_fails_over(out: str) -> None:
    """The demo's validator scene: the out-of-band premium fails over to the next vendor."""
    lines = out.splitlines()
    start = lines.index(next(l for l in lines if l.startswith("1c. Validated step 'quote-premium'")))
    scene = lines[start:start + 5]
    assert "premium-band, max_chars" in scene[0]
    assert scene[1].split() == ["INVALID:", "alpha-mini", "broke", "premium-band:", "'premium'", "is", "84000,", "above",
                                "max", "5000", "->", "failover"]
    assert scene[2].split() == ["attempts:", "alpha-mini:invalid_output,beta-pro:ok"]
    assert "'Premium: $840 per year for policy P-77.' (from beta-pro)" in scene[3]


def test_check_shows_a_steps_validators(capsys):
    assert main(["check", str(ROOT / "config" / "default.yaml")]) == 0
    out = capsys.readouterr().out
    assert "step quote-premium:" in out and "  validate: premium-band, max_chars; on invalid: failover" in out


def test_demo_refuses_a_config_without_the_simulated_vendors(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("providers:\n  a: {kind: simulated, model: m}\nsteps:\n  draft: {providers: [a]}\n")
    assert main(["demo", "--config", str(cfg)]) == 2
    assert "needs the simulated vendors" in capsys.readouterr().out


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "check", str(ROOT / "config" / "default.yaml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "OK (4 providers, 6 steps" in proc.stdout


def test_serve_turns_the_gc_back_on_when_it_refuses_to_start(tmp_path, capsys):
    """`crosswalk serve` runs its start-up without the cyclic GC (router/cli.py); a start
    refused for a bad config must not leave the calling process without it."""
    import gc

    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: {a: {kind: nope}}\nsteps: {}\n")
    assert gc.isenabled()
    assert main(["serve", "--config", str(bad), "--port", "0"]) == 1
    assert "error:" in capsys.readouterr().err
    assert gc.isenabled()


def test_a_serving_proxy_collects_garbage(tmp_path):
    """The start-up runs without the cyclic GC; once serving, it is on: generation-0
    collections (python_gc_collections_total, on /metrics) go up as requests come in."""
    import json
    import re
    import urllib.request

    from tests.router.proxy_harness import ProxyProcess

    config = tmp_path / "gc.yaml"
    config.write_text("providers:\n  a: {kind: simulated, model: a-1, simulate: {latency_ms: 0, jitter_ms: 0}}\n"
                      "steps:\n  draft: {providers: [a]}\nhealth: {probe_interval_s: 0}\n")
    proxy = ProxyProcess(config, env={"CROSSWALK_API_KEYS": ""}).wait_ready()
    try:
        def gen0() -> float:
            with urllib.request.urlopen(proxy.url + "/metrics", timeout=5) as resp:
                text = resp.read().decode()
            return float(re.search(r'python_gc_collections_total\{generation="0"\} ([\d.e+]+)', text).group(1))

        before = gen0()
        body = json.dumps({"model": "draft", "messages": [{"role": "user", "content": "hi"}]}).encode()
        for _ in range(200):
            request = urllib.request.Request(proxy.url + "/v1/chat/completions", data=body, headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as resp:
                assert resp.status == 200
        assert gen0() > before
    finally:
        proxy.stop()

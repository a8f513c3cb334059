"""The `crosswalk` command as a newcomer runs it (issue 22): one grammar (`--config` wherever
a file is read, CROSSWALK_CONFIG and CROSSWALK_API_KEYS read by every command), `check`
reporting every problem of a file in one run with "did you mean", `explain --url` asking
the running proxy, and `--help` examples. Real subprocesses on real YAML files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from crosswalk.policies.schema import ProviderSpec
from tests.router.proxy_harness import ProxyProcess

COMMANDS = ("check", "demo", "serve", "report", "explain", "unexclude")
GOOD = """
providers:
  a: {kind: simulated, model: a-1, vendor: va, region: us}
  b: {kind: simulated, model: b-1, vendor: vb, region: eu}
steps:
  review: {providers: [a, b]}
"""
# One file, every layer of mistake at once: an unset variable, an openai provider without
# base_url, LiteLLM's api_base, a misspelt kind and key, an empty provider list, an unknown
# (misspelt) provider, a misspelt choice.
MISTAKES = """
providers:
  claude: {kind: litellm, model: anthropic/claude-sonnet-4-5, api_key: "${CW_TEST_UNSET_KEY}", api_base: "https://x"}
  gpt: {kind: openai, model: gpt-4o}
  mistral: {kind: simulatd, model: m}
steps:
  draft: {providers: [claude, gtp], max_atempts: 2}
  empty: {providers: []}
  judged: {providers: [gpt], verify: {compare: exakt}}
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CROSSWALK_")}
    return subprocess.run([sys.executable, "-m", "crosswalk.router.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**base, **(env or {})})


def _file(tmp_path: Path, text: str, name: str = "crosswalk.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_takes_the_file_bare_with_config_or_from_the_environment(tmp_path):
    path = _file(tmp_path, GOOD)
    runs = [_cli("check", str(path)), _cli("check", "--config", str(path)), _cli("check", env={"CROSSWALK_CONFIG": str(path)})]
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout and f"{path}: OK (2 providers, 1 steps" in runs[0].stdout
    both = _cli("check", str(path), "--config", str(tmp_path / "other.yaml"))
    assert both.returncode == 2 and "give the file once" in both.stderr


def test_every_option_an_error_advises_exists(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    options = {command: set(re.findall(r"(--[a-z][a-z-]*)", _cli(command, "--help").stdout)) for command in ("check", "explain", "serve")}
    for args in (["check", missing], ["check", "--config", missing], ["explain", "--step", "s", "--config", missing],
                 ["serve", "--config", missing, "--port", "1"]):
        run = _cli(*args)
        assert run.returncode == 1 and missing in run.stderr and "Traceback" not in run.stderr, run.stderr
        advised = set(re.findall(r"(--[a-z][a-z-]*)", run.stderr))
        assert advised <= options[args[0]], run.stderr
    from_env = _cli("check", env={"CROSSWALK_CONFIG": missing})
    assert from_env.returncode == 1 and f"{missing}: 1 problem(s)" in from_env.stderr and "$CROSSWALK_CONFIG" in from_env.stderr


def test_check_reports_every_problem_in_one_run(tmp_path):
    run = _cli("check", str(_file(tmp_path, MISTAKES)))
    assert run.returncode == 1 and "OK" not in run.stdout and "Traceback" not in run.stderr
    kinds = ", ".join(get_args(ProviderSpec.model_fields["kind"].annotation))  # read from the schema, as check does
    for expected in (
        "providers.claude.api_key: environment variable CW_TEST_UNSET_KEY is not set; export it",
        "providers.claude.api_base: unknown key 'api_base'; that is LiteLLM's name: write 'base_url'",
        "providers.gpt: kind 'openai' needs base_url",
        f"providers.mistral.kind: unknown kind (one of: {kinds}); did you mean 'simulated'?",
        "steps.draft.max_atempts: unknown key 'max_atempts'; did you mean 'max_attempts'?",
        "steps.empty.providers: the list is empty",
        "steps.judged.verify.compare: unknown value (one of: exact, normalized, numeric, json, semantic, judge); "
        "did you mean 'exact'?",
        "steps.draft.providers[1]: unknown provider 'gtp' (known: claude, gpt, mistral); did you mean 'gpt'?",
    ):
        assert expected in run.stderr, run.stderr
    assert run.stderr.startswith(f"error: {tmp_path / 'crosswalk.yaml'}: 8 problem(s)\n"), run.stderr


def test_check_calls_an_unknown_region_unknown_and_never_says_ok(tmp_path):
    path = _file(tmp_path, GOOD.replace("review: {providers: [a, b]}",
                                        "review: {providers: [a, b], allowed_regions: [mars]}\n  draft: {providers: [b], allowed_regions: [ue]}"))
    run = _cli("check", str(path))
    assert run.returncode == 1 and ": OK" not in run.stdout and "NOT OK, 4 problem(s)" in run.stdout
    assert "steps.review.allowed_regions: unknown region 'mars': no provider has region 'mars' (providers' regions: eu, us)" in run.stderr
    assert "steps.draft.allowed_regions: unknown region 'ue'" in run.stderr and "did you mean 'eu'?" in run.stderr
    assert "steps.review: no provider is eligible today" in run.stderr and "steps.draft: no provider is eligible today" in run.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_examples_of_the_command(command):
    run = _cli(command, "--help")
    assert run.returncode == 0
    examples = run.stdout.split("examples:\n", 1)[1]
    assert all(line.strip().split()[0] in ("crosswalk", "CROSSWALK_CONFIG=crosswalk.yaml", "CROSSWALK_API_KEYS=key1,key2",
                                           "CROSSWALK_API_KEYS=key1")
               for line in examples.splitlines() if line.startswith("  "))
    assert f"crosswalk {command}" in examples


def test_explain_url_explains_what_the_running_proxy_has(tmp_path):
    key = "cw-grammar-key-7a6b5c4d3e2f"
    path = _file(tmp_path, GOOD + f"proxy: {{api_keys: ['{key}']}}\n")
    proxy = ProxyProcess(path, env={"CROSSWALK_API_KEYS": ""}).wait_ready()
    try:
        run = _cli("explain", "--step", "review", "--url", proxy.url, env={"CROSSWALK_API_KEYS": f"{key},other"})
        assert run.returncode == 0, run.stderr
        assert f"step review in {path}" in run.stdout and "live state from the proxy" in run.stdout
        assert re.search(r"1\. a\s+vendor va\s+region us\s+eligible", run.stdout), run.stdout
        region = _cli("explain", "--step", "review", "--region", "eu", "--url", proxy.url, env={"CROSSWALK_API_KEYS": key})
        assert re.search(r"1\. a\s+vendor va\s+region us\s+BLOCKED", region.stdout), region.stdout
        typo = _cli("explain", "--step", "reveiw", "--url", proxy.url, "--key", key)
        assert typo.returncode == 1 and "unknown step 'reveiw'" in typo.stderr and "did you mean 'review'?" in typo.stderr
        assert "401" in _cli("explain", "--step", "review", "--url", proxy.url).stderr  # no key: refused, not the demo config
        lifted = _cli("unexclude", "a", "--url", proxy.url, env={"CROSSWALK_API_KEYS": key})
        assert lifted.returncode == 0 and "no exclusion was in force" in lifted.stdout, lifted.stderr
        old_name = _cli("explain", "--step", "review", "--url", proxy.url, env={"CROSSWALK_API_KEY": key})
        assert old_name.returncode == 0, old_name.stderr
    finally:
        proxy.stop()


def test_explain_reads_crosswalk_config_like_every_command(tmp_path):
    path = _file(tmp_path, GOOD)
    run = _cli("explain", "--step", "review", env={"CROSSWALK_CONFIG": str(path)})
    assert run.returncode == 0 and f"step review in {path}" in run.stdout, run.stderr
    demo = _cli("demo", env={"CROSSWALK_CONFIG": str(path)})
    assert demo.returncode == 2 and f"{path} (the file $CROSSWALK_CONFIG names) lacks them" in demo.stdout, demo.stdout
    mars = _cli("explain", "--step", "review", "--region", "ue", "--config", str(path))
    assert mars.returncode == 1 and "region 'ue' is unknown: no provider has it (providers' regions: eu, us); did you mean 'eu'?" in mars.stdout

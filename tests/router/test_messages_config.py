"""Config for the Messages dialect: `kind: anthropic` defaults, step `aliases` (exact and
glob, a bad one named by path), and `crosswalk explain` saying how /v1/messages is served."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crosswalk.policies.config import ConfigError
from crosswalk.policies.parse import parse_config

CONFIG = """
providers:
  claude: {kind: anthropic, model: claude-sonnet-4-5, api_key: k}
  gpt: {kind: openai, model: gpt-4.1, base_url: "http://127.0.0.1:9/v1"}
steps:
  assistant: {providers: [claude, gpt], aliases: ["claude-sonnet-4*", "claude-opus-4-1"]}
  fast: {providers: [gpt, claude], aliases: ["claude-haiku-*", "claude-sonnet-4-5-fast"]}
"""


def test_kind_anthropic_defaults():
    claude = parse_config(CONFIG, env={}).providers["claude"]
    assert claude.base_url == "https://api.anthropic.com" and claude.prefill is True and claude.vendor == "anthropic"


def test_aliases_pick_the_step_exact_first_then_globs_in_config_order():
    config = parse_config(CONFIG, env={})
    assert config.step_for("assistant").name == "assistant"
    assert config.step_for("claude-sonnet-4-5-20250929").name == "assistant"
    assert config.step_for("claude-sonnet-4-5-fast").name == "fast"  # an exact alias beats an earlier glob
    assert config.step_for("claude-haiku-4-5").name == "fast"
    assert config.step_for("claude-opus-4-1").name == "assistant"
    assert config.step_for("claude-opus-4-1-2025") is None  # an exact alias is not a prefix
    assert config.step_for("gpt-4.1") is None


def test_an_alias_that_names_another_step_is_a_config_error():
    bad = CONFIG.replace('aliases: ["claude-haiku-*", "claude-sonnet-4-5-fast"]', 'aliases: ["assistant"]')
    with pytest.raises(ConfigError, match=r"steps.fast.aliases\[0\]: 'assistant' is the name of another step"):
        parse_config(bad, env={})


def test_explain_says_who_serves_messages_natively(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    out = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "explain", "--step", "assistant", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/v1/messages: served natively by claude; translated for gpt, which are not eligible" in out.stdout


def test_a_malformed_block_is_the_callers_400_not_a_crash():
    from crosswalk.router.dialects.messages import parse
    from crosswalk.router.proxy_requests import BadRequest

    body = b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}'
    with pytest.raises(BadRequest, match="malformed"):
        parse(body, {})


def test_what_only_messages_carries_and_what_a_translation_drops():
    import json

    from crosswalk.router.dialects.messages import parse

    body = {"model": "m", "max_tokens": 5, "top_k": 3, "messages": [
        {"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
                                     {"type": "text", "text": "Summarise", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                          {"type": "text", "text": "ok", "citations": [{"type": "char_location"}]}]},
        {"role": "user", "content": "thanks"}]}
    native = parse(json.dumps(body).encode(), {"anthropic-beta": "files-api-2025-04-14"}).native
    assert native.needs == ("documents", "citations")
    assert native.dropped == ("document block", "top_k", "cache_control", "thinking blocks", "anthropic-beta files-api-2025-04-14")
    plain = parse(json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}).encode(), {}).native
    assert plain.needs == () and plain.dropped == ()

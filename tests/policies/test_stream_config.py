"""The config of mid-stream recovery: providers' `prefill` (with defaults per vendor) and
the `stream:` block (top level, overridden key by key per step), with errors that name
the path and the fix."""

from __future__ import annotations

import math
from textwrap import dedent

import pytest

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.policies.schema import CONTINUE_PROMPT

PROVIDERS = """
providers:
  oa: {kind: openai, model: gpt-4o-mini, base_url: "https://api.openai.com/v1"}
  claude: {kind: litellm, model: anthropic/claude-sonnet-4-5}
  gemini: {kind: litellm, model: gemini/gemini-2.5-flash}
  vllm: {kind: openai, model: qwen, base_url: "http://127.0.0.1:8000/v1", prefill: true}
  sim: {kind: simulated, model: m}
"""


def parse(text: str):
    return parse_config(dedent(text), env={}, source="test.yaml")


def test_prefill_defaults_by_vendor_and_an_explicit_setting_wins():
    config = parse(PROVIDERS + "steps:\n  s: {providers: [oa]}\n")
    got = {name: p.prefill for name, p in config.providers.items()}
    assert got == {"oa": False, "claude": True, "gemini": False, "vllm": True, "sim": False}


def test_stream_defaults_and_step_overrides_key_by_key():
    config = parse(PROVIDERS + """
stream: {resume: continue, continue_prompt: "Continue, s'il te plaît."}
steps:
  plain: {providers: [oa]}
  careful: {providers: [oa], stream: {hold: full}}
  windowed: {providers: [oa], stream: {hold: 8, resume: off}}
""")
    plain, careful, windowed = (config.steps[n].stream for n in ("plain", "careful", "windowed"))
    assert (plain.hold_chunks, plain.resume, plain.continue_prompt) == (1, "continue", "Continue, s'il te plaît.")
    assert (careful.hold_chunks, careful.resume, careful.continue_prompt) == (math.inf, "continue", "Continue, s'il te plaît.")
    assert (windowed.hold_chunks, windowed.resume) == (8, "off")


def test_no_stream_block_means_commit_at_the_first_token_and_resume_auto():
    stream = parse(PROVIDERS + "steps:\n  s: {providers: [oa]}\n").steps["s"].stream
    assert (stream.hold, stream.resume, stream.continue_prompt) == ("none", "auto", CONTINUE_PROMPT)


@pytest.mark.parametrize("block, said", [
    ("{hold: 0}", "steps.s.stream.hold: Value error, hold is 'none', 'full' or a number of content chunks >= 1 (got 0)"),
    ("{hold: half}", "steps.s.stream.hold"),
    ("{resume: later}", "steps.s.stream.resume"),
    ("{continue_prompt: ''}", "steps.s.stream.continue_prompt"),
    ("{holds: full}", "steps.s.stream.holds: unknown key 'holds'; did you mean 'hold'?"),
])
def test_stream_mistakes_name_their_path(block, said):
    with pytest.raises(ConfigError) as info:
        parse(PROVIDERS + f"steps:\n  s: {{providers: [oa], stream: {block}}}\n")
    assert said.replace("Value error, ", "") in str(info.value) or said in str(info.value)


def test_prefill_must_be_a_boolean():
    with pytest.raises(ConfigError) as info:
        parse(PROVIDERS.replace("prefill: true", "prefill: sometimes") + "steps:\n  s: {providers: [oa]}\n")
    assert "providers.vllm.prefill" in str(info.value)

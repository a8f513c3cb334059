"""Step and provider names go into response headers and logs: `crosswalk check` (the
config loader) refuses names that could not go there, naming the path."""

from __future__ import annotations

from textwrap import dedent

import pytest

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config

TEMPLATE = """
providers:
  {provider}: {{kind: simulated, model: m}}
steps:
  {step}: {{providers: [{provider}]}}
"""


@pytest.mark.parametrize("provider, step, where", [
    ("a", '"dr\\u0007aft"', "steps.dr\\x07aft"),
    ("a", '"draft\\r\\nx-injected: 1"', "steps.draft\\r\\nx-injected: 1"),
    ('"a\\tb"', "draft", "providers.a\\tb"),
    ("a", '"entwürfe"', "steps.entw\\xfcrfe"),
    ("a", "d" * 300, "steps." + "d" * 60),
    ("a", '" draft"', "steps. draft"),
])
def test_names_unfit_for_headers_are_refused_with_their_path(provider, step, where):
    with pytest.raises(ConfigError) as info:
        parse_config(dedent(TEMPLATE.format(provider=provider, step=step)), env={}, source="c.yaml")
    assert any(p.startswith(where + ":") for p in info.value.problems), info.value.problems


def test_ordinary_names_pass():
    config = parse_config(dedent(TEMPLATE.format(provider="openai-gpt-4o.mini_eu", step="extract-refund/v2")), env={}, source="c.yaml")
    assert list(config.steps) == ["extract-refund/v2"]

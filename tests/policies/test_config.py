"""Config loading: every mistake is reported with its path and how to fix it; defaults
resolve as documented; every shipped file in config/ loads."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from textwrap import dedent

import pytest

from crosswalk.policies.config import ProviderConf, RouterConfig
from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.router.configfile import load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILES = sorted((ROOT / "config").glob("*.yaml"))

BASE = """
providers:
  a: {kind: simulated, model: m-a}
  b: {kind: simulated, model: m-b}
steps:
  draft: {providers: [a, b]}
"""


def parse(text: str, env: dict[str, str] | None = None) -> RouterConfig:
    return parse_config(dedent(text), env=env or {}, source="test.yaml")


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    err = info.value
    assert err.problems, "a ConfigError must list at least one problem"
    assert str(err).startswith("test.yaml: "), str(err)
    for p in err.problems:
        assert p in str(err)
    return err.problems


def only(text: str, env: dict[str, str] | None = None) -> str:
    got = problems(text, env)
    assert len(got) == 1, got
    return got[0]


# --- each mistake: (config, exact path prefix, words of the fix) ---------------------------

ERRORS = [
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
          b: {kind: simulated, model: n}
        steps:
          draft: {providers: [a, gpt5]}
        """,
        "steps.draft.providers[1]: unknown provider 'gpt5' (known: a, b)", "", id="unknown-provider-in-step",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a, a]}
        """,
        "steps.draft.providers[1]: provider 'a' is listed twice", "list it once", id="duplicate-provider-in-step",
    ),
    pytest.param(BASE + "retries: 3\n", "retries: unknown key 'retries'", "check its spelling", id="unknown-key-top-level"),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m, modle: x}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a.modle: unknown key 'modle'", "did you mean 'model'?", id="unknown-key-in-provider",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], max_atempts: 2}
        """,
        "steps.draft.max_atempts: unknown key 'max_atempts'", "did you mean 'max_attempts'?", id="unknown-key-in-step",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], timeouts: {per_try: 2}}
        """,
        "steps.draft.timeouts.per_try: unknown key 'per_try'", "did you mean 'per_try_s'?", id="unknown-key-in-timeouts",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m, simulate: {latency: 3}}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a.simulate.latency: unknown key 'latency'", "did you mean 'latency_ms'?", id="unknown-key-in-simulate",
    ),
    pytest.param(BASE + "proxy: {drain_s: -1}\n", "proxy.drain_s: ", "greater than or equal to 0", id="negative-drain"),
    pytest.param(
        BASE + "compliance: {embargo: [{vendor: x, reason: r, untill: 2026-01-01}]}\n",
        "compliance.embargo[0].untill: unknown key 'untill'", "did you mean 'until'?", id="unknown-key-in-list-item",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a.model: required key 'model' is missing", "", id="missing-provider-model",
    ),
    pytest.param(
        """
        steps:
          draft: {providers: [a]}
        """,
        "providers: required key 'providers' is missing", "", id="missing-providers",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {max_attempts: 2}
        """,
        "steps.draft.providers: required key 'providers' is missing", "", id="missing-step-providers",
    ),
    pytest.param(
        BASE + "compliance: {embargo: [{provider: a}]}\n",
        "compliance.embargo[0].reason: required key 'reason' is missing", "", id="missing-embargo-reason",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], max_attempts: lots}
        """,
        "steps.draft.max_attempts: ", "valid integer", id="wrong-type-int",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: a}
        """,
        "steps.draft.providers: ", "valid list", id="wrong-type-list",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], timeouts: {total_s: soon}}
        """,
        "steps.draft.timeouts.total_s: ", "valid number", id="wrong-type-float",
    ),
    pytest.param(
        """
        providers:
          a: simulated
        steps:
          draft: {providers: [a]}
        """,
        "providers.a: ", "valid dictionary", id="wrong-type-provider-not-mapping",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], max_attempts: 0}
        """,
        "steps.draft.max_attempts: ", "greater than or equal to 1", id="out-of-range",
    ),
    pytest.param(
        """
        providers:
          a: {kind: opneai, model: m}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a.kind: unknown kind (one of: ", "did you mean 'openai'?", id="bad-kind-literal",
    ),
    pytest.param(BASE + "version: 2\n", "version: ", "1", id="bad-version"),
    pytest.param(
        """
        providers:
          a: {kind: openai, model: gpt-4o}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a: kind 'openai' needs base_url", "e.g. https://api.openai.com/v1", id="openai-without-base_url",
    ),
    pytest.param(
        """
        providers:
          a: {kind: openai, model: gpt-4o, base_url: "api.openai.com/v1"}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a: base_url must start with http:// or https://", "'api.openai.com/v1'", id="base_url-no-scheme",
    ),
    pytest.param(
        """
        providers:
          a: {kind: litellm, model: anthropic/claude, base_url: "ftp://example.com"}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a: base_url must start with http:// or https://", "", id="base_url-bad-scheme",
    ),
    pytest.param(
        """
        providers:
          a: {kind: openai, model: m, base_url: "https://api.example.com:99999/v1"}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a: base_url 'https://api.example.com:99999/v1': must be http:// or https:// with a host", "valid port", id="base_url-bad-port",
    ),
    pytest.param(
        """
        providers:
          a: {kind: openai, model: m, base_url: "https://x.example/v1", headers: {x-team: "a\\r\\nx-admin: 1"}}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a: header 'x-team': names must be tokens and values must not contain CR, LF or NUL", "", id="header-injection",
    ),
    pytest.param(
        """
        providers:
          a: {kind: openai, model: m, base_url: "https://x.example/v1", simulate: {latency_ms: 1}}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a: 'simulate' is only for kind 'simulated'", "", id="simulate-on-real-provider",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], timeouts: {per_try_s: 90, total_s: 60}}
        """,
        "steps.draft.timeouts: per_try_s (90.0) is longer than total_s (60.0)", "lower it", id="per-try-longer-than-total",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], timeouts: {idle_s: 61}}
        """,
        "steps.draft.timeouts: idle_s (61.0) is longer than total_s (60.0)", "lower it", id="idle-longer-than-default-total",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], timeouts: {ttft_s: 20, total_s: 10, per_try_s: 5, idle_s: 5}}
        """,
        "steps.draft.timeouts: ttft_s (20.0) is longer than total_s (10.0)", "lower it", id="ttft-longer-than-total",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m, region: eu}
        steps:
          draft: {providers: [a], allowed_regions: [eu, cn]}
        compliance: {allowed_regions: [us, eu]}
        """,
        "steps.draft.allowed_regions[1]: region 'cn' is not in compliance.allowed_regions (eu, us)",
        "a step may only narrow it", id="step-region-outside-global",
    ),
    pytest.param(
        BASE + "compliance: {embargo: [{reason: export control}]}\n",
        "compliance.embargo[0]: name exactly one of vendor, model or provider", "a glob such as", id="embargo-no-target",
    ),
    pytest.param(
        BASE + "compliance: {embargo: [{vendor: acme, model: 'acme-*', reason: export control}]}\n",
        "compliance.embargo[0]: name exactly one of vendor, model or provider", "", id="embargo-two-targets",
    ),
    pytest.param(
        BASE + "compliance: {embargo: [{vendor: x, reason: r}, {vendor: y, since: 2026-02-01, until: 2026-01-01, reason: r}]}\n",
        "compliance.embargo[1]: until (2026-01-01) is before since (2026-02-01)", "", id="embargo-until-before-since",
    ),
    pytest.param(
        BASE + "compliance: {embargo: [{provider: gpt5, reason: r}]}\n",
        "compliance.embargo[0].provider: unknown provider 'gpt5' (known: a, b)", "", id="embargo-unknown-provider",
    ),
    pytest.param(
        BASE + "compliance: {embargo: [{vendor: x, since: 'next tuesday', reason: r}]}\n",
        "compliance.embargo[0].since: ", "date", id="embargo-bad-date",
    ),
    pytest.param(
        BASE + "health: {min_calls: 30, window: 20}\n",
        "health: min_calls (30) exceeds window (20)", "lower min_calls", id="health-min-calls-over-window",
    ),
    pytest.param(
        BASE + "health: {ejection_base_s: 60, ejection_max_s: 30}\n",
        "health: ejection_max_s must be >= ejection_base_s", "", id="health-ejection-max-below-base",
    ),
    pytest.param(
        """
        providers: {}
        steps:
          draft: {providers: [a]}
        """,
        "providers: ", "at least 1", id="empty-providers",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps: {}
        """,
        "steps: ", "at least 1", id="empty-steps",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: []}
        """,
        "steps.draft.providers: ", "at least 1", id="empty-step-provider-list",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: ""}
        steps:
          draft: {providers: [a]}
        """,
        "providers.a.model: ", "at least 1 character", id="empty-model",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], rate_limited: {wait_max_s: -1}}
        """,
        "steps.draft.rate_limited.wait_max_s: ", "greater than or equal to 0", id="negative-rate-limit-wait",
    ),
    pytest.param(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          draft: {providers: [a], rate_limited: {wait_max: 1}}
        """,
        "steps.draft.rate_limited.wait_max: unknown key 'wait_max'", "did you mean 'wait_max_s'?", id="unknown-key-in-rate-limited",
    ),
]


@pytest.mark.parametrize(("text", "path_message", "fix"), ERRORS)
def test_each_mistake_is_named_with_its_path_and_fix(text, path_message, fix):
    message = only(text)
    assert message.startswith(path_message), message
    assert fix in message, message
    # pydantic's internals never leak into what the user reads
    assert "function-" not in message and "Value error," not in message and "pydantic" not in message


def test_every_problem_is_reported_at_once():
    got = problems(
        """
        providers:
          a: {kind: simulated, model: m, modle: x}
          b: {kind: opneai, model: n}
        steps:
          draft: {providers: [a], max_atempts: 2}
        retries: 3
        """
    )
    assert sorted(p.split(":", 1)[0] for p in got) == sorted(
        ["providers.a.modle", "providers.b.kind", "steps.draft.max_atempts", "retries"]
    )


def test_reference_errors_are_reported_together():
    got = problems(
        """
        providers:
          a: {kind: simulated, model: m}
        steps:
          one: {providers: [a, x]}
          two: {providers: [a, a, y]}
        compliance: {embargo: [{provider: z, reason: r}]}
        """
    )
    assert got == [
        "steps.one.providers[1]: unknown provider 'x' (known: a)",
        "steps.two.providers[1]: provider 'a' is listed twice; list it once",
        "steps.two.providers[2]: unknown provider 'y' (known: a)",
        "compliance.embargo[0].provider: unknown provider 'z' (known: a)",
    ]


def test_multiple_problems_are_one_per_line_in_the_message():
    with pytest.raises(ConfigError) as info:
        parse(BASE + "retries: 3\nextra: 1\n")
    assert str(info.value).count("\n") == 1
    assert str(info.value).startswith("test.yaml: ")


def test_embargo_glob_provider_is_not_checked_against_names():
    config = parse(BASE + "compliance: {embargo: [{provider: 'gpt*', reason: r}, {provider: 'a?', reason: r}]}\n")
    assert [e.provider for e in config.compliance.embargo] == ["gpt*", "a?"]


def test_step_region_within_global_is_accepted():
    config = parse(BASE.replace("draft: {providers: [a, b]}", "draft: {providers: [a, b], allowed_regions: [eu]}")
                   + "compliance: {allowed_regions: [us, eu]}\n")
    assert config.steps["draft"].allowed_regions == frozenset({"eu"})


def test_step_regions_without_a_global_list_are_free():
    config = parse(BASE.replace("draft: {providers: [a, b]}", "draft: {providers: [a, b], allowed_regions: [cn]}"))
    assert config.steps["draft"].allowed_regions == frozenset({"cn"})


# --- YAML and top-level shape ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("providers:\n  a: {kind: simulated, model: m\nsteps: [\n", "line 3, column 6", id="unclosed-flow-mapping"),
        pytest.param("providers:\n  a: {kind: simulated, model: m}\n steps:\n  draft: {providers: [a]}\n", "line 3, column", id="bad-indent"),
        pytest.param("providers:\n\ta: {kind: simulated}\n", "line 2, column 1", id="tab-indent"),
        pytest.param("providers: {a: 'unterminated}\n", "line 2, column 1", id="unterminated-quote"),
    ],
)
def test_invalid_yaml_names_line_and_column(text, where):
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={}, source="test.yaml")
    (message,) = info.value.problems
    assert message.startswith(f"{where}") and "not valid YAML" in message, message


@pytest.mark.parametrize(
    "text",
    [pytest.param("- a\n- b\n", id="list"), pytest.param("hello\n", id="scalar"), pytest.param("", id="empty-file"),
     pytest.param("# only a comment\n", id="comment-only"), pytest.param("42\n", id="number")],
)
def test_top_level_must_be_a_mapping(text):
    assert only(text) == "(top level): expected a mapping with 'providers' and 'steps'"


# --- ${ENV} interpolation ----------------------------------------------------------------

ENV_CONFIG = """
providers:
  a:
    kind: openai
    model: gpt-4o
    base_url: ${BASE_URL:-https://api.openai.com/v1}
    api_key: ${OPENAI_API_KEY}
    headers: {x-org: "org-${ORG_ID:-none}"}
steps:
  draft: {providers: [a], max_attempts: "${ATTEMPTS:-2}"}
"""


def test_missing_env_variable_is_named_with_path_and_fix():
    message = only(ENV_CONFIG)
    assert message == (
        "providers.a.api_key: environment variable OPENAI_API_KEY is not set; "
        "export it, or write ${OPENAI_API_KEY:-default}"
    )


def test_every_missing_env_variable_is_named():
    got = problems(ENV_CONFIG.replace("${ORG_ID:-none}", "${ORG_ID}"))
    assert [p.split(":")[0] for p in got] == ["providers.a.api_key", "providers.a.headers.x-org"]
    assert "ORG_ID" in got[1]


def test_env_interpolation_and_defaults():
    config = parse(ENV_CONFIG, env={"OPENAI_API_KEY": "sk-from-env"})
    a = config.providers["a"]
    assert a.api_key == "sk-from-env"
    assert a.base_url == "https://api.openai.com/v1"  # ${VAR:-default}
    assert dict(a.headers) == {"x-org": "org-none"}  # default inside a longer string
    assert config.steps["draft"].max_attempts == 2  # a default string still validates as an int


def test_env_values_override_defaults():
    env = {"OPENAI_API_KEY": "k", "BASE_URL": "http://127.0.0.1:9/v1", "ORG_ID": "42", "ATTEMPTS": "4"}
    config = parse(ENV_CONFIG, env=env)
    assert config.providers["a"].base_url == "http://127.0.0.1:9/v1"
    assert dict(config.providers["a"].headers) == {"x-org": "org-42"}
    assert config.steps["draft"].max_attempts == 4


def test_empty_env_variable_takes_the_default_as_in_the_shell():
    config = parse(ENV_CONFIG, env={"OPENAI_API_KEY": "k", "BASE_URL": ""})
    assert config.providers["a"].base_url == "https://api.openai.com/v1"


def test_env_values_are_data_not_yaml():
    # A value that looks like YAML (or like another ${VAR}) is substituted verbatim.
    config = parse(ENV_CONFIG, env={"OPENAI_API_KEY": "k: [1, 2] ${OTHER} # not a comment"})
    assert config.providers["a"].api_key == "k: [1, 2] ${OTHER} # not a comment"


def test_env_interpolated_value_is_still_validated():
    message = only(ENV_CONFIG, env={"OPENAI_API_KEY": "k", "BASE_URL": "ftp://nope"})
    assert message.startswith("providers.a: base_url must start with http:// or https://")


def test_parse_config_reads_only_the_env_it_is_given(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-process-env")
    assert "OPENAI_API_KEY is not set" in only(ENV_CONFIG, env={})


# --- defaults resolution ---------------------------------------------------------------

DEFAULTS = """
providers:
  oa:     {kind: openai, model: gpt-4o, base_url: "https://api.openai.com/v1"}
  mis:    {kind: openai, model: mistral-large-latest, base_url: "https://api.mistral.ai/v1/"}
  local:  {kind: openai, model: llama, base_url: "http://127.0.0.1:8000/v1"}
  claude: {kind: litellm, model: anthropic/claude-sonnet-4-5}
  bare:   {kind: litellm, model: command-r}
  sim:    {kind: simulated, model: s-1}
  named:  {kind: openai, model: gpt-4o, base_url: "https://example-eu.openai.azure.com/openai", vendor: azure, family: gpt-4o-family}
steps:
  global-regions: {providers: [oa, claude]}
  own-regions: {providers: [mis], allowed_regions: [eu]}
compliance: {allowed_regions: [us, eu]}
"""


def test_vendor_defaults_from_base_url_host_or_litellm_prefix():
    providers = parse(DEFAULTS).providers
    assert {n: p.vendor for n, p in providers.items()} == {
        "oa": "api.openai.com",
        "mis": "api.mistral.ai",
        "local": "127.0.0.1",
        "claude": "anthropic",
        "bare": "bare",  # no prefix: the provider's own name
        "sim": "sim",
        "named": "azure",  # explicit wins
    }


def test_family_defaults_to_model():
    providers = parse(DEFAULTS).providers
    assert providers["oa"].family == "gpt-4o"
    assert providers["claude"].family == "anthropic/claude-sonnet-4-5"
    assert providers["named"].family == "gpt-4o-family"


def test_step_allowed_regions_inherit_the_global_list():
    steps = parse(DEFAULTS).steps
    assert steps["global-regions"].allowed_regions == frozenset({"us", "eu"})
    assert steps["own-regions"].allowed_regions == frozenset({"eu"})
    assert parse(BASE).steps["draft"].allowed_regions is None  # no rule anywhere: any region


def test_step_and_provider_defaults():
    config = parse(BASE)
    step = config.steps["draft"]
    assert step.providers == ("a", "b") and step.name == "draft"
    assert step.max_attempts == 3
    assert (step.timeouts.per_try_s, step.timeouts.ttft_s, step.timeouts.idle_s, step.timeouts.total_s) == (30, 15, 15, 60)
    assert step.failover_on_content_filter is False
    a = config.providers["a"]
    assert a.simulate is not None and a.simulate.latency_ms == 20.0  # simulated kind gets the default script
    assert a.api_key is None and dict(a.headers) == {} and a.region is None
    assert config.health.consecutive_failures == 5 and config.health.window == 20 and config.health.min_calls == 10
    assert config.retry_budget.ratio == 0.1 and config.retry_budget.min == 3
    assert config.proxy.api_keys == () and config.proxy.drain_s == 5.0  # SIGTERM drains 5 s by default
    assert config.source == "test.yaml"
    assert parse(DEFAULTS).providers["oa"].simulate is None


def test_runtime_config_is_frozen():
    config = parse(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.providers["a"].model = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.source = "x"  # type: ignore[misc]
    assert isinstance(config.providers["a"], ProviderConf)


def test_same_text_gives_equal_provider_entries():
    # Reload keeps a provider's exclusions only when its entry compares equal.
    assert parse(DEFAULTS).providers == parse(DEFAULTS).providers
    assert parse(DEFAULTS).providers["oa"] != parse(DEFAULTS.replace("gpt-4o,", "gpt-4.1,", 1)).providers["oa"]


# --- the shipped files ----------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def _dummy_env(path: Path) -> dict[str, str]:
    return {m.group(1): f"dummy-{m.group(1).lower()}" for m in _ENV_REF.finditer(path.read_text()) if m.group(2) is None}


def test_config_dir_is_not_empty():
    assert any(p.name == "default.yaml" for p in CONFIG_FILES)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = load_config(path, env=_dummy_env(path))
    assert config.steps and config.providers
    assert config.source == str(path)
    for step in config.steps.values():
        assert all(name in config.providers for name in step.providers)


@pytest.mark.parametrize("path", [p for p in CONFIG_FILES if _dummy_env(p)], ids=lambda p: p.name)
def test_shipped_config_names_each_missing_variable(path):
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    named = {m.group(1) for p in info.value.problems if (m := re.search(r"environment variable (\w+) is not set", p))}
    assert named == set(_dummy_env(path))


def test_default_config_needs_no_environment():
    assert _dummy_env(ROOT / "config" / "default.yaml") == {}
    config = load_config(ROOT / "config" / "default.yaml", env={})
    assert all(p.kind == "simulated" for p in config.providers.values())


def test_load_config_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    (message,) = info.value.problems
    # No option advised: load_config serves the SDK (no --config there) as well as the CLI.
    assert "cannot read the file" in message and "check the path" in message and "--config" not in message
    assert info.value.source.endswith("nope.yaml")


def test_load_config_uses_process_env_by_default(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(dedent(ENV_CONFIG))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-process")
    assert load_config(path).providers["a"].api_key == "sk-process"


def test_load_config_resolves_crosswalk_config_env(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(dedent(BASE))
    monkeypatch.setenv("CROSSWALK_CONFIG", str(path))
    assert load_config().source == str(path)
    monkeypatch.delenv("CROSSWALK_CONFIG")
    assert load_config().source.endswith("config/default.yaml")


def test_timeouts_left_out_are_capped_by_total_but_written_ones_must_fit():
    base = "providers:\n  a: {kind: simulated, model: m}\nsteps:\n  s: {providers: [a], timeouts: %s}\n"
    t = parse_config(base % "{total_s: 8}", env={}).steps["s"].timeouts
    assert (t.per_try_s, t.ttft_s, t.idle_s, t.total_s) == (8, 8, 8, 8)
    t = parse_config(base % "{total_s: 40}", env={}).steps["s"].timeouts
    assert (t.per_try_s, t.ttft_s, t.idle_s) == (30, 15, 15)
    with pytest.raises(ConfigError, match=r"steps.s.timeouts: ttft_s \(15.0\) is longer than total_s \(8.0\); lower it"):
        parse_config(base % "{total_s: 8, ttft_s: 15}", env={})


def test_every_layer_of_mistake_is_reported_at_once_without_echoes():
    got = problems(
        """
        providers:
          local: {kind: openai, model: x, base_url: "${CW_UNSET_URL}"}
          other: {kind: openai, model: x, api_key: "${CW_UNSET_KEY}"}
        steps:
          s: {providers: [local, othr]}
          empty: {providers: []}
        """
    )
    assert got == [
        "providers.local.base_url: environment variable CW_UNSET_URL is not set; export it, or write ${CW_UNSET_URL:-default}",
        "providers.other.api_key: environment variable CW_UNSET_KEY is not set; export it, or write ${CW_UNSET_KEY:-default}",
        # Not an echo of the unset key: a problem of its own, reported with it.
        "providers.other: kind 'openai' needs base_url (e.g. https://api.openai.com/v1)",
        "steps.empty.providers: the list is empty; a step needs at least 1 provider: list the providers to try, best first",
        "steps.s.providers[1]: unknown provider 'othr' (known: local, other); did you mean 'other'?",
    ]

"""Building provider instances from config entries, one class per `kind`."""

from __future__ import annotations

import os
from typing import Awaitable, Callable, Mapping

from crosswalk.policies.config import ProviderConf, RouterConfig
from crosswalk.providers.base import Provider
from crosswalk.policies.errors import ConfigError
from crosswalk.providers.upstream import Contexts, Upstream, upstream_for


def build_provider(conf: ProviderConf, *, sleep: Callable[[float], Awaitable[None]] | None = None,
                   env: Mapping[str, str] | None = None, contexts: Contexts | None = None) -> Provider:
    """The adapter for one provider entry. `sleep` drives simulated latency; `env` (default:
    the process environment) gives the upstream proxy and CA variables; `contexts` shares
    TLS contexts between the providers of one build."""
    if conf.kind == "openai":
        from crosswalk.providers.openai_wire import OpenAIWireProvider

        assert conf.base_url is not None  # the schema requires it for this kind
        upstream = upstream_of(conf, env=os.environ if env is None else env, contexts=contexts)
        return OpenAIWireProvider(name=conf.name, model=conf.model, base_url=conf.base_url, api_key=conf.api_key,
                                  headers=dict(conf.headers), upstream=upstream, responses=conf.responses)
    if conf.kind == "anthropic":
        from crosswalk.providers.anthropic_wire import AnthropicProvider

        assert conf.base_url is not None  # the config loader fills in Anthropic's
        upstream = upstream_of(conf, env=os.environ if env is None else env, contexts=contexts)
        return AnthropicProvider(name=conf.name, model=conf.model, base_url=conf.base_url, api_key=conf.api_key,
                                 headers=dict(conf.headers), upstream=upstream)
    if conf.kind == "litellm":
        from crosswalk.providers.litellm_adapter import LiteLLMProvider

        return LiteLLMProvider(name=conf.name, model=conf.model, api_key=conf.api_key, base_url=conf.base_url, headers=dict(conf.headers))
    if conf.kind == "simulated":
        from crosswalk.providers.simulated import SimulatedProvider

        sim = conf.simulate
        assert sim is not None  # filled in by the config loader
        extra = {"sleep": sleep} if sleep is not None else {}
        return SimulatedProvider(
            name=conf.name, model=conf.model, latency_ms=sim.latency_ms, jitter_ms=sim.jitter_ms,
            ttft_ms=sim.ttft_ms, answer=sim.answer, answers=dict(sim.answers), chunk_words=sim.chunk_words,
            seed=sim.seed, **extra,
        )
    raise ValueError(f"providers.{conf.name}.kind: unknown kind '{conf.kind}'")


def upstream_of(conf: ProviderConf, *, env: Mapping[str, str], contexts: Contexts | None = None) -> Upstream:
    """The proxy and CA settings of an openai- or anthropic-kind provider; a `ConfigError` naming the
    provider and the setting (`providers.x.ca_bundle: no such file ...`) when unusable."""
    assert conf.base_url is not None
    try:
        return upstream_for(conf.base_url, ca_bundle=conf.ca_bundle, env=env, contexts=contexts)
    except ValueError as exc:
        where = f"providers.{conf.name}." if str(exc).startswith("ca_bundle:") else f"providers.{conf.name}: "
        raise ConfigError([where + str(exc)]) from None


def build_providers(config: RouterConfig, overrides: Mapping[str, Provider] | None = None) -> dict[str, Provider]:
    """Every provider of the config; `overrides` supplies ready-made instances by name.
    A verify block's `embeddings: local` (with no provider of that name) adds the
    in-process embedder under that name; it loads its model on first use."""
    overrides = overrides or {}
    contexts: Contexts = {}
    built = {name: overrides.get(name) or build_provider(conf, contexts=contexts) for name, conf in config.providers.items()}
    from crosswalk.providers.local_embeddings import LOCAL, LocalEmbedder

    if LOCAL not in built and any(s.verify is not None and s.verify.embeddings == LOCAL for s in config.steps.values()):
        built[LOCAL] = overrides.get(LOCAL) or LocalEmbedder()  # type: ignore[assignment]
    return built

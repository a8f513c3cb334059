"""The runtime config: frozen objects the router runs on, built by `policies.parse` from
a YAML file (YAML -> `${ENV}` interpolation -> pydantic specs -> these). Secrets stay out
of every repr."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Mapping

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.schema import (
    ComplianceSpec,
    HealthSpec,
    HedgeSpec,
    RateLimitedSpec,
    RetryBudgetSpec,
    RetrySpec,
    SeamsSpec,
    SimulateSpec,
    StateSpec,
    StreamSpec,
    TimeoutsSpec,
    VerifySpec,
)
from crosswalk.providers.redaction import redact_url

if TYPE_CHECKING:  # the rules (and the number and JSON readers) load only for a step that has some
    from crosswalk.policies.validators import Validators

# ConfigError's home is policies.errors (the base of the error tree); it is named here too
# because the config and its error have always been imported together from this module.
__all__ = ["ConfigError", "ProviderConf", "StepConf", "ProxySettings", "RouterConfig"]


@dataclass(frozen=True, slots=True)
class ProviderConf:
    """A provider as the router uses it: defaults resolved, secrets kept out of repr."""

    name: str
    kind: str
    model: str
    vendor: str
    family: str
    region: str | None = None
    base_url: str | None = None
    context_window: int | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    simulate: SimulateSpec | None = None
    ca_bundle: str | None = None  # the CAs to trust for an https base_url (None: SSL_CERT_FILE, else the system's)
    prefill: bool = False  # accepts an assistant prefill (mid-stream continuation)
    responses: bool = False  # serves OpenAI's Responses API natively (kind openai)

    def __repr__(self) -> str:
        # The dataclass repr, with the base URL's credentials (userinfo, ?api-key=) masked.
        shown = [(f.name, getattr(self, f.name)) for f in fields(self) if f.repr]
        return "ProviderConf(" + ", ".join(
            f"{name}={redact_url(value) if name == 'base_url' and value else value!r}" for name, value in shown) + ")"


@dataclass(frozen=True, slots=True)
class StepConf:
    """A step: ranked providers, attempts, timeouts, retry, the regions it may use.
    `validate` holds its compiled output validators (None: none) and `on_invalid` what an
    answer that breaks one does: failover, flag or fail."""

    name: str
    providers: tuple[str, ...]
    max_attempts: int
    timeouts: TimeoutsSpec
    retry: RetrySpec
    allowed_regions: frozenset[str] | None
    failover_on_content_filter: bool
    description: str | None = None
    verify: VerifySpec | None = None
    hedge: HedgeSpec | None = None
    rate_limited: RateLimitedSpec = field(default_factory=RateLimitedSpec)
    validate: Validators | None = None
    on_invalid: str = "failover"
    stream: StreamSpec = field(default_factory=StreamSpec)
    on_seam: str = "flag"  # flag | fail | off: a near miss of an amount an earlier step of the run answered
    aliases: tuple[str, ...] = ()  # other `model` names (globs allowed) that select this step


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Sidecar settings; `api_keys` are the bearer keys callers must present, `metrics_keys`
    the ones a metrics scraper may present instead (router/proxy.py `operator_view`)."""

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    metrics_keys: tuple[str, ...] = field(default=(), repr=False)  # open /metrics and /readyz's details only
    max_body_bytes: int = 4 * 1024 * 1024
    body_timeout_s: float = 10.0
    reload_interval_s: float = 1.0
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 60.0
    max_connections: int = 4096
    drain_s: float = 5.0
    ui: bool = True


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """The runtime config: what `load_config` returns and the router runs on."""

    providers: Mapping[str, ProviderConf]
    steps: Mapping[str, StepConf]
    compliance: ComplianceSpec
    health: HealthSpec
    retry_budget: RetryBudgetSpec
    proxy: ProxySettings = field(default_factory=ProxySettings)
    source: str = "config"
    state: StateSpec = field(default_factory=StateSpec)  # memory, or shared on Redis
    seams: SeamsSpec = field(default_factory=SeamsSpec)  # seam checks between the steps of a run

    def step_for(self, model: str) -> StepConf | None:
        """The step a caller's `model` selects: the step of that name, else the first
        (in config order) with that exact alias, else the first whose alias glob matches."""
        step = self.steps.get(model)
        if step is not None:
            return step
        for exact in (True, False):
            for candidate in self.steps.values():
                if any(alias == model if exact else fnmatchcase(model, alias) for alias in candidate.aliases):
                    return candidate
        return None

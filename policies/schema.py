"""The YAML contract: pydantic models with `extra="forbid"` (phase one of config loading).

Key names here are the user-facing contract; add keys freely, never rename these.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from crosswalk.providers.wire_checks import check_headers, origin_parts
from crosswalk.providers.redaction import redact_url


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulateSpec(_Spec):
    """Scripted behaviour of a `simulated` provider."""

    latency_ms: float = Field(20.0, ge=0)
    jitter_ms: float = Field(5.0, ge=0)
    ttft_ms: float | None = Field(None, ge=0)
    answer: str | None = None
    answers: dict[str, str] = Field(default_factory=dict)
    chunk_words: int = Field(3, ge=1)
    seed: int = 0


class ProviderSpec(_Spec):
    """One vendor endpoint: vendor + model + region."""

    kind: Literal["openai", "anthropic", "litellm", "simulated"]
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key: SecretStr | None = None
    vendor: str | None = None
    region: str | None = None
    family: str | None = None
    context_window: int | None = Field(None, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    ca_bundle: str | None = Field(None, min_length=1)  # PEM file of the CAs to trust for this vendor (kind openai)
    simulate: SimulateSpec | None = None
    # Accepts the partial answer as a trailing assistant message and continues it (mid-stream
    # recovery); left out, the default for the vendor (policies/prefill.py).
    prefill: bool | None = None
    # Also serves OpenAI's Responses API at {base_url}/responses (kind openai): /v1/responses
    # callers are sent there unchanged but for `model`. Left out: true only for api.openai.com.
    responses: bool | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> "ProviderSpec":
        if self.kind == "openai" and not self.base_url:
            raise ValueError("kind 'openai' needs base_url (e.g. https://api.openai.com/v1)")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https:// (got {redact_url(self.base_url)!r})")
        if self.kind in ("openai", "anthropic") and self.base_url:
            origin_parts(self.base_url)  # a host and a valid port, or a ValueError saying so
        check_headers(self.headers)  # no CR/LF: a header value must not inject another
        if self.ca_bundle is not None and self.kind not in ("openai", "anthropic"):
            raise ValueError("'ca_bundle' is for kinds 'openai' and 'anthropic'; litellm's client reads SSL_CERT_FILE from the environment")
        if self.responses is not None and self.kind != "openai":
            raise ValueError("'responses' is for kind 'openai' (a vendor serving OpenAI's Responses API at {base_url}/responses)")
        if self.simulate is not None and self.kind != "simulated":
            raise ValueError("'simulate' is only for kind 'simulated'")
        return self


class TimeoutsSpec(_Spec):
    """Seconds. per_try: until a non-streamed answer; ttft: until a stream's first token;
    idle: between stream chunks; total: the whole request, retries included. A timeout left
    out never exceeds total_s (its default is capped); one written out must fit in it."""

    per_try_s: float = Field(30.0, gt=0)
    ttft_s: float = Field(15.0, gt=0)
    idle_s: float = Field(15.0, gt=0)
    total_s: float = Field(60.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _cap_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("total_s"), (int, float)) and data["total_s"] > 0:
            data = dict(data)
            for name in ("per_try_s", "ttft_s", "idle_s"):
                if name not in data:
                    data[name] = min(cls.model_fields[name].default, data["total_s"])
        return data

    @model_validator(mode="after")
    def _within_total(self) -> "TimeoutsSpec":
        for name in ("per_try_s", "ttft_s", "idle_s"):
            if getattr(self, name) > self.total_s:
                raise ValueError(f"{name} ({getattr(self, name)}) is longer than total_s ({self.total_s}); lower it")
        return self


class RetrySpec(_Spec):
    """Same-provider retries for TRANSIENT failures, with full-jitter exponential backoff."""

    same_provider: int = Field(1, ge=0, le=5)
    backoff_base_s: float = Field(0.05, ge=0)
    backoff_max_s: float = Field(2.0, ge=0)


class RateLimitedSpec(_Spec):
    """What a 429 with a Retry-After does on the provider ranked first for the request.

    A Retry-After of at most `wait_max_s` that also ends before the step's deadline (and
    the retry budget allows) is waited out and the same provider asked again; a longer one
    cools the provider down and fails over at once. The default, 2 s, is the longest
    same-provider backoff the step already accepts (`retry.backoff_max_s`): a wait short
    next to an LLM answer, worth it to keep the ranked-first model, while minute-long
    windows (a per-minute limit spent) fail over. 0 never waits while another provider is left."""

    wait_max_s: float = Field(2.0, ge=0)


class AgreeSpec(_Spec):
    """Quorum: `min` matching answers out of `of` providers asked."""

    min: int = Field(2, ge=1)
    of: int = Field(3, ge=2)

    @model_validator(mode="after")
    def _min_of(self) -> "AgreeSpec":
        if self.min > self.of:
            raise ValueError(f"min ({self.min}) is larger than of ({self.of}); a quorum cannot exceed the panel")
        return self


class FieldRuleSpec(_Spec):
    """How one JSON field is compared."""

    compare: Literal["exact", "normalized", "numeric"] = "exact"
    tolerance: float = Field(0.005, ge=0)
    abs_tolerance: float = Field(0.0, ge=0)


class VerifySpec(_Spec):
    """Cross-model verification of a step: ask several independent providers and compare.
    Disagreement is strong evidence of an error; agreement is only weak evidence of truth."""

    agree: AgreeSpec = Field(default_factory=AgreeSpec)
    compare: Literal["exact", "normalized", "numeric", "json", "semantic", "judge"] = "normalized"
    tolerance: float = Field(0.005, ge=0)
    abs_tolerance: float = Field(0.0, ge=0)
    # semantic: cosine at or above this agrees (after the fact checks). 0.70 is calibrated for all-MiniLM-L6-v2
    # (`embeddings: local`) by tests/policies/semantic_calibrate.py; recalibrate for another embeddings model.
    threshold: float = Field(0.70, gt=0, le=1)
    fields: dict[str, FieldRuleSpec] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)
    embeddings: str | None = None  # a provider with an embeddings endpoint, or `local` (in-process, the [local] extra)
    facts: bool = True  # semantic: numbers, dates, negation, antonyms, names and roles must match before the cosine counts
    word_threshold: float = Field(0.5, gt=0, le=1)  # semantic: one changed word or phrase counts unless the two are this similar
    judge: str | None = None
    judge_mode: Literal["same", "grounded"] = "same"  # grounded: also "does every claim trace to a line of the context?"
    diverse: list[Literal["vendor", "family"]] = Field(default_factory=lambda: ["vendor", "family"])
    on_disagree: Literal["flag", "fail", "escalate"] = "flag"
    escalate_max: int = Field(2, ge=1, le=10)
    sample: float = Field(1.0, ge=0, le=1)
    # lazy: ask the fewest members that could reach the quorum (2 of a 2-of-3 panel) and the
    # next only when they disagree or one fails; eager (default): ask every member at once.
    lazy: bool = False

    @model_validator(mode="after")
    def _needs(self) -> "VerifySpec":
        if self.compare == "semantic" and not self.embeddings:
            raise ValueError("compare 'semantic' needs 'embeddings: <provider>' (an embeddings model)")
        if self.compare == "judge" and not self.judge:
            raise ValueError("compare 'judge' needs 'judge: <provider>' (the model that compares answers)")
        return self


class HedgeSpec(_Spec):
    """Hedged requests: when an attempt has not answered (a stream: sent no first token)
    within the delay, the same request also goes to the next eligible provider; the first
    good answer wins and the other is cancelled. Hedges come out of the retry budget.

    The delay is fixed (`after_ms`) or the answering provider's observed latency quantile
    (`after: p95`, p50..p99), never below `min_ms`; until `min_samples` latencies have been
    seen it is `default_ms`."""

    after_ms: float | None = Field(None, gt=0)
    after: str | None = None
    min_ms: float = Field(10.0, ge=0)
    default_ms: float = Field(1000.0, gt=0)
    min_samples: int = Field(20, ge=1, le=256)

    @field_validator("after")
    @classmethod
    def _quantile_name(cls, value: str | None) -> str | None:
        if value is not None:
            digits = value[1:] if value[:1] == "p" else ""
            if not (len(digits) == 2 and digits.isdigit() and 50 <= int(digits) <= 99):
                raise ValueError(f"expected a latency quantile from p50 to p99, such as p95 (got {value!r})")
        return value

    @model_validator(mode="after")
    def _one_delay(self) -> "HedgeSpec":
        if (self.after_ms is None) == (self.after is None):
            raise ValueError("name exactly one of after_ms (a fixed delay) or after (a latency quantile such as p95)")
        tuning = sorted(self.model_fields_set & {"min_ms", "default_ms", "min_samples"})
        if self.after_ms is not None and tuning:
            raise ValueError(f"{', '.join(tuning)} only apply with 'after' (a quantile); after_ms is a fixed delay")
        return self

    @property
    def quantile(self) -> float:
        """`after` as a fraction (p95 -> 0.95)."""
        return int(self.after[1:]) / 100.0 if self.after else 0.0


class NumberRuleSpec(_Spec):
    """`number: {min, max, field}`: one number of the answer must lie in [min, max] (see
    policies/validators.py for which number; none found is a violation)."""

    min: Decimal | None = None
    max: Decimal | None = None
    field: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _band(self) -> "NumberRuleSpec":
        from crosswalk.policies.validators import path_problem

        if self.min is None and self.max is None:
            raise ValueError("give min, max or both (the band the number must lie in)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max}); swap them")
        if self.field is not None and (problem := path_problem(self.field)) is not None:
            raise ValueError(problem)
        return self


_RULE_KINDS = ("json_schema", "number", "regex", "max_chars", "grounded")


class ValidatorSpec(_Spec):
    """One output validator: exactly one of `schema`, `number`, `regex`, `max_chars`,
    `grounded`, and an optional `name` (default: the kind) that headers, metrics and errors
    show. `derive` (with `grounded: numbers` only) lists how an answer's amount may follow
    from the context's (policies/grounded_numbers.py)."""

    name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    number: NumberRuleSpec | None = None
    regex: str | None = None
    max_chars: int | None = Field(None, ge=1)
    grounded: Literal["numbers"] | None = None
    derive: list[Literal["sum", "product", "percent", "units"]] | None = None

    @property
    def kind(self) -> str:
        """Which rule this is: schema, number, regex, max_chars or grounded."""
        return next(k for k in _RULE_KINDS if getattr(self, k) is not None).replace("json_", "")

    @model_validator(mode="after")
    def _one_rule(self) -> "ValidatorSpec":
        given = [k for k in _RULE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of schema, number, regex, max_chars or grounded (one rule per list item)")
        if self.derive is not None and self.grounded is None:
            raise ValueError("derive applies to 'grounded: numbers' only; remove it or add 'grounded: numbers'")
        return self

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from crosswalk.policies.validators import schema_problem

        if value is not None and (problem := schema_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        from crosswalk.policies.validators import compile_regex

        if value is not None:
            compile_regex(value)
        return value
CONTINUE_PROMPT = ("Your previous reply was cut off. Continue it exactly from where it stopped: do not repeat "
                   "anything already written and add no preamble.")


class StreamSpec(_Spec):
    """Streaming: how much to hold back before the commit point, and how a stream that
    broke after it is resumed (router/resume.py).

    hold: `none` (commit at the first token), `full` (commit only once the upstream
    finished: every failure fails over, at the cost of time to first token), or a number of
    content chunks to hold. resume: `auto` (restart on the same model at temperature 0,
    else continue), `continue`, `restart`, or `off` (end with an in-band error).
    continue_prompt: the user message that asks a provider without prefill to go on (write
    it in the language of your prompts)."""

    hold: Literal["none", "full"] | int = "none"
    resume: Literal["auto", "continue", "restart", "off"] = "auto"
    continue_prompt: str = Field(CONTINUE_PROMPT, min_length=1)

    @field_validator("resume", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML reads a bare `off` as false

    @field_validator("hold")
    @classmethod
    def _hold(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"hold is 'none', 'full' or a number of content chunks >= 1 (got {value})")
        return value

    @property
    def hold_chunks(self) -> float:
        """The committing chunks to read before the commit point (inf: the whole stream)."""
        return 1 if self.hold == "none" else math.inf if self.hold == "full" else self.hold


class StepSpec(_Spec):
    """A pipeline step: a ranked provider list and how hard to try."""

    providers: list[str] = Field(min_length=1)
    max_attempts: int = Field(3, ge=1, le=10)
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    allowed_regions: list[str] | None = None
    failover_on_content_filter: bool = False
    description: str | None = None
    # Other names callers may send as `model` for this step: exact names or globs
    # (`claude-sonnet-4-5*`), so clients that send their own model names (Claude Code) land here.
    aliases: list[str] = Field(default_factory=list)
    verify: VerifySpec | None = None
    hedge: HedgeSpec | None = None
    rate_limited: RateLimitedSpec = Field(default_factory=RateLimitedSpec)
    validators: list[ValidatorSpec] = Field(default_factory=list, alias="validate")
    on_invalid: Literal["failover", "flag", "fail"] = "failover"
    # A request of this step carrying a near miss of an amount an earlier step of its run
    # answered (policies/seams.py): flag it (header, record, metric, span event), fail it
    # (422 before any provider is asked), or do not check.
    on_seam: Literal["flag", "fail", "off"] = "flag"

    @model_validator(mode="after")
    def _validators(self) -> "StepSpec":
        if "on_invalid" in self.model_fields_set and not self.validators:
            raise ValueError("on_invalid applies to a step's validate rules, and this step has none; add 'validate' or remove 'on_invalid'")
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.validators):
            name = rule.name or rule.kind
            if name in seen:
                raise ValueError(f"validate[{i}] and validate[{seen[name]}] are both named '{name}'; give one of them its own 'name'")
            seen[name] = i
        return self
    stream: StreamSpec | None = None  # the keys set here override the top-level `stream`


class EmbargoSpec(_Spec):
    """A provider, model or vendor (glob) unavailable between two dates, and why."""

    vendor: str | None = None
    model: str | None = None
    provider: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_target(self) -> "EmbargoSpec":
        targets = [k for k in ("vendor", "model", "provider") if getattr(self, k)]
        if len(targets) != 1:
            raise ValueError("name exactly one of vendor, model or provider (a glob such as 'deepseek*')")
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"until ({self.until}) is before since ({self.since})")
        return self


class ComplianceSpec(_Spec):
    """Rules applied before any call; each ineligible provider is shown with why."""

    allowed_regions: list[str] | None = None
    embargo: list[EmbargoSpec] = Field(default_factory=list)
    embargo_file: str | None = None  # a compliance feed: a YAML list of embargo entries, hot-reloaded
    deny_vendors: list[str] = Field(default_factory=list)


class HealthSpec(_Spec):
    """Outage detection (defaults after Envoy's outlier detection)."""

    consecutive_failures: int = Field(5, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    window: int = Field(20, ge=1)
    min_calls: int = Field(10, ge=1)
    ejection_base_s: float = Field(30.0, gt=0)
    ejection_max_s: float = Field(300.0, gt=0)
    jitter: float = Field(0.1, ge=0, lt=1)
    half_open_probes: int = Field(3, ge=1)
    vendor_outage_min: int = Field(2, ge=2)
    rate_limit_default_s: float = Field(5.0, ge=0)
    quota_reset_s: float = Field(3600.0, gt=0)
    regulatory_reprobe_s: float = Field(21600.0, gt=0)
    reprobe_excluded: bool = True  # false: a regulatory exclusion lasts until the config changes
    # Hard evidence read from an error's free text alone excludes only when a second,
    # different request shows the same within this window (structured evidence: at once).
    corroboration_window_s: float = Field(600.0, gt=0)
    probe_interval_s: float = Field(5.0, ge=0)  # active probes of ejected providers; 0 turns them off
    probe_timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _ranges(self) -> "HealthSpec":
        if self.min_calls > self.window:
            raise ValueError(f"min_calls ({self.min_calls}) exceeds window ({self.window}); lower min_calls")
        if self.ejection_max_s < self.ejection_base_s:
            raise ValueError("ejection_max_s must be >= ejection_base_s")
        return self


class RetryBudgetSpec(_Spec):
    """Retries + hedges may be at most `ratio` of first attempts in the window (floor `min`)."""

    ratio: float = Field(0.1, ge=0, le=10)
    min: int = Field(3, ge=0)
    window_s: float = Field(10.0, gt=0)


class ProxySpec(_Spec):
    """The sidecar proxy (`crosswalk serve`)."""

    api_keys: list[SecretStr] = Field(default_factory=list)
    # Bearer keys that open /metrics and /readyz's details and nothing else (a scraper's);
    # any API key opens them too. Set, they are asked for on every bind, loopback included.
    metrics_keys: list[SecretStr] = Field(default_factory=list)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(10.0, gt=0)
    reload_interval_s: float = Field(1.0, gt=0)
    # Connections (read at start): a request head must arrive within header_timeout_s of
    # the connection opening or of its first byte; an idle keep-alive connection is closed
    # after keepalive_timeout_s; past max_connections the oldest idle one is closed for a
    # new one (none idle: 503). The cap is held to half the file descriptors available.
    header_timeout_s: float = Field(10.0, gt=0, le=3600)
    keepalive_timeout_s: float = Field(60.0, gt=0, le=3600)
    max_connections: int = Field(4096, ge=1)
    # On SIGTERM, /readyz answers 503 `draining` for drain_s while requests are still served
    # (load balancers take that long to stop sending), then the listener closes and requests
    # in flight finish. SIGINT stops at once.
    drain_s: float = Field(5.0, ge=0, le=600)
    # GET /ui, the operator's page (behind the same keys as /v1/*; a browser may send a key
    # as the Basic password). false: the page and its lift button answer 404.
    ui: bool = True


class StateSpec(_Spec):
    """Where routing state lives. `memory`: in this process only. `redis`: ejections, hard
    exclusions, rate-limit cooldowns and retry-budget counts are shared by every replica
    using the same Redis `url` and `prefix`. Requests never wait on Redis: a background task
    publishes and applies changes, each Redis round trip bounded by `timeout_ms` (a few
    slow ones in a row count as Redis down), the budget counts exchanged every
    `sync_interval_s`. Under load an event loop can hold a reply for several ms, so a
    `timeout_ms` of 5-10 made a busy replica flap between up and down; 50 did not."""

    backend: Literal["memory", "redis"] = "memory"
    url: SecretStr | None = None  # may hold a password: kept out of logs and reprs
    prefix: str = Field("crosswalk", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    timeout_ms: float = Field(50.0, gt=0, le=10000)
    sync_interval_s: float = Field(0.25, gt=0, le=60)
    # Stored Responses-API conversations (previous_response_id): how long one lives after
    # it was written, and (memory backend) how many are kept before the oldest is dropped.
    responses_ttl_s: float = Field(3600.0, gt=0, le=30 * 86400)
    responses_max_entries: int = Field(10000, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _url(self) -> "StateSpec":
        url = self.url.get_secret_value() if self.url is not None else ""
        if self.backend == "redis" and not url:
            raise ValueError("backend 'redis' needs url (e.g. redis://127.0.0.1:6379/0)")
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            scheme = url.split("://", 1)[0] if "://" in url else "none"
            raise ValueError(f"url must start with redis://, rediss:// or unix:// (scheme: {scheme})")
        return self


class SeamsSpec(_Spec):
    """Seam checks between the steps of one pipeline run (router/seams.py). A run is the
    caller's W3C trace id or an explicit run id (`x-crosswalk-run`, `run=`). Each run keeps
    only the amounts its steps answered, with the step names: no prompt or answer text.
    A run is forgotten `ttl_s` after its last answer; past `max_runs` the least recently
    used one goes; a run keeps its latest `max_amounts`. `scan_chars`: how much of a
    request's text (its latest messages) is read for amounts."""

    enabled: bool = True
    ttl_s: float = Field(3600.0, gt=0, le=7 * 86400)
    max_runs: int = Field(10_000, ge=1, le=1_000_000)
    max_amounts: int = Field(64, ge=1, le=1024)
    scan_chars: int = Field(20_000, ge=100, le=1_000_000)


class ConfigSpec(_Spec):
    """The whole file."""

    version: Literal[1] = 1
    providers: dict[str, ProviderSpec] = Field(min_length=1)
    steps: dict[str, StepSpec] = Field(min_length=1)
    compliance: ComplianceSpec = Field(default_factory=ComplianceSpec)
    health: HealthSpec = Field(default_factory=HealthSpec)
    retry_budget: RetryBudgetSpec = Field(default_factory=RetryBudgetSpec)
    proxy: ProxySpec = Field(default_factory=ProxySpec)
    state: StateSpec = Field(default_factory=StateSpec)
    stream: StreamSpec = Field(default_factory=StreamSpec)  # every step's, unless the step sets its own
    seams: SeamsSpec = Field(default_factory=SeamsSpec)

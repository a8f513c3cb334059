"""Parsing a config: YAML -> `${ENV}` interpolation -> pydantic specs -> reference checks
-> the frozen runtime objects of `policies.config`. Every error names its path and the
fix, and never a secret's value.

No I/O here: the caller passes the text, the environment and a `read_feed` callable for the
compliance feed the config may name (compliance.embargo_file)."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from crosswalk.policies.agreement import pick_diverse
from crosswalk.policies.config import ProviderConf, ProxySettings, RouterConfig, StepConf
from crosswalk.policies.errors import ConfigError
from crosswalk.policies.prefill import prefill_default

ANTHROPIC_URL = "https://api.anthropic.com"  # kind anthropic's base_url when none is given
from crosswalk.policies.schema import ConfigSpec, EmbargoSpec, ProviderSpec, SimulateSpec, StepSpec
from crosswalk.policies.problems import path_of, pydantic_problems
from crosswalk.policies.suggest import did_you_mean
from crosswalk.policies.yaml_limits import load_yaml

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, env: Mapping[str, str], loc: tuple[Any, ...], problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, (*loc, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, (*loc, i), problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if value or (value is not None and default is None):
            return value
        if default is not None:  # as in the shell: ${VAR:-x} also covers an empty VAR
            return default
        problems.append(
            f"{path_of(loc)}: environment variable {name} is not set; export it, or write ${{{name}:-default}}"
        )
        return ""

    return _ENV.sub(sub, node)


MAX_NAME_CHARS = 256


def _name_problem(name: str) -> str | None:
    """Why a step or provider name is unfit for the places it goes: response headers
    (x-crosswalk-step, x-crosswalk-attempts), log lines, metric labels."""
    if not name or len(name) > MAX_NAME_CHARS:
        return f"a name must have 1 to {MAX_NAME_CHARS} characters"
    if not (name.isascii() and name.isprintable()):
        return "a name may hold only printable ASCII characters (no control characters: it is sent in response headers)"
    if name != name.strip():
        return "a name may not start or end with whitespace"
    return None


def _check_names(spec: ConfigSpec) -> list[str]:
    problems = []
    for section, names in (("providers", spec.providers), ("steps", spec.steps)):
        for name in names:
            problem = _name_problem(name)
            if problem is not None:
                shown = name[:60].encode("unicode_escape").decode("ascii")
                problems.append(f"{section}.{shown}: {problem}")
    return problems


def _check_references(spec: ConfigSpec) -> list[str]:
    problems = _check_names(spec)
    known = ", ".join(sorted(spec.providers))
    global_regions = set(spec.compliance.allowed_regions) if spec.compliance.allowed_regions is not None else None
    for step_name, step in spec.steps.items():
        seen: set[str] = set()
        for i, name in enumerate(step.providers):
            if name not in spec.providers:
                problems.append(_unknown_provider(step_name, i, name, spec.providers))
            elif name in seen:
                problems.append(f"steps.{step_name}.providers[{i}]: provider '{name}' is listed twice; list it once")
            seen.add(name)
        if step.allowed_regions is not None and global_regions is not None:
            for i, region in enumerate(step.allowed_regions):
                if region not in global_regions:
                    problems.append(
                        f"steps.{step_name}.allowed_regions[{i}]: region '{region}' is not in "
                        f"compliance.allowed_regions ({', '.join(sorted(global_regions))}); a step may only narrow it"
                    )
    for step_name, step in spec.steps.items():
        for i, alias in enumerate(step.aliases):
            if alias in spec.steps and alias != step_name:
                problems.append(f"steps.{step_name}.aliases[{i}]: '{alias}' is the name of another step, which it would "
                                "never reach; remove the alias or rename that step")
        if step.hedge is not None:
            problems += _check_hedge(step_name, step)
        if step.verify is not None and not problems:
            problems += _check_verify(spec, step_name, step)
    for i, embargo in enumerate(spec.compliance.embargo):
        if embargo.provider and "*" not in embargo.provider and "?" not in embargo.provider:
            if embargo.provider not in spec.providers:
                problems.append(f"compliance.embargo[{i}].provider: unknown provider '{embargo.provider}' (known: {known})"
                                f"{did_you_mean(embargo.provider, spec.providers)}")
    return problems


def _unknown_provider(step_name: str, i: int, name: str, known: Mapping[str, Any]) -> str:
    listed = ", ".join(sorted(map(str, known)))
    return f"steps.{step_name}.providers[{i}]: unknown provider '{name}' (known: {listed}){did_you_mean(name, known)}"


def _raw_references(raw: dict[str, Any]) -> list[str]:
    """The unknown providers of a file that failed validation elsewhere, found anyway so
    that one run of `crosswalk check` reports them with the rest."""
    steps, known = raw.get("steps"), raw.get("providers")
    if not isinstance(steps, dict) or not isinstance(known, dict) or not known:
        return []  # no providers at all: that problem is already named
    return [_unknown_provider(step_name, i, name, known)
            for step_name, step in steps.items() if isinstance(step, dict) and isinstance(step.get("providers"), list)
            for i, name in enumerate(step["providers"]) if isinstance(name, str) and name not in known]


def _follows_from(problem: str, unset: list[str]) -> bool:
    """Whether a validation problem is only the echo of an unset variable: at its path, or
    above it naming its key (providers.x: "kind 'openai' needs base_url" when base_url was
    ${URL}, unset). The variable's own problem says it."""
    where, _, message = problem.partition(": ")
    return any(u == where or (u.startswith((where + ".", where + "[")) and re.split(r"[.\[]", u)[-1] in message)
               for u in unset)


def _check_hedge(step_name: str, step: StepSpec) -> list[str]:
    """A hedge goes to a different provider and is one of the step's attempts."""
    where = f"steps.{step_name}.hedge"
    if len(step.providers) < 2:
        return [f"{where}: a hedge goes to a different provider, but the step lists only one; add a provider or remove 'hedge'"]
    if step.max_attempts < 2:
        return [f"{where}: max_attempts is 1, which leaves no attempt for a hedge; raise max_attempts or remove 'hedge'"]
    return []


def _check_verify(spec: ConfigSpec, step_name: str, step: StepSpec) -> list[str]:
    """The panel must be possible: enough providers that differ as `diverse` asks and that
    the step's region rules allow (embargo dates are checked at run time)."""
    verify = step.verify
    assert verify is not None
    where = f"steps.{step_name}.verify"
    problems = []
    for key in ("embeddings", "judge"):
        name = getattr(verify, key)
        if name and name not in spec.providers and not (key == "embeddings" and name == "local"):
            hint = " or 'local' (the in-process model)" if key == "embeddings" else ""
            problems.append(f"{where}.{key}: unknown provider '{name}' (known: {', '.join(sorted(spec.providers))}){hint}"
                            f"{did_you_mean(name, spec.providers)}")
    if verify.judge and verify.judge in spec.providers:
        problems += _judge_independence(spec, step_name, step)
    regions = step.allowed_regions if step.allowed_regions is not None else spec.compliance.allowed_regions
    usable = [
        ProviderConf(name=n, kind=p.kind, model=p.model, vendor=_vendor_default(n, p), family=p.family or p.model, region=p.region)
        for n in step.providers
        if (p := spec.providers[n]) and (regions is None or p.region in regions)
        and not any(fnmatchcase(_vendor_default(n, p), pat) for pat in spec.compliance.deny_vendors)
    ]
    panel = pick_diverse(usable, verify.agree.of, verify.diverse)
    if len(panel) < verify.agree.of:
        problems.append(
            f"{where}.agree.of: {verify.agree.of} providers differing in {' and '.join(verify.diverse)} are needed, "
            f"but step '{step_name}' has {len(panel)} ({', '.join(p.name for p in panel) or 'none'}); "
            "add providers of other vendors/families, lower 'of', or relax 'diverse'"
        )
    return problems


def _judge_independence(spec: ConfigSpec, step_name: str, step: StepSpec) -> list[str]:
    """A judge sharing a vendor or model family with a panel member shares its blind spots:
    it would grade its own kind's answer. Family is the provider's `family`, else its model."""
    verify = step.verify
    assert verify is not None and verify.judge is not None
    judge = spec.providers[verify.judge]
    vendor, family = _vendor_default(verify.judge, judge), judge.family or judge.model
    for name in step.providers:
        member = spec.providers[name]
        shared = [what for what, mine, theirs in (("vendor", vendor, _vendor_default(name, member)),
                                                   ("family", family, member.family or member.model)) if mine == theirs]
        if name == verify.judge or shared:
            why = "is itself a panel member" if name == verify.judge else f"shares {' and '.join(shared)} '{vendor if shared[0] == 'vendor' else family}' with panel member '{name}'"
            return [f"steps.{step_name}.verify.judge: judge '{verify.judge}' {why}; "
                    "pick a judge of another vendor and model family (set `vendor:`/`family:` on the provider if they are wrong)"]
    return []


def _vendor_default(name: str, spec: ProviderSpec) -> str:
    if spec.vendor:
        return spec.vendor
    if spec.kind == "litellm" and "/" in spec.model:
        return spec.model.split("/", 1)[0]
    if spec.kind == "openai" and spec.base_url:
        return urlsplit(spec.base_url).hostname or name
    if spec.kind == "anthropic":
        return "anthropic"
    return name


def _responses_default(spec: ProviderSpec) -> bool:
    """Whether a provider left without `responses:` speaks the Responses API: OpenAI's own
    endpoint does; no other OpenAI-compatible vendor is assumed to (most serve only Chat
    Completions, and a wrong yes would send Responses bodies to a 404)."""
    return spec.kind == "openai" and spec.base_url is not None and urlsplit(spec.base_url).hostname == "api.openai.com"


def _runtime(spec: ConfigSpec, source: str) -> RouterConfig:
    providers = {
        name: ProviderConf(
            name=name,
            kind=p.kind,
            model=p.model,
            vendor=_vendor_default(name, p),
            family=p.family or p.model,
            region=p.region,
            base_url=p.base_url or (ANTHROPIC_URL if p.kind == "anthropic" else None),
            context_window=p.context_window,
            api_key=p.api_key.get_secret_value() if p.api_key else None,
            headers=dict(p.headers),
            simulate=p.simulate or (SimulateSpec() if p.kind == "simulated" else None),
            ca_bundle=p.ca_bundle,
            prefill=p.prefill if p.prefill is not None else prefill_default(p.kind, p.model),
            responses=p.responses if p.responses is not None else _responses_default(p),
        )
        for name, p in spec.providers.items()
    }
    global_regions = spec.compliance.allowed_regions
    if any(s.validators for s in spec.steps.values()):
        from crosswalk.policies.validators import validators_of
    steps = {}
    for name, s in spec.steps.items():
        regions = s.allowed_regions if s.allowed_regions is not None else global_regions
        steps[name] = StepConf(
            name=name,
            providers=tuple(s.providers),
            max_attempts=s.max_attempts,
            timeouts=s.timeouts,
            retry=s.retry,
            allowed_regions=frozenset(regions) if regions is not None else None,
            failover_on_content_filter=s.failover_on_content_filter,
            description=s.description,
            verify=s.verify,
            hedge=s.hedge,
            rate_limited=s.rate_limited,
            validate=validators_of(s.validators) if s.validators else None,
            on_invalid=s.on_invalid,
            on_seam=s.on_seam,
            aliases=tuple(s.aliases),
            stream=spec.stream if s.stream is None else spec.stream.model_copy(
                update={k: getattr(s.stream, k) for k in s.stream.model_fields_set}),
        )
    return RouterConfig(
        providers=providers,
        steps=steps,
        compliance=spec.compliance,
        health=spec.health,
        retry_budget=spec.retry_budget,
        proxy=ProxySettings(
            api_keys=tuple(k.get_secret_value() for k in spec.proxy.api_keys if k.get_secret_value()),
            metrics_keys=tuple(k.get_secret_value() for k in spec.proxy.metrics_keys if k.get_secret_value()),
            max_body_bytes=spec.proxy.max_body_bytes,
            body_timeout_s=spec.proxy.body_timeout_s,
            reload_interval_s=spec.proxy.reload_interval_s,
            header_timeout_s=spec.proxy.header_timeout_s,
            keepalive_timeout_s=spec.proxy.keepalive_timeout_s,
            max_connections=spec.proxy.max_connections,
            drain_s=spec.proxy.drain_s,
            ui=spec.proxy.ui,
        ),
        source=source,
        state=spec.state,
        seams=spec.seams,
    )


def _merge_feed(spec: ConfigSpec, feed_text: str | None, source: str) -> ConfigSpec:
    """Append the compliance feed's embargo entries (compliance.embargo_file) to the config's."""
    from pydantic import TypeAdapter, ValidationError

    name = spec.compliance.embargo_file
    where = f"compliance.embargo_file ({name})"
    if feed_text is None:
        raise ConfigError([f"{where}: the file cannot be read; check the path (relative to the config file)"], source=source)
    raw = load_yaml(feed_text, source=source, where=where)
    if isinstance(raw, dict) and set(raw) == {"embargo"}:
        raw = raw["embargo"]
    if raw is None:
        raw = []
    try:
        entries = TypeAdapter(list[EmbargoSpec]).validate_python(raw)
    except ValidationError as exc:
        raise ConfigError([where + (p if p.startswith("[") else ": " + p) for p in pydantic_problems(exc, EmbargoSpec)], source=source) from None
    compliance = spec.compliance.model_copy(update={"embargo": [*spec.compliance.embargo, *entries]})
    return spec.model_copy(update={"compliance": compliance})


def parse_config(text: str, *, env: Mapping[str, str], source: str = "config",
                 read_feed: Callable[[str], str | None] | None = None) -> RouterConfig:
    """Parse YAML text into a `RouterConfig`, or raise `ConfigError` naming every problem.

    `env` supplies `${VAR}` values. `read_feed(name)` returns the text of the compliance
    feed the config names in compliance.embargo_file (after interpolation), or None when it
    cannot be read; it is called once, and only when a feed is named. The caller does the
    reading: policies do no I/O."""
    from pydantic import ValidationError

    raw = load_yaml(text, source=source)
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): expected a mapping with 'providers' and 'steps'"], source=source)
    # Every problem is collected before raising, so that one run names them all.
    problems: list[str] = []
    raw = _interpolate(raw, env, (), problems)
    unset = [p.split(": ", 1)[0] for p in problems]
    try:
        spec = ConfigSpec.model_validate(raw)
    except ValidationError as exc:
        problems += [p for p in pydantic_problems(exc, ConfigSpec) if not _follows_from(p, unset)]
        raise ConfigError(problems + _raw_references(raw), source=source) from None
    if spec.compliance.embargo_file:
        feed_text = read_feed(spec.compliance.embargo_file) if read_feed is not None else None
        try:
            spec = _merge_feed(spec, feed_text, source)
        except ConfigError as exc:
            problems += exc.problems
    problems += _check_references(spec)
    if problems:
        raise ConfigError(problems, source=source)
    return _runtime(spec, source)

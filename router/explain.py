"""`crosswalk explain --step S [--region R] [--config FILE | --url PROXY]`: for each
provider of a step, eligible or not and why: region rule, embargo entry (reason and dates),
deny list. With --url the running sidecar explains with its own config and live state
(GET /v1/crosswalk/explain): exclusion evidence (structured or corroborated), ejection,
and hard evidence seen once and awaiting corroboration. An exclusion is lifted with
`crosswalk unexclude PROVIDER --url ...`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from crosswalk.policies.compliance import verdict
from crosswalk.policies.config import RouterConfig
from crosswalk.policies.suggest import did_you_mean


def unknown_step(name: str, config: RouterConfig) -> str | None:
    """Why `name` is not a step of the config (with the closest), or None when it is."""
    if name in config.steps:
        return None
    return f"unknown step '{name}' in {config.source} (known steps: {', '.join(sorted(config.steps))}){did_you_mean(name, config.steps)}"


def explain(config: RouterConfig, step_name: str, *, region: str | None, today: dt.date,
            live: dict[str, dict[str, Any]] | None) -> tuple[list[str], int]:
    """Lines to print and the number of providers that may serve the step."""
    step = config.steps[step_name]
    if region is not None:
        allowed = {region} if step.allowed_regions is None or region in step.allowed_regions else set()
        step = dataclasses.replace(step, allowed_regions=frozenset(allowed))
    where = f" for region {region}" if region else ""
    lines = [f"step {step_name}{where} in {config.source} (compliance as of {today}"
             + ("; live state from the proxy)" if live is not None else ")")]
    usable = 0
    for rank, name in enumerate(step.providers, 1):
        conf = config.providers[name]
        v = verdict(config, step, conf, today)
        status, reason = ("eligible", v.reason) if v.eligible else ("BLOCKED", v.reason)
        state = (live or {}).get(name)
        if v.eligible and state is not None:
            if state.get("exclusion"):
                ex = state["exclusion"]
                basis = f" ({ex['basis']})" if ex.get("basis") not in (None, "structured") else ""
                status, reason = "EXCLUDED", f"{ex['failure_class']}{basis} since {ex['at']}: {ex['evidence']}"
            elif state.get("state") == "ejected":
                status, reason = "EJECTED", f"for {state.get('ejected_for_s')}s more: {state.get('ejection_reason')}"
            elif state.get("state") == "cooling_down":
                status, reason = "COOLING", f"rate limited for {state.get('cooldown_for_s')}s more"
            if status == "eligible" and state.get("pending_sightings"):
                first = state["pending_sightings"][0]
                reason += f"; seen once, awaiting corroboration: {first['failure_class']}: {first['evidence']}"
        usable += status in ("eligible", "EJECTED", "COOLING")
        lines.append(f"  {rank}. {name:<16} vendor {conf.vendor:<12} region {conf.region or '-':<6} {status:<9} {reason}")
    known = {p.region for p in config.providers.values() if p.region}
    if region is not None and region not in known:
        lines.append(f"  region '{region}' is unknown: no provider has it (providers' regions: "
                     f"{', '.join(sorted(known)) or 'none set'}){did_you_mean(region, known)}")
    lines += _dialect_lines(config, step.providers)
    if live is None:
        lines.append("  (compliance only: pass --url of a running `crosswalk serve` to include ejections and exclusions)")
    return lines, usable


# The provider kinds that speak a dialect other than Chat natively.
_NATIVE = {"anthropic": "messages"}


def _dialect_lines(config: RouterConfig, providers: tuple[str, ...]) -> list[str]:
    """How Messages callers (/v1/messages) are served on this step: natively by the
    providers that speak it, translated for the others, which are not eligible for a
    request carrying what only Messages can (documents, citations, server tools)."""
    native = [n for n in providers if _NATIVE.get(config.providers[n].kind) == "messages"]
    if not native:
        return ["  /v1/messages: translated for every provider; requests with documents, citations, search results or "
                "server tools have no eligible provider here", _responses_line(config, providers)]
    others = [n for n in providers if n not in native]
    text = f"  /v1/messages: served natively by {', '.join(native)}"
    if others:
        text += (f"; translated for {', '.join(others)}, which are not eligible for requests with documents, citations, "
                 "search results or server tools (only a Messages provider can carry them)")
    return [text, _responses_line(config, providers)]


def _responses_line(config: RouterConfig, providers: tuple[str, ...]) -> str:
    """How Responses callers (/v1/responses) are served: natively by the providers with
    `responses: true`, translated for the others, which are not eligible for requests
    with built-in tools or encrypted reasoning."""
    native = [n for n in providers if config.providers[n].responses]
    if not native:
        return ("  /v1/responses: translated for every provider; requests with built-in tools (web_search, file_search...), "
                "encrypted reasoning or item references are refused here (no provider has responses: true)")
    others = [n for n in providers if n not in native]
    text = f"  /v1/responses: served natively by {', '.join(native)}"
    if others:
        text += (f"; translated for {', '.join(others)}, which are not eligible for requests with built-in tools, "
                 "encrypted reasoning or item references (only a provider with responses: true can carry them)")
    return text

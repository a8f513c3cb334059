"""The sidecar's operator routes: thin aiohttp handlers beside the dialects' (router/proxy.py).

GET /v1/crosswalk/providers (each provider's standing with its evidence), POST
/v1/crosswalk/providers/{name}/unexclude (an operator lifts an exclusion), GET
/v1/crosswalk/explain (what `crosswalk explain --url` prints), all behind the API keys;
/healthz and /readyz for load balancers and kubelets; /metrics (a key on a public bind:
`operator_view`); GET /ui, the operator's page (router/ui.py), and its lift button.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

from aiohttp import web

from crosswalk.router import ui
from crosswalk.router.auth import authorized, is_loopback
from crosswalk.router.proxy import ProxyState, error_response, json_response, not_found
from crosswalk.router.state import Standing


async def providers_state(request: web.Request) -> web.Response:
    """GET /v1/crosswalk/providers: each provider's state, with the evidence."""
    proxy: ProxyState = request.app["proxy"]
    state = proxy.runtime.state
    out = []
    for standing in state.standings():
        conf = state.config.providers[standing.provider]
        out.append({"provider": standing.provider, "vendor": conf.vendor, "model": conf.model, "region": conf.region,
                    **_standing_json(standing)})
    return json_response({"providers": out, "config": {"source": state.config.source, "reloaded_at": proxy.reloaded_at,
                                               "reload_error": proxy.reload_error}})


async def explain_step(request: web.Request) -> web.Response:
    """GET /v1/crosswalk/explain?step=S[&region=R]: `crosswalk explain` on this proxy's own
    config and provider states (what `crosswalk explain --url` prints)."""
    from crosswalk.router import explain as explain_mod

    proxy: ProxyState = request.app["proxy"]
    state = proxy.runtime.state
    config, step = state.config, request.query.get("step", "")
    unknown = explain_mod.unknown_step(step, config)
    if unknown is not None:
        return error_response(404, unknown, type_="invalid_request_error", param="step", code="step_not_found")
    live = {standing.provider: _standing_json(standing) for standing in state.standings()}
    lines, usable = explain_mod.explain(config, step, region=request.query.get("region") or None,
                                        today=proxy.runtime.clock.wall().date(), live=live)
    return json_response({"config": config.source, "step": step, "lines": lines, "usable": usable})


def _standing_json(standing: Standing) -> dict[str, Any]:
    """A provider's standing as the provider-state endpoint shows it (durations from now)."""
    now, exclusion = standing.now, standing.exclusion
    return {
        "state": standing.state,
        "ejected_for_s": None if standing.ejected_until is None else round(max(0.0, standing.ejected_until - now), 3),
        "ejection_reason": standing.ejection_reason,
        "cooldown_for_s": None if standing.cooldown_until is None else round(standing.cooldown_until - now, 3),
        "exclusion": None if exclusion is None else {
            "failure_class": exclusion.failure_class, "evidence": exclusion.evidence, "at": exclusion.at,
            "until_s": None if exclusion.until is None else round(exclusion.until - now, 1),
            "basis": exclusion.basis, "corroborated": exclusion.basis == "corroborated"},
        "pending_sightings": [{"failure_class": s.failure_class, "evidence": s.evidence, "age_s": round(now - s.at, 1)}
                              for s in standing.pending],
        "recent_failures": [{"at": at, "failure_class": cls} for at, cls in standing.recent_failures],
        "probes": [{"at": at, "result": result} for at, result in standing.probes],
    }


async def unexclude(request: web.Request) -> web.Response:
    """POST /v1/crosswalk/providers/{name}/unexclude: an operator lifts the provider's hard
    exclusion (and its pending sightings), on this replica and, with shared state, on all."""
    proxy: ProxyState = request.app["proxy"]
    state = proxy.runtime.state
    name = request.match_info["name"]
    if name not in state.config.providers:
        known = ", ".join(sorted(state.config.providers))
        return error_response(404, f"unknown provider '{name}' (known providers: {known})", type_="invalid_request_error",
                      param="provider", code="provider_not_found")
    lift = state.lift(name, by=f"an operator (POST {request.path})")
    ex = lift.exclusion
    lifted = None if ex is None else {"failure_class": ex.failure_class, "evidence": ex.evidence, "at": ex.at, "basis": ex.basis}
    return json_response({"provider": name, "lifted": lifted, "sightings_dropped": lift.sightings,
                  "state": state.standing(name).state})


def operator_view(request: web.Request, proxy: ProxyState) -> bool:
    """Whether this request may read what is for operators (/metrics, /readyz's config file
    and reload error): with a key from proxy.api_keys, CROSSWALK_API_KEYS or
    proxy.metrics_keys. Without keys anywhere, or on a loopback bind with no metrics_keys
    set, everyone may: only processes on this host reach it, and they can read the config
    file too. metrics_keys set are asked for on every bind."""
    metrics_keys = proxy.runtime.config.proxy.metrics_keys
    if not metrics_keys and (not proxy.keys or is_loopback(proxy.host)):
        return True
    return authorized(request.headers.get("authorization"), (*proxy.keys, *metrics_keys))


async def healthz(request: web.Request) -> web.Response:
    """Process up (GET or HEAD)."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready while any step has a provider it may use (not blocked or excluded): one
    excluded step must not pull every replica out of a load balancer. `?step=NAME` asks
    about one step. From SIGTERM on, 503 `draining` (router/serve.py) while requests are
    still served, so the load balancer stops sending new ones before the listener closes."""
    proxy: ProxyState = request.app["proxy"]
    runtime = proxy.runtime
    config = runtime.config
    details = operator_view(request, proxy)  # a kubelet's probe gets the verdict, not the config's name or errors
    if proxy.draining:
        return json_response({"status": "draining", **({"config": config.source} if details else {})}, status=503)
    wanted = request.query.get("step")
    if wanted is not None and wanted not in config.steps:
        known = ", ".join(sorted(config.steps))
        return error_response(404, f"unknown step '{wanted}' (known steps: {known})", type_="invalid_request_error",
                      param="step", code="model_not_found")
    unready, ready = {}, []
    for name in config.steps if wanted is None else (wanted,):
        rows = runtime.status(name)
        if any(r.status not in ("blocked", "excluded") for r in rows):
            ready.append(name)
        else:
            unready[name] = "; ".join(f"{r.provider}: {r.status} ({r.reason})" for r in rows)
    payload: dict[str, Any] = {"status": "ok" if ready else "unready", "steps_ready": ready}
    if details:
        payload.update(config=config.source, steps_without_provider=unready, reload_error=proxy.reload_error)
    else:  # which steps, not why (the reasons quote vendors' evidence)
        payload.update(steps_without_provider=sorted(unready), reload_failed=proxy.reload_error is not None)
    return json_response(payload, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition (a key on a public bind: `operator_view`)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if not operator_view(request, request.app["proxy"]):
        return error_response(401, "missing or invalid key for /metrics: send 'Authorization: Bearer <key>' with a key from "
                      "proxy.metrics_keys or proxy.api_keys", type_="invalid_request_error", code="invalid_api_key")

    body = await request.app["proxy"].runtime.metrics.exposition()  # every worker's under --workers N
    return web.Response(body=body, headers={"content-type": CONTENT_TYPE_LATEST})


async def ui_page(request: web.Request) -> web.Response:
    """GET /ui: the operator's page (router/ui.py); 404 with `proxy.ui: false`."""
    proxy: ProxyState = request.app["proxy"]
    if not proxy.runtime.config.proxy.ui:
        return not_found(request)
    metrics = proxy.runtime.metrics
    exposition = (await metrics.exposition()).decode() if metrics is not None else ""
    lifted = request.query.get("lifted")
    page = ui.PageInput(reloaded_at=proxy.reloaded_at, reload_error=proxy.reload_error, draining=proxy.draining,
                        exposition=exposition, token=ui.lift_token(proxy.keys, proxy.ui_salt),
                        recent=metrics.recent.latest() if metrics is not None else (),
                        notice=None if lifted is None else f"Exclusion of {lifted} lifted.")
    return web.Response(text=ui.render(proxy.runtime, page), content_type="text/html",
                        headers={"cache-control": "no-store", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
                                 "x-frame-options": "DENY"})


async def ui_unexclude(request: web.Request) -> web.StreamResponse:
    """POST /ui/providers/{name}/unexclude: the page's lift button. The form must carry the
    page's token and come from the page's own origin (a cross-site form cannot)."""
    proxy: ProxyState = request.app["proxy"]
    if not proxy.runtime.config.proxy.ui:
        return not_found(request)
    origin = request.headers.get("origin")
    if origin is not None and origin.partition("://")[2] != request.host:
        return error_response(403, "the lift form must be sent from the Crosswalk page itself", type_="invalid_request_error", code="forbidden")
    form = await request.post()
    token = form.get("token")
    expected = ui.lift_token(proxy.keys, proxy.ui_salt)
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        return error_response(403, "the lift form's token is missing or stale: reload /ui and press the button again",
                      type_="invalid_request_error", code="forbidden")
    name = request.match_info["name"]
    if name not in proxy.runtime.state.config.providers:
        return error_response(404, f"unknown provider '{name}'", type_="invalid_request_error", param="provider", code="provider_not_found")
    proxy.runtime.state.lift(name, by="an operator (the /ui page)")
    return web.Response(status=303, headers={"location": f"/ui?lifted={quote(name)}"})


ROUTES = {
    "/v1/crosswalk/providers": ("GET", providers_state),
    "/v1/crosswalk/providers/{name}/unexclude": ("POST", unexclude),
    "/v1/crosswalk/explain": ("GET", explain_step),
    "/healthz": ("GET", healthz),
    "/readyz": ("GET", readyz),
    "/metrics": ("GET", metrics),
    "/ui": ("GET", ui_page),
    "/ui/providers/{name}/unexclude": ("POST", ui_unexclude),
}

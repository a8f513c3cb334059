"""The sidecar: an OpenAI-compatible HTTP server in front of a `Runtime` (router/runtime.py).

POST /v1/chat/completions and POST /v1/embeddings (the `model` field names a step), GET
/v1/models (the steps) and /v1/models/{id}, GET /v1/crosswalk/providers (provider state, behind auth), POST
/v1/crosswalk/providers/{name}/unexclude (an operator lifts an exclusion, behind auth),
/healthz and /readyz (GET or HEAD), /metrics (behind a key when the bind is public: `operator_view`).
Every answer carries x-crosswalk-step / -provider / -attempts headers; every error is
OpenAI's error JSON with the status the failure deserves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from crosswalk.policies.config import StepConf
from crosswalk.providers.jsonwire import dumps
from crosswalk.router import logs, tracing, validation
from crosswalk.router.auth import authorized, is_loopback
from crosswalk.router.errors import CrosswalkError, UnknownStep, client_should_retry
from crosswalk.router.proxy_requests import BadRequest, error_body, parse_chat_body, parse_routable_body
from crosswalk.router.origins import configured_hosts, hide_in, hide_origins
from crosswalk.router.records import DecisionRecord
from crosswalk.router.resume import recovery_event
from crosswalk.router.runtime import Runtime
from crosswalk.router.state import Standing

log = logging.getLogger("crosswalk.proxy")
JSON = "application/json"


@dataclass
class ProxyState:
    """What the handlers share: the live runtime, the accepted keys, the reload status."""

    runtime: Runtime
    keys: tuple[str, ...]
    reload_error: str | None = None
    reloaded_at: str | None = None
    host: str = ""  # the bound address: a reload may drop every key only on loopback ("" counts as public)
    started: float = field(default_factory=time.monotonic)
    draining: bool = False  # SIGTERM came: /readyz says so while requests are still served (router/serve.py)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, content_type=JSON, headers=headers)


def _error(status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> web.Response:
    return web.Response(body=error_body(message, type_=type_, param=param, code=code, extra=extra), status=status,
                        content_type=JSON, headers=headers)


_HEADER_SAFE = "".join(c for c in map(chr, range(0x20, 0x7f)) if c != "%")


def _header_text(text: str) -> str:
    """`text` fit for a header value: as it is when printable ASCII (configured names and
    any `model` that passed parse_chat_body), else percent-encoded, so no text can end a
    header early or make the response unsendable."""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe=_HEADER_SAFE)


def _record_headers(record: DecisionRecord) -> dict[str, str]:
    headers = {
        "x-crosswalk-step": _header_text(record.step),
        "x-crosswalk-provider": record.provider or "",
        "x-crosswalk-attempts": ",".join(a.short() for a in record.attempts),
    }
    if record.agreement is not None:
        headers["x-crosswalk-agreement"] = record.agreement.header()
    if record.validation:
        headers["x-crosswalk-validation"] = _header_text(validation.header(record) or "")
    request_id = record.request_id
    if request_id is not None:  # the answering vendor's own id, for its support desk
        headers["x-crosswalk-upstream-request-id"] = _header_text(request_id)
    return headers


def _agreement_json(record: DecisionRecord) -> dict[str, Any]:
    assert record.agreement is not None
    return {"step": record.step, "provider": record.provider, "agreement": dataclasses.asdict(record.agreement)}


def _hosts(request: web.Request) -> tuple[str, ...]:
    """The configured vendors' hosts, to be kept out of what callers read (router/origins.py)."""
    return configured_hosts(p.base_url for p in request.app["proxy"].runtime.config.providers.values())


def _crosswalk_error(err: CrosswalkError, hosts: tuple[str, ...]) -> web.Response:
    """`err` as OpenAI error JSON, its message without the vendors' addresses (`hosts` and
    any URL, host:port or IP: the log keeps them)."""
    headers = {"x-crosswalk-step": _header_text(err.step), "x-crosswalk-attempts": ",".join(a.short() for a in err.attempts)}
    retry = err.retry_after_s
    # The official openai client (and ChatOpenAI) retry 409/429/5xx twice unless told: after
    # Crosswalk failed over across every provider that would triple the load for nothing.
    should_retry = client_should_retry(err)
    headers["x-should-retry"] = "true" if should_retry else "false"
    if should_retry:  # rate limited, or nothing eligible for a while: say when to come back
        headers["retry-after"] = "1" if retry is None else str(max(1, int(retry + 0.999)))
    attempts = [{"provider": a.provider, "failure_class": a.failure_class, "status": a.status,
                 "latency_ms": round(a.latency_s * 1000, 1)} for a in err.attempts]
    extra: dict[str, Any] = {"step": err.step, "attempts": attempts}
    record = err.record
    if record is not None and record.agreement is not None:  # a failed verification shows its panel
        headers["x-crosswalk-agreement"] = record.agreement.header()
        extra["agreement"] = dataclasses.asdict(record.agreement)
    if record is not None and record.validation:  # invalid answers: which rule, whose
        headers["x-crosswalk-validation"] = _header_text(validation.header(record) or "")
        extra["validation"] = validation.as_json(record)
    unknown_step = isinstance(err, UnknownStep)  # OpenAI's own shape for an unknown model
    return _error(err.status_code, hide_origins(err.message, hosts), type_="invalid_request_error" if unknown_step else err.error_type,
                  code=err.code or err.error_type, param="model" if unknown_step else getattr(err, "param", None),
                  headers=headers, extra=extra)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _guarded(handler: Handler, *, auth: bool) -> Handler:
    """Auth (for /v1/*), and every failure as OpenAI error JSON, never a stack trace.
    A plain wrapper per route rather than an aiohttp middleware: the middleware machinery
    cost several percent of the proxy's throughput."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        proxy: ProxyState = request.app["proxy"]
        if auth and not authorized(request.headers.get("authorization"), proxy.keys):
            return _error(401, "missing or invalid API key: send 'Authorization: Bearer <key>' with a key from the Crosswalk config",
                          type_="invalid_request_error", code="invalid_api_key")
        try:
            response = await handler(request)
            if proxy.draining and not response.prepared:  # a stream said so before its head left (_stream)
                response.force_close()  # tell keep-alive clients to reconnect (to a replica that stays)
            return response
        except web.HTTPException as exc:
            if exc.status == 413:
                return _error(413, f"request body too large (limit {proxy.runtime.config.proxy.max_body_bytes} bytes)",
                              type_="invalid_request_error", code="body_too_large")
            return _error(exc.status, exc.reason, type_="invalid_request_error", code=str(exc.status))
        except BadRequest as exc:
            return _error(exc.status, exc.message, type_="invalid_request_error", param=exc.param, code=exc.code)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("crosswalk proxy: internal error on %s %s", request.method, request.path)
            return _error(500, "internal error in Crosswalk (details are in the server log)", type_="server_error")

    return guarded


async def _no_route(request: web.Request) -> web.Response:
    """Unknown paths and wrong methods, as OpenAI error JSON."""
    known = request.app["routes"]
    if request.path in known:
        return _error(405, f"method {request.method} not allowed on {request.path} (use {known[request.path]})",
                      type_="invalid_request_error", code="405")
    return _error(404, f"no route {request.path}", type_="invalid_request_error", code="404")


# What aiohttp decodes for us; anything else would reach the JSON parser still encoded.
_DECODED = frozenset({"", "identity", "gzip", "deflate", "br", "zstd"})


async def _read_body(request: web.Request, proxy: ProxyState) -> bytes:
    encoding = request.headers.get("content-encoding")
    if encoding is not None and encoding.strip().lower() not in _DECODED:
        raise BadRequest(f"Content-Encoding {encoding[:40]!r} is not supported (use gzip, deflate or none)",
                         "content-encoding", code="unsupported_content_encoding")
    try:
        if request.content.is_eof():  # the usual case: the whole body came with the headers
            return await request.read()
        async with asyncio.timeout(proxy.runtime.config.proxy.body_timeout_s):
            return await request.read()
    except TimeoutError:
        raise BadRequest("request body arrived too slowly", status=408, code="request_timeout") from None
    except web.RequestPayloadError:
        raise BadRequest(f"request body could not be decoded (Content-Encoding: {(encoding or 'none')[:40]})",
                         "content-encoding", code="bad_content_encoding") from None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions."""
    proxy: ProxyState = request.app["proxy"]
    body = parse_chat_body(await _read_body(request, proxy))
    step = body.pop("model")
    runtime = proxy.runtime
    logs.bind_request(request.headers)
    with tracing.request_span(step, request.headers) as span:  # continues the caller's traceparent
        if body.get("stream"):
            records: list[DecisionRecord] = []
            response = await _stream(request, runtime, step, body, records)
            span.done(records[0] if records else None, providers=runtime.config.providers)
            return response
        try:
            result, record = await runtime.complete(step, body)
        except CrosswalkError as err:
            span.done(err.record, err, providers=runtime.config.providers)
            return _crosswalk_error(err, _hosts(request))
        span.done(record, result=result, providers=runtime.config.providers)
    if record.agreement is not None:
        result["crosswalk"] = _agreement_json(record)
    if record.validation:
        result.setdefault("crosswalk", {"step": record.step, "provider": record.provider})["validation"] = validation.as_json(record)
    return web.Response(body=dumps(result), content_type=JSON, headers=_record_headers(record))


async def embeddings(request: web.Request) -> web.Response:
    """POST /v1/embeddings: the step's providers that embed, with chat's failover."""
    proxy: ProxyState = request.app["proxy"]
    body = parse_routable_body(await _read_body(request, proxy))
    try:
        result, record = await proxy.runtime.embed(body.pop("model"), body)
    except CrosswalkError as err:
        return _crosswalk_error(err, _hosts(request))
    return web.Response(body=dumps(result), content_type=JSON, headers=_record_headers(record))


async def _stream(request: web.Request, runtime: Runtime, step: str, body: dict[str, Any],
                  records: list[DecisionRecord]) -> web.StreamResponse:
    # aclosing: every way out (the caller hanging up, an in-band error, a failed write, a
    # cancelled handler) closes the runtime's generator at once, which releases the attempt
    # and closes the upstream connection.
    async with aclosing(runtime.stream(step, body, records)) as chunks:
        try:
            first = await anext(chunks)
        except CrosswalkError as err:
            return _crosswalk_error(err, _hosts(request))
        except StopAsyncIteration:
            first = None
        record = records[0]
        headers = {**_record_headers(record), "content-type": "text/event-stream", "cache-control": "no-cache"}
        if record.provider and not any(a.failure_class is None for a in record.attempts):
            # Headers leave before the stream ends: name the committed provider as answering.
            headers["x-crosswalk-attempts"] = ",".join([*(a.short() for a in record.attempts), f"{record.provider}:ok"])
        response = web.StreamResponse(headers=headers)
        if request.app["proxy"].draining:
            # Said in the head, or the client would send its next request on a connection
            # that closes when this answer ends. A stream whose head left before the drain
            # began keeps its connection: the next answer on it says close.
            response.force_close()
        try:
            await response.prepare(request)
            if first is not None:
                await response.write(b"data: " + dumps(first) + b"\n\n")
            async for chunk in chunks:
                await response.write(b"data: " + dumps(chunk) + b"\n\n")
            if record.recovery is not None:  # the stream broke and was resumed: say how (not where), last
                await response.write(b"data: " + dumps(hide_in(recovery_event(record), _hosts(request))) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except CrosswalkError as err:
            # Past the commit point: an in-band error event, and no [DONE], so no client can
            # take the partial answer for a whole one.
            hosts = _hosts(request)
            extra = None if record.recovery is None else {"step": record.step, "recovery": hide_in(dataclasses.asdict(record.recovery), hosts)}
            await _end_in_band(response, error_body(hide_origins(err.message, hosts), type_=err.error_type, code=err.error_type, extra=extra))
        except ConnectionError:
            pass  # the caller hung up mid-stream: nobody to answer, nothing to log
        except Exception:
            if not response.prepared:
                raise  # nothing sent yet: the guard answers with error JSON
            log.exception("crosswalk proxy: internal error mid-stream on step %s", _header_text(step))
            await _end_in_band(response, error_body("internal error in Crosswalk mid-stream (details are in the server log); the answer is incomplete",
                                                    type_="server_error", code="server_error"))
    return response


async def _end_in_band(response: web.StreamResponse, event: bytes) -> None:
    try:
        await response.write(b"data: " + event + b"\n\n")
        await response.write_eof()
    except ConnectionError:
        pass


def _model_json(name: str, step: StepConf) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "crosswalk", "description": step.description}


async def models(request: web.Request) -> web.Response:
    """GET /v1/models: the steps, as OpenAI models."""
    config = request.app["proxy"].runtime.config
    return _json({"object": "list", "data": [_model_json(name, step) for name, step in config.steps.items()]})


async def model(request: web.Request) -> web.Response:
    """GET /v1/models/{id}: one step as an OpenAI model; an unknown id is OpenAI's 404."""
    runtime: Runtime = request.app["proxy"].runtime
    name = request.match_info["id"]
    try:
        step = runtime.step(name)
    except UnknownStep as err:
        return _error(404, err.message, type_="invalid_request_error", param="model", code="model_not_found")
    return _json(_model_json(name, step))


async def providers_state(request: web.Request) -> web.Response:
    """GET /v1/crosswalk/providers: each provider's state, with the evidence."""
    proxy: ProxyState = request.app["proxy"]
    state = proxy.runtime.state
    out = []
    for standing in state.standings():
        conf = state.config.providers[standing.provider]
        out.append({"provider": standing.provider, "vendor": conf.vendor, "model": conf.model, "region": conf.region,
                    **_standing_json(standing)})
    return _json({"providers": out, "config": {"source": state.config.source, "reloaded_at": proxy.reloaded_at,
                                               "reload_error": proxy.reload_error}})


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
        return _error(404, f"unknown provider '{name}' (known providers: {known})", type_="invalid_request_error",
                      param="provider", code="provider_not_found")
    lift = state.lift(name, by=f"an operator (POST {request.path})")
    ex = lift.exclusion
    lifted = None if ex is None else {"failure_class": ex.failure_class, "evidence": ex.evidence, "at": ex.at, "basis": ex.basis}
    return _json({"provider": name, "lifted": lifted, "sightings_dropped": lift.sightings,
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
    return _json({"status": "ok"})


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
        return _json({"status": "draining", **({"config": config.source} if details else {})}, status=503)
    wanted = request.query.get("step")
    if wanted is not None and wanted not in config.steps:
        known = ", ".join(sorted(config.steps))
        return _error(404, f"unknown step '{wanted}' (known steps: {known})", type_="invalid_request_error",
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
    return _json(payload, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition (a key on a public bind: `operator_view`)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if not operator_view(request, request.app["proxy"]):
        return _error(401, "missing or invalid key for /metrics: send 'Authorization: Bearer <key>' with a key from "
                      "proxy.metrics_keys or proxy.api_keys", type_="invalid_request_error", code="invalid_api_key")

    body = await request.app["proxy"].runtime.metrics.exposition()  # every worker's under --workers N
    return web.Response(body=body, headers={"content-type": CONTENT_TYPE_LATEST})


def build_app(proxy: ProxyState) -> web.Application:
    """The aiohttp application for one runtime."""
    app = web.Application(client_max_size=proxy.runtime.config.proxy.max_body_bytes)
    app["proxy"] = proxy
    routes = {
        "/v1/chat/completions": ("POST", chat_completions),
        "/v1/embeddings": ("POST", embeddings),
        "/v1/models": ("GET", models),
        "/v1/models/{id}": ("GET", model),
        "/v1/crosswalk/providers": ("GET", providers_state),
        "/v1/crosswalk/providers/{name}/unexclude": ("POST", unexclude),
        "/healthz": ("GET", healthz),
        "/readyz": ("GET", readyz),
        "/metrics": ("GET", metrics),
    }
    probes = ("/healthz", "/readyz")  # load balancers and kubelets may probe with HEAD
    app["routes"] = {path: f"{method} or HEAD" if path in probes else method for path, (method, _) in routes.items()}
    for path, (method, handler) in routes.items():
        guarded = _guarded(handler, auth=path.startswith("/v1/"))
        app.router.add_route(method, path, guarded)
        if path in probes:
            app.router.add_route("HEAD", path, guarded)
    app.router.add_route("*", "/{tail:.*}", _guarded(_no_route, auth=False))
    return app

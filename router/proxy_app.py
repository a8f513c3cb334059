"""The sidecar's aiohttp application: every route (the dialects' in router/proxy.py and
router/proxy_messages.py, the operator's in router/proxy_operator.py), each behind a guard
that checks the key and answers every failure as error JSON in the route's dialect, never a
stack trace; unknown paths and wrong methods as error JSON too."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from aiohttp import web

from crosswalk.router import proxy_messages, proxy_operator
from crosswalk.router.auth import authorized, page_authorized
from crosswalk.router.proxy import (
    ErrorRender,
    ProxyState,
    chat_completions,
    completions,
    delete_response,
    embeddings,
    error_response,
    get_response,
    model,
    models,
    not_found,
    responses,
)
from crosswalk.router.proxy_requests import BadRequest

log = logging.getLogger("crosswalk.proxy")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded_route(handler: Handler, *, auth: bool | str, render: ErrorRender = error_response) -> Handler:
    """Auth (for /v1/*: a bearer key, or `x-api-key` as Anthropic clients send it; "page"
    for /ui, which also takes a key as a Basic password), and every failure as error JSON in
    the route's dialect (`render`), never a stack trace.
    A plain wrapper per route rather than an aiohttp middleware: the middleware machinery
    cost several percent of the proxy's throughput."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        proxy: ProxyState = request.app["proxy"]
        header = request.headers.get("authorization")
        if auth == "page" and not page_authorized(header, proxy.keys):
            return error_response(401, "the Crosswalk page needs one of the proxy's API keys (as a bearer key, or as the password when the browser asks)",
                          type_="invalid_request_error", code="invalid_api_key", headers={"www-authenticate": 'Basic realm="crosswalk", charset="UTF-8"'})
        if auth is True and not authorized(header, proxy.keys, api_key=request.headers.get("x-api-key")):
            return render(401, "missing or invalid API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>' "
                          "with a key from the Crosswalk config", type_="invalid_request_error", code="invalid_api_key")
        try:
            response = await handler(request)
            if proxy.draining and not response.prepared:  # a stream said so before its head left (_stream)
                response.force_close()  # tell keep-alive clients to reconnect (to a replica that stays)
            return response
        except web.HTTPException as exc:
            if exc.status == 413:
                return render(413, f"request body too large (limit {proxy.runtime.config.proxy.max_body_bytes} bytes)",
                              type_="invalid_request_error", code="body_too_large")
            return render(exc.status, exc.reason, type_="invalid_request_error", code=str(exc.status))
        except BadRequest as exc:
            return render(exc.status, exc.message, type_="invalid_request_error", param=exc.param, code=exc.code)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("crosswalk proxy: internal error on %s %s", request.method, request.path)
            return render(500, "internal error in Crosswalk (details are in the server log)", type_="server_error")

    return guarded


async def no_route(request: web.Request) -> web.Response:
    """Unknown paths and wrong methods, as OpenAI error JSON."""
    known = request.app["routes"]
    if request.path in known:
        return error_response(405, f"method {request.method} not allowed on {request.path} (use {known[request.path]})",
                      type_="invalid_request_error", code="405")
    return not_found(request)



def build_app(proxy: ProxyState) -> web.Application:
    """The aiohttp application for one runtime."""
    app = web.Application(client_max_size=proxy.runtime.config.proxy.max_body_bytes)
    app["proxy"] = proxy
    routes = {
        "/v1/chat/completions": ("POST", chat_completions),
        "/v1/responses": ("POST", responses),
        "/v1/responses/{id}": ("GET", get_response),
        "/v1/completions": ("POST", completions),
        "/v1/embeddings": ("POST", embeddings),
        "/v1/models": ("GET", models),
        "/v1/models/{id}": ("GET", model),
    }
    probes = ("/healthz", "/readyz")  # load balancers and kubelets may probe with HEAD
    routes.update(proxy_messages.ROUTES)
    routes.update(proxy_operator.ROUTES)
    app["routes"] = {path: f"{method} or HEAD" if path in probes else method for path, (method, _) in routes.items()}
    for path, (method, handler) in routes.items():
        render = proxy_messages.render_error if path in proxy_messages.ROUTES else error_response
        guarded = guarded_route(handler, auth="page" if path.startswith("/ui") else path.startswith("/v1/"), render=render)
        app.router.add_route(method, path, guarded)
        if path == "/v1/responses/{id}":
            app.router.add_route("DELETE", path, guarded_route(delete_response, auth=True))
        if path in probes:
            app.router.add_route("HEAD", path, guarded)
    app.router.add_route("*", "/{tail:.*}", guarded_route(no_route, auth=False))
    app.on_cleanup.append(_close_conversations)
    return app


async def _close_conversations(app: web.Application) -> None:
    """Close the Redis connections of the conversation store, if it has any."""
    store = app["proxy"]._conversations
    if store is not None and hasattr(store, "aclose"):
        await store.aclose()

"""The sidecar's Anthropic Messages routes: thin aiohttp handlers around
`router/dialects/messages.py` (which parses, renders and encodes) and the runtime.

POST /v1/messages (streamed or not) and POST /v1/messages/count_tokens. The caller's
`model` names a step or one of its aliases; every answer carries the x-crosswalk-*
headers, every error is Anthropic's error JSON with the status its SDK expects and
`x-should-retry`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from crosswalk.providers.errors import ProviderError
from crosswalk.providers.jsonwire import dumps
from crosswalk.router.dialects import messages as dialect
from crosswalk.router.errors import UnknownStep
from crosswalk.router.proxy import JSON, ProxyState, crosswalk_error, read_body, run_step
from crosswalk.router.records import DecisionRecord


def render_error(status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> web.Response:
    """An error answer in Anthropic's JSON (`type_` and `code` are the OpenAI-side names,
    kept under `crosswalk` for operators; the error's own type follows the status)."""
    more = dict(extra or {})
    if code and code != type_:
        more.setdefault("code", code)
    return web.Response(body=dialect.error_body(status, message, extra=more), status=status, content_type=JSON, headers=headers)


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages."""
    proxy: ProxyState = request.app["proxy"]
    call = dialect.parse(await read_body(request, proxy), request.headers)

    async def render(result: dict[str, Any], record: DecisionRecord) -> dict[str, Any]:
        return dialect.render(result)

    return await run_step(request, call.model, call.chat, render=render, encoder=dialect.MessagesStream(),
                          native=call.native, errors=render_error)


async def count_tokens(request: web.Request) -> web.Response:
    """POST /v1/messages/count_tokens: asked of the step's first provider that can count
    (a `kind: anthropic` one that is not excluded or blocked); else a clear 400."""
    proxy: ProxyState = request.app["proxy"]
    call = dialect.parse(await read_body(request, proxy), request.headers, counting=True)
    runtime = proxy.runtime
    try:
        step = runtime.step(call.model)
    except UnknownStep as err:
        return crosswalk_error(err, render=render_error)
    usable = {row.provider for row in runtime.status(step.name) if row.status not in ("blocked", "excluded")}
    counters = [name for name in step.providers if name in usable and callable(getattr(runtime.providers.get(name), "count_tokens", None))]
    if not counters:
        return render_error(400, f"step '{step.name}' has no provider that can count tokens now (count_tokens needs an eligible "
                            "provider of kind anthropic)", type_="invalid_request_error")
    failures = []
    for name in counters:
        try:
            answer = await runtime.providers[name].count_tokens(call.native.body, call.native.headers)  # type: ignore[attr-defined]
        except ProviderError as exc:
            failures.append(f"{name}: {exc.evidence()}")
            continue
        headers = {"x-crosswalk-step": step.name, "x-crosswalk-provider": name}
        return web.Response(body=dumps({"input_tokens": answer["input_tokens"]}), content_type=JSON, headers=headers)
    return render_error(502, f"step '{step.name}': no provider could count the tokens: {'; '.join(failures)}", type_="api_error")


ROUTES = {
    "/v1/messages": ("POST", messages),
    "/v1/messages/count_tokens": ("POST", count_tokens),
}

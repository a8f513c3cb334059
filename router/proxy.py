"""The sidecar: an HTTP server in front of a `Runtime` (router/runtime.py), speaking the
callers' dialects.

POST /v1/chat/completions and POST /v1/embeddings (the `model` field names a step); POST
/v1/responses with GET and DELETE /v1/responses/{id}, and POST /v1/completions, whose
dialects (router/dialects/) turn them into the step's chat request and its answer back;
POST /v1/messages (router/proxy_messages.py); GET /v1/models (the steps) and
/v1/models/{id}. The operator's routes (provider state, lifting an exclusion, explain,
health, readiness, metrics, the /ui page) are router/proxy_operator.py; the application that
routes to them all, behind its guard, is router/proxy_app.py. Every answer
carries x-crosswalk-step / -provider / -attempts headers; every error is the caller's
dialect's error JSON with the status the failure deserves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol
from urllib.parse import quote

from aiohttp import web

from crosswalk.policies.config import StepConf
from crosswalk.providers.base import Native
from crosswalk.providers.jsonwire import dumps
from crosswalk.router import logs, tracing, validation
from crosswalk.router.dialects import chat as chat_dialect
from crosswalk.router.dialects import completions as completions_dialect
from crosswalk.router.dialects import responses as responses_dialect
from crosswalk.router.dialects.chat import StreamEncoder
from crosswalk.router.errors import CrosswalkError, UnknownStep, client_should_retry
from crosswalk.router.proxy_requests import BadRequest, error_body, parse_chat_body, parse_routable_body
from crosswalk.router.origins import configured_hosts, hide_in, hide_origins
from crosswalk.router.records import DecisionRecord
from crosswalk.router.runtime import Runtime
from crosswalk.router.state.conversations import Conversations, conversations_for
from crosswalk.router.stream_writer import CoalescingWriter

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
    ui_salt: bytes = field(default_factory=lambda: os.urandom(16))  # the /ui lift token's secret when no keys are set
    _conversations: Conversations | None = None

    @property
    def conversations(self) -> Conversations:
        """Stored Responses-API conversations: in this process, or on Redis with
        `state.backend: redis` (built on first use from the config then in force)."""
        if self._conversations is None:
            self._conversations = conversations_for(self.runtime.config.state, now=self.runtime.clock.now)
        return self._conversations


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, content_type=JSON, headers=headers)


def error_response(status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> web.Response:
    return web.Response(body=error_body(message, type_=type_, param=param, code=code, extra=extra), status=status,
                        content_type=JSON, headers=headers)


class ErrorRender(Protocol):
    """Renders an error answer in a dialect's JSON (`error_response`: OpenAI's)."""

    def __call__(self, status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> web.Response: ...




_HEADER_SAFE = "".join(c for c in map(chr, range(0x20, 0x7f)) if c != "%")


def _header_text(text: str) -> str:
    """`text` fit for a header value: as it is when printable ASCII (configured names and
    any `model` that passed parse_chat_body), else percent-encoded, so no text can end a
    header early or make the response unsendable."""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe=_HEADER_SAFE)


def record_headers(record: DecisionRecord) -> dict[str, str]:
    """The x-crosswalk-* headers of an answer (step, provider, attempts, agreement,
    validation, the vendor's request id)."""
    headers = {
        "x-crosswalk-step": _header_text(record.step),
        "x-crosswalk-provider": record.provider or "",
        "x-crosswalk-attempts": ",".join(a.short() for a in record.attempts),
    }
    if record.agreement is not None:
        headers["x-crosswalk-agreement"] = record.agreement.header()
    if record.validation:
        headers["x-crosswalk-validation"] = _header_text(validation.header(record) or "")
    if record.seams:
        headers["x-crosswalk-seam"] = _seam_header(record)
    if record.ineligible:  # providers that cannot carry what this request needs
        headers["x-crosswalk-ineligible"] = ",".join(record.ineligible)
    if record.dropped:  # what a translation to the answering provider's dialect left out
        headers["x-crosswalk-dropped"] = _header_text(",".join(record.dropped))
    request_id = record.request_id
    if request_id is not None:  # the answering vendor's own id, for its support desk
        headers["x-crosswalk-upstream-request-id"] = _header_text(request_id)
    return headers


def _seam_header(record: DecisionRecord) -> str:
    """`from->to:answered->received:kind:action` per flagged seam, comma-separated."""
    return _header_text(", ".join(flag.short() for flag in record.seams))


def _hosts(request: web.Request) -> tuple[str, ...]:
    """The configured vendors' hosts, to be kept out of what callers read (router/origins.py)."""
    return configured_hosts(p.base_url for p in request.app["proxy"].runtime.config.providers.values())


def crosswalk_error(err: CrosswalkError, *, render: ErrorRender | None = None, hosts: tuple[str, ...] = ()) -> web.Response:
    """A failed request's answer: its status, x-crosswalk-* and x-should-retry /
    retry-after headers, the attempts, in the dialect's error JSON (`render`; OpenAI's
    by default), its message without the vendors' addresses (`hosts` and any URL,
    host:port or IP: the log keeps them)."""
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
    if record is not None and record.seams:  # near misses of amounts earlier steps of the run answered
        headers["x-crosswalk-seam"] = _seam_header(record)
        extra["seams"] = [dataclasses.asdict(flag) for flag in record.seams]
    unknown_step = isinstance(err, UnknownStep)  # OpenAI's own shape for an unknown model
    return (render or error_response)(err.status_code, hide_origins(err.message, hosts), type_="invalid_request_error" if unknown_step else err.error_type,
                  code=err.code or err.error_type, param="model" if unknown_step else getattr(err, "param", None),
                  headers=headers, extra=extra)


def not_found(request: web.Request) -> web.Response:
    return error_response(404, f"no route {request.path}", type_="invalid_request_error", code="404")


# What aiohttp decodes for us; anything else would reach the JSON parser still encoded.
_DECODED = frozenset({"", "identity", "gzip", "deflate", "br", "zstd"})


async def read_body(request: web.Request, proxy: ProxyState) -> bytes:
    """The request body, decoded, within the body time limit; `BadRequest` otherwise."""
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


Render = Callable[[dict[str, Any], DecisionRecord], Awaitable[dict[str, Any]]]
_CHAT_STREAM = chat_dialect.ChatStream()  # it keeps no state: one for every chat stream


async def run_step(request: web.Request, step: str, body: dict[str, Any], *, render: Render,
                   encoder: StreamEncoder, native: Native | None = None, errors: ErrorRender = error_response) -> web.StreamResponse:
    """Run `body` (a chat request) on `step`, under the request's span (continuing the
    caller's traceparent), and answer in the caller's dialect: `render` for a whole answer,
    `encoder` for a stream, `errors` for a failure before anything was sent. `native`: the
    caller's own request when it came in a dialect some providers speak (Messages, Responses)."""
    runtime: Runtime = request.app["proxy"].runtime
    logs.bind_request(request.headers)
    run = request.headers.get("x-crosswalk-run")  # else the traceparent's trace id ties the run's steps together
    with tracing.request_span(step, request.headers) as span:  # continues the caller's traceparent
        if body.get("stream"):
            records: list[DecisionRecord] = []
            response = await _stream(request, runtime, step, body, records, encoder, run, native=native, errors=errors)
            span.done(records[0] if records else None, providers=runtime.config.providers)
            return response
        try:
            result, record = await runtime.complete(step, body, run=run, native=native)
        except CrosswalkError as err:
            span.done(err.record, err, providers=runtime.config.providers)
            return crosswalk_error(err, render=errors, hosts=_hosts(request))
        span.done(record, result=result, providers=runtime.config.providers)
    return web.Response(body=dumps(await render(result, record)), content_type=JSON, headers=record_headers(record))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions."""
    proxy: ProxyState = request.app["proxy"]
    body = parse_chat_body(await read_body(request, proxy))
    step = body.pop("model")
    return await run_step(request, step, body, render=chat_dialect.render, encoder=_CHAT_STREAM)


async def responses(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses: the Responses API, sent as it came to providers that speak it
    and translated to the step's chat request for the others (router/dialects/responses.py);
    `previous_response_id` resolved from what was stored."""
    proxy: ProxyState = request.app["proxy"]
    conversations = proxy.conversations
    created_at = float(int(proxy.runtime.clock.wall().timestamp()))
    turn = await responses_dialect.open_turn(parse_routable_body(await read_body(request, proxy)), conversations,
                                             created_at=created_at)
    if turn.needs:  # what only a Responses provider can carry, on a step that has none: the caller's field, named
        runtime = proxy.runtime
        try:
            step = runtime.step(turn.step)
        except UnknownStep as err:
            return crosswalk_error(err)
        if step.verify is not None or not any(runtime.chain.fit.speaks(name, "responses") for name in step.providers):
            raise turn.unservable(step.name, verified=step.verify is not None)

    async def render(result: dict[str, Any], record: DecisionRecord) -> dict[str, Any]:
        answer = turn.render(result, record)
        await turn.save(answer, conversations)  # before the caller has it: its next turn finds it
        return answer

    return await run_step(request, turn.step, turn.body, render=render,
                           encoder=responses_dialect.StreamEncoder(turn, conversations), native=turn.native)


async def get_response(request: web.Request) -> web.Response:
    """GET /v1/responses/{id}: a stored response."""
    proxy: ProxyState = request.app["proxy"]
    response_id = request.match_info["id"]
    return json_response(await responses_dialect.stored_response(proxy.conversations, response_id))


async def delete_response(request: web.Request) -> web.Response:
    """DELETE /v1/responses/{id}: forget a stored response (its conversation with it)."""
    proxy: ProxyState = request.app["proxy"]
    response_id = request.match_info["id"]
    return json_response(await responses_dialect.deleted(proxy.conversations, response_id))


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions: legacy text completions, run as the step's chat request
    (router/dialects/completions.py)."""
    proxy: ProxyState = request.app["proxy"]
    turn = completions_dialect.open_turn(parse_routable_body(await read_body(request, proxy)))
    return await run_step(request, turn.step, turn.body, render=turn.render, encoder=completions_dialect.StreamEncoder(turn))


async def embeddings(request: web.Request) -> web.Response:
    """POST /v1/embeddings: the step's providers that embed, with chat's failover."""
    proxy: ProxyState = request.app["proxy"]
    body = parse_routable_body(await read_body(request, proxy))
    try:
        result, record = await proxy.runtime.embed(body.pop("model"), body)
    except CrosswalkError as err:
        return crosswalk_error(err, hosts=_hosts(request))
    return web.Response(body=dumps(result), content_type=JSON, headers=record_headers(record))


async def _stream(request: web.Request, runtime: Runtime, step: str, body: dict[str, Any],
                  records: list[DecisionRecord], encoder: StreamEncoder, run: str | None, *,
                  native: Native | None = None, errors: ErrorRender = error_response) -> web.StreamResponse:
    # aclosing: every way out (the caller hanging up, an in-band error, a failed write, a
    # cancelled handler) closes the runtime's generator at once, which releases the attempt
    # and closes the upstream connection.
    async with aclosing(runtime.stream(step, body, records, run=run, native=native)) as chunks:
        try:
            first = await anext(chunks)
        except CrosswalkError as err:
            return crosswalk_error(err, render=errors, hosts=_hosts(request))
        except StopAsyncIteration:
            first = None
        record = records[0]
        headers = {**record_headers(record), "content-type": "text/event-stream", "cache-control": "no-cache"}
        if record.provider and not any(a.failure_class is None for a in record.attempts):
            # Headers leave before the stream ends: name the committed provider as answering.
            headers["x-crosswalk-attempts"] = ",".join([*(a.short() for a in record.attempts), f"{record.provider}:ok"])
        response = web.StreamResponse(headers=headers)
        if request.app["proxy"].draining:
            # Said in the head, or the client would send its next request on a connection
            # that closes when this answer ends. A stream whose head left before the drain
            # began keeps its connection: the next answer on it says close.
            response.force_close()
        out = CoalescingWriter(request, response)  # events ready together leave in one write
        try:
            await out.start(await response.prepare(request), encoder.head(first))
            async for chunk in chunks:
                data = encoder.chunk(chunk)
                if data:
                    await out.add(data)
            if record.recovery is not None:  # the resumed stream's note says how, not where
                _hide_recovery(record, _hosts(request))
            await out.close(await encoder.tail(record))
        except CrosswalkError as err:
            # Past the commit point: an in-band error event, so no client can take the
            # partial answer for a whole one. Vendors' addresses stay in the log.
            hosts = _hosts(request)
            err.message = hide_origins(err.message, hosts)
            _hide_recovery(record, hosts)
            await _end_in_band(out, encoder.failure(err, record))
        except ConnectionError:
            pass  # the caller hung up mid-stream: nobody to answer, nothing to log
        except Exception:
            if not response.prepared:
                raise  # nothing sent yet: the guard answers with error JSON
            log.exception("crosswalk proxy: internal error mid-stream on step %s", _header_text(step))
            await _end_in_band(out, encoder.internal_failure())
    return response


def _hide_recovery(record: DecisionRecord, hosts: tuple[str, ...]) -> None:
    """A recovery's evidence as a caller may read it: without the vendors' addresses (the
    decision line was logged with them before the stream's end is written)."""
    if record.recovery is not None:
        record.recovery = type(record.recovery)(**hide_in(dataclasses.asdict(record.recovery), hosts))


async def _end_in_band(out: CoalescingWriter, event: bytes) -> None:
    try:
        await out.close(event)
    except ConnectionError:
        pass


def _model_json(name: str, step: StepConf) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "crosswalk", "description": step.description}


async def models(request: web.Request) -> web.Response:
    """GET /v1/models: the steps, as OpenAI models (as Anthropic's model list when the
    caller is an Anthropic client, which sends `anthropic-version`)."""
    config = request.app["proxy"].runtime.config
    if request.headers.get("anthropic-version"):
        from crosswalk.router.dialects.messages import model_list

        return json_response(model_list(list(config.steps)))
    return json_response({"object": "list", "data": [_model_json(name, step) for name, step in config.steps.items()]})


async def model(request: web.Request) -> web.Response:
    """GET /v1/models/{id}: one step as an OpenAI model; an unknown id is OpenAI's 404."""
    runtime: Runtime = request.app["proxy"].runtime
    name = request.match_info["id"]
    try:
        step = runtime.step(name)
    except UnknownStep as err:
        return error_response(404, err.message, type_="invalid_request_error", param="model", code="model_not_found")
    return json_response(_model_json(name, step))

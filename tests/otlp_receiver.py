"""A real OTLP/HTTP trace receiver on loopback: accepts POST /v1/traces (protobuf, gzip
or not, as the SDK's exporter sends it), decodes each export with `opentelemetry-proto`
and keeps the spans, flattened, for tests to assert on. Run as a script
(`python -m tests.otlp_receiver PORT`) it serves in its own process (the benchmark's
collector) and prints the span count on SIGTERM."""

from __future__ import annotations

import gzip
import signal
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.loopback import serve_loopback

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS = {0: "unset", 1: "ok", 2: "error"}


@dataclass
class Span:
    """One received span, decoded."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    kind: str
    status: str
    status_message: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


def decode(payload: bytes) -> list[Span]:
    """The spans in one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    spans: list[Span] = []
    for rs in request.resource_spans:
        resource = {a.key: _value(a.value) for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append(Span(
                    s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), KINDS.get(s.kind, str(s.kind)),
                    STATUS.get(s.status.code, str(s.status.code)), s.status.message, s.start_time_unix_nano, s.end_time_unix_nano,
                    {a.key: _value(a.value) for a in s.attributes}, resource,
                ))
    return spans


class OTLPReceiver:
    """`receiver = await OTLPReceiver().start()`; point OTEL_EXPORTER_OTLP_ENDPOINT at
    `receiver.endpoint`; read `receiver.spans`."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        self.content_types: set[str] = set()
        self.endpoint = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> "OTLPReceiver":
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner, port = await serve_loopback(app)
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _traces(self, request: web.Request) -> web.Response:
        raw = await request.read()  # aiohttp does not undo a request's Content-Encoding for us
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        self.content_types.add(request.headers.get("content-type", ""))
        try:
            spans = decode(raw)
        except Exception as exc:  # a malformed export is the sender's bug: say so, as a collector does
            return web.Response(status=400, text=f"cannot decode: {exc}")
        self.requests += 1
        self.spans.extend(spans)
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf")

    def named(self, prefix: str) -> list[Span]:
        """The spans whose name starts with `prefix`."""
        return [s for s in self.spans if s.name.startswith(prefix)]


def main() -> None:
    import asyncio

    async def run() -> None:
        receiver = OTLPReceiver()
        app = web.Application()
        app.router.add_post("/v1/traces", receiver._traces)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        print(len(receiver.spans), flush=True)
        await runner.cleanup()

    asyncio.run(run())


if __name__ == "__main__":
    main()

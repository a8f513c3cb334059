"""Trace export set up from the standard OTEL_* environment variables (the `[otel]` extra).

Export is on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set,
or OTEL_TRACES_EXPORTER names an exporter (`otlp`, `console`); off when
OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. The SDK reads the rest itself:
OTEL_SERVICE_NAME (default here: crosswalk), OTEL_RESOURCE_ATTRIBUTES,
OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT / _COMPRESSION, OTEL_TRACES_SAMPLER / _ARG,
OTEL_BSP_SCHEDULE_DELAY... Spans go out as OTLP over HTTP/protobuf, which Jaeger, Grafana
Tempo, Langfuse and LangSmith all accept. Setting up opens no connection: the batch
processor's thread sends only when there are spans.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Mapping

from crosswalk.router import tracing

log = logging.getLogger("crosswalk.otel")


def wanted(env: Mapping[str, str]) -> bool:
    """Does the environment ask for trace export?"""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup() -> Callable[[], None] | None:
    """Start exporting spans if this process's environment asks for it (the SDK reads
    os.environ itself); returns the shutdown (which flushes what is still buffered), or
    None when tracing stays off. A missing SDK is a warning, not a failure: the process
    serves untraced."""
    env = os.environ
    if not wanted(env):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        log.warning("crosswalk: OTEL_* asks for traces but the OpenTelemetry SDK is not installed; "
                    "install crosswalk-router[otel] (serving without traces)")
        return None
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()] or ["otlp"]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())  # endpoint, headers, timeout, compression: OTEL_EXPORTER_OTLP_*
        else:
            log.warning("crosswalk: OTEL_TRACES_EXPORTER=%s is not supported (use otlp, console or none); ignored", name)
    if not exporters:
        return None
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {"service.name": "crosswalk"})
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing.enable(provider)

    def shutdown() -> None:
        tracing.disable()
        provider.shutdown()  # flushes the batch processors

    return shutdown

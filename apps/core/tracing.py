"""OpenTelemetry tracing, off unless ``OTEL_ENABLED`` is true.

When on, every process (web, workers, beat) traces Django requests, Celery tasks (publishing and running;
the trace context travels in the task's headers, so a request and the training task it started share one
trace), psycopg queries and outgoing HTTP through ``requests`` (MLflow's client, webhooks). Spans go to
``OTEL_TRACES_EXPORTER``: ``otlp`` (default; OTLP over HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``, the
standard OpenTelemetry variables apply), ``console`` (one JSON span per line on stdout) or ``memory`` (kept
in the process, for tests: :data:`memory_exporter`).
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger("maestro.tracing")

memory_exporter = None  # the in-memory exporter when OTEL_TRACES_EXPORTER=memory
_configured = False


def _exporter(name: str):
    global memory_exporter
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n")
    if name == "memory":
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        memory_exporter = InMemorySpanExporter()
        return memory_exporter
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER must be 'otlp', 'console' or 'memory', not {name!r}")


def configure_tracing(*, force: bool = False) -> bool:
    """Install the tracer provider and the instrumentations once per process; True when tracing is on."""
    global _configured
    if _configured:
        return True
    if not (settings.OTEL_ENABLED or force):
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    exporter_name = settings.OTEL_TRACES_EXPORTER
    provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
    exporter = _exporter(exporter_name)
    # Console and memory spans are written as each ends (a worker's log shows them at once); OTLP in batches.
    processor = BatchSpanProcessor(exporter) if exporter_name == "otlp" else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument(is_sql_commentor_enabled=False)
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)
    RequestsInstrumentor().instrument()
    _configured = True
    logger.info("OpenTelemetry tracing on, exporting to %s", exporter_name)
    return True


def shutdown_tracing() -> None:
    """Undo the instrumentations (tests); the tracer provider stays, as OpenTelemetry sets it once."""
    global _configured
    if not _configured:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    for instrumentor in (DjangoInstrumentor(), CeleryInstrumentor(), PsycopgInstrumentor(), RequestsInstrumentor()):
        instrumentor.uninstrument()
    _configured = False

"""OpenTelemetry traces and metrics in the GenAI semantic conventions, and one JSON log line per
request and per task.

Off by default. A process exports only when the standard `OTEL_*` variables ask for it
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER=otlp`);
`OTEL_SDK_DISABLED=true` wins. When off, the API's no-op tracer and meter are all the code ever
touches, so a call pays for a few attribute-less function calls (measured in `make bench`).

Spans: the gateway view's call (`chat <alias>`, kind SERVER side of the platform), its steps as
children (guardrails, admission, retrieval, agent steps), the Celery publish and the worker's task
(context carried in the task's headers by the Celery instrumentation), and the provider call
(`chat <provider model>`, kind CLIENT) with the GenAI attributes. No prompt or answer text is ever
put on a span: the capture condition of a use case governs the ledger, not the telemetry backend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from genai_platform.metering.metrics import observe_genai_call

logger = logging.getLogger(__name__)

#: The instrumentation scope every span and instrument of the platform is created under.
SCOPE = "genai_platform"

#: Provider ids of the catalog -> `gen_ai.provider.name` well-known values of the conventions.
GEN_AI_PROVIDER_NAMES = {
    "bedrock": "aws.bedrock",
    "vertex": "gcp.vertex_ai",
    "azure_openai": "azure.ai.openai",
    "oci": "oci.generative_ai",
    "openai_compatible": "openai",
    "sandbox": "genai_platform.sandbox",
    "local": "genai_platform.local",
}

_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

_configured = False


def exporting() -> bool:
    """Whether the standard OpenTelemetry variables ask this process to export anything."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return True
    return os.environ.get("OTEL_TRACES_EXPORTER", "none").lower() not in {"", "none"}


def configure(service: str, *, span_processor: Any = None, metric_reader: Any = None) -> bool:
    """Installs the SDK's providers once per process when exporting (or when a test hands in its own
    processor or reader); returns whether telemetry is on. Celery's context propagation through the
    task headers is switched on with it."""
    global _configured
    if _configured:
        return True
    if span_processor is None and metric_reader is None and not exporting():
        return False
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", f"genai-platform-{service}")})
    tracer_provider = TracerProvider(resource=resource)
    if span_processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        span_processor = BatchSpanProcessor(OTLPSpanExporter())
    tracer_provider.add_span_processor(span_processor)
    trace.set_tracer_provider(tracer_provider)

    if metric_reader is None and exporting():
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        metric_reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    if metric_reader is not None:
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[metric_reader]))

    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()
    _configured = True
    _instruments.cache_clear()
    _tracer.cache_clear()
    logger.info("OpenTelemetry on for %s", service)
    return True


def shutdown() -> None:
    """Flushes what is buffered (a worker or gateway about to exit)."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        with contextlib.suppress(Exception):
            provider.shutdown()  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def _tracer() -> trace.Tracer:
    # Kept: `get_tracer` looks the provider up in the environment on every call (~8 % of the
    # gateway's CPU per call, with a span per step). Before `configure` this is OpenTelemetry's proxy
    # tracer, which follows the provider `configure` installs; `configure` clears the cache anyway.
    return trace.get_tracer(SCOPE)


@dataclass(frozen=True)
class _Instruments:
    token_usage: Any
    duration: Any
    time_to_first_chunk: Any


@lru_cache(maxsize=1)
def _instruments() -> _Instruments:
    meter = metrics.get_meter(SCOPE)
    return _Instruments(
        token_usage=meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per model call, by gen_ai.token.type.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        ),
        duration=meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of a model call as its caller saw it.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        ),
        time_to_first_chunk=meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from a streamed call's start to its first chunk.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        ),
    )


@dataclass
class ModelCall:
    """What a model call learns as it goes, put on its span and metrics when it ends."""

    operation: str
    provider: str
    request_model: str
    span: trace.Span
    started: float = field(default_factory=time.perf_counter)
    response_model: str = ""
    response_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reasons: tuple[str, ...] = ()
    error_type: str = ""
    first_chunk_at: float | None = None

    def first_chunk(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    def usage(self, *, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens, self.output_tokens = input_tokens, output_tokens

    def served(self, *, provider: str, response_model: str) -> None:
        """The deployment that answered (known only after routing and any fallback)."""
        self.provider, self.response_model = provider, response_model

    def failed(self, error_type: str) -> None:
        self.error_type = error_type


def _provider_name(provider: str) -> str:
    return GEN_AI_PROVIDER_NAMES.get(provider, provider)


@contextlib.contextmanager
def model_call(
    *,
    operation: str,
    provider: str,
    request_model: str,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.CLIENT,
    record_metrics: bool = True,
) -> Iterator[ModelCall]:
    """One model call as a span named `<operation> <model>` with the GenAI attributes and, where
    `record_metrics`, its duration, tokens and time to first chunk as the GenAI metrics, whatever
    ends it. The gateway's call records the metrics (it sees the whole call, fallback included);
    the worker's span around the provider's SDK call only describes that one attempt."""
    span_attributes = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": _provider_name(provider),
        "gen_ai.request.model": request_model,
        **(attributes or {}),
    }
    with _tracer().start_as_current_span(
        f"{operation} {request_model}", kind=kind, attributes=span_attributes, record_exception=False
    ) as span:
        call = ModelCall(operation=operation, provider=provider, request_model=request_model, span=span)
        try:
            yield call
        except BaseException as exc:
            call.error_type = call.error_type or type(exc).__name__
            raise
        finally:
            _end(call, record_metrics=record_metrics)


def _end(call: ModelCall, *, record_metrics: bool) -> None:
    elapsed = time.perf_counter() - call.started
    common = {
        "gen_ai.operation.name": call.operation,
        "gen_ai.provider.name": _provider_name(call.provider),
        "gen_ai.request.model": call.request_model,
    }
    if call.response_model:
        common["gen_ai.response.model"] = call.response_model
    span = call.span
    if span.is_recording():
        span.set_attributes(
            {
                key: value
                for key, value in {
                    "gen_ai.provider.name": _provider_name(call.provider),
                    "gen_ai.response.model": call.response_model,
                    "gen_ai.response.id": call.response_id,
                    "gen_ai.usage.input_tokens": call.input_tokens,
                    "gen_ai.usage.output_tokens": call.output_tokens,
                    "gen_ai.response.finish_reasons": list(call.finish_reasons),
                }.items()
                if value
            }
        )
        if call.first_chunk_at is not None:
            span.set_attribute("gen_ai.response.time_to_first_chunk", call.first_chunk_at - call.started)
        if call.error_type:
            span.set_attribute("error.type", call.error_type)
            span.set_status(Status(StatusCode.ERROR))
    if not record_metrics:
        return
    observe_genai_call(
        operation=call.operation,
        provider=_provider_name(call.provider) if call.provider else "",
        request_model=call.request_model,
        duration_seconds=elapsed,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        time_to_first_chunk=call.first_chunk_at - call.started if call.first_chunk_at is not None else None,
        error_type=call.error_type,
    )
    instruments = _instruments()
    if call.error_type:
        common["error.type"] = call.error_type
    instruments.duration.record(elapsed, common)
    if call.first_chunk_at is not None:
        instruments.time_to_first_chunk.record(call.first_chunk_at - call.started, common)
    for token_type, count in (("input", call.input_tokens), ("output", call.output_tokens)):
        if count:
            instruments.token_usage.record(count, {**common, "gen_ai.token.type": token_type})


@contextlib.contextmanager
def step(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A child span for one step of a call (guardrails, admission, retrieval, an agent step)."""
    with _tracer().start_as_current_span(name, attributes=attributes, record_exception=False) as span:
        yield span


def current_trace_id() -> str:
    """The current trace id in hex, or "" outside a sampled span (for log lines)."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_platform import telemetry

_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="session")
def _telemetry_on():
    """OpenTelemetry's SDK with in-memory exporters, installed once: a process has one tracer provider."""
    assert telemetry.configure("test", span_processor=SimpleSpanProcessor(_SPANS), metric_reader=_METRICS)


@pytest.fixture
def spans(_telemetry_on) -> InMemorySpanExporter:
    _SPANS.clear()
    return _SPANS


@pytest.fixture
def metric_reader(_telemetry_on) -> InMemoryMetricReader:
    _METRICS.get_metrics_data()  # drops what earlier tests recorded (cumulative points stay; tests compare deltas)
    return _METRICS

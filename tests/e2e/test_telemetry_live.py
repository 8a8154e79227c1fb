"""OpenTelemetry across live processes: a gateway and a worker export over OTLP/HTTP to a receiver this
test runs on 127.0.0.1, and one chat call is one trace crossing the process boundary through Celery."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import LiveStack, consuming_worker, wait_for, worker_args

pytestmark = pytest.mark.e2e


class Received:
    """What the receiver was sent: spans by service name, and metric names."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[tuple[str, object]] = []
        self.metrics: set[str] = set()

    def service_spans(self, service: str) -> list:
        with self.lock:
            return [span for name, span in self.spans if name == service]


def _service_name(resource) -> str:
    return next((a.value.string_value for a in resource.attributes if a.key == "service.name"), "")


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class OtlpHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                with received.lock:
                    for resource_spans in request.resource_spans:
                        service = _service_name(resource_spans.resource)
                        for scope in resource_spans.scope_spans:
                            received.spans += [(service, span) for span in scope.spans]
            elif self.path == "/v1/metrics":
                request = ExportMetricsServiceRequest.FromString(body)
                with received.lock:
                    for resource_metrics in request.resource_metrics:
                        for scope in resource_metrics.scope_metrics:
                            received.metrics |= {metric.name for metric in scope.metrics}
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OtlpHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


@pytest.fixture(scope="module")
def stack_env(receiver) -> dict[str, str]:
    endpoint, _ = receiver
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
    }


def test_one_call_is_one_trace_from_the_gateway_through_the_queue_to_the_worker(
    services_stack: LiveStack, sandbox_worker, receiver
):
    _, received = receiver
    client = openai.OpenAI(base_url=services_stack.base_url + "/v1", api_key=services_stack.demo["api_key"], timeout=60)

    reply = client.chat.completions.create(
        model=services_stack.demo["model"], messages=[{"role": "user", "content": "follow me"}]
    )

    assert reply.choices[0].message.content
    gateway = wait_for(
        lambda: [s for s in received.service_spans("genai-platform-gateway") if s.name.startswith("chat ")],
        timeout=30,
        what="the gateway's chat span",
    )[0]
    trace_id = gateway.trace_id
    worker = wait_for(
        lambda: [s for s in received.service_spans("genai-platform-worker") if s.trace_id == trace_id],
        timeout=30,
        what="the worker's spans in the same trace",
    )
    provider_call = next(s for s in worker if s.name.startswith("chat "))
    attributes = {a.key: a.value for a in provider_call.attributes}
    assert attributes["gen_ai.provider.name"].string_value == "genai_platform.sandbox"
    assert attributes["gen_ai.usage.output_tokens"].int_value > 0
    # The worker's spans hang under the gateway's: the Celery publish carried the context.
    gateway_ids = {s.span_id for s in received.service_spans("genai-platform-gateway") if s.trace_id == trace_id}
    assert any(s.parent_span_id in gateway_ids for s in worker)
    wait_for(lambda: "gen_ai.client.token.usage" in received.metrics, timeout=30, what="the GenAI metrics")
    assert {"gen_ai.client.operation.duration"} <= received.metrics


def scrape(stack: LiveStack) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(stack.base_url + "/metrics", timeout=30).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_show_queue_depth_without_workers_and_busy_slots_with_one(services_stack: LiveStack):
    key, model = services_stack.demo["api_key"], services_stack.demo["model"]

    def call() -> None:
        httpx.post(
            services_stack.base_url + "/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "queued"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )

    waiting = threading.Thread(target=call)
    waiting.start()
    depth = frozenset({"queue": "provider.sandbox"}.items())
    wait_for(
        lambda: scrape(services_stack).get(("genai_queue_depth", depth), 0) >= 1, timeout=60, what="a queued invocation"
    )
    log = services_stack.logs / "saturation-worker.log"
    with consuming_worker(worker_args("saturation"), services_stack.env, log):
        waiting.join(timeout=60)
        slots = wait_for(
            lambda: [v for (name, _), v in scrape(services_stack).items() if name == "genai_worker_slots"],
            what="the worker's load report",
        )
    assert slots[0] >= 1
    assert scrape(services_stack)[("genai_queue_depth", depth)] == 0

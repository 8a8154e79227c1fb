"""Traces and metrics in OpenTelemetry's GenAI conventions, recorded in-process with in-memory exporters."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from opentelemetry.trace import SpanKind

from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key
from tests.streaming import streamed_body

pytestmark = pytest.mark.django_db


def chat(alias: str, key: str, **extra):
    body = {"model": alias, "messages": [{"role": "user", "content": "trace me"}], **extra}
    return Client().post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def histogram_points(reader, name: str, alias: str) -> list:
    points = []
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points += [p for p in metric.data.data_points if p.attributes.get("gen_ai.request.model") == alias]
    return points


def test_a_chat_call_is_one_trace_from_the_gateway_to_the_provider_call_with_genai_attributes(spans, metric_reader):
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="traced-chat")]))[1]

    response = chat("traced-chat", key)

    assert response.status_code == 200
    finished = spans.get_finished_spans()
    gateway = next(s for s in finished if s.name == "chat traced-chat")
    provider = next(s for s in finished if s.kind == SpanKind.CLIENT and s.name.startswith("chat "))
    assert {s.context.trace_id for s in finished} == {gateway.context.trace_id}
    assert gateway.kind == SpanKind.SERVER
    assert gateway.attributes["gen_ai.operation.name"] == "chat"
    assert gateway.attributes["gen_ai.request.model"] == "traced-chat"
    assert gateway.attributes["gen_ai.provider.name"] == "genai_platform.sandbox"
    assert gateway.attributes["gen_ai.usage.input_tokens"] == response.json()["usage"]["prompt_tokens"]
    assert gateway.attributes["gen_ai.usage.output_tokens"] == response.json()["usage"]["completion_tokens"]
    assert gateway.attributes["genai_platform.request_id"] == response["x-request-id"]
    assert provider.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert {"guardrails.input", "admission", "guardrails.output"} <= {s.name for s in finished}
    assert all(s.parent is not None for s in finished if s is not gateway)


def test_no_prompt_or_answer_text_is_put_on_any_span(spans):
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="quiet-chat")]))[1]

    chat("quiet-chat", key)

    recorded = json.dumps([dict(s.attributes) for s in spans.get_finished_spans()], default=str)
    assert "trace me" not in recorded


def test_a_failed_call_is_an_error_span_with_its_error_type_on_both_sides(spans):
    failing = DeploymentFactory(options={"fail_with": "bad_request"})
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="failing-chat", deployments=[failing])]))[1]

    response = chat("failing-chat", key)

    assert response.status_code == 400
    [gateway] = [s for s in spans.get_finished_spans() if s.name == "chat failing-chat"]
    [provider] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert gateway.status.status_code.name == provider.status.status_code.name == "ERROR"
    assert provider.attributes["error.type"] == "bad_request"
    assert gateway.attributes["error.type"]


def test_the_genai_metrics_count_tokens_duration_and_time_to_first_chunk(spans, metric_reader):
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="metered-chat")]))[1]

    whole = chat("metered-chat", key)
    streamed = streamed_body(chat("metered-chat", key, stream=True))

    assert whole.status_code == 200 and b"[DONE]" in streamed
    tokens = histogram_points(metric_reader, "gen_ai.client.token.usage", "metered-chat")
    assert {p.attributes["gen_ai.token.type"] for p in tokens} == {"input", "output"}
    assert (
        sum(p.count for p in histogram_points(metric_reader, "gen_ai.client.operation.duration", "metered-chat")) == 2
    )
    [first_chunk] = histogram_points(metric_reader, "gen_ai.client.operation.time_to_first_chunk", "metered-chat")
    assert first_chunk.count == 1
    stream_span = [s for s in spans.get_finished_spans() if s.name == "chat metered-chat"][-1]
    assert stream_span.attributes["gen_ai.response.time_to_first_chunk"] > 0

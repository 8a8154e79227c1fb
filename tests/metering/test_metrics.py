"""GET /metrics: Prometheus counters for calls, tokens, cost and latency, and breaker states."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from genai_platform.router.health import health_store
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key
from tests.streaming import streamed_body

pytestmark = pytest.mark.django_db
CLIENT = Client()


def samples() -> dict[tuple[str, frozenset], float]:
    response = CLIENT.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_a_call_is_counted_with_its_tokens_cost_and_latency():
    deployment = DeploymentFactory(name="counted")
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="m", deployments=[deployment])]))[1]
    request = {"endpoint": "chat", "provider": "sandbox", "deployment": "counted", "status": "success"}
    before = samples().get(("genai_requests_total", frozenset(request.items())), 0)

    body = {"model": "m", "messages": [{"role": "user", "content": "count"}]}
    usage = CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()["usage"]

    after = samples()
    assert after[("genai_requests_total", frozenset(request.items()))] == before + 1
    input_labels = frozenset({"provider": "sandbox", "deployment": "counted", "direction": "input"}.items())
    assert after[("genai_tokens_total", input_labels)] >= usage["prompt_tokens"]
    assert after[("genai_cost_usd_total", frozenset({"provider": "sandbox", "deployment": "counted"}.items()))] > 0
    latency = frozenset({"endpoint": "chat", "provider": "sandbox", "status": "success"}.items())
    assert after[("genai_request_latency_seconds_count", latency)] >= 1


def test_breaker_states_are_exported_per_deployment(settings):
    settings.ROUTER_BREAKER_FAILURES = 1
    DeploymentFactory(name="tripped")
    DeploymentFactory(name="fine")
    health_store().record_failure("tripped")

    exported = samples()

    assert exported[("genai_breaker_state", frozenset({"deployment": "tripped"}.items()))] == 2
    assert exported[("genai_breaker_state", frozenset({"deployment": "fine"}.items()))] == 0


def test_a_scrape_token_when_configured_is_required(settings):
    settings.METRICS_TOKEN = "scrape-secret"

    assert CLIENT.get("/metrics").status_code == 401
    assert CLIENT.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def chat(key: str, model: str, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "count"}], **extra}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_failed_calls_are_counted_by_error_code():
    failing = DeploymentFactory(name="failing", options={"fail_with": "content_filtered"})
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="f", deployments=[failing])]))[1]
    labels = frozenset({"endpoint": "chat", "code": "content_filtered"}.items())
    before = samples().get(("genai_errors_total", labels), 0)

    response = chat(key, "f")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "content_filtered"
    assert samples()[("genai_errors_total", labels)] == before + 1


def test_the_genai_client_metrics_are_exported_under_their_prometheus_names():
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="genai-named")]))[1]

    chat(key, "genai-named")
    streamed_body(chat(key, "genai-named", stream=True))

    exported = samples()
    common = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "genai_platform.sandbox"}
    common["gen_ai_request_model"] = "genai-named"
    output = frozenset({**common, "gen_ai_token_type": "output"}.items())
    assert exported[("gen_ai_client_token_usage_count", output)] == 2
    duration = frozenset({**common, "error_type": ""}.items())
    assert exported[("gen_ai_client_operation_duration_seconds_count", duration)] == 2
    first_chunk = frozenset(common.items())
    assert exported[("gen_ai_client_operation_time_to_first_chunk_seconds_count", first_chunk)] == 1

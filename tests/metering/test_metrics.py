"""GET /metrics: Prometheus counters for calls, tokens, cost and latency, and breaker states."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from genai_platform.router.health import health_store
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key

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
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()["usage"]  # fmt: skip

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

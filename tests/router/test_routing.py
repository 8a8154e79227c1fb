"""Routing through the gateway: strategies, retries, breakers and the deadline (eager worker, real Redis)."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
from django.test import Client

from genai_platform.router.health import CLOSED, HALF_OPEN, OPEN, health_store
from model_catalog.models import Alias
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key

pytestmark = pytest.mark.django_db


def key_for(alias: Alias) -> str:
    return issue_key(UseCaseFactory(aliases=[alias]))[1]


#: One client for the module: each new Client builds the middleware stack again, static-file scan included.
CLIENT = Client()


def call(key: str, model: str, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "route me"}], **extra}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def routed(alias_name: str, strategy: str, deployments, weights=None) -> str:
    alias = AliasFactory(name=alias_name, strategy=strategy, deployments=deployments)
    for route, weight in zip(alias.routes.order_by("priority"), weights or [], strict=False):
        route.weight = weight
        route.save()
    return key_for(alias)


def test_a_weighted_alias_splits_traffic_by_weight_within_tolerance():
    heavy, light = DeploymentFactory(), DeploymentFactory()
    key = routed("split", "weighted", [heavy, light], weights=[3, 1])

    served = Counter(call(key, "split")["x-genai-deployment"] for _ in range(400))

    share = served[heavy.name] / 400
    assert 0.68 <= share <= 0.82  # 0.75 expected; binomial sd at n=400 is about 0.022


def test_lowest_cost_picks_the_cheapest_eligible_deployment():
    pricey = DeploymentFactory(input_price_per_million=Decimal("10"), output_price_per_million=Decimal("30"))
    cheap = DeploymentFactory(input_price_per_million=Decimal("0.1"), output_price_per_million=Decimal("0.4"))
    cheapest_but_retired = DeploymentFactory(input_price_per_million=Decimal("0"), lifecycle="retired")
    key = routed("thrifty", "lowest_cost", [pricey, cheap, cheapest_but_retired])

    assert {call(key, "thrifty")["x-genai-deployment"] for _ in range(5)} == {cheap.name}


def test_lowest_cost_falls_back_to_the_next_cheapest_when_the_cheapest_fails():
    cheap_broken = DeploymentFactory(input_price_per_million=Decimal("0.1"), options={"fail_with": "unavailable"})
    middle = DeploymentFactory(input_price_per_million=Decimal("1"))
    dear = DeploymentFactory(input_price_per_million=Decimal("5"))
    key = routed("thrifty", "lowest_cost", [dear, middle, cheap_broken])

    response = call(key, "thrifty")

    assert response["x-genai-deployment"] == middle.name
    assert response["x-genai-attempts"] == "2"


def test_lowest_latency_prefers_the_deployment_observed_to_be_fastest():
    slow, fast = DeploymentFactory(options={"latency_ms": 40}), DeploymentFactory()
    key = routed("quick", "lowest_latency", [slow, fast])
    # Unmeasured deployments are tried first so both get measured; after that the fastest wins.
    for _ in range(2):
        call(key, "quick")

    assert {call(key, "quick")["x-genai-deployment"] for _ in range(5)} == {fast.name}


def test_the_breaker_opens_after_consecutive_failures_and_traffic_skips_the_deployment(settings):
    settings.ROUTER_BREAKER_FAILURES = 3
    broken, healthy = DeploymentFactory(options={"fail_with": "unavailable"}), DeploymentFactory()
    key = routed("guarded", "priority", [broken, healthy])

    attempts = [call(key, "guarded")["x-genai-attempts"] for _ in range(5)]

    assert attempts == ["2", "2", "2", "1", "1"]
    assert health_store().snapshot([broken.name])[broken.name].breaker == OPEN


def test_after_the_cooldown_one_probe_is_let_through_and_its_failure_reopens_the_breaker(settings):
    settings.ROUTER_BREAKER_FAILURES = 1
    settings.ROUTER_BREAKER_COOLDOWN_SECONDS = 0
    broken, healthy = DeploymentFactory(options={"fail_with": "unavailable"}), DeploymentFactory()
    key = routed("guarded", "priority", [broken, healthy])
    call(key, "guarded")
    store = health_store()
    assert store.snapshot([broken.name])[broken.name].breaker == HALF_OPEN  # cooldown of 0 has passed

    probe = call(key, "guarded")

    assert probe["x-genai-attempts"] == "2"  # the probe went to the broken deployment first
    assert store.snapshot([healthy.name])[healthy.name].breaker == CLOSED


def test_a_successful_probe_closes_the_breaker(settings):
    settings.ROUTER_BREAKER_FAILURES = 1
    settings.ROUTER_BREAKER_COOLDOWN_SECONDS = 0
    deployment = DeploymentFactory()
    store = health_store()
    store.record_failure(deployment.name)
    key = routed("recovering", "priority", [deployment])

    assert call(key, "recovering").status_code == 200
    assert store.snapshot([deployment.name])[deployment.name].breaker == CLOSED


def test_when_every_breaker_is_open_the_gateway_fails_fast_with_503(settings):
    settings.ROUTER_BREAKER_FAILURES = 1
    deployment = DeploymentFactory()
    health_store().record_failure(deployment.name)
    key = routed("down", "priority", [deployment])

    response = call(key, "down")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response["x-genai-attempts"] == "0"


def test_retries_back_off_and_stop_at_the_attempt_limit(settings):
    settings.ROUTER_MAX_ATTEMPTS = 3
    settings.ROUTER_BACKOFF_BASE_SECONDS = 0.01
    settings.ROUTER_BREAKER_FAILURES = 100
    only = DeploymentFactory(options={"fail_with": "unavailable"})
    key = routed("flaky", "priority", [only])

    response = call(key, "flaky")

    assert response.status_code == 503
    assert response["x-genai-attempts"] == "3"


def test_a_short_retry_after_is_honoured_and_a_long_one_is_passed_to_the_client(settings):
    settings.ROUTER_MAX_RETRY_WAIT_SECONDS = 1
    settings.ROUTER_BREAKER_FAILURES = 100
    short = DeploymentFactory(options={"fail_with": "throttled", "retry_after": 0.05})
    long = DeploymentFactory(options={"fail_with": "throttled", "retry_after": 30})
    short_key, long_key = routed("short", "priority", [short]), routed("long", "priority", [long])

    assert call(short_key, "short")["x-genai-attempts"] == "3"
    passed_on = call(long_key, "long")
    assert passed_on["x-genai-attempts"] == "1"
    assert passed_on["Retry-After"] == "30"

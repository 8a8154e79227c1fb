"""A gateway process reads deployment health from Redis at most once per freshness window
(`ROUTER_HEALTH_FRESHNESS_SECONDS`): a breaker another process opened is skipped here within that
window, what this process records itself counts at once, and a cooldown ends on time even in a
copy read earlier (real Redis; time is a test clock, never a sleep)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from genai_platform.router.health import CLOSED, HALF_OPEN, OPEN, RedisHealthStore
from genai_platform.router.strategies import plan_attempts
from model_catalog.selectors import DeploymentTarget

FRESHNESS = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def target(priority: int) -> DeploymentTarget:
    return DeploymentTarget(
        deployment=f"health-{uuid.uuid4().hex[:12]}",
        provider="sandbox",
        provider_model_id="sandbox-model",
        region="",
        endpoint="",
        credentials_ref={},
        options={},
        timeout_seconds=30,
        input_price_per_million=Decimal(1),
        output_price_per_million=Decimal(1),
        lifecycle="ga",
        replacement="",
        context_window=8_192,
        max_output_tokens=1_024,
        supports_chat=True,
        supports_embeddings=False,
        supports_streaming=True,
        priority=priority,
    )


@pytest.fixture(autouse=True)
def _one_failure_opens(settings):
    settings.ROUTER_BREAKER_FAILURES = 1
    settings.ROUTER_BREAKER_COOLDOWN_SECONDS = 30


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def gateway(clock):
    """This gateway process's store."""
    return RedisHealthStore(django_settings.REDIS_URL, freshness_seconds=FRESHNESS, clock=clock)


@pytest.fixture
def elsewhere():
    """The store of another process (a worker that saw the provider fail)."""
    return RedisHealthStore(django_settings.REDIS_URL, freshness_seconds=0)


def test_plans_within_the_freshness_window_reuse_one_read(gateway, round_trips):
    targets = [target(1), target(2)]
    plan_attempts("priority", targets, store=gateway)
    round_trips.clear()

    plans = [plan_attempts("priority", targets, store=gateway) for _ in range(5)]

    assert plans == [targets] * 5
    assert round_trips == []


def test_a_breaker_opened_elsewhere_is_skipped_once_the_window_has_passed(gateway, elsewhere, clock):
    broken, healthy = target(1), target(2)
    assert plan_attempts("priority", [broken, healthy], store=gateway) == [broken, healthy]

    elsewhere.record_failure(broken.deployment)
    clock.now += FRESHNESS / 2
    assert plan_attempts("priority", [broken, healthy], store=gateway) == [broken, healthy]  # not seen yet
    clock.now += FRESHNESS / 2

    assert plan_attempts("priority", [broken, healthy], store=gateway) == [healthy]


def test_a_failure_this_process_records_counts_at_once(gateway):
    broken, healthy = target(1), target(2)
    plan_attempts("priority", [broken, healthy], store=gateway)

    gateway.record_failure(broken.deployment)

    assert plan_attempts("priority", [broken, healthy], store=gateway) == [healthy]


def test_a_success_this_process_records_closes_the_breaker_at_once(gateway):
    deployment = target(1).deployment
    gateway.record_failure(deployment)
    assert gateway.snapshot([deployment])[deployment].breaker == OPEN

    gateway.record_success(deployment, latency_ms=12.0)

    health = gateway.snapshot([deployment])[deployment]
    assert (health.breaker, health.latency_ms) == (CLOSED, 12.0)


def test_the_cooldown_ends_on_time_in_a_copy_read_before(gateway, settings):
    deployment = target(1).deployment
    gateway.record_failure(deployment)
    assert gateway.snapshot([deployment])[deployment].breaker == OPEN

    settings.ROUTER_BREAKER_COOLDOWN_SECONDS = 0  # as if the cooldown had passed since the read

    assert gateway.snapshot([deployment])[deployment].breaker == HALF_OPEN


def test_a_deployment_not_read_yet_is_read_even_when_the_others_are_fresh(gateway, elsewhere):
    known, new = target(1), target(2)
    plan_attempts("priority", [known], store=gateway)
    elsewhere.record_failure(new.deployment)

    assert plan_attempts("priority", [known, new], store=gateway) == [known]


def test_a_freshness_of_zero_reads_on_every_call(elsewhere, settings):
    settings.ROUTER_HEALTH_FRESHNESS_SECONDS = 0
    every_call = RedisHealthStore(django_settings.REDIS_URL)
    deployment = target(1).deployment
    assert every_call.snapshot([deployment])[deployment].breaker == CLOSED

    elsewhere.record_failure(deployment)

    assert every_call.snapshot([deployment])[deployment].breaker == OPEN

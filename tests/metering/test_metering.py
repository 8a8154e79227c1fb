"""Metering on the request path: one usage record per call, budgets reserved before the call,
rate limits with OpenAI's headers, threshold alerts once each (eager worker, real Redis)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client, TestCase

from genai_platform.ledger.services import usage_flush
from genai_platform.metering import services
from genai_platform.metering.ledger import usage_buffer
from genai_platform.metering.limits import limit_store
from genai_platform.metering.models import BudgetAlert, UsageRecord
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key
from tests.streaming import reading, streamed_body

pytestmark = pytest.mark.django_db
CLIENT = Client()


def budget_set(**fields):
    """Limits are cached and invalidated after commit: run the commit hooks as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.budget_set(**fields)


def rate_limit_set(**fields):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.rate_limit_set(**fields)


def call(key: str, model: str = "metered", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "count me"}], **extra}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def flush() -> list[UsageRecord]:
    usage_flush(consumer="test")
    return list(UsageRecord.objects.order_by("id"))


@pytest.fixture
def use_case():
    healthy = DeploymentFactory(input_price_per_million=Decimal("1"), output_price_per_million=Decimal("2"))
    broken = DeploymentFactory(options={"fail_with": "unavailable"})
    return UseCaseFactory(
        aliases=[AliasFactory(name="metered", deployments=[healthy]), AliasFactory(name="broken", deployments=[broken])]
    )


@pytest.fixture
def key(use_case):
    return issue_key(use_case)[1]


def test_a_successful_call_is_recorded_once_with_tokens_prices_and_cost(key, use_case):
    response = call(key, user="customer-7")

    [record] = flush()
    usage = response.json()["usage"]
    assert record.request_id == response["x-request-id"]
    assert record.status == "success"
    assert (record.lob_id, record.use_case_id) == (use_case.lob_id, use_case.pk)
    assert record.end_user == "customer-7"
    assert (record.input_tokens, record.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert record.input_price_per_million == Decimal("1") and record.output_price_per_million == Decimal("2")
    assert record.cost == (Decimal(usage["prompt_tokens"]) * 1 + Decimal(usage["completion_tokens"]) * 2) / 1_000_000
    assert Decimal(response["x-genai-cost-usd"]) == record.cost.quantize(Decimal("0.00000001"))


def test_a_provider_failure_is_recorded_at_no_cost(key):
    call(key, "broken")

    [record] = flush()
    assert record.status == "provider_error"
    assert record.error_code == "unavailable"
    assert record.cost == 0


def test_a_streamed_call_is_recorded_when_the_stream_ends(key):
    response = call(key, stream=True)
    streamed_body(response)

    [record] = flush()
    assert record.status == "success" and record.stream
    assert record.output_tokens > 0 and not record.tokens_estimated


@pytest.mark.django_db(transaction=True)
def test_a_stream_the_client_abandons_is_recorded_as_cancelled_with_estimated_tokens(key):
    response = call(key, stream=True)

    async def two_frames(frames):
        return [await anext(frames), await anext(frames)]

    reading(response, two_frames)  # then the stream is closed unread, as when the client goes away

    [record] = flush()
    assert record.status == "cancelled"
    assert record.tokens_estimated


def test_flushing_twice_or_replaying_the_buffer_never_counts_a_call_twice(key):
    call(key)
    buffer = usage_buffer()
    [(entry_id, event)] = buffer.read_batch(consumer="crashed", count=10, claim_idle_ms=60_000)
    buffer.append(event)  # a replay of the same request

    usage_flush(consumer="test")
    buffer.acknowledge([entry_id])  # too late: the flusher already took it over

    assert UsageRecord.objects.count() == 1


def test_rate_limited_calls_get_429_with_retry_after_and_are_recorded(key, use_case):
    rate_limit_set(use_case=use_case, requests_per_minute=2)

    statuses = [call(key).status_code for _ in range(3)]
    refused = call(key)

    assert statuses == [200, 200, 429]
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused["Retry-After"]) <= 61  # a sliding window: until the oldest call is 61 s old
    assert [r.status for r in flush()].count("rate_limited") == 2


def test_successful_calls_carry_openai_rate_limit_headers_for_the_tightest_scope(key, use_case):
    rate_limit_set(use_case=use_case, requests_per_minute=100, tokens_per_minute=10_000)
    rate_limit_set(lob=use_case.lob, requests_per_minute=5)

    response = call(key)

    assert response["x-ratelimit-limit-requests"] == "5"
    assert response["x-ratelimit-remaining-requests"] == "4"
    assert response["x-ratelimit-limit-tokens"] == "10000"
    assert int(response["x-ratelimit-remaining-tokens"]) < 10_000


def test_a_tokens_per_minute_limit_refuses_a_request_that_would_exceed_it(key, use_case):
    rate_limit_set(api_key=use_case.api_keys.get(), tokens_per_minute=50)

    assert call(key, max_tokens=10).status_code == 200
    assert call(key, max_tokens=100).status_code == 429


def test_a_budget_refuses_a_call_whose_worst_case_cost_does_not_fit(key, use_case):
    # The worst case is the prompt plus max_tokens at 2 USD per million output tokens.
    budget_set(use_case=use_case, monthly_limit_usd=Decimal("0.001"))

    refused = call(key, max_tokens=1000)  # could cost 0.002 USD
    allowed = call(key, max_tokens=100)  # at most 0.0002 USD

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert allowed.status_code == 200
    assert [r.status for r in flush()] == ["budget_exceeded", "success"]


def test_without_max_tokens_the_reservation_assumes_the_models_longest_answer(key, use_case):
    budget_set(use_case=use_case, monthly_limit_usd=Decimal("0.005"))  # 4,096 tokens at 2 USD/M = 0.008

    assert call(key).json()["error"]["code"] == "budget_exceeded"


def test_settling_returns_the_unused_reservation_to_the_budget(key, use_case):
    budget_set(use_case=use_case, monthly_limit_usd=Decimal("0.005"))

    # Each call reserves ~0.002 USD but spends ~0.00003: many more than two fit.
    assert all(call(key, max_tokens=1000).status_code == 200 for _ in range(10))


def test_budget_counters_lost_with_redis_are_rebuilt_from_the_ledger(key, use_case):
    budget_set(use_case=use_case, monthly_limit_usd=Decimal("0.003"))
    call(key, max_tokens=1000)
    spent = sum(r.cost for r in flush())
    limit_store().forget_budgets()  # what a Redis flush does to the counters

    budget_set(use_case=use_case, monthly_limit_usd=(spent + Decimal("0.0019")).quantize(Decimal("0.000001")))

    assert call(key, max_tokens=1000).status_code == 429  # the rebuilt counter remembers what was spent


def test_threshold_alerts_are_emailed_once_each(key, use_case):
    budget_set(
        use_case=use_case,
        monthly_limit_usd=Decimal("0.0001"),
        hard_limit=False,
        thresholds=[50, 100],
        notify_emails="owner@example.com",
    )

    for _ in range(6):
        assert call(key).status_code == 200  # a soft budget only notifies

    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 100]
    assert len(mail.outbox) == 2
    assert "50%" in mail.outbox[0].subject and mail.outbox[0].to == ["owner@example.com"]

"""Rate limits are sliding 60-second windows, not clock minutes, with OpenAI's x-ratelimit-* headers
on every answer (429s too); a budget refusal says when the budget resets and prints its money exactly.

The windows are Redis hashes of one-second buckets: tests place calls in the past by writing
buckets, rather than sleeping across a minute boundary.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client, TestCase

from genai_platform.metering import services
from genai_platform.metering.limits import (
    LimitExceeded,
    LimitPolicy,
    LocalLimitStore,
    RateScope,
    RedisLimitStore,
    _rate_keys,
    format_usd,
    seconds_until_next_month,
)
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key

pytestmark = pytest.mark.django_db
CLIENT = Client()
SCOPE = RateScope(name="use_case", id=424242, requests_per_minute=30, tokens_per_minute=None)
POLICY = LimitPolicy(rates=(SCOPE,))


def no_budgets(*_args):
    raise AssertionError("no budget applies")


@pytest.fixture
def store():
    return RedisLimitStore(django_settings.REDIS_URL)


@pytest.fixture
def raw_redis():
    return redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)


def calls_made(raw_redis, seconds_ago: int, count: int, scope: RateScope = SCOPE) -> None:
    """`count` calls admitted `seconds_ago` seconds ago, as admission would have counted them."""
    now = int(raw_redis.time()[0])
    requests, tokens = _rate_keys(scope)
    raw_redis.hincrby(requests, str(now - seconds_ago), count)
    raw_redis.hincrby(tokens, str(now - seconds_ago), 0)


def test_calls_made_one_second_before_a_new_minute_still_count_after_it(store, raw_redis):
    # The clock-minute limiter let 60 calls through in 2.5 s across a boundary (issue 16).
    calls_made(raw_redis, seconds_ago=1, count=30)

    with pytest.raises(LimitExceeded) as refused:
        store.admit(POLICY, tokens=1, reserve_nanos=0, rebuild=no_budgets)

    assert refused.value.code == "rate_limit_exceeded"
    assert 59 <= refused.value.retry_after <= 61


def test_calls_older_than_the_window_no_longer_count(store, raw_redis):
    calls_made(raw_redis, seconds_ago=62, count=30)

    admission = store.admit(POLICY, tokens=1, reserve_nanos=0, rebuild=no_budgets)

    assert admission.rate_headers["x-ratelimit-remaining-requests"] == "29"


def test_retry_after_is_when_enough_old_calls_leave_the_window(store, raw_redis):
    calls_made(raw_redis, seconds_ago=50, count=10)
    calls_made(raw_redis, seconds_ago=5, count=20)

    with pytest.raises(LimitExceeded) as refused:
        store.admit(POLICY, tokens=1, reserve_nanos=0, rebuild=no_budgets)

    # The ten calls of 50 s ago leave the window 11 s from now (61 s after their second began).
    assert 10 <= refused.value.retry_after <= 12
    headers = refused.value.headers
    assert headers["Retry-After"] == str(refused.value.retry_after)
    assert headers["x-ratelimit-limit-requests"] == "30"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")


def test_no_more_than_the_limit_is_admitted_in_a_burst(store):
    admitted = 0
    for _ in range(45):
        try:
            store.admit(POLICY, tokens=1, reserve_nanos=0, rebuild=no_budgets)
            admitted += 1
        except LimitExceeded:
            pass

    assert admitted == 30


def test_tokens_are_a_sliding_window_too_and_settlement_corrects_the_admitting_second(store):
    scope = RateScope(name="key", id=77, requests_per_minute=None, tokens_per_minute=100)
    policy = LimitPolicy(rates=(scope,))
    admission = store.admit(policy, tokens=90, reserve_nanos=0, rebuild=no_budgets)
    store.settle(policy, admission, actual_tokens=20, actual_nanos=0)

    second = store.admit(policy, tokens=70, reserve_nanos=0, rebuild=no_budgets)

    assert second.rate_headers["x-ratelimit-remaining-tokens"] == "10"
    with pytest.raises(LimitExceeded):
        store.admit(policy, tokens=11, reserve_nanos=0, rebuild=no_budgets)


def test_the_embedded_store_keeps_the_same_sliding_window(monkeypatch):
    store = LocalLimitStore()
    clock = [1_800_000_059.5]  # half a second before a clock minute ends
    monkeypatch.setattr(time, "time", lambda: clock[0])
    for _ in range(30):
        store.admit(POLICY, tokens=1, reserve_nanos=0, rebuild=no_budgets)

    clock[0] += 1.0  # the next clock minute
    with pytest.raises(LimitExceeded) as refused:
        store.admit(POLICY, tokens=1, reserve_nanos=0, rebuild=no_budgets)
    assert refused.value.retry_after == 60

    clock[0] += 60.0  # 61 s after the burst's second began
    assert (
        store.admit(POLICY, tokens=1, reserve_nanos=0, rebuild=no_budgets).rate_headers[
            "x-ratelimit-remaining-requests"
        ]
        == "29"
    )


@pytest.mark.parametrize(
    ("nanos", "printed"),
    [(587_000, "0.000587 USD"), (12_500_000_000, "12.50 USD"), (0, "0.00 USD"), (1, "0.000000001 USD")],
)
def test_money_is_printed_with_the_precision_it_has(nanos, printed):
    assert format_usd(nanos) == printed


def test_a_budget_resets_at_midnight_of_the_first_in_the_metering_time_zone(settings):
    settings.METERING_TIMEZONE = "Europe/Paris"
    # 22:00 UTC on 30 November is 23:00 in Paris: one hour to December.
    assert seconds_until_next_month(dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)) == 3600
    assert seconds_until_next_month(dt.datetime(2026, 12, 31, 22, 59, 30, tzinfo=dt.UTC)) == 30


# ---- over HTTP ----


def call(key: str, **extra):
    body = {"model": "metered", "messages": [{"role": "user", "content": "count me"}], **extra}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture
def use_case():
    deployment = DeploymentFactory(input_price_per_million=Decimal("1"), output_price_per_million=Decimal("2"))
    return UseCaseFactory(aliases=[AliasFactory(name="metered", deployments=[deployment])])


def test_a_429_carries_the_x_ratelimit_headers_and_retry_after(use_case):
    key = issue_key(use_case)[1]
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.rate_limit_set(use_case=use_case, requests_per_minute=1, tokens_per_minute=100_000)
    assert call(key).status_code == 200

    refused = call(key)

    assert refused.status_code == 429
    assert refused["x-ratelimit-limit-requests"] == "1"
    assert refused["x-ratelimit-remaining-requests"] == "0"
    assert refused["x-ratelimit-limit-tokens"] == "100000"
    assert int(refused["x-ratelimit-remaining-tokens"]) < 100_000
    assert refused["x-ratelimit-reset-requests"].endswith("s")
    assert 59 <= int(refused["Retry-After"]) <= 61


def test_budget_exceeded_says_when_the_budget_resets_and_prints_its_exact_amount(use_case):
    key = issue_key(use_case)[1]
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.budget_set(use_case=use_case, monthly_limit_usd=Decimal("0.000587"))

    refused = call(key, max_tokens=1000)

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert "0.000587 USD" in refused.json()["error"]["message"]
    assert abs(int(refused["Retry-After"]) - seconds_until_next_month()) <= 5

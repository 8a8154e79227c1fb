"""A call's settlement travels with its usage record: one round trip after the reply settles the
reservation and buffers the record (billing first: the record is buffered even when settling
fails), and a Redis that forgot the settlement script still settles (real Redis)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import redis
from django.conf import settings as django_settings

from genai_platform.ledger.services import usage_record
from genai_platform.metering.ledger import usage_buffer
from genai_platform.metering.limits import BudgetScope, LimitPolicy, _budget_key, limit_store, to_nanos
from genai_platform.metering.services import PendingSettlement
from tests.factories import UseCaseFactory, usage_event

pytestmark = pytest.mark.django_db

RESERVED = Decimal("0.01")
SPENT = Decimal("0.002")


@pytest.fixture
def raw_redis():
    return redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)


@pytest.fixture
def policy():
    budget = BudgetScope(
        budget_id=uuid.uuid4().int % 10**9,
        name="use_case",
        id=uuid.uuid4().int % 10**9,
        limit_nanos=10**9,
        hard=True,
        thresholds=(100,),
    )
    return LimitPolicy(budgets=(budget,))


def admitted_call(policy: LimitPolicy) -> PendingSettlement:
    """A call admitted with a reservation of RESERVED that spent SPENT."""
    admission = limit_store().admit(policy, tokens=10, reserve_nanos=to_nanos(RESERVED), rebuild=lambda *_: 0)
    return PendingSettlement(policy, admission, actual_tokens=10, actual_cost=SPENT)


def buffered_ids() -> set[str]:
    return {event["request_id"] for event in usage_buffer().entries()}


def test_settling_and_buffering_a_call_take_one_round_trip(policy, raw_redis, round_trips):
    usage_record(usage_event(UseCaseFactory()), settlement=admitted_call(policy))  # connections and scripts ready
    settlement = admitted_call(policy)
    event = usage_event(UseCaseFactory())
    round_trips.clear()

    usage_record(event, settlement=settlement)

    assert len(round_trips) == 1
    assert event["request_id"] in buffered_ids()
    month = settlement.admission.month
    assert int(raw_redis.get(_budget_key(policy.budgets[0], month))) == to_nanos(SPENT) * 2


def test_the_record_is_buffered_even_when_its_settlement_fails(policy, raw_redis):
    settlement = admitted_call(policy)
    raw_redis.set(_budget_key(policy.budgets[0], settlement.admission.month), "not a number")
    event = usage_event(UseCaseFactory())

    with pytest.raises(redis.ResponseError):
        usage_record(event, settlement=settlement)

    assert event["request_id"] in buffered_ids()


def test_a_redis_that_forgot_the_settlement_script_still_settles(policy, raw_redis):
    settlement = admitted_call(policy)
    raw_redis.script_flush()

    usage_record(usage_event(UseCaseFactory()), settlement=settlement)

    assert int(raw_redis.get(_budget_key(policy.budgets[0], settlement.admission.month))) == to_nanos(SPENT)


def test_a_settlement_the_buffer_cannot_carry_runs_alone(policy, raw_redis, monkeypatch):
    settlement = admitted_call(policy)
    monkeypatch.setattr(limit_store(), "url", "redis://limits.example:6379/0")  # limits kept in another Redis
    event = usage_event(UseCaseFactory())

    usage_record(event, settlement=settlement)

    assert int(raw_redis.get(_budget_key(policy.budgets[0], settlement.admission.month))) == to_nanos(SPENT)
    assert event["request_id"] in buffered_ids()

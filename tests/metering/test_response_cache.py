"""The exact-match response cache: opt-in per use case, never shared across LOBs, still metered."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from genai_platform.ledger.services import usage_flush
from genai_platform.metering.models import UsageRecord
from tests.factories import AliasFactory, DeploymentFactory, LobFactory, UseCaseFactory, issue_key

pytestmark = pytest.mark.django_db
CLIENT = Client()


def call(key: str, content: str = "cache me", **extra):
    body = {"model": "cached", "messages": [{"role": "user", "content": content}], **extra}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture
def alias():
    return AliasFactory(name="cached", deployments=[DeploymentFactory()])


def cached_key(alias, lob=None, ttl=60) -> str:
    use_case = UseCaseFactory(aliases=[alias], response_cache_ttl_seconds=ttl, **({"lob": lob} if lob else {}))
    return issue_key(use_case)[1]


def test_an_identical_request_is_answered_from_the_cache_and_metered_at_no_cost(alias):
    key = cached_key(alias)

    first, second = call(key), call(key)

    assert first["x-genai-cache"] == "miss" and second["x-genai-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    assert second.json()["id"] != first.json()["id"]
    usage_flush(consumer="test")
    hit = UsageRecord.objects.get(request_id=second["x-request-id"])
    assert hit.status == "cache_hit" and hit.cost == 0 and hit.input_tokens > 0


def test_a_different_request_is_not_a_hit(alias):
    key = cached_key(alias)
    call(key)

    assert call(key, content="something else")["x-genai-cache"] == "miss"
    assert call(key, temperature=0.5)["x-genai-cache"] == "miss"


def test_entries_are_never_shared_across_lobs(alias):
    ours, theirs = cached_key(alias, lob=LobFactory()), cached_key(alias, lob=LobFactory())
    call(ours)

    assert call(theirs)["x-genai-cache"] == "miss"


def test_use_cases_that_did_not_opt_in_are_never_cached(alias):
    key = cached_key(alias, ttl=0)

    assert "x-genai-cache" not in call(key)
    assert "x-genai-cache" not in call(key)


def test_streams_are_not_cached(alias):
    key = cached_key(alias)
    call(key)

    assert "x-genai-cache" not in call(key, stream=True)

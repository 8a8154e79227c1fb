"""`POST /v1/vector_stores/{id}/search` as OpenAI specifies it: the official openai SDK against a live
server for results, ranking and filters; the Django test client for the error documents and gates."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from django.test import Client, TestCase

from genai_platform.ledger.services import usage_flush
from genai_platform.metering.models import UsageRecord
from lob_tenants.models import ApiKey, UseCase
from lob_tenants.vector_stores.services import Upload, documents_ingest
from tests.factories import UseCaseFactory, issue_key, vector_store

pytestmark = pytest.mark.usefixtures("vector_db")

#: One chunk each (the default chunk size is 800 characters), so a result is a document.
POLICIES = {
    "refunds": (
        "Refund policy",
        "Customers may return an unopened product within 30 days for a full refund of the price paid.",
        {"team": "billing", "year": 2024, "region": "eu"},
    ),
    "warranty": (
        "Warranty",
        "Every appliance carries a two-year warranty against manufacturing defects.",
        {"team": "support", "year": 2022, "region": "us"},
    ),
    "shipping": (
        "Shipping",
        "Orders ship within two working days, and shipping is free for orders above 50 euros.",
        {"team": "logistics", "year": 2025, "region": "eu"},
    ),
}
#: A question sharing words with every policy, so that only filters decide what comes back.
EVERY_POLICY = "refund warranty shipping policy for products and orders"


def ingest_policies(store) -> None:
    uploads = [
        Upload(external_id=slug, filename=f"{slug}.txt", content=text.encode(), title=title, attributes=attributes)
        for slug, (title, text, attributes) in POLICIES.items()
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):  # tasks run eagerly once the upload commits
        job = documents_ingest(store=store, uploads=uploads, actor=None)
    job.refresh_from_db()
    assert job.status == "succeeded"


@pytest.fixture
def store():
    store = vector_store()
    ingest_policies(store)
    return store


@pytest.fixture
def caller(store) -> UseCase:
    """Another use case of the store's LOB: it searches, the ingestion use case only pays for ingestion."""
    return UseCaseFactory(lob=store.lob)


# ---- through the openai SDK ----


@pytest.fixture
def sdk(live_server, caller) -> Iterator[openai.OpenAI]:
    _, token = issue_key(caller)
    # Closed after the test: the live server's request thread holds a database connection for as
    # long as the client keeps its connection alive.
    with openai.OpenAI(base_url=live_server.url + "/v1", api_key=token, max_retries=0, timeout=30) as client:
        yield client


def search(sdk: openai.OpenAI, store, query: str = EVERY_POLICY, **options):
    return sdk.vector_stores.search(vector_store_id=store.public_id, query=query, **options)


def file_ids(page) -> set[str]:
    return {result.file_id for result in page.data}


def test_results_come_in_openais_page_shape_best_first(sdk, store):
    raw = sdk.vector_stores.with_raw_response.search(
        vector_store_id=store.public_id, query="How long do I have to return a product for a refund?"
    )

    page = raw.parse()
    assert page.object == "vector_store.search_results.page"
    assert json.loads(raw.text)["has_more"] is False
    best = page.data[0]
    assert (best.file_id, best.filename) == ("refunds", "Refund policy")
    assert best.attributes["team"] == "billing" and best.attributes["year"] == 2024
    assert [(c.type, "30 days" in c.text) for c in best.content] == [("text", True)]
    scores = [result.score for result in page.data]
    assert scores == sorted(scores, reverse=True)
    assert all(-1 <= score <= 1 for score in scores)


def test_max_num_results_bounds_how_many_chunks_come_back(sdk, store):
    assert len(search(sdk, store, max_num_results=1).data) == 1
    assert len(search(sdk, store, max_num_results=2).data) == 2
    assert len(search(sdk, store, max_num_results=10).data) == len(POLICIES)


def test_a_score_threshold_leaves_out_weaker_matches(sdk, store):
    query = "full refund of the price paid for an unopened product"
    scores = [result.score for result in search(sdk, store, query).data]
    between = (scores[0] + scores[1]) / 2

    kept = search(sdk, store, query, ranking_options={"score_threshold": between})

    assert [result.file_id for result in kept.data] == ["refunds"]
    assert search(sdk, store, query, ranking_options={"score_threshold": 1.0}).data == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": "eq", "key": "team", "value": "billing"}, {"refunds"}),
        ({"type": "ne", "key": "region", "value": "eu"}, {"warranty"}),
        ({"type": "in", "key": "team", "value": ["support", "logistics"]}, {"warranty", "shipping"}),
        ({"type": "nin", "key": "region", "value": ["eu"]}, {"warranty"}),
        ({"type": "gt", "key": "year", "value": 2023}, {"refunds", "shipping"}),
        ({"type": "lte", "key": "year", "value": 2022}, {"warranty"}),
        (
            {
                "type": "and",
                "filters": [
                    {"type": "eq", "key": "region", "value": "eu"},
                    {"type": "gte", "key": "year", "value": 2025},
                ],
            },
            {"shipping"},
        ),
        (
            {
                "type": "or",
                "filters": [
                    {"type": "eq", "key": "team", "value": "support"},
                    {"type": "lt", "key": "year", "value": 2025},
                ],
            },
            {"refunds", "warranty"},
        ),
        ({"type": "eq", "key": "team", "value": "legal"}, set()),
    ],
    ids=["eq", "ne", "in", "nin", "numeric-gt", "numeric-lte", "and", "or", "no-match"],
)
def test_metadata_filters_choose_which_documents_are_searched(sdk, store, filters, expected):
    page = search(sdk, store, filters=filters, max_num_results=10)

    assert file_ids(page) == expected


def test_the_sdk_raises_its_own_errors_for_bad_input_and_unknown_stores(sdk, store):
    with pytest.raises(openai.BadRequestError) as bad:
        search(sdk, store, max_num_results=0)
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.vector_stores.search(vector_store_id="vs_000000000000000000000000", query="refund")

    assert bad.value.body["param"] == "max_num_results"
    assert unknown.value.body["code"] == "not_found"


def test_the_query_embedding_is_metered_to_the_searching_use_case(sdk, store, caller):
    usage_flush(consumer="test")  # what ingestion embedded, paid by the store's ingestion use case
    already = set(UsageRecord.objects.values_list("pk", flat=True))

    raw = sdk.vector_stores.with_raw_response.search(vector_store_id=store.public_id, query="refund")
    usage_flush(consumer="test")

    [record] = UsageRecord.objects.exclude(pk__in=already)
    assert (record.use_case, record.endpoint, record.alias) == (caller, "embeddings", store.embedding_alias.name)
    assert record.status == UsageRecord.Status.SUCCESS and record.input_tokens > 0
    assert record.request_id.startswith(raw.headers["x-request-id"])


# ---- plain HTTP: errors and gates ----


def post(token: str, store_id: str, body: dict | str):
    return Client().post(
        f"/v1/vector_stores/{store_id}/search",
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def assert_openai_error(response, status: int, **expected) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    for name, value in expected.items():
        assert error[name] == value, error
    return error


@pytest.fixture
def token(caller) -> str:
    return issue_key(caller)[1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": "refund", "filters": {"type": "contains", "key": "team", "value": "bill"}}, "filters"),
        ({"query": "refund", "filters": {"type": "eq", "value": "billing"}}, "filters"),
        ({"query": "refund", "filters": {"type": "and", "filters": []}}, "filters"),
        ({"query": "refund", "filters": {"type": "in", "key": "year", "value": 2024}}, "filters"),
        ({"query": "refund", "filters": {"type": "nin", "key": "team", "value": "billing"}}, "filters"),
        ({"query": "refund", "filters": {"type": "gt", "key": "year", "value": [2023]}}, "filters"),
        ({"query": "refund", "max_num_results": 0}, "max_num_results"),
        ({"query": "refund", "max_num_results": 51}, "max_num_results"),
        ({"query": "refund", "ranking_options": {"score_threshold": 2}}, "ranking_options.score_threshold"),
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"max_num_results": 3}, "query"),
        ({"query": "refund", "top_k": 3}, "top_k"),
    ],
    ids=[
        "unknown-filter-type",
        "filter-without-key",
        "empty-compound",
        "in-without-a-list",
        "nin-without-a-list",
        "gt-with-a-list",
        "zero-results",
        "too-many-results",
        "threshold-out-of-range",
        "empty-query",
        "blank-query",
        "no-query",
        "unknown-parameter",
    ],
)
def test_bad_input_is_a_400_openai_error_naming_the_parameter(token, store, body, param):
    error = assert_openai_error(post(token, store.public_id, body), 400, type="invalid_request_error")

    assert error["param"].startswith(param), error


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_a_400(token, store):
    assert_openai_error(post(token, store.public_id, "query=refund"), 400, code="invalid_json")


@pytest.mark.django_db
def test_an_unknown_store_is_a_404(token):
    assert_openai_error(
        post(token, "vs_nosuchstore", {"query": "refund"}), 404, type="not_found_error", code="not_found"
    )


@pytest.mark.django_db
def test_search_needs_an_api_key(store):
    response = Client().post(
        f"/v1/vector_stores/{store.public_id}/search", json.dumps({"query": "refund"}), content_type="application/json"
    )

    assert_openai_error(response, 401, code="missing_api_key")


@pytest.mark.django_db
def test_a_sandbox_key_of_a_use_case_not_yet_approved_can_search(store):
    draft = UseCaseFactory(lob=store.lob, status=UseCase.Status.DRAFT)
    _, sandbox_token = issue_key(draft, ApiKey.Environment.SANDBOX)

    response = post(sandbox_token, store.public_id, {"query": "refund", "max_num_results": 1})

    assert response.status_code == 200, response.content
    assert response.json()["data"][0]["file_id"] == "refunds"


@pytest.mark.django_db
def test_a_production_key_of_a_use_case_not_approved_is_a_403(store):
    submitted = UseCaseFactory(lob=store.lob, status=UseCase.Status.SUBMITTED)
    _, production_token = issue_key(submitted, ApiKey.Environment.PRODUCTION)

    error = assert_openai_error(
        post(production_token, store.public_id, {"query": "refund"}), 403, code="use_case_not_approved"
    )
    assert "submitted" in error["message"]


@pytest.mark.django_db
def test_a_use_case_cannot_search_a_store_of_more_sensitive_data_than_it_is_approved_for(store):
    store.data_classification = "restricted"
    store.save(update_fields=["data_classification"])
    internal = UseCaseFactory(lob=store.lob, data_classification="internal")
    _, token = issue_key(internal)

    error = assert_openai_error(
        post(token, store.public_id, {"query": "refund"}), 403, code="data_classification_exceeded"
    )
    assert "restricted" in error["message"] and "internal" in error["message"]

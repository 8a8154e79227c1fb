"""GET /v1/models and POST /v1/embeddings."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from django.test import Client

from lob_tenants.models import ApiKey, UseCase
from tests.factories import AliasFactory, CatalogModelFactory, DeploymentFactory, UseCaseFactory, issue_key

pytestmark = pytest.mark.django_db


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_models_lists_only_the_aliases_of_the_keys_use_case():
    mine = AliasFactory(name="mine")
    AliasFactory(name="not-mine")
    _, key = issue_key(UseCaseFactory(aliases=[mine]))

    document = Client().get("/v1/models", **auth(key)).json()

    assert document["object"] == "list"
    assert [m["id"] for m in document["data"]] == ["mine"]
    assert document["data"][0]["object"] == "model"


def test_a_sandbox_key_lists_only_sandbox_aliases():
    sandbox = AliasFactory(name="sandbox-ok")
    production = AliasFactory(name="production-only", available_in_sandbox=False)
    use_case = UseCaseFactory(aliases=[sandbox, production], status=UseCase.Status.DRAFT)
    _, key = issue_key(use_case, ApiKey.Environment.SANDBOX)

    document = Client().get("/v1/models", **auth(key)).json()

    assert [m["id"] for m in document["data"]] == ["sandbox-ok"]


def test_a_model_can_be_retrieved_by_id_and_a_foreign_one_cannot():
    mine = AliasFactory(name="mine")
    AliasFactory(name="theirs")
    _, key = issue_key(UseCaseFactory(aliases=[mine]))

    assert Client().get("/v1/models/mine", **auth(key)).json()["id"] == "mine"
    assert Client().get("/v1/models/theirs", **auth(key)).status_code == 404


def test_models_needs_a_key():
    response = Client().get("/v1/models")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


@pytest.fixture
def embedding_key():
    deployment = DeploymentFactory(model=CatalogModelFactory(supports_chat=False, supports_embeddings=True))
    alias = AliasFactory(name="embedder", deployments=[deployment])
    return issue_key(UseCaseFactory(aliases=[alias]))[1]


def embed(key: str, body) -> object:
    return Client().post("/v1/embeddings", data=json.dumps(body), content_type="application/json", **auth(key))


def test_embeddings_have_the_openai_shape(embedding_key):
    response = embed(embedding_key, {"model": "embedder", "input": ["first text", "second text"], "dimensions": 64})

    assert response.status_code == 200
    document = response.json()
    assert document["object"] == "list"
    assert [d["index"] for d in document["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 64 for d in document["data"])
    assert document["usage"]["prompt_tokens"] == document["usage"]["total_tokens"] > 0


def test_base64_embeddings_are_little_endian_float32_of_the_same_vector(embedding_key):
    body = {"model": "embedder", "input": "refund policy", "dimensions": 32}
    as_floats = embed(embedding_key, {**body, "encoding_format": "float"}).json()["data"][0]["embedding"]

    encoded = embed(embedding_key, {**body, "encoding_format": "base64"}).json()["data"][0]["embedding"]

    decoded = struct.unpack("<32f", base64.b64decode(encoded))
    assert decoded == pytest.approx(as_floats, abs=1e-6)


def test_an_unknown_encoding_format_is_a_400(embedding_key):
    response = embed(embedding_key, {"model": "embedder", "input": "text", "encoding_format": "int8"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "encoding_format"


def test_a_chat_only_model_refuses_embeddings_with_a_400():
    _, key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="chatty")]))

    response = embed(key, {"model": "chatty", "input": "text"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_supported"


@pytest.mark.parametrize(
    "body", [{"model": "embedder"}, {"model": "embedder", "input": []}, {"model": "embedder", "input": [""]}]
)
def test_embeddings_without_input_are_a_400(embedding_key, body):
    response = embed(embedding_key, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input"
